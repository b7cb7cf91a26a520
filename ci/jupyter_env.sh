#!/usr/bin/env bash
# Makes (or refreshes) the virtualenv the Jupyter test runs a real notebook
# kernel in, for one Python version:
#
#   ci/jupyter_env.sh 3.11        prints `venv 3.11 <path to its python>`
#
# It is the installed-package suite's virtualenv (.venvs/django-pyX.Y, made
# by ci/django_env.sh, which also installs pyinstrument the README's way:
# `python -m pip install ./pyshim`), so that the release build of the
# package is shared with that suite instead of made again for another
# interpreter path. ipykernel, nbclient and nbformat are added to it when
# missing; pyinstrument is installed again only when the repository's
# package or crate changed since it was installed (idempotent).
# CARGO_TARGET_DIR is honoured.
#
# Exits 3 for a version Jupyter's packages do not support (2.7), non-zero
# for any other failure.
set -u
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="${1:?usage: ci/jupyter_env.sh X.Y}"
log() { echo "jupyter_env: $*" >&2; }

case "$version" in
    2.*|3.[0-5]) log "Python $version: nbclient needs Python 3.6+"; exit 3 ;;
    # pip 21.3 is the last for 3.6 (its virtualenvs start with pip 18.1,
    # which has no dependency resolver).
    3.6) pip_req="pip>=21,<22" ;;
    *) pip_req="" ;;
esac

# Whether the virtualenv's pyinstrument is this repository's as it is now:
# the same Python files, and a native module installed after the last change
# to the crate. (The installed-package suite, run just before in ci/test.sh,
# installs it; installing it again for another Python in between would make
# cargo rebuild the shared target directory for each.)
installed_is_current() {
    local python="$1" module package file
    module="$("$python" -c 'import _pyinstrument; print(_pyinstrument.__file__)' 2>/dev/null)" || return 1
    package="$("$python" -c 'import os, pyinstrument; print(os.path.dirname(pyinstrument.__file__))' 2>/dev/null)" || return 1
    for file in "$REPO"/pyshim/pyinstrument/*.py; do
        cmp -s "$file" "$package/$(basename "$file")" || return 1
    done
    [ -z "$(find "$REPO/src" "$REPO/build.rs" "$REPO/Cargo.toml" "$REPO/Cargo.lock" -newer "$module" -print -quit)" ]
}

python="${PYINSTRUMENT_VENVS:-$REPO/.venvs}/django-py$version/bin/python"
if [ -x "$python" ] && installed_is_current "$python"; then
    log "pyinstrument in $(dirname "$(dirname "$python")") is current"
else
    line="$("$REPO/ci/django_env.sh" "$version")" || { log "ci/django_env.sh $version failed"; exit 1; }
    python="${line##* }"
    [ -x "$python" ] || { log "no python in '$line'"; exit 1; }
fi

if ! "$python" -c 'import ipykernel, nbclient, nbformat' >/dev/null 2>&1; then
    log "installing ipykernel, nbclient and nbformat into $(dirname "$(dirname "$python")")"
    if [ -n "$pip_req" ]; then
        "$python" -m pip install -q "$pip_req" >&2 || { log "cannot install $pip_req"; exit 1; }
    fi
    "$python" -m pip install -q ipykernel nbclient nbformat >&2 || { log "cannot install the Jupyter packages"; exit 1; }
fi
echo "venv $version $python"
