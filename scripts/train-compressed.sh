#!/usr/bin/env bash
# Trains (or resumes) the compression-aware models, each fine-tuned from the clean model of its
# scale (every layer: same architecture), one after the other, on one core at low priority so
# that builds and timing-sensitive tests stay reliable. Two per scale:
#   upres-xS-jpeg        JPEG qualities 30-95, validated on the q75 sets: for most JPEGs
#   upres-xS-jpeg-light  JPEG qualities 70-95, validated on the q90 sets: for lightly compressed
#                        ones, where a model trained on every quality smooths more than it should
# The router picks between them by the quality it reads from each file (src/route.rs).
# Checkpoints go to training/NAME; run it again to resume. SCALES selects; the schedules' lengths
# are those the shipped models were trained with. The ×4 pair first ran schedules of 6000 and
# 2500 steps, then resumed to 12000 and 11000 (the cosine picking up where the longer schedule
# is at that step), both at once, one core each.
set -euo pipefail
cd "$(dirname "$0")/.."
upres=${UPRES:-${CARGO_TARGET_DIR:-target}/debug/upres}
data=${UPRES_DATA:-../shared/data}
train() {
    local scale=$1 name=$2 qualities=$3 validate=$4 steps=$5
    RAYON_NUM_THREADS=1 nice -n 19 "$upres" train --scale "$scale" --channels 32 --blocks 4 \
        --name "$name" --input compressed --jpeg-qualities "$qualities" --init-from "training/upres-x$scale" \
        --data "$data/train" --validate "$data/eval/set5" "$data/eval/set14" --validate-jpeg "$validate" \
        --steps "$steps" --lr 2e-4 --validate-every 500 --backend cpu
}
declare -A steps=([4]=12000 [3]=3000 [2]=4000)
declare -A light_steps=([4]=11000 [3]=2500 [2]=2500)
for scale in ${SCALES:-4 2 3}; do
    train "$scale" "upres-x$scale-jpeg" 30-95 75 "${steps[$scale]}"
    if [ -n "${light_steps[$scale]:-}" ]; then
        train "$scale" "upres-x$scale-jpeg-light" 70-95 90 "${light_steps[$scale]}"
    fi
done
