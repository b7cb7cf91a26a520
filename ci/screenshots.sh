#!/bin/sh
# Refreshes the README's screenshots of the HTML report (docs/screenshots/):
# profiles examples/demo.py, renders the HTML page and photographs its three
# views in headless Chromium ($CHROMIUM or /usr/bin/chromium, which
# ci/setup.sh installs).
#
#     ci/screenshots.sh
set -eu
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cargo build --quiet
target/debug/pyinstrument -r json -o "$tmp/demo.json" examples/demo.py > /dev/null
cargo run --quiet --example html_screenshots -- "$tmp/demo.json" docs/screenshots
