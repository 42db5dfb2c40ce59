#!/usr/bin/env bash
# Installs what building the browser app needs, from the registries only: every locked crate for
# every target (the browser build runs offline), the wasm target, trunk, and the wasm-bindgen CLI
# at exactly the version in Cargo.lock (so trunk never downloads).
set -euo pipefail
cd "$(dirname "$0")/.."

# `trunk build --offline` lets cargo use only crates already in its cache, and `cargo test` (the
# native build) never fetches the wasm-only ones (Leptos, wgpu, web-sys, ...): fetch them all here,
# for every target. A no-op when the cache has them.
if ! cargo fetch --locked --quiet; then
    echo "setup.sh: could not fetch the crates in Cargo.lock from crates.io; the browser build" >&2
    echo "needs them all in cargo's cache (a first run downloads about 780 crates)." >&2
    exit 1
fi

rustup target list --installed | grep -q wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown

if ! trunk --version 2>/dev/null | grep -q "0.21.14"; then
    # 0.22 needs a newer rustc; unlocked, one of its dependencies fails to build.
    cargo install trunk --version 0.21.14 --locked
fi

wbg=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
if ! wasm-bindgen --version 2>/dev/null | grep -q "$wbg"; then
    # Not --locked: one locked dependency of the CLI is missing from the registry.
    cargo install wasm-bindgen-cli --version "$wbg"
fi
