#!/usr/bin/env bash
# Builds pkg/, the embeddable bundle: the wasm module in two builds, with WebGPU and CPU-only
# (wasm-bindgen --target web, then wasm-opt from npm's binaryen, which also strips it), the loader
# that picks one, the <mod-demo> element, the stylesheet, the full page for iframes, the weights,
# and a stamp of the sources it came from (CI fails when the committed bundle is stale).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
(cd tests/browser && { [ -x node_modules/.bin/wasm-opt ] || npm ci --no-audit --no-fund; })
target_dir=${CARGO_TARGET_DIR:-target}
linked="$target_dir/wasm32-unknown-unknown/wasm-release/modscope-web.wasm"
# -O3, not -Os: measured, the size levels slow the matrix kernels more than they save.
opt_flags="-O3 --strip-debug --strip-producers --strip-target-features"
rm -rf pkg && mkdir -p pkg/models

# Three builds of the one entry, which www/modscope-loader.js chooses between at load: with WebGPU
# (features `webgpu`) where the browser offers an adapter, else CPU-only (features `web`: no wgpu
# and no shader compiler, a quarter of the download), with fused multiply-adds (`relaxed-simd`)
# where the browser validates relaxed SIMD.
build() { # <cargo features> <output name> [extra wasm-opt flags]
    cargo build --profile wasm-release --target wasm32-unknown-unknown --no-default-features --features "$1" --bin modscope-web
    ./scripts/check_ctors.sh "$linked"
    wasm-bindgen --target web --no-typescript --out-dir pkg --out-name "$2" "$linked"
    # wasm-opt takes minutes on two cores and is deterministic, so its output is kept per input
    # hash: a rebuild whose wasm did not change (a new stylesheet, new weights) reuses it.
    local cache
    local flags="$opt_flags ${3:-}"
    cache="$target_dir/wasm-opt-cache/$( (sha256sum < "pkg/$2_bg.wasm"; echo "$flags") | sha256sum | cut -c1-32).wasm"
    if [ ! -f "$cache" ]; then
        mkdir -p "$(dirname "$cache")"
        # shellcheck disable=SC2086 # the flags are words
        tests/browser/node_modules/.bin/wasm-opt $flags "pkg/$2_bg.wasm" -o "$cache.tmp"
        mv "$cache.tmp" "$cache"
    fi
    cp "$cache" "pkg/$2_bg.wasm"
}
build webgpu modscope
build web modscope_cpu
# The kernels enable relaxed SIMD per function, so the module's features section does not list it.
build web,relaxed-simd modscope_cpu_relaxed --enable-relaxed-simd

cp www/modscope-element.js www/modscope-loader.js www/shell.svg pkg/
cp www/style.css pkg/modscope.css
cp www/page.html pkg/index.html
# What the page fetches: the 8-bit weights (the f16 originals stay in www/models for the CLI), the
# tokenizer, the held-out passages it pools, and the study's plot.
cp www/models/*.q8.safetensors www/models/tokenizer.json www/models/heldout.json www/models/study.json pkg/models/
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
for wasm in pkg/*.wasm; do
    echo "$wasm: $(wc -c < "$wasm") bytes ($(gzip -9c "$wasm" | wc -c) gzipped)"
done
echo "pkg/ built: $(du -sh pkg | cut -f1)"
