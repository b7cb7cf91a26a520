#!/usr/bin/env bash
# Builds the release binary and runs every benchmark, printing their tables
# (also saved to bench/results/<date>.txt, which git ignores).
#
#   bench/run.sh            full runs (about 15-25 min on a quiet 2-core machine)
#   bench/run.sh --quick    small sizes, few runs (about 2-3 min): a smoke test
#
# Environment: PYTHON_SYS_EXECUTABLE (the python to build against and compare
# with; default: pyenv 3.11.7, else python3), CARGO_TARGET_DIR (default:
# <repo>/target). Needs network access to PyPI the first time (the venv with
# Django and pyinstrument 5.1.3 is created under bench/.venv-<version>).
# Run it on an otherwise idle machine: the numbers are only as good as that.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"

if [[ -n "${PYTHON_SYS_EXECUTABLE:-}" ]]; then
    py="$(command -v "$PYTHON_SYS_EXECUTABLE" || echo "$PYTHON_SYS_EXECUTABLE")"
elif [[ -x /root/.pyenv/versions/3.11.7/bin/python ]]; then
    py=/root/.pyenv/versions/3.11.7/bin/python
else
    py="$(command -v python3)"
fi
export PYTHON_SYS_EXECUTABLE="$py"

quick=0
if [[ "${1:-}" == "--quick" ]]; then quick=1; fi

(cd "$repo" && cargo build --release)
# Benchmark a private copy, so that a concurrent rebuild cannot swap the
# binary in the middle of the runs (it embeds all it needs; libpython is
# linked dynamically).
snap="$(mktemp -d)"
trap 'rm -rf "$snap"' EXIT
cp "$CARGO_TARGET_DIR/release/pyinstrument" "$snap/pyinstrument"
bin="$snap/pyinstrument"
common=(--pyinstrument "$bin" --python "$py")

mkdir -p "$here/results"
log="$here/results/$(date +%Y%m%d-%H%M%S).txt"
driver="${BENCH_DRIVER_PYTHON:-python3}"

{
    echo "# pyinstrument-rs benchmarks, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?'), python $py"
    if (( quick )); then
        "$driver" "$here/startup.py" "${common[@]}" --runs 10
        "$driver" "$here/accuracy.py" "${common[@]}" --runs 1 --seconds 1.5
        "$driver" "$here/memory.py" "${common[@]}" --seconds 5
        "$driver" "$here/overhead.py" "${common[@]}" --runs 2 --scale 0.25
    else
        "$driver" "$here/startup.py" "${common[@]}" --runs 30
        "$driver" "$here/accuracy.py" "${common[@]}" --runs 3
        "$driver" "$here/memory.py" "${common[@]}" --seconds 60
        "$driver" "$here/overhead.py" "${common[@]}" --runs 5
    fi
} 2>&1 | tee "$log"
echo "saved to $log"
