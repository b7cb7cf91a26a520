#!/usr/bin/env bash
# The wheel, installed elsewhere without Rust:
#
#   ci/wheel_test.sh [X.Y]        default 3.11
#
# 1. builds the wheel of pyenv's CPython X.Y with ci/build-wheels.sh;
# 2. checks that nothing in it links a libpython or names a path of this
#    machine (no RPATH/RUNPATH, no repository, cargo or pyenv path);
# 3. installs it into a fresh virtualenv of *another* installation of X.Y
#    (Debian's /usr/bin/pythonX.Y), with cargo and rustc off PATH and
#    CARGO_HOME/RUSTUP_HOME pointed at empty folders (checked), and Django
#    from PyPI;
# 4. profiles four ways there: the `pyinstrument` command, `python -m
#    pyinstrument`, `from pyinstrument import Profiler`
#    (tests/python/api_checks.py), and the Django middleware through
#    Django's test client (tests/django_project), in plain python.
#
# If there is no other installation of X.Y, step 3 uses pyenv's own and
# says so (a SKIP of the "elsewhere" part, on stderr and in the last line).
# Last line: "wheel_test: N passed, N failed[, N skipped]"; exit status 0
# only if none failed.
set -uo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
minor="${1:-3.11}"
passed=0 failed=0 skipped=0
pass() { echo "ok: $*"; passed=$((passed + 1)); }
fail() { echo "FAILED: $*"; failed=$((failed + 1)); }
finish() {
    echo "wheel_test: $passed passed, $failed failed, $skipped skipped"
    [ "$failed" -eq 0 ]
    exit
}
started=$SECONDS

# 1. Build.
pyenv_root="$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"
if ! ci/build-wheels.sh "$minor"; then
    fail "ci/build-wheels.sh $minor"
    finish
fi
tag="cp${minor/./}"
wheel="$(ls -t dist/pyinstrument-*-"$tag"-*manylinux*.whl 2>/dev/null | head -n 1)"
[ -n "$wheel" ] || { fail "no $tag manylinux wheel in dist/"; finish; }
echo "== wheel: $wheel (built in $((SECONDS - started)) s)"

# 2. What it links, and which paths it names.
scratch="$(mktemp -d /tmp/pyinstrument-wheel-test.XXXXXX)"
trap 'rm -rf "$scratch"' EXIT
unzip -q "$wheel" -d "$scratch/unpacked"
elves=()
while IFS= read -r -d '' file; do
    [ "$(head -c 4 "$file" | od -An -c | tr -d ' ')" = '177ELF' ] && elves+=("$file")
done < <(find "$scratch/unpacked" -type f -print0)
if [ "${#elves[@]}" -eq 2 ] && [ -n "$(find "$scratch/unpacked" -path '*.data/data/bin/pyinstrument')" ]; then
    pass "the wheel holds the module and the command (${elves[*]##*/unpacked/})"
else
    fail "expected 2 ELF files (module, bin/pyinstrument), found: ${elves[*]:-none}"
fi
for elf in "${elves[@]}"; do
    name="${elf##*/unpacked/}"
    dynamic="$(readelf -d "$elf")"
    if grep -Eq 'RPATH|RUNPATH|NEEDED.*libpython' <<<"$dynamic"; then
        fail "$name links a libpython or has an rpath: $(grep -E 'RPATH|RUNPATH|libpython' <<<"$dynamic")"
    else
        pass "$name: no libpython, no rpath"
    fi
    paths="$(strings "$elf" | grep -F -e "$repo" -e "${CARGO_HOME:-$HOME/.cargo}" -e "$pyenv_root" | head -n 3)"
    if [ -n "$paths" ]; then
        fail "$name names paths of this machine: $paths"
    else
        pass "$name names no path of this machine"
    fi
done

# 3. Another installation of the same minor, without Rust.
other="/usr/bin/python$minor"
if [ ! -x "$other" ]; then
    other="$(ls -d "$pyenv_root/versions/$minor".* | sort -V | tail -n 1)/bin/python"
    echo "SKIPPED: no /usr/bin/python$minor: installing into pyenv's own $minor instead of another installation" >&2
    skipped=$((skipped + 1))
fi
venv="$scratch/venv"
if [ "${minor%%.*}" = 2 ]; then
    # No venv module in 2.7: ci/django_env.sh makes it with virtualenv.
    ci/django_env.sh --venv "$minor" "$venv" >/dev/null || { fail "virtualenv for $minor"; finish; }
else
    "$other" -m venv "$venv" || { fail "$other -m venv"; finish; }
fi
case "$minor" in # the Django series ci/django_env.sh uses
    2.7) django="django>=1.11,<2.0" ;;
    3.6|3.7) django="django>=3.2,<3.3" ;;
    3.8|3.9) django="django>=4.2,<4.3" ;;
    *) django="django>=5.2,<5.3" ;;
esac
"$venv/bin/python" -m pip install -q "$django" 2>&1 | tail -n 3 ||
    echo "(Django not installed: the Django check will fail)"
mkdir -p "$scratch/empty-cargo" "$scratch/empty-rustup"
no_rust_path="$(tr ':' '\n' <<<"$PATH" | grep -v -e '\.cargo' -e '\.rustup' | paste -sd:)"
no_rust=(env -u VIRTUAL_ENV -u PYTHONPATH -u PYTHON_SYS_EXECUTABLE
    PATH="$venv/bin:$no_rust_path" CARGO_HOME="$scratch/empty-cargo" RUSTUP_HOME="$scratch/empty-rustup")
if "${no_rust[@]}" sh -c 'command -v cargo || command -v rustc || cargo --version || rustc --version' >/dev/null 2>&1; then
    fail "cargo or rustc still runs in the stripped environment"
else
    pass "no cargo or rustc in the install environment"
fi
if "${no_rust[@]}" python -m pip install -q --no-index --no-deps "$wheel"; then
    pass "pip install $(basename "$wheel") into a venv of $other"
else
    fail "pip install of the wheel"
    finish
fi

# 4. Four ways to profile, in that environment.
cat >"$scratch/where.py" <<'PY'
import sys
def spin_where_q9():
    return sum(i * i for i in range(300000))
spin_where_q9()
base = getattr(sys, "base_prefix", None) or getattr(sys, "real_prefix", None) or sys.prefix
print("base_prefix=%s version=%d.%d" % ((base,) + tuple(sys.version_info[:2])))
PY
base="$("$other" -c 'import sys; print(getattr(sys, "base_prefix", sys.prefix))')"
check_run() { # label, command...
    local label="$1"; shift
    local out
    out="$(cd "$scratch" && "${no_rust[@]}" "$@" 2>&1)"
    if grep -q "base_prefix=$base version=$minor" <<<"$out" && grep -q spin_where_q9 <<<"$out"; then
        pass "$label: runs $other's Python ($base) and profiles it"
    else
        fail "$label: $out"
    fi
}
check_run "pyinstrument where.py" pyinstrument where.py
check_run "python -m pyinstrument where.py" python -m pyinstrument where.py
out="$("${no_rust[@]}" python tests/python/api_checks.py 2>&1)"
if grep -q "API OK" <<<"$out"; then pass "from pyinstrument import Profiler (tests/python/api_checks.py)"; else fail "api_checks: $out"; fi
out="$(cd tests/django_project && "${no_rust[@]}" python manage.py test testproject -v 1 2>&1)"
if grep -q "^OK" <<<"$out"; then
    pass "Django middleware: $(grep -E '^Ran ' <<<"$out")"
else
    fail "Django test client: $(tail -n 20 <<<"$out")"
fi
echo "== $((SECONDS - started)) s in all"
finish
