#!/usr/bin/env bash
# Build-and-run tests for the ways libpython is linked (build.rs):
#
#   ci/link_test.sh              static link with pyenv's 3.11 and 2.7, and
#                                Debian's /usr/bin/python3.11 (its default link)
#   ci/link_test.sh static:3.13 system:3.11     pick: static:X.Y (pyenv's X.Y,
#                                PYINSTRUMENT_LINK=static), system:X.Y
#                                (/usr/bin/pythonX.Y, default link), or
#                                nonshared:X.Y (below)
#
# nonshared:X.Y is the automatic choice for a Python without a shared
# libpython. None is installed here, so it is simulated: pyenv's X.Y run with
# a copy of its sysconfig data saying Py_ENABLE_SHARED=0 (what pyenv without
# --enable-shared reports). The build must link statically with no
# PYINSTRUMENT_LINK set, and C extension modules must import in it without
# mapping a libpython*.so (the suites are not run: that python's altered
# sys.path would differ from the binary's in the parity tests; static:X.Y
# runs them on the same link). Use a 3.8+: pyenv's shared 2.7-3.7 link their
# extension modules to libpython, which a real static-only build does not,
# so there the import check finds the .so mapped.
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
[ "$#" -gt 0 ] || set -- static:3.11 static:2.7 system:3.11 nonshared:3.11
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
        nonshared)
            real="$(ls -d "$pyenv_root/versions/$minor".* 2>/dev/null | grep -E "/$minor\.[0-9]+$" | sort -V | tail -n 1)/bin/python$minor"
            python=""
            if [ -x "$real" ]; then
                fake="$(mktemp -d /tmp/pyinstrument-nonshared.XXXXXX)"
                "$real" - "$fake" <<'PY' && python="$fake/python"
import importlib, pprint, sys, sysconfig
data = dict(importlib.import_module(sysconfig._get_sysconfigdata_name()).build_time_vars)
data.update(Py_ENABLE_SHARED=0, LDLIBRARY=data['LIBRARY'], INSTSONAME=data['LIBRARY'])
with open(sys.argv[1] + '/_sysconfigdata_nonshared.py', 'w') as out:
    out.write('build_time_vars = %s\n' % pprint.pformat(data))
with open(sys.argv[1] + '/python', 'w') as out:
    out.write('#!/bin/sh\n_PYTHON_SYSCONFIGDATA_NAME=_sysconfigdata_nonshared PYTHONPATH=%s exec %s "$@"\n'
              % (sys.argv[1], sys.executable))
PY
                chmod +x "$python" 2>/dev/null
            fi
            link=(env -u PYINSTRUMENT_LINK) ;;
        *) echo "link_test: unknown case $case (static:X.Y, system:X.Y or nonshared:X.Y)" >&2; exit 2 ;;
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
        echo "   build FAILED (see $log)"; tail -n 20 "$log"; failed=$((failed + 1))
        [ "$kind" = nonshared ] && rm -rf "$fake"
        continue; }
    binary="$target/debug/pyinstrument"
    dynamic="$(readelf -d "$binary")"
    if [ "$kind" != system ]; then
        if grep -Eq 'NEEDED.*libpython|RPATH|RUNPATH' <<<"$dynamic"; then
            echo "   FAILED: the static build links a libpython or has an rpath:"
            grep -E 'libpython|RPATH|RUNPATH' <<<"$dynamic"
            failed=$((failed + 1))
        else
            echo "   ok: no libpython*.so, no rpath"; passed=$((passed + 1))
        fi
    fi
    if [ "$kind" = nonshared ]; then
        printf '%s\n' 'import json, _json, ssl, ctypes, decimal, sqlite3' \
            "print('mapped: %s' % sorted(set(l.split()[-1] for l in open('/proc/self/maps') if 'libpython' in l)))" \
            >"$fake/imports.py"
        out="$(cd "$fake" && "$binary" -o /dev/null imports.py 2>&1)"
        if [ "$out" = "mapped: []" ]; then
            echo "   ok: _json, _ssl, _ctypes, _decimal, _sqlite3 import, no libpython*.so mapped"; passed=$((passed + 1))
        else
            echo "   FAILED: importing extension modules: $out"; failed=$((failed + 1))
        fi
        rm -rf "$fake"
        continue
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
