#!/usr/bin/env bash
# Runs every test: the Rust suite, then the page in real headless Chromium (CPU and WebGPU
# paths), installing Chromium, its driver and the node packages when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== Rust tests"
cargo test --features train

echo "== Browser build"
./scripts/setup.sh
trunk build --release --offline

echo "== Browser tests"
if ! command -v chromium >/dev/null; then
    apt-get update -qq && apt-get install -y -qq chromium chromium-driver
fi
(cd tests/browser && { [ -d node_modules/playwright-core ] || npm ci --no-audit --no-fund; })
node tests/browser/run.mjs
