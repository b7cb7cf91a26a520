#!/usr/bin/env bash
# The Python-side suite, per Python version:
#
#   tests/python/run_suite.sh [2.7 3.6 3.11 3.13 ...]   default: all found
#
# For each version: ci/django_env.sh makes (or refreshes) its virtualenv with
# Django and the README's install; then, in that virtualenv,
#   - a fresh virtualenv gets the README's install too, and in it the API
#     checks (plain python), `python -m pyinstrument` vs `pyinstrument`, and
#     `from pyinstrument import Profiler`;
#   - the API checks inside the installed runner (`pyinstrument script.py`);
#   - Django's test client against tests/django_project (plain python, and
#     inside the runner);
#   - the live `manage.py runserver` checks (tests/python/django_live.py);
#   - the WSGI and ASGI middlewares with Flask's and FastAPI's test clients
#     and live waitress and uvicorn servers (tests/python/web_checks.py,
#     web_live.py), in plain python.
# Every step has a time limit. Exits non-zero if anything failed.
set -u
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO"
failures=()
LIMIT="${PYINSTRUMENT_SUITE_STEP_TIMEOUT:-900}"

step() {
    local name="$1" started=$SECONDS; shift
    echo "--- $name"
    # (bash -c: the step may be one of the functions below, exported.)
    if timeout -k 10 "$LIMIT" bash -c '"$@"' step "$@"; then
        echo "    ok: $name ($((SECONDS - started))s)"
    else
        echo "    FAILED ($?): $name ($((SECONDS - started))s)"
        failures+=("$name")
    fi
}

same_as_the_command() {
    # `python -m pyinstrument` and `pyinstrument`: same output, same status.
    local venv="$1" scratch
    scratch="$(mktemp -d)"
    printf 'import sys\nprint("hello from the script", sys.argv[1:])\nsys.exit(3)\n' > "$scratch/exits3.py"
    (
        cd "$scratch" &&
        "$venv/bin/python" -m pyinstrument -o m.txt exits3.py a b > m.out 2>&1; echo "status $?" >> m.out
        "$venv/bin/pyinstrument" -o c.txt exits3.py a b > c.out 2>&1; echo "status $?" >> c.out
        "$venv/bin/python" -m pyinstrument --version >> m.out 2>&1
        "$venv/bin/pyinstrument" --version >> c.out 2>&1
        cat m.out
        diff m.out c.out && grep -q 'status 3' m.out && grep -q exits3 m.txt && grep -q exits3 c.txt
    )
    local status=$?
    rm -rf "$scratch"
    return $status
}

fresh_install() {
    local version="$1" venv status
    venv="$(mktemp -d)/venv"
    # (made like the Django virtualenvs: `python -m venv`, on 2.7 virtualenv)
    ci/django_env.sh --venv "$version" "$venv" &&
    (. "$venv/bin/activate" && cd "$REPO" && python -m pip install -q ./pyshim) &&
    "$venv/bin/python" tests/python/api_checks.py &&
    "$venv/bin/python" -c 'from pyinstrument import Profiler; p = Profiler(); p.start(); sum(range(10**5)); p.stop(); print(p.output_text())' &&
    "$venv/bin/python" -m pyinstrument examples/demo.py > /dev/null &&
    same_as_the_command "$venv"
    status=$?
    rm -rf "$(dirname "$venv")"
    return $status
}

django_test_client() {
    (cd tests/django_project && "$@" manage.py test testproject -v 1)
}

export REPO
export -f same_as_the_command fresh_install django_test_client

versions=("$@")
[ ${#versions[@]} -ne 0 ] || versions=($(ci/django_env.sh --list))
# One version at a time, so that cargo builds for each Python once (the
# virtualenv's install and the fresh one share the build).
for version in "${versions[@]}"; do
    started=$SECONDS
    line="$(ci/django_env.sh "$version")"
    python="${line##* }"
    if [ -z "$line" ] || [ ! -x "$python" ]; then
        echo "=== Python $version: FAILED to set up its virtualenv"
        failures+=("$version virtualenv")
        continue
    fi
    venv="$(dirname "$(dirname "$python")")"
    echo "=== Python $version ($venv; set up in $((SECONDS - started))s)"
    step "$version fresh virtualenv install" fresh_install "$version"
    step "$version API in plain python" "$python" tests/python/api_checks.py
    # (inside the runner: its own report of the whole run is not wanted here)
    step "$version API inside the runner" "$venv/bin/pyinstrument" -o /dev/null tests/python/api_checks.py
    step "$version Django test client" django_test_client "$python"
    step "$version Django test client inside the runner" django_test_client "$venv/bin/pyinstrument" -o /dev/null
    step "$version Django live server" "$python" tests/python/django_live.py --runner "$venv/bin/pyinstrument"
    step "$version Flask and FastAPI test clients" "$python" tests/python/web_checks.py
    step "$version waitress and uvicorn live servers" "$python" tests/python/web_live.py
done

if [ ${#failures[@]} -ne 0 ]; then
    echo "FAILED: ${failures[*]}"
    exit 1
fi
echo "ALL OK"
