#!/usr/bin/env bash
# Makes two finished training runs the pair the page ships, and re-derives everything downstream
# of the weights: the f16 weights and their logs, the report and plots (docs/report.json, the
# page's study.json), the 8-bit copies the page downloads and their comparison, the held-out
# passages the page pools, and the loading screen's picture. Rebuild pkg/ afterwards
# (scripts/build_pkg.sh).
#   scripts/ship_pair.sh runs/isoflop/8e12/<mod run> runs/isoflop/8e12/<dense run>
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 2 ] || { echo "usage: $0 <MoD run directory> <dense run directory>" >&2; exit 2; }
for name_dir in "mod:$1" "dense:$2"; do
    name=${name_dir%%:*} dir=${name_dir#*:}
    [ -f "$dir/model.safetensors" ] || { echo "$dir: not a finished run (no model.safetensors)" >&2; exit 1; }
    cp "$dir/model.safetensors" "www/models/$name.safetensors"
    cp "$dir/log.csv" "docs/training/$name-log.csv"
    cp "$dir/checkpoint/progress.json" "docs/training/$name-progress.json"
    cp "$dir/train_config.json" "docs/training/$name-train-config.json"
done
cargo build --release --features train --bin modscope-train --bin modscope
train=target/release/modscope-train
"$train" report > /dev/null
"$train" quantize
"$train" passages
example=$(sed -n 's/^pub const EXAMPLE_TEXT: &str = "\(.*\)";$/\1/p' src/runtime/options.rs)
target/release/modscope route --weights www/models/mod.q8.safetensors --text "$example" --svg www/shell.svg
