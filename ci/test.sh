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
all_minors=(3.6 3.7 3.8 3.9 3.10 3.11 3.12 3.13 2.7)
if [ "$#" -gt 0 ]; then minors=("$@"); else minors=("${all_minors[@]}"); fi

find_python() { # newest installed patch release of a minor
    local minor="$1" dir
    dir="$(ls -d "$pyenv_root/versions/$minor".* 2>/dev/null | grep -E "/$minor\.[0-9]+$" | sort -V | tail -n 1)"
    [ -n "$dir" ] && [ -x "$dir/bin/python" ] && echo "$dir/bin/python"
}

ran=() skipped=() failed_versions=()
total_passed=0 total_failed=0
log_dir="$repo/target/ci-logs"
mkdir -p "$log_dir"

for minor in "${minors[@]}"; do
    python="$(find_python "$minor")"
    if [ -z "$python" ]; then
        echo "== Python $minor: SKIPPED (not installed under $pyenv_root/versions)"
        skipped+=("$minor (not installed)")
        continue
    fi
    if [ "$minor" = "2.7" ]; then
        echo "== Python $minor: SKIPPED (the Python 2.7 build is not implemented yet: issue 7)"
        skipped+=("$minor (not supported yet)")
        continue
    fi
    echo "== Python $minor: $python"
    log="$log_dir/test-$minor.log"
    export PYTHON_SYS_EXECUTABLE="$python"
    export PYINSTRUMENT_DJANGO_VENV="$(django_venv_for "$python" "$minor")"
    cargo test --no-fail-fast 2>&1 | tee "$log" | grep -E "^(test result|     Running|test .* FAILED|failures:|---- )" || true
    status=${PIPESTATUS[0]}
    passed=$(grep -Eo "test result: [A-Za-z]+\. [0-9]+ passed" "$log" | awk '{s+=$4} END {print s+0}')
    failed=$(grep -Eo "; [0-9]+ failed" "$log" | awk '{s+=$2} END {print s+0}')
    if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
        failed=1 # the build itself failed
        echo "   build or test run failed; see $log"
        tail -n 30 "$log"
    fi
    total_passed=$((total_passed + passed))
    total_failed=$((total_failed + failed))
    ran+=("$minor")
    [ "$failed" -ne 0 ] && failed_versions+=("$minor")
    echo "== Python $minor: $passed passed, $failed failed"
done

echo
echo "Ran on: ${ran[*]:-none}"
echo "Skipped: ${skipped[*]:-none}"
[ "${#failed_versions[@]}" -gt 0 ] && echo "Failures on: ${failed_versions[*]}"
if [ "${#ran[@]}" -eq 0 ]; then
    echo "no Python version could be tested"
    total_failed=$((total_failed + 1))
fi
echo "ci: $total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ]
