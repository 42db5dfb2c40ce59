#!/usr/bin/env bash
# Installs what building the browser app needs, from the registries only: the wasm target,
# trunk, and the wasm-bindgen CLI at exactly the version in Cargo.lock (so trunk never downloads).
set -euo pipefail
cd "$(dirname "$0")/.."

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
