#!/usr/bin/env bash
# Runs every test: the committed bundle's freshness, the Rust suite, then the page and the
# embeddable bundle in real headless Chromium (CPU and WebGPU paths, and a 1,000-run soak) and in
# Firefox ESR, installing the browsers and the node packages when they are missing. Screenshots
# land in artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== Bundle freshness"
./scripts/pkg_stamp.sh --check

echo "== Rust tests"
cargo test --features train

echo "== Browser build"
./scripts/setup.sh
trunk build --release --offline
./scripts/check_ctors.sh dist/*.wasm

echo "== Browser tests"
if ! command -v chromium >/dev/null || ! command -v firefox-esr >/dev/null; then
    apt-get update -qq && apt-get install -y -qq chromium firefox-esr
fi
(cd tests/browser && { [ -d node_modules/puppeteer-core ] || npm ci --no-audit --no-fund; })
node tests/browser/run.mjs
node tests/browser/embed.mjs
node tests/browser/firefox.mjs
node tests/browser/soak.mjs
