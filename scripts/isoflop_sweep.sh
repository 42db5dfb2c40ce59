#!/usr/bin/env bash
# The isoFLOP study (MODEL_CARD.md, "Did MoD pay off?"): at three training budgets spanning 10×,
# two dense widths and two MoD widths, plus the update-weight ablation (raw r against σ(r)) at the
# middle budget. Every run has the same schedule rules (batch 16, peak learning rate 1e-3, 5%
# warmup, cosine to a tenth). Runs are sequential and resumable: a finished run (model.safetensors)
# is skipped and an interrupted one resumes from its checkpoint, so rerunning finishes the sweep.
#   BIN=target/release/modscope-train DEVICE=cpu scripts/isoflop_sweep.sh
set -euo pipefail
BIN=${BIN:-target/release/modscope-train}
DEVICE=${DEVICE:-cpu}
OUT=${OUT:-runs/sweep}

run() { # budget model width weight
    local dir="$OUT/$1/$2-$3-$4"
    [[ -f "$dir/model.safetensors" ]] && return
    mkdir -p "$dir"
    echo "$(date +%T) $dir"
    "$BIN" train --model "$2" --d-model "$3" --update-weight "$4" --flops-budget "$1" --batch 16 \
        --eval-every 25 --device "$DEVICE" --out "$dir" > "$dir/train.log" 2>&1
}

# The smallest and largest budgets first: if the sweep is cut short it still spans 10×.
for budget in 2e12 2e13 6.3e12; do
    for width in 96 160; do
        run "$budget" dense "$width" sigmoid
        run "$budget" mod "$width" sigmoid
    done
done
run 6.3e12 mod 160 raw
run 6.3e12 mod 96 raw
echo "$(date +%T) sweep done"
