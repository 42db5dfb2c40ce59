#!/usr/bin/env bash
# Fails when a linked (unstripped) wasm module re-runs its static constructors on every call:
# wasm-ld then wraps each export in a `<name>.command_export` function that calls
# `__wasm_call_ctors` first, which cost ~90% of a keystroke here. The entry point calls the
# constructors once itself so the linker leaves the exports alone (src/bin/modscope_web.rs).
set -euo pipefail
wasm="$1"
if ! grep -qa '__wasm_call_ctors' "$wasm"; then
    echo "check_ctors: $wasm has no name section to check (was it stripped?)" >&2
    exit 1
fi
wrapped=$(grep -ao '[A-Za-z0-9_]*\.command_export' "$wasm" | wc -l || true)
if [ "$wrapped" -gt 0 ]; then
    echo "check_ctors: $wasm wraps $wrapped exports in constructor calls (*.command_export): every JS→wasm call re-runs the static constructors" >&2
    exit 1
fi
echo "check_ctors: constructors run once ($wasm)"
