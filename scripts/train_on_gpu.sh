#!/usr/bin/env bash
# Trains both shipped models on a GPU (wgpu on Vulkan) at equal training FLOPs, sized to a time
# budget: a short probe of each measures its step rate, then both train in parallel with the
# budget the slower one can finish. Results (weights, logs, progress) go to runs/.
#   BIN=path/to/modscope-train TARGET_SECONDS=330 scripts/train_on_gpu.sh
set -euo pipefail
BIN=${BIN:-target/release/modscope-train}
TARGET_SECONDS=${TARGET_SECONDS:-330}
mkdir -p runs/probe

probe() {
    "$BIN" train --model "$1" --device vulkan --steps 40 --eval-every 10 --out "runs/probe/$1" > "runs/probe/$1.log" 2>&1
}
probe mod & probe dense & wait
for m in mod dense; do tail -n 3 "runs/probe/$m.log"; done

# steps/second between steps 20 and 40 (kernels compiled and autotuned by then), and FLOPs/step.
rate() { awk -F, '$1==20 {a=$8} $1==40 {b=$8} END {print 20/(b-a)}' "runs/probe/$1/log.csv"; }
step_flops() { sed -n 's/^training [0-9]* steps of \([0-9.e+]*\) FLOPs.*/\1/p' "runs/probe/$1.log"; }
budget=$(awk -v rm="$(rate mod)" -v fm="$(step_flops mod)" -v rd="$(rate dense)" -v fd="$(step_flops dense)" -v t="$TARGET_SECONDS" \
    'BEGIN { a = rm * fm * t; b = rd * fd * t; printf "%.6e", (a < b ? a : b) }')
echo "mod: $(rate mod) steps/s, dense: $(rate dense) steps/s; equal budget $budget FLOPs"

train() {
    "$BIN" train --model "$1" --device vulkan --flops-budget "$budget" --eval-every 100 --out "runs/$1" > "runs/$1.log" 2>&1
}
train mod & train dense & wait
for m in mod dense; do tail -n 2 "runs/$m.log"; done
