#!/usr/bin/env bash
# Reproduces the bundled default model (edge_ser/assets/default.onnx) on a CPU machine.
# Data: ../shared/datasets (16 kHz FLAC; non-commercial licences: see the model card).
# Held out of everything below: RAVDESS actors 9-12 (speaker-independent test) and SAVEE
# (a corpus left out entirely). Times are from the 2-vCPU development machine (AMD EPYC, AVX2).
# Step 1 stops on a time budget, so another machine runs a different number of steps.
set -euo pipefail
D=${DATASETS:-../shared/datasets}
W=${WORK:-work/bundled}
mkdir -p "$W"

# 1. Distil the acoustic teacher into the conv feature encoder (no labels; 36 min), with the
#    encoder's input augmented (voice, microphone, room, noise) and the teacher on clean audio.
python -m edge_ser_train.pretrain \
  --data "$D/ravdess" "$D/tess" "$D/urdu" "$D/turev-db" \
  --exclude '*/Actor_09/*' '*/Actor_10/*' '*/Actor_11/*' '*/Actor_12/*' \
  --out "$W/encoder" --minutes 36 --seed 0 --threads 2 --augment

# 2. Fine-tune with the encoder frozen, on cached encoder frames (each utterance encoded as it
#    is plus 3 augmented versions; ~8 min encoding, ~3 min per epoch, 10 epochs; the epoch
#    with the best validation UA on 5 held-out training speakers is kept).
edge-ser train --config training/configs/bundled_model.json \
  --data "$D/ravdess:ravdess" --data "$D/tess:tess" --data "$D/urdu:urdu" --data "$D/turev-db:turev-db" \
  --pretrained "$W/encoder" --out "$W/model"

# 3. Export: static int8 calibrated on training-side speech only (80 files calibrate, 16 check
#    parity), ORT format for mobile; an fp32 export of the same checkpoint for the agreement check.
mkdir -p "$W/calibration"
python - "$D" "$W/calibration" <<'PY'
import os, random, sys
from pathlib import Path
d, out = Path(sys.argv[1]), Path(sys.argv[2]); random.seed(0)
for sub, pat, n in [("ravdess", "Actor_0[1-6]/*.flac", 36), ("tess", "*/*.flac", 20),
                    ("urdu", "*/*.flac", 20), ("turev-db", "Sound Source/*/*.flac", 20)]:
    for i, f in enumerate(random.sample(sorted((d / sub).glob(pat)), n)):
        link = out / f"{sub}_{i:02d}_{f.name}"
        if not link.exists():
            os.symlink(f.resolve(), link)
PY
edge-ser export "$W/model" --out "$W/export" --calibration "$W/calibration" --ort
edge-ser export "$W/model" --out "$W/fp32" --quantize none --no-raw-variant

# 4. Evaluate through the runtime on the held-out speakers and the left-out corpus.
edge-ser evaluate --model "$W/export" --corpus ravdess --data "$D/ravdess" \
  --speakers Actor_09 Actor_10 Actor_11 Actor_12 --json --plot "$W/confusion_ravdess_heldout.png" > "$W/eval_ravdess_heldout.json"
edge-ser evaluate --model "$W/export" --corpus savee --data "$D/savee" --json --plot "$W/confusion_savee.png" > "$W/eval_savee.json"
python benchmarks/int8_agreement.py "$W/export" "$W/fp32" "$D"/ravdess/Actor_{09,10,11,12} "$D/savee" > "$W/int8_vs_fp32.json"
