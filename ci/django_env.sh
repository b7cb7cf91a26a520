#!/usr/bin/env bash
# Creates (or refreshes) one virtualenv per Python version with the newest
# Django that supports it, and installs pyinstrument into it with the
# README's command (`python -m pip install ./pyshim`, run from the repository).
#
#   ci/django_env.sh [3.6 3.8 3.11 ...]     default: every 3.6-3.13 found
#   ci/django_env.sh --list                 which versions are found
#   PYINSTRUMENT_DJANGO_ONLY=1 ci/django_env.sh 3.11   Django only, no pyinstrument
#
# Python versions are found as $PYENV_ROOT/versions/3.N.*/bin/python, else
# python3.N on PATH. Virtualenvs live in $PYINSTRUMENT_VENVS (default
# $REPO/.venvs/django-py3.N); an existing one is reused: Django is installed
# only when missing or of the wrong series, pyinstrument is reinstalled every
# time (cargo only rebuilds what changed). CARGO_TARGET_DIR is honoured.
#
# Prints `venv 3.N <path to its python>` for each one ready, and exits
# non-zero if any failed (the others are still set up).
set -u
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENVS="${PYINSTRUMENT_VENVS:-$REPO/.venvs}"
PYENV_ROOT="${PYENV_ROOT:-/root/.pyenv}"

django_for() {
    case "$1" in
        3.6|3.7) echo "django>=3.2,<3.3" ;;
        3.8|3.9) echo "django>=4.2,<4.3" ;;
        3.10|3.11|3.12|3.13) echo "django>=5.2,<5.3" ;;
        *) return 1 ;;
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
    command -v "python$version" 2>/dev/null
}

log() { echo "django_env: $*" >&2; }

setup_one() {
    local version="$1" python venv django_req
    django_req="$(django_for "$version")" || { log "no Django series known for Python $version"; return 1; }
    python="$(find_python "$version")" || { log "Python $version not found"; return 1; }
    venv="$VENVS/django-py$version"
    if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
        log "creating $venv with $python"
        rm -rf "$venv"
        mkdir -p "$VENVS"
        "$python" -m venv "$venv" >&2 || { log "cannot create $venv"; return 1; }
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

versions=("$@")
if [ "${1:-}" = "--list" ]; then
    # Just say which versions are found (the default list).
    versions=()
    for v in 3.6 3.7 3.8 3.9 3.10 3.11 3.12 3.13; do
        find_python "$v" >/dev/null && echo "$v"
    done
    exit 0
fi
if [ ${#versions[@]} -eq 0 ]; then
    for v in 3.6 3.7 3.8 3.9 3.10 3.11 3.12 3.13; do
        find_python "$v" >/dev/null && versions+=("$v")
    done
fi

status=0
for v in "${versions[@]}"; do
    setup_one "$v" || status=1
done
exit $status
