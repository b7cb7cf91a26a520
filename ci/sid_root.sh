#!/usr/bin/env bash
# A Debian unstable (sid) root in which Debian's own CPython 3.14 and 3.15
# run: their binaries need a newer glibc than this Debian 12 host has, so
# they cannot simply be installed here or built against from the host.
#
#   ci/sid_root.sh ensure          make the root if it is missing, half-made or
#                                  from another recipe; print its Pythons
#   ci/sid_root.sh run CMD...      run CMD inside (ensuring the root first), in
#                                  the repository, with mounts set up and torn down
#   ci/sid_root.sh pythons         print "3.N /usr/bin/python3.N 3.N.x" per Python inside
#   ci/sid_root.sh headers DIR     copy each Python's headers to DIR/python3.N on the host
#   ci/sid_root.sh destroy         delete the root (refused while anything is mounted in it)
#
# The root lives outside the clone, in $PYINSTRUMENT_SID_ROOT (default
# /var/cache/pyinstrument/sid-root), so fresh clones (CI) reuse it. Its
# stamp file, written last, records the recipe (RECIPE, the mirror, the
# package list) and what was installed; a root whose stamp is missing (a
# run that died half-way) or from another recipe is deleted and remade.
#
# Inside `run`: HOME=/root, a plain PATH, CARGO_HOME=/root/.cargo whose
# registry/ is the host's (crates downloaded once serve both),
# CARGO_TARGET_DIR=<repo>/target/sid (the sid toolchain's artifacts never
# mix with the host's target/), and only a few variables from the caller
# (see PASS_ENV); set others with `run env NAME=VALUE CMD...`.
#
# Mounts are made in a private mount namespace (unshare), so the host never
# sees them and they vanish when the command ends, even if this script is
# killed; they are also unmounted explicitly on exit. A root is never
# deleted while the host sees anything mounted under it.
#
# Exit status: 0 done; 1 failed (the message says what); 2 usage;
# 3 this machine cannot do it (not root, no debootstrap, archive unreachable,
# no mount namespaces), with one line "sid_root: SKIPPED: <reason>" on
# stderr. `run` otherwise exits with the command's own status.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SELF="$REPO/ci/sid_root.sh"
ROOT="${PYINSTRUMENT_SID_ROOT:-/var/cache/pyinstrument/sid-root}"
MIRROR="${PYINSTRUMENT_SID_MIRROR:-http://deb.debian.org/debian}"
# Bump when the way the root is made changes, so existing roots are remade.
RECIPE=1
MINORS=(3.14 3.15)
# Enough to `cargo build` a crate that links libpython (python3.N-dev has
# the headers and libpython3.N.so); -venv so that pip works in virtualenvs.
PACKAGES=(python3.14-dev python3.15-dev python3.14-venv python3.15-venv
          cargo rustc gcc libc6-dev pkg-config)
STAMP="$ROOT/.sid-root-stamp"
# Written as soon as the directory is made: only a directory carrying it is
# ever deleted, so a mistaken PYINSTRUMENT_SID_ROOT cannot wipe anything else.
MARKER="$ROOT/.pyinstrument-sid-root"
LOCK="$ROOT.lock"
HOST_CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"
PASS_ENV=(TERM CI CARGO_TERM_COLOR CARGO_BUILD_JOBS RUST_BACKTRACE RUST_TEST_THREADS)
INSIDE_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

say() { echo "sid_root: $*" >&2; }
die() { say "error: $*"; exit 1; }
skip() { echo "sid_root: SKIPPED: $*" >&2; exit 3; }

# Lines the stamp must start with for the root to be this recipe's.
stamp_header() {
    echo "recipe $RECIPE"
    echo "mirror $MIRROR"
    echo "packages ${PACKAGES[*]}"
}

stamp_is_current() {
    [ -f "$STAMP" ] || return 1
    [ "$(head -n 3 "$STAMP")" = "$(stamp_header)" ] || return 1
    local minor
    for minor in "${MINORS[@]}"; do
        [ -x "$ROOT/usr/bin/python$minor" ] || return 1
    done
}

# Mount points the host sees at or under the root (empty when none).
mounts_under_root() {
    findmnt -rn -o TARGET | awk -v r="$ROOT" '$0 == r || index($0, r "/") == 1'
}

# Deletes the root, but only one this script made and with nothing mounted
# in it: `rm -rf` through a bind mount of /dev or the repository would
# delete the host's files.
remove_root() {
    [ -e "$ROOT" ] || return 0
    case "$ROOT" in /*/*) ;; *) die "refusing to delete '$ROOT': not an absolute path two levels deep" ;; esac
    if [ -n "$(ls -A "$ROOT")" ] && [ ! -e "$MARKER" ]; then
        die "refusing to delete $ROOT: it has no $(basename "$MARKER"), so this script did not make it"
    fi
    local mounted
    mounted="$(mounts_under_root)"
    if [ -n "$mounted" ]; then
        die "refusing to delete $ROOT while these are mounted in it (unmount them first):"$'\n'"$mounted"
    fi
    say "deleting $ROOT"
    rm -rf --one-file-system "$ROOT"
}

# Refuses, with status 3, on a machine that cannot make the root at all.
preflight() {
    [ "$(uname -s)" = Linux ] || skip "not Linux"
    [ "$(id -u)" -eq 0 ] || skip "not root (debootstrap, chroot and mounts need root)"
    unshare --mount --propagation private true 2>/dev/null \
        || skip "cannot make a private mount namespace (unshare --mount failed)"
}

ensure_debootstrap() {
    command -v debootstrap >/dev/null 2>&1 && return 0
    say "installing debootstrap on the host (apt-get)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap; } >/dev/null 2>&1 \
        || skip "no debootstrap, and apt-get cannot install it"
    command -v debootstrap >/dev/null 2>&1 || skip "debootstrap installed but not on PATH"
}

check_archive() {
    local release="$MIRROR/dists/sid/Release"
    if command -v curl >/dev/null 2>&1; then
        curl -fsS --max-time 30 -o /dev/null "$release" 2>/dev/null || skip "Debian archive unreachable ($release)"
    elif command -v wget >/dev/null 2>&1; then
        wget -q -T 30 -O /dev/null "$release" || skip "Debian archive unreachable ($release)"
    fi # neither: debootstrap will say so itself
}

# Copies a host file into the root when it differs, atomically (a `run`
# may be reading it).
sync_file_into_root() {
    local file="$1"
    [ -f "$file" ] || return 0
    cmp -s "$file" "$ROOT$file" && return 0
    mkdir -p "$(dirname "$ROOT$file")"
    cp -L "$file" "$ROOT$file.sid-root-new" && mv -f "$ROOT$file.sid-root-new" "$ROOT$file"
}

# The host files the root needs: the CA bundle (cargo and pip inside must
# trust the same registries as the host, whatever CA that takes) and DNS.
sync_host_files() {
    # A bind-mounted or symlinked resolv.conf is replaced by a plain copy.
    [ -L "$ROOT/etc/resolv.conf" ] && rm -f "$ROOT/etc/resolv.conf"
    sync_file_into_root /etc/resolv.conf
    sync_file_into_root /etc/ssl/certs/ca-certificates.crt
}

python_version_in_root() { # minor -> "3.14.0" (empty when it does not run)
    inside install "/usr/bin/python$1" -c 'import sys; print(sys.version.split()[0])' 2>/dev/null || true
}

build_root() {
    local started=$SECONDS minor
    ensure_debootstrap
    check_archive
    remove_root
    mkdir -p "$ROOT"
    touch "$MARKER"
    say "debootstrap --variant=minbase sid $ROOT $MIRROR (about 30 s)"
    local log="$ROOT.debootstrap.log"
    # In its own mount namespace too: debootstrap mounts /proc and /sys in
    # the target, and if it is killed half-way those would stay mounted on
    # the host and block (or, worse, lie under) the next run's `rm -rf`.
    if ! unshare --mount --propagation private -- \
        debootstrap --variant=minbase sid "$ROOT" "$MIRROR" >"$log" 2>&1; then
        tail -n 20 "$log" >&2
        if grep -qE "Failed getting release file|Couldn't download|Temporary failure resolving" "$log"; then
            skip "debootstrap cannot download from $MIRROR (see $log)"
        fi
        die "debootstrap failed (see $log)"
    fi
    touch "$MARKER" # debootstrap leaves it, but make sure
    # The archive copy reachable here serves a Release file past its
    # Valid-Until date; apt inside would refuse it. Recommends are skipped
    # to keep the root small.
    cat >"$ROOT/etc/apt/apt.conf.d/99pyinstrument" <<'EOF'
Acquire::Check-Valid-Until "false";
APT::Install-Recommends "false";
EOF
    sync_host_files
    say "installing in the root: ${PACKAGES[*]}"
    if ! inside install /bin/sh -c \
        'apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"' \
        sh "${PACKAGES[@]}" >"$ROOT.install.log" 2>&1; then
        tail -n 20 "$ROOT.install.log" >&2
        die "installing the packages in the root failed (see $ROOT.install.log)"
    fi
    # A package may have regenerated the bundle from Debian's CAs alone.
    sync_host_files
    for minor in "${MINORS[@]}"; do
        [ -n "$(python_version_in_root "$minor")" ] || die "python$minor does not run in the root"
    done
    {
        stamp_header
        echo "made $(date -u +%Y-%m-%dT%H:%M:%SZ) in $((SECONDS - started)) s"
        for minor in "${MINORS[@]}"; do
            echo "python$minor $(python_version_in_root "$minor") (deb $(inside install dpkg-query -W -f '${Version}' "python$minor"))"
        done
        inside install rustc --version
        inside install cargo --version
    } >"$STAMP.new"
    mv "$STAMP.new" "$STAMP"
    say "made $ROOT in $((SECONDS - started)) s"
}

# Holds the lock on fd 9: exclusive while the root may be (re)made, then
# shared, so `destroy` or a rebuild never pulls it from under a `run`.
lock() {
    mkdir -p "$(dirname "$LOCK")"
    exec 9>"$LOCK"
    flock "$1" 9
}

# ensure [quiet]: quiet says one line when the root is reused. Checks
# under a shared lock, so that runs in parallel do not wait for each other;
# takes it exclusively (waiting for runs inside to end) only to remake.
ensure() {
    preflight
    lock -s
    if ! stamp_is_current; then
        flock -x 9
    fi
    if stamp_is_current; then # (also when another process just made it)
        say "reusing $ROOT"
        [ "${1:-}" = quiet ] || sed 's/^/  /' "$STAMP" >&2
    else
        if [ -f "$STAMP" ]; then
            say "$ROOT is from another recipe: remaking it"
        elif [ -e "$ROOT" ]; then
            say "$ROOT has no stamp (half-made): remaking it"
        else
            say "no root at $ROOT: making it"
        fi
        build_root
        sed 's/^/  /' "$STAMP" >&2
    fi
    flock -s 9
}

# inside MODE CMD...: CMD in the root, in a private mount namespace.
# MODE install: only /proc and /dev (what dpkg's scripts need), in /.
# MODE run: also the repository and the host's cargo registry, in the repository.
inside() {
    local mode="$1"
    shift
    # (without the lock's fd: a daemon the command leaves behind must not hold it)
    PYINSTRUMENT_SID_ROOT="$ROOT" unshare --mount --propagation private -- \
        bash "$SELF" __inside "$mode" "$@" 9>&-
}

mounted=()
unmount_all() {
    local i
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
        umount -R "${mounted[i]}" 2>/dev/null || umount -R -l "${mounted[i]}" \
            || say "could not unmount ${mounted[i]}"
    done
    mounted=()
}

# mount_into TARGET MOUNT-ARGS...: records TARGET for unmount_all.
mount_into() {
    local target="$1"
    shift
    mkdir -p "$target"
    mount "$@" "$target" || return 1
    mounted+=("$target")
}

# mount_file TARGET SOURCE: binds one file (TARGET must exist).
mount_file() {
    mount --bind "$2" "$1" || return 1
    mounted+=("$1")
}

# Runs in the private namespace made by `inside`.
inside_namespace() {
    local mode="$1"
    shift
    trap unmount_all EXIT
    # A fresh proc instance, not the host's; the host's /dev (with pts, shm).
    mount_into "$ROOT/proc" -t proc proc 2>/dev/null \
        || mount_into "$ROOT/proc" --rbind /proc || die "cannot mount /proc in the root"
    mount_into "$ROOT/dev" --rbind /dev || die "cannot bind /dev into the root"
    local cwd=/
    local env=(HOME=/root "PATH=$INSIDE_PATH" LANG=C.UTF-8)
    if [ "$mode" = run ]; then
        mount_into "$ROOT$REPO" --bind "$REPO" || die "cannot bind $REPO into the root"
        mkdir -p "$HOST_CARGO_HOME/registry"
        mount_into "$ROOT/root/.cargo/registry" --bind "$HOST_CARGO_HOME/registry" \
            || die "cannot bind $HOST_CARGO_HOME/registry into the root"
        # With the registry, the files cargo locks it with and tracks its
        # use in (for automatic clean-up): a host cargo and this one running
        # at once then wait for each other, and neither cleans away crates
        # only the other uses. Any two cargo versions share these, as they
        # do under rustup.
        local file
        for file in .package-cache .package-cache-mutate .global-cache; do
            touch "$HOST_CARGO_HOME/$file" "$ROOT/root/.cargo/$file"
            mount_file "$ROOT/root/.cargo/$file" "$HOST_CARGO_HOME/$file" \
                || die "cannot bind $HOST_CARGO_HOME/$file into the root"
        done
        cwd="$REPO"
        env+=(CARGO_HOME=/root/.cargo "CARGO_TARGET_DIR=$REPO/target/sid")
        local name
        for name in "${PASS_ENV[@]}"; do
            [ -n "${!name+set}" ] && env+=("$name=${!name}")
        done
    fi
    local status=0
    chroot "$ROOT" /usr/bin/env -i "${env[@]}" /bin/sh -c 'cd "$1" && shift && exec "$@"' sh "$cwd" "$@" \
        || status=$?
    unmount_all
    return "$status"
}

run() {
    [ $# -gt 0 ] || { say "usage: ci/sid_root.sh run CMD..."; exit 2; }
    ensure quiet
    sync_host_files
    inside run "$@"
}

pythons() {
    preflight
    lock -s
    stamp_is_current || die "no complete root at $ROOT: run ci/sid_root.sh ensure"
    local minor version
    for minor in "${MINORS[@]}"; do
        version="$(python_version_in_root "$minor")"
        [ -n "$version" ] && echo "$minor /usr/bin/python$minor $version"
    done
}

# Copies each Python's headers out, laid out as under /usr/include: DIR/python3.N
# and Debian's arch-specific DIR/<triplet>/python3.N/pyconfig.h, which the
# generic pyconfig.h includes; so `-I DIR/python3.N -I DIR` compiles against
# them on the host, without entering the root.
headers() {
    local dest="${1:?usage: ci/sid_root.sh headers DIR}" minor arch triplet
    preflight
    lock -s
    stamp_is_current || die "no complete root at $ROOT: run ci/sid_root.sh ensure"
    mkdir -p "$dest"
    for minor in "${MINORS[@]}"; do
        rm -rf "${dest:?}/python$minor"
        cp -rL "$ROOT/usr/include/python$minor" "$dest/python$minor"
        echo "$dest/python$minor"
        for arch in "$ROOT"/usr/include/*-linux-*/"python$minor"; do
            [ -d "$arch" ] || continue
            triplet="$(basename "$(dirname "$arch")")"
            mkdir -p "$dest/$triplet"
            rm -rf "${dest:?}/$triplet/python$minor"
            cp -rL "$arch" "$dest/$triplet/python$minor"
            echo "$dest/$triplet/python$minor"
        done
    done
}

destroy() {
    preflight
    lock -x
    remove_root
    rm -f "$ROOT.debootstrap.log" "$ROOT.install.log"
}

case "${1:-}" in
    ensure) ensure ;;
    run) shift; run "$@" ;;
    pythons) pythons ;;
    headers) shift; headers "$@" ;;
    destroy) destroy ;;
    __inside) shift; inside_namespace "$@" ;;
    *)
        say "usage: ci/sid_root.sh ensure | run CMD... | pythons | headers DIR | destroy"
        exit 2
        ;;
esac
