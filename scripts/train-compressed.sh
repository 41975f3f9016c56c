#!/usr/bin/env bash
# Trains (or resumes) the compression-aware models, each fine-tuned from the clean model of its
# scale (every layer: same architecture), one after the other, on one core at low priority so
# that builds and timing-sensitive tests stay reliable. Checkpoints go to training/NAME; run it
# again to resume. STEPS_X4 etc. set each schedule's length (a longer one reshapes the cosine).
set -euo pipefail
cd "$(dirname "$0")/.."
upres=${UPRES:-${CARGO_TARGET_DIR:-target}/debug/upres}
data=${UPRES_DATA:-../shared/data}
for scale in 4 2 3; do
    steps_var="STEPS_X$scale"
    RAYON_NUM_THREADS=1 nice -n 19 "$upres" train --scale "$scale" --channels 32 --blocks 4 \
        --name "upres-x$scale-jpeg" --input compressed --init-from "training/upres-x$scale" \
        --data "$data/train" --validate "$data/eval/set5" "$data/eval/set14" --validate-jpeg 75 \
        --steps "${!steps_var:-4000}" --lr 2e-4 --validate-every 500 --backend cpu
done
