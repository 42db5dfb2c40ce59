#!/usr/bin/env bash
# Builds pkg/, the embeddable bundle: the wasm module (wasm-bindgen --target web, then wasm-opt
# from npm's binaryen, which also strips it), the <mod-demo> loader, the stylesheet, the full page
# for iframes, the weights, and a stamp of the sources it came from (CI fails when the committed
# bundle is stale).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
(cd tests/browser && { [ -x node_modules/.bin/wasm-opt ] || npm ci --no-audit --no-fund; })
target_dir=${CARGO_TARGET_DIR:-target}
cargo build --profile wasm-release --target wasm32-unknown-unknown --no-default-features --features web --bin modscope-web
linked="$target_dir/wasm32-unknown-unknown/wasm-release/modscope-web.wasm"
./scripts/check_ctors.sh "$linked"
rm -rf pkg && mkdir -p pkg/models
wasm-bindgen --target web --no-typescript --out-dir pkg --out-name modscope "$linked"
# -O3, not -Os: measured, the size levels slow the matrix kernels more than they save.
# wasm-opt takes minutes on two cores and is deterministic, so its output is kept per input hash:
# a rebuild whose wasm did not change (a new stylesheet, new weights) reuses it.
opt_flags="-O3 --strip-debug --strip-producers --strip-target-features"
cache="$target_dir/wasm-opt-cache/$( (sha256sum < pkg/modscope_bg.wasm; echo "$opt_flags") | sha256sum | cut -c1-32).wasm"
if [ ! -f "$cache" ]; then
    mkdir -p "$(dirname "$cache")"
    # shellcheck disable=SC2086 # the flags are words
    tests/browser/node_modules/.bin/wasm-opt $opt_flags pkg/modscope_bg.wasm -o "$cache.tmp"
    mv "$cache.tmp" "$cache"
fi
cp "$cache" pkg/modscope_bg.wasm
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
echo "pkg/ built: $(du -sh pkg | cut -f1), wasm $(wc -c < pkg/modscope_bg.wasm) bytes ($(gzip -9c pkg/modscope_bg.wasm | wc -c) gzipped)"
