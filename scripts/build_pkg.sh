#!/usr/bin/env bash
# Builds pkg/, the embeddable bundle: the wasm module (wasm-bindgen --target web), the
# <mod-demo> loader, the stylesheet, the full page for iframes, the weights, and a stamp of the
# sources it came from (CI fails when the committed bundle is stale).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
target_dir=${CARGO_TARGET_DIR:-target}
cargo build --profile wasm-release --target wasm32-unknown-unknown --no-default-features --features web --bin modscope-web
rm -rf pkg && mkdir -p pkg/models
wasm-bindgen --target web --no-typescript --out-dir pkg --out-name modscope \
    "$target_dir/wasm32-unknown-unknown/wasm-release/modscope-web.wasm"
cp www/modscope-element.js pkg/
cp www/style.css pkg/modscope.css
cp www/page.html pkg/index.html
cp www/models/* pkg/models/
cat > pkg/package.json <<JSON
{
  "name": "modscope",
  "version": "$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)",
  "description": "Mixture-of-Depths routing, live in the browser: the <mod-demo> element and the full page",
  "type": "module",
  "main": "modscope-element.js",
  "license": "MIT OR Apache-2.0"
}
JSON
./scripts/pkg_stamp.sh > pkg/STAMP
echo "pkg/ built: $(du -sh pkg | cut -f1)"
