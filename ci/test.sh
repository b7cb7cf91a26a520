#!/usr/bin/env bash
# The whole test suite, on every CPython that pyenv has here.
#
#   ci/test.sh              all versions present
#   ci/test.sh 3.11 3.13    only these minors
#
# For each version it builds pyinstrument against that Python (one shared
# target/ directory: switching versions rebuilds only python3-sys and this
# crate) and runs every test. Versions that are missing are reported as
# skipped, never silently. The last line is the total: "N passed, N failed".
set -uo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
export CARGO_TERM_COLOR=never

# shellcheck source=ci/setup.sh
source "$repo/ci/setup.sh"

pyenv_root="$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"
# The first one found also runs the version-independent tests. The sid
# minors come from Debian's packages, in ci/sid_root.sh's root.
pyenv_minors=(3.11 3.6 3.7 3.8 3.9 3.10 3.12 3.13 2.7)
sid_minors=(3.14 3.15)
all_minors=("${pyenv_minors[@]}" "${sid_minors[@]}")
if [ "$#" -gt 0 ]; then minors=("$@"); else minors=("${all_minors[@]}"); fi

find_python() { # newest installed patch release of a minor
    local minor="$1" dir
    dir="$(ls -d "$pyenv_root/versions/$minor".* 2>/dev/null | grep -E "/$minor\.[0-9]+$" | sort -V | tail -n 1)"
    [ -n "$dir" ] && [ -x "$dir/bin/python" ] && echo "$dir/bin/python"
}

# Tests that do not depend on the Python linked (pure Rust: the tree,
# renderers, CLI parsing; the browser test) run once, with the first
# version; every other test target runs on every version. A test file in
# neither list fails the run, so none is forgotten.
once_targets=(render_golden html_browser supported_versions architecture)
python_targets=(ffi_offsets code_lifetime ffi_walker handler_allocations sampler_behaviour sampler_stress all_threads parity cli_behaviour django webapps jupyter)
for file in tests/*.rs; do
    name="$(basename "$file" .rs)"
    if [[ ! " ${once_targets[*]} ${python_targets[*]} " =~ " $name " ]]; then
        echo "ci/test.sh: tests/$name.rs is in neither test list; add it to one" >&2
        exit 1
    fi
done

ran=() skipped=() failed_versions=()
first=1
total_passed=0 total_failed=0 total_ignored=0
log_dir="$repo/target/ci-logs"
mkdir -p "$log_dir"

# Runs cargo test (the given selection) for one Python, counts the results
# into the totals and prints the version's line. $run_prefix runs cargo
# inside the sid root for Debian's Pythons (empty for pyenv's).
run_tests() {
    local minor="$1" log="$2"; shift 2
    # Tests that cannot run here write why to this file (tests/support/skip.rs).
    local skip_log="$log_dir/skipped-$minor.log"
    rm -f "$skip_log"
    PYINSTRUMENT_SKIP_LOG="$skip_log" "$@" </dev/null >"$log" 2>&1
    local status=$?
    grep -E "^(test result|     Running|test .* FAILED|failures:|---- )" "$log" || true
    local passed failed
    passed=$(grep -Eo "test result: [A-Za-z]+\. [0-9]+ passed" "$log" | awk '{s+=$4} END {print s+0}')
    failed=$(grep -Eo "; [0-9]+ failed" "$log" | awk '{s+=$2} END {print s+0}')
    ignored=$(grep -Eo "; [0-9]+ ignored" "$log" | awk '{s+=$2} END {print s+0}')
    # A test that returned early because it cannot run here passed in
    # cargo's eyes: it is a skip.
    local skipped=0
    if [ -f "$skip_log" ]; then
        skipped=$(grep -c "^test " "$skip_log")
        sed 's/^/   SKIPPED /' "$skip_log"
    fi
    passed=$((passed - skipped))
    ignored=$((ignored + skipped))
    total_ignored=$((total_ignored + ignored))
    if { [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; } || [ "$passed" -eq 0 ]; then
        failed=$((failed + 1)) # the build itself failed, or nothing ran
        echo "   build or test run failed; see $log"
        tail -n 30 "$log"
    fi
    total_passed=$((total_passed + passed))
    total_failed=$((total_failed + failed))
    ran+=("$minor")
    [ "$failed" -ne 0 ] && failed_versions+=("$minor")
    echo "== Python $minor: $passed passed, $failed failed, $ignored skipped"
}

# A check that is not a test binary (formatting, lints) counts as one test.
run_check() {
    local name="$1" log="$2"; shift 2
    if "$@" </dev/null >"$log" 2>&1; then
        total_passed=$((total_passed + 1))
        echo "== $name: passed"
    else
        total_failed=$((total_failed + 1))
        failed_versions+=("$name")
        echo "== $name: FAILED (see $log)"
        tail -n 30 "$log"
    fi
}

# Lints, with warnings as errors: clippy for 3.x and for 2.7, whose cfgs
# compile different code (legacy start-up, the pending-call sampler).
lint_minors=" 3.11 2.7 "

is_sid_minor() { [[ " ${sid_minors[*]} " =~ " $1 " ]]; }

sid_ready=""
run_check "cargo fmt --check" "$log_dir/fmt.log" cargo fmt --check
for minor in "${minors[@]}"; do
    if is_sid_minor "$minor"; then
        continue
    fi
    python="$(find_python "$minor")"
    if [ -z "$python" ]; then
        echo "== Python $minor: SKIPPED (not installed under $pyenv_root/versions)"
        skipped+=("$minor (not installed)")
        continue
    fi
    features=()
    if [ "$minor" = "2.7" ]; then
        # 2.7 builds through python27-sys instead of python3-sys.
        features=(--no-default-features --features python27)
    fi
    echo "== Python $minor: $python"
    log="$log_dir/test-$minor.log"
    export PYTHON_SYS_EXECUTABLE="$python"
    prepare_django_venv "$minor"
    # The installed-package suite (README's pip install into a fresh
    # virtualenv, plain python and the installed runner, a live runserver)
    # builds a release binary per Python: run it with one cargo test run,
    # for the oldest, a middle and the newest 3.x, and 2.7 (Django 1.11,
    # both middleware settings; about 1.5 min). Versions not installed are
    # said and left out.
    unset PYINSTRUMENT_DJANGO_TESTS
    if [ "$minor" = "3.11" ]; then
        suite_versions=()
        for v in ${PYINSTRUMENT_DJANGO_TESTS_VERSIONS:-3.6 3.11 3.13 2.7}; do
            if [ "$v" = all ] || [ -n "$(find_python "$v")" ]; then
                suite_versions+=("$v")
            else
                echo "   installed-package suite: Python $v SKIPPED (not installed)"
            fi
        done
        [ "${#suite_versions[@]}" -gt 0 ] && export PYINSTRUMENT_DJANGO_TESTS="${suite_versions[*]}"
    fi
    # The WSGI/ASGI middlewares' live servers (waitress and uvicorn under
    # concurrent requests) inside the runner (tests/webapps.rs; about 5 s)
    # run for the first version only: the installed-package suite runs them
    # in plain python on its versions. The test clients run on every version.
    unset PYINSTRUMENT_WEB_LIVE
    if [[ " ${PYINSTRUMENT_WEB_LIVE_VERSIONS:-3.11} " == *" $minor "* ]]; then
        export PYINSTRUMENT_WEB_LIVE=1
    fi
    # The Jupyter magic in a real notebook and kernel (tests/jupyter.rs), on
    # a few of the installed-package suite's versions, whose virtualenvs
    # and release builds it shares (about 20 s a version once Jupyter's
    # packages are cached).
    unset PYINSTRUMENT_JUPYTER_TESTS
    if [ "$minor" = "3.11" ]; then
        jupyter_versions=()
        for v in ${PYINSTRUMENT_JUPYTER_TESTS_VERSIONS:-3.6 3.11 3.13}; do
            if [ -n "$(find_python "$v")" ]; then
                jupyter_versions+=("$v")
            else
                echo "   Jupyter notebook test: Python $v SKIPPED (not installed)"
            fi
        done
        [ "${#jupyter_versions[@]}" -gt 0 ] && export PYINSTRUMENT_JUPYTER_TESTS="${jupyter_versions[*]}"
    fi
    selection=()
    if [ "$first" -eq 1 ]; then
        selection=(--lib --bins)
        for t in "${once_targets[@]}"; do selection+=(--test "$t"); done
        first=0
    fi
    for t in "${python_targets[@]}"; do selection+=(--test "$t"); done
    run_tests "$minor" "$log" cargo test "${features[@]}" --no-fail-fast "${selection[@]}"
    if [[ "$lint_minors" == *" $minor "* ]]; then
        run_check "clippy (Python $minor)" "$log_dir/clippy-$minor.log" \
            cargo clippy "${features[@]}" --all-targets -- -D warnings
    fi
done

# Debian unstable's Pythons, in the root ci/sid_root.sh makes and reuses
# (about a minute the first time, then cached outside the clone).
for minor in "${minors[@]}"; do
    is_sid_minor "$minor" || continue
    if [ -z "$sid_ready" ]; then
        started=$SECONDS
        sid_log="$log_dir/sid-root.log"
        "$repo/ci/sid_root.sh" ensure >"$sid_log" 2>&1
        sid_status=$?
        if [ "$sid_status" -eq 0 ]; then
            sid_ready=yes
            echo "== Debian unstable root ready in $((SECONDS - started)) s:"
            "$repo/ci/sid_root.sh" pythons 2>/dev/null | sed 's/^/   /'
        elif [ "$sid_status" -eq 3 ]; then
            sid_ready=skip
            sid_reason="$(grep -o 'SKIPPED: .*' "$sid_log" | head -n 1)"
        else
            sid_ready=failed
            echo "== Debian unstable root: FAILED (see $sid_log)"
            tail -n 20 "$sid_log"
        fi
    fi
    case "$sid_ready" in
        skip)
            echo "== Python $minor: $sid_reason"
            skipped+=("$minor (${sid_reason#SKIPPED: })")
            continue ;;
        failed)
            total_failed=$((total_failed + 1))
            failed_versions+=("$minor")
            continue ;;
    esac
    python="/usr/bin/python$minor"
    if ! "$repo/ci/sid_root.sh" run test -x "$python" 2>/dev/null; then
        echo "== Python $minor: SKIPPED (Debian unstable has no $python)"
        skipped+=("$minor (not in Debian unstable)")
        continue
    fi
    echo "== Python $minor: $python (Debian unstable root)"
    log="$log_dir/test-$minor.log"
    "$repo/ci/sid_root.sh" run env PYINSTRUMENT_DJANGO_ONLY=1 ci/django_env.sh "$minor" \
        >>"$log_dir/django-env-$minor.log" 2>&1 \
        || echo "   (no Django virtualenv for $minor: see $log_dir/django-env-$minor.log)"
    selection=()
    for t in "${python_targets[@]}"; do selection+=(--test "$t"); done
    # The installed-package suite (pip install ./pyshim into a fresh
    # virtualenv, Django, a live runserver, the web middlewares' live
    # servers) runs for these too.
    run_tests "$minor" "$log" "$repo/ci/sid_root.sh" run env \
        PYTHON_SYS_EXECUTABLE="$python" PYINSTRUMENT_DJANGO_TESTS="$minor" \
        PYINSTRUMENT_SKIP_LOG="$log_dir/skipped-$minor.log" \
        cargo test --no-fail-fast "${selection[@]}"
done

# How pyinstrument is linked and installed (issue #17): the static link and
# Debian's system python (ci/link_test.sh), and a wheel installed into
# another installation without Rust (ci/wheel_test.sh). Each ends with a
# line "NAME: N passed, N failed, N skipped", counted here.
run_script_suite() {
    local name="$1"; shift
    local log="$log_dir/$name.log" started=$SECONDS
    "$@" </dev/null >"$log" 2>&1
    local status=$? summary
    summary="$(grep -E "^$name: [0-9]+ passed" "$log" | tail -n 1)"
    local passed failed skipped_count
    passed=$(echo "$summary" | grep -Eo "[0-9]+ passed" | grep -Eo "[0-9]+")
    failed=$(echo "$summary" | grep -Eo "[0-9]+ failed" | grep -Eo "[0-9]+")
    skipped_count=$(echo "$summary" | grep -Eo "[0-9]+ skipped" | grep -Eo "[0-9]+")
    if [ -z "$summary" ] || { [ "$status" -ne 0 ] && [ "${failed:-0}" -eq 0 ]; }; then
        failed=$(( ${failed:-0} + 1 ))
        echo "   $name did not finish cleanly; see $log"
        tail -n 20 "$log"
    fi
    grep -E "^(FAILED|SKIP)" "$log" | sed 's/^/   /' || true
    total_passed=$((total_passed + ${passed:-0}))
    total_failed=$((total_failed + ${failed:-0}))
    total_ignored=$((total_ignored + ${skipped_count:-0}))
    [ "${failed:-0}" -ne 0 ] && failed_versions+=("$name")
    echo "== $name: ${passed:-0} passed, ${failed:-0} failed, ${skipped_count:-0} skipped ($((SECONDS - started)) s)"
}
if [ "$#" -gt 0 ]; then
    echo "== link_test, wheel_test: SKIPPED (they run in the whole suite, ci/test.sh without arguments)"
    skipped+=("link_test" "wheel_test")
else
    run_script_suite link_test "$repo/ci/link_test.sh"
    run_script_suite wheel_test "$repo/ci/wheel_test.sh" 3.11
fi

echo
echo "Ran on: ${ran[*]:-none}"
echo "Skipped: ${skipped[*]:-none}"
[ "${#failed_versions[@]}" -gt 0 ] && echo "Failures on: ${failed_versions[*]}"
if [ "${#ran[@]}" -eq 0 ]; then
    echo "no Python version could be tested"
    total_failed=$((total_failed + 1))
fi
echo "ci: $total_passed passed, $total_failed failed, $total_ignored skipped"
[ "$total_failed" -eq 0 ]
