#!/usr/bin/env bash
# Build-and-run tests for the ways libpython is linked (build.rs):
#
#   ci/link_test.sh              static link with pyenv's 3.11 and 2.7, and
#                                Debian's /usr/bin/python3.11 (its default link)
#   ci/link_test.sh static:3.13 system:3.11     pick: static:X.Y (pyenv's X.Y,
#                                PYINSTRUMENT_LINK=static) or system:X.Y
#                                (/usr/bin/pythonX.Y, default link)
#
# Each runs the parity, sampler_behaviour and cli_behaviour suites, in its own
# target directory (target/link-static, target/link-system), after checking
# what the binary links: a static build needs no libpython*.so and has no
# rpath; a system build runs that Python. A Python that is not there is
# SKIPPED, said and counted. Last line: "link_test: N passed, N failed, N skipped".
set -uo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
export CARGO_TERM_COLOR=never
[ "$#" -gt 0 ] || set -- static:3.11 static:2.7 system:3.11
pyenv_root="$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"
log_dir="$repo/target/ci-logs"
mkdir -p "$log_dir"
passed=0 failed=0 skipped=0

for case in "$@"; do
    kind="${case%%:*}" minor="${case#*:}"
    case "$kind" in
        static)
            python="$(ls -d "$pyenv_root/versions/$minor".* 2>/dev/null | grep -E "/$minor\.[0-9]+$" | sort -V | tail -n 1)/bin/python"
            link=(env PYINSTRUMENT_LINK=static) ;;
        system)
            python="/usr/bin/python$minor"
            link=(env -u PYINSTRUMENT_LINK) ;;
        *) echo "link_test: unknown case $case (static:X.Y or system:X.Y)" >&2; exit 2 ;;
    esac
    if [ ! -x "$python" ]; then
        echo "== $case: SKIPPED ($python not installed)"
        skipped=$((skipped + 1))
        continue
    fi
    features=()
    [ "${minor%%.*}" = 2 ] && features=(--no-default-features --features python27)
    target="$repo/target/link-$kind"
    log="$log_dir/link-$kind-$minor.log"
    echo "== $case: $python"
    started=$SECONDS
    "${link[@]}" PYTHON_SYS_EXECUTABLE="$python" CARGO_TARGET_DIR="$target" \
        cargo build "${features[@]}" --bin pyinstrument >"$log" 2>&1 || {
        echo "   build FAILED (see $log)"; tail -n 20 "$log"; failed=$((failed + 1)); continue; }
    binary="$target/debug/pyinstrument"
    dynamic="$(readelf -d "$binary")"
    if [ "$kind" = static ]; then
        if grep -Eq 'NEEDED.*libpython|RPATH|RUNPATH' <<<"$dynamic"; then
            echo "   FAILED: the static build links a libpython or has an rpath:"
            grep -E 'libpython|RPATH|RUNPATH' <<<"$dynamic"
            failed=$((failed + 1))
        else
            echo "   ok: no libpython*.so, no rpath"; passed=$((passed + 1))
        fi
    fi
    version="$("$binary" --version 2>&1)"
    if [ "$version" = "pyinstrument 0.1.0 (Python $minor)" ]; then
        echo "   ok: $version"; passed=$((passed + 1))
    else
        echo "   FAILED: --version says: $version"; failed=$((failed + 1))
    fi
    "${link[@]}" PYTHON_SYS_EXECUTABLE="$python" CARGO_TARGET_DIR="$target" cargo test "${features[@]}" \
        --no-fail-fast --test parity --test sampler_behaviour --test cli_behaviour </dev/null >>"$log" 2>&1
    status=$?
    grep -E "^(test result|test .* FAILED)" "$log" | sed 's/^/   /'
    p=$(grep -Eo "test result: [A-Za-z]+\. [0-9]+ passed" "$log" | awk '{s+=$4} END {print s+0}')
    f=$(grep -Eo "; [0-9]+ failed" "$log" | awk '{s+=$2} END {print s+0}')
    if { [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; } || [ "$p" -eq 0 ]; then
        f=$((f + 1)); echo "   test run failed (see $log)"; tail -n 20 "$log"
    fi
    passed=$((passed + p)) failed=$((failed + f))
    echo "   ($((SECONDS - started)) s)"
done
echo "link_test: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
