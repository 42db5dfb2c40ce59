#!/usr/bin/env bash
# Runs every test: the committed bundle's freshness, the Rust suite, then the page and the
# embeddable bundle in real headless Chromium (CPU and WebGPU paths, and a 1,000-run soak) and in
# Firefox ESR, installing the build tools, the browsers and the node packages when they are
# missing. Every browser run has a time limit, so a hung browser fails the run instead of holding
# it. Screenshots land in artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { echo "== $1 (at ${SECONDS} s)"; }
# A browser run that outlives its limit is stopped (SIGTERM, then SIGKILL 20 s later) and fails.
bounded() { # <seconds> <script> [args]
    local limit=$1; shift
    local rc=0
    timeout --kill-after=20 "$limit" node "$@" || rc=$?
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        echo "FAIL: node $* did not finish within $limit s" >&2
    fi
    return "$rc"
}

step "Bundle freshness"
./scripts/pkg_stamp.sh --check

step "Rust tests"
cargo test --features train

step "Browser build"
./scripts/setup.sh
trunk build --release --offline
./scripts/check_ctors.sh dist/*.wasm

step "Browser tests"
if ! command -v chromium >/dev/null || ! command -v firefox-esr >/dev/null; then
    apt-get update -qq && apt-get install -y -qq chromium firefox-esr
fi
(cd tests/browser && { [ -d node_modules/puppeteer-core ] || npm ci --no-audit --no-fund; })
bounded 1200 tests/browser/run.mjs
bounded 900 tests/browser/embed.mjs
bounded 900 tests/browser/firefox.mjs
bounded 1800 tests/browser/soak.mjs
step "All tests passed"
