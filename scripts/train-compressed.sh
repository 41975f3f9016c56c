#!/usr/bin/env bash
# Trains (or resumes) the compression-aware models, each fine-tuned from another model of its
# scale (every layer: same architecture), one after the other, on one core at low priority so
# that builds and timing-sensitive tests stay reliable:
#   upres-xS-jpeg        JPEG qualities 30-95, validated on the q75 sets: for any JPEG
#   upres-xS-jpeg-light  JPEG qualities 70-95, validated on the q90 sets: for lightly compressed
#                        ones, where a model trained on every quality smooths more than it should
#   upres-xS-jpeg-fine   JPEG qualities 85-95, from -light, on the luma loss
#   upres-x4-jpeg-mid    JPEG qualities 60-85, from -light, on the luma loss: at ×4 it takes
#                        -light's place, which stays in training/ as the donor of -fine and -mid
#   upres-x4-jpeg-heavy  JPEG qualities 30-60, from upres-x4-jpeg, on the luma loss
# The router picks the model whose range is nearest the quality it reads from each file, the
# narrowest of those (src/route.rs). Checkpoints go to training/NAME; run it again to resume.
# SCALES selects; the schedules' lengths are those the shipped models were trained with. The ×4
# -jpeg and -light first ran schedules of 6000 and 2500 steps, then resumed to 12000 and 11000
# (the cosine picking up where the longer schedule is at that step), both at once, one core each.
set -euo pipefail
cd "$(dirname "$0")/.."
upres=${UPRES:-${CARGO_TARGET_DIR:-target}/debug/upres}
data=${UPRES_DATA:-../shared/data}
# train SCALE NAME QUALITIES VALIDATE_Q STEPS FROM LR LOSS [OUT]
train() {
    RAYON_NUM_THREADS=1 nice -n 19 "$upres" train --scale "$1" --channels 32 --blocks 4 \
        --name "$2" --input compressed --jpeg-qualities "$3" --init-from "training/$6" \
        --data "$data/train" --validate "$data/eval/set5" "$data/eval/set14" --validate-jpeg "$4" \
        --steps "$5" --lr "$7" --loss "$8" --validate-every 500 --backend cpu --out "${9:-models}"
}
declare -A steps=([4]=12000 [3]=3000 [2]=4000)
declare -A light_steps=([4]=11000 [3]=2500 [2]=2500)
for scale in ${SCALES:-4 2 3}; do
    train "$scale" "upres-x$scale-jpeg" 30-95 75 "${steps[$scale]}" "upres-x$scale" 2e-4 rgb
    if [ "$scale" = 4 ]; then light_out=training; else light_out=models; fi
    train "$scale" "upres-x$scale-jpeg-light" 70-95 90 "${light_steps[$scale]}" "upres-x$scale" 2e-4 rgb "$light_out"
    train "$scale" "upres-x$scale-jpeg-fine" 85-95 90 5000 "upres-x$scale-jpeg-light" 1e-4 luma
    if [ "$scale" = 4 ]; then
        train 4 upres-x4-jpeg-mid 60-85 75 5000 upres-x4-jpeg-light 1e-4 luma
        train 4 upres-x4-jpeg-heavy 30-60 50 5000 upres-x4-jpeg 1e-4 luma
    fi
done
