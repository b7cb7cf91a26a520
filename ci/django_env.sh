#!/usr/bin/env bash
# Creates (or refreshes) one virtualenv per Python version with the newest
# Django that supports it (and the web frameworks of the WSGI/ASGI tests,
# see web_for), and installs pyinstrument into it with the README's command
# (`python -m pip install ./pyshim`, run from the repository).
#
#   ci/django_env.sh [2.7 3.6 3.11 ...]     default: every 2.7, 3.6-3.13 found
#   ci/django_env.sh --list                 which versions are found
#   ci/django_env.sh --venv 2.7 PATH        just make an empty virtualenv
#   PYINSTRUMENT_DJANGO_ONLY=1 ci/django_env.sh 3.11   Django only, no pyinstrument
#
# Python versions are found as $PYENV_ROOT/versions/X.Y.*/bin/python, else
# pythonX.Y on PATH. Virtualenvs live in $PYINSTRUMENT_VENVS (default
# $REPO/.venvs/django-pyX.Y); an existing one is reused: Django is installed
# only when missing or of the wrong series, pyinstrument is reinstalled every
# time (cargo only rebuilds what changed). CARGO_TARGET_DIR is honoured.
#
# Python 2.7 has no venv module, and nothing is ever installed into pyenv's
# own Pythons: 2.7 virtualenvs are made by virtualenv < 20.22 (the last
# series that can create them; it seeds pip 20.3.4 from wheels it bundles),
# itself installed in a tooling virtualenv of a Python 3 ($VENVS/tools).
#
# Prints `venv 3.N <path to its python>` for each one ready, and exits
# non-zero if any failed (the others are still set up).
set -u
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENVS="${PYINSTRUMENT_VENVS:-$REPO/.venvs}"
PYENV_ROOT="${PYENV_ROOT:-/root/.pyenv}"

django_for() {
    case "$1" in
        2.7) echo "django>=1.11,<2.0" ;;
        3.6|3.7) echo "django>=3.2,<3.3" ;;
        3.8|3.9) echo "django>=4.2,<4.3" ;;
        3.10|3.11|3.12|3.13) echo "django>=5.2,<5.3" ;;
        # Debian unstable's Pythons (ci/sid_root.sh): the newest series.
        3.14|3.15) echo "django>=6.0,<6.1" ;;
        *) return 1 ;;
    esac
}

# The web frameworks the WSGI/ASGI middleware tests use (tests/webapps.rs,
# tests/python/web_*.py), with the newest releases pip finds for each
# Python: Flask and waitress everywhere (Flask 1.1 and waitress 1.4 on
# 2.7), FastAPI, uvicorn and httpx (Starlette's test client) on 3.6+. On
# 3.15 no pydantic-core wheel exists (FastAPI needs it), so the ASGI tests
# use Starlette itself there.
web_for() {
    case "$1" in
        2.7) echo "flask>=1.1,<1.2 waitress<2" ;;
        # (Starlette 0.19, the last on 3.6, has a test client made on requests;
        # uvicorn 0.17 says it supports 3.6 but calls asyncio.run)
        3.6) echo "flask waitress fastapi uvicorn<0.17 httpx requests" ;;
        3.7|3.8|3.9|3.10|3.11|3.12|3.13|3.14) echo "flask waitress fastapi uvicorn httpx" ;;
        3.15) echo "flask waitress starlette uvicorn httpx" ;;
        *) return 1 ;;
    esac
}

# The modules whose import proves web_for's packages are there.
web_modules_for() {
    case "$1" in
        2.7) echo "flask, waitress" ;;
        3.6) echo "flask, waitress, fastapi, uvicorn, httpx, requests" ;;
        3.15) echo "flask, waitress, starlette, uvicorn, httpx" ;;
        *) echo "flask, waitress, fastapi, uvicorn, httpx" ;;
    esac
}

find_python() {
    local version="$1" candidate
    for candidate in $(ls -d "$PYENV_ROOT"/versions/"$version".* 2>/dev/null | sort -V -r); do
        if [ -x "$candidate/bin/python" ]; then
            echo "$candidate/bin/python"
            return 0
        fi
    done
    # Debian's /usr/bin/python3.N (inside ci/sid_root.sh's root for 3.14+).
    command -v "python$version" 2>/dev/null
}

log() { echo "django_env: $*" >&2; }

# The python of the tooling virtualenv that has virtualenv < 20.22, made
# when missing (virtualenv 20.21 runs on Python 3.7-3.11).
TOOLS_VIRTUALENV='virtualenv<20.22'
tools_python() {
    local tools="$VENVS/tools" python="" version
    if "$tools/bin/python" -c 'import virtualenv' >/dev/null 2>&1; then
        echo "$tools/bin/python"
        return 0
    fi
    for version in 3.11 3.10 3.9 3.8 3.7; do
        python="$(find_python "$version")" && break
    done
    [ -n "$python" ] || { log "no Python 3.7-3.11 to run $TOOLS_VIRTUALENV"; return 1; }
    log "creating $tools with $python and $TOOLS_VIRTUALENV"
    rm -rf "$tools"
    mkdir -p "$VENVS"
    "$python" -m venv "$tools" >&2 &&
        "$tools/bin/python" -m pip install -q "$TOOLS_VIRTUALENV" >&2 || {
        log "cannot install $TOOLS_VIRTUALENV into $tools"
        return 1
    }
    echo "$tools/bin/python"
}

# make_venv VERSION PYTHON PATH: an empty virtualenv (with pip) at PATH.
make_venv() {
    local version="$1" python="$2" venv="$3" tools
    mkdir -p "$(dirname "$venv")"
    case "$version" in
        2.*)
            tools="$(tools_python)" || return 1
            # (its seed-wheel cache kept with the tools, not in ~/.local)
            "$tools" -m virtualenv -q --no-periodic-update --app-data "$VENVS/tools/app-data" \
                -p "$python" "$venv" >&2
            ;;
        *) "$python" -m venv "$venv" >&2 ;;
    esac
}

setup_one() {
    local version="$1" python venv django_req web_req
    django_req="$(django_for "$version")" || { log "no Django series known for Python $version"; return 1; }
    python="$(find_python "$version")" || { log "Python $version not found"; return 1; }
    venv="$VENVS/django-py$version"
    if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
        log "creating $venv with $python"
        rm -rf "$venv"
        make_venv "$version" "$python" "$venv" || { log "cannot create $venv"; return 1; }
    fi
    if ! "$venv/bin/python" - "$django_req" >/dev/null 2>&1 <<'EOF'
import sys, django
lo, hi = sys.argv[1].split('>=')[1].split(',<')
have = tuple(django.VERSION[:2])
want_lo = tuple(int(x) for x in lo.split('.'))
want_hi = tuple(int(x) for x in hi.split('.'))
sys.exit(0 if want_lo <= have < want_hi else 1)
EOF
    then
        log "installing $django_req into $venv"
        "$venv/bin/python" -m pip install -q "$django_req" >&2 || { log "cannot install $django_req"; return 1; }
    fi
    # The web frameworks: a failure is said, and leaves Django's set-up
    # alone (the web tests then skip, saying why).
    web_req="$(web_for "$version")" &&
    if ! "$venv/bin/python" -c "import $(web_modules_for "$version")" >/dev/null 2>&1; then
        log "installing $web_req into $venv"
        # (word splitting wanted: several requirements)
        # shellcheck disable=SC2086
        "$venv/bin/python" -m pip install -q $web_req >&2 || log "cannot install $web_req into $venv"
    fi
    if [ -n "${PYINSTRUMENT_DJANGO_ONLY:-}" ]; then
        # Enough for the runner, which serves the package itself.
        echo "venv $version $venv/bin/python"
        return 0
    fi
    log "installing pyinstrument into $venv"
    # The README's command, run from the repository in the activated venv.
    (
        cd "$REPO" &&
        . "$venv/bin/activate" &&
        python -m pip install -q ./pyshim
    ) >&2 || { log "installing pyinstrument into $venv failed"; return 1; }
    echo "venv $version $venv/bin/python"
}

ALL_VERSIONS=(2.7 3.6 3.7 3.8 3.9 3.10 3.11 3.12 3.13)
versions=("$@")
if [ "${1:-}" = "--list" ]; then
    # Just say which versions are found (the default list).
    for v in "${ALL_VERSIONS[@]}"; do
        find_python "$v" >/dev/null && echo "$v"
    done
    exit 0
fi
if [ "${1:-}" = "--venv" ]; then
    [ $# -eq 3 ] || { log "usage: ci/django_env.sh --venv X.Y PATH"; exit 2; }
    python="$(find_python "$2")" || { log "Python $2 not found"; exit 1; }
    make_venv "$2" "$python" "$3"
    exit
fi
if [ ${#versions[@]} -eq 0 ]; then
    for v in "${ALL_VERSIONS[@]}"; do
        find_python "$v" >/dev/null && versions+=("$v")
    done
fi

status=0
for v in "${versions[@]}"; do
    setup_one "$v" || status=1
done
exit $status
