#!/usr/bin/env bash
# Trains (or resumes) the models of the enhanced look: networks of our own plain chain, taught by
# Real-ESRGAN's compact model (../shared/teachers/realesr-general-x4v3, BSD-3-Clause; used to
# train, never shipped) on LR patches made from the training photos as real photos are made
# (src/train/degrade: blur, resizers, noise, sharpening after the resize, JPEG, twice over).
# The loss is TEACHER_WEIGHT × L1 against the teacher's output on the degraded patch plus the rest
# × L1 against the original. Each run starts from the compression-aware model of its scale,
# deepened with identity layers (src/train/net.rs), and keeps its latest weights (the look is
# judged on real photos without originals, not by a validation score).
# The shipped upres-x4-enhanced is one run in three sittings (a resumed run takes the flags it
# is given): STEPS=3000 BATCH=4 PATCH=48 MIX=photo stopped after the checkpoint at step 600;
# MIX=real-esrgan TEACHER_WEIGHT=0.9 to step 1500; then STEPS=12000 TEACHER_WEIGHT=1.0
# VALIDATE_EVERY=250 (MIX=photo) to step 3000, of which the weights saved at step 2000 were
# judged best on RealSRSet and shipped (81 min on 2 cores to there). training/ holds step 3000.
# Tried and not kept: --edge-weight 1.0 (L1 on neighbour differences too) from step 3000 with
# LR 1e-4: after 250 and 500 steps RealSRSet BRISQUE 59.0 and 59.8, NIQE 16.2 and 16.3, and PSNR-Y
# on the real-LR sets no better (Set14 24.91, 24.77 dB; B100 24.88, 24.73).
# Tried and not kept (2026-12-08, the teacher on the CPU engine: ~2.2 s a step of 8 patches of
# 48² on 2 cores, 0.8 s of it the teacher): BLOCKS=12 (126 K parameters, the step-3000 checkpoint
# deepened with identity layers), TEACHER_WEIGHT=1.0 BATCH=8 PATCH=48, 250 steps at LR 1e-4 or
# 5e-5: RealSRSet BRISQUE 57.9 / 58.9, NIQE 16.1 / 16.2, PSNR-Y Set14 24.62 / 24.69, B100 24.66 /
# 24.77; the run at 1e-4, resumed at step 250, diverged before step 500 (mean L1 0.465).
# Runs at low priority so that builds and timing-sensitive tests stay reliable; checkpoints go to
# training/NAME and a second run resumes where the first stopped (MINUTES caps one sitting); the
# model is written to training/ (OUT) until it is judged and copied to models/, which the CLI and
# the web app embed.
set -euo pipefail
cd "$(dirname "$0")/.."
upres=${UPRES:-${CARGO_TARGET_DIR:-target}/debug/upres}
data=${UPRES_DATA:-../shared/data}
teacher=${UPRES_TEACHER:-../shared/teachers/realesr-general-x4v3}
minutes=${MINUTES:-600}

nice -n 19 "$upres" train --scale 4 --channels 32 --blocks "${BLOCKS:-8}" --name upres-x4-enhanced \
    --init-from training/upres-x4-jpeg --real "${MIX:-photo}" --teacher "$teacher" \
    --teacher-weight "${TEACHER_WEIGHT:-0.8}" --data "$data/train" \
    --steps "${STEPS:-6000}" --batch "${BATCH:-8}" --patch "${PATCH:-32}" --lr "${LR:-2e-4}" \
    --validate-every "${VALIDATE_EVERY:-250}" --minutes "$minutes" --backend cpu --out "${OUT:-training}"
