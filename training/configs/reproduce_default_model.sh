#!/usr/bin/env bash
# Reproduces the bundled default model (edge_ser/assets/default.onnx, v3: Whisper base cut to
# its first 4 layers + an emotion head) and every figure in its model card, on a CPU machine.
# Data: ${DATASETS:-../shared/datasets} (16 kHz FLAC; non-commercial licences: see the card).
# Teacher: ${TEACHER:-openai/whisper-base} (hub id) or a local folder with its encoder.
# "P1" is the held-out split of every evaluated model: RAVDESS actors 9-12 (speaker-
# independent test) and all of SAVEE (a corpus left out) are kept out of every step.
# Times: the 2-vCPU development machine (AMD EPYC, AVX-512 VNNI), shared with other jobs.
# The named alternative (whisper-base) and the v2-era steps: reproduce_bundled_model.sh.
set -euo pipefail
D=${DATASETS:-../shared/datasets}
T=${TEACHER:-openai/whisper-base}
W=${WORK:-work/default_v3}
C="$W/cache"
mkdir -p "$W"
P1_DATA=(--data "$D/ravdess:ravdess" --data "$D/tess:tess" --data "$D/urdu:urdu" --data "$D/turev-db:turev-db")
ALL_DATA=("${P1_DATA[@]}" --data "$D/savee:savee")
POOLED=("$D/ravdess:ravdess" "$D/tess:tess" "$D/savee:savee" "$D/urdu:urdu" "$D/turev-db:turev-db")
HELD_OUT=(--exclude '*/Actor_09/*' '*/Actor_10/*' '*/Actor_11/*' '*/Actor_12/*')
SPLITS=(--split speakers:5 --split cross:savee --split cross:ravdess --split cross:tess --split cross:urdu)

# 1. Choose the encoder depth on the folds (torch head on cached states; ~15 min per depth,
#    the first run also fills the cache: ~5 min per depth). The card's "Why 4 layers" table;
#    the 6-layer row is reproduce_bundled_model.sh step 7.
for L in 3 4; do
  python -m edge_ser_train.reference --teacher "$T" --encoder-layers "$L" --cache "$C/encoder" \
    --data "${POOLED[@]}" "${SPLITS[@]}" --probe-layer 3 --out "$W/reference_layers_$L.json"
done

# 1b. The same folds through the runtime: one model per fold (~1.5 min each on cached states),
#     exported to static int8 calibrated on the fold's own training side, scored by the runtime.
RUNS=()
for s in speakers:5 cross:savee cross:ravdess cross:tess cross:urdu; do
  edge-ser train --config training/configs/whisper_base.json --split "$s" "${ALL_DATA[@]}" \
    --pretrained "$T" --encoder-layers 4 --frame-cache "$C/encoder" --augment --no-plots --out "$W/folds_${s/:/_}"
  RUNS+=(--run "$s=$W/folds_${s/:/_}")
done
python -m edge_ser_train.runtime_folds "${RUNS[@]}" --data "${POOLED[@]}" --work "$W/fold_models" \
  --out "$W/runtime_folds.json"

# 2. The held-out model (P1) and its figures through the runtime (~6 min to train, 20 s to export).
edge-ser train --config training/configs/whisper_base.json "${P1_DATA[@]}" --pretrained "$T" \
  --encoder-layers 4 --frame-cache "$C/encoder" --augment --out "$W/model_p1"
python training/configs/calibration_set.py "$D" "$W/calibration"
edge-ser export "$W/model_p1" --out "$W/export_p1" --calibration "$W/calibration" --no-raw-variant
edge-ser export "$W/model_p1" --out "$W/fp32_p1" --quantize none --no-raw-variant
edge-ser export "$W/model_p1" --out "$W/dynamic_p1" --quantize dynamic --no-raw-variant
for q in export fp32; do
  edge-ser evaluate --model "$W/${q}_p1" --corpus ravdess --data "$D/ravdess" \
    --speakers Actor_09 Actor_10 Actor_11 Actor_12 --json > "$W/eval_${q}_p1_ravdess.json"
  edge-ser evaluate --model "$W/${q}_p1" --corpus savee --data "$D/savee" --json > "$W/eval_${q}_p1_savee.json"
done
# the quantisations that lost (the card's int8 table)
edge-ser export "$W/model_p1" --out "$W/minmax_p1" --calibration "$W/calibration" --no-raw-variant --calibration-method minmax
edge-ser export "$W/model_p1" --out "$W/64windows_p1" --calibration "$W/calibration" --no-raw-variant --max-calibration-windows 64
edge-ser export "$W/model_p1" --out "$W/fc2_fp32_p1" --calibration "$W/calibration" --no-raw-variant --keep-fp32 fc2
edge-ser export "$W/model_p1" --out "$W/attention_int8_p1" --calibration "$W/calibration" --no-raw-variant --quantize-attention
edge-ser export "$W/model_p1" --out "$W/attention_conv1_int8_p1" --calibration "$W/calibration" --no-raw-variant --quantize-attention --fp32-conv-layers 0
edge-ser evaluate --model "$W/attention_conv1_int8_p1" --corpus ravdess --data "$D/ravdess" \
  --speakers Actor_09 Actor_10 Actor_11 Actor_12 --json > "$W/eval_attention_conv1_int8_p1_ravdess.json"
edge-ser evaluate --model "$W/attention_conv1_int8_p1" --corpus savee --data "$D/savee" --json \
  > "$W/eval_attention_conv1_int8_p1_savee.json"
for q in export dynamic minmax 64windows fc2_fp32 attention_int8 attention_conv1_int8; do
  python benchmarks/int8_agreement.py "$W/${q}_p1" "$W/fp32_p1" "$D"/ravdess/Actor_{09,10,11,12} "$D/savee" \
    > "$W/agreement_${q}_p1.json"
done
python -m edge_ser_train.long_notes --model "$W/export_p1" --data "$D/ravdess:ravdess" "$D/savee:savee" \
  --speakers ravdess/Actor_09 ravdess/Actor_10 ravdess/Actor_11 ravdess/Actor_12 savee/DC savee/JE savee/JK savee/KL \
  --notes 24 --json > "$W/long_notes_p1.json"

# 3. What lost: distilled students (P1 training side only; 20 min each), scored with the same
#    probe and head on RAVDESS 9-12 as the teacher cut to 2 and 4 layers.
for layers in "3 4" "2 4 6"; do
  n=student_${layers// /}
  python -m edge_ser_train.distill --student whisper --student-layers 2 --teacher "$T" \
    --data "$D/ravdess:ravdess" "$D/tess:tess" "$D/urdu:urdu" "$D/turev-db:turev-db" "${HELD_OUT[@]}" \
    --cache "$C" --out "$W/$n" --layers $layers --copies 2 --minutes 20 --threads 1 --seed 0
  python -m edge_ser_train.reference --teacher "$W/$n" --cache "$C/encoder" \
    --data "$D/ravdess:ravdess" "$D/tess:tess" "$D/urdu:urdu" "$D/turev-db:turev-db" \
    --split holdout:ravdess/Actor_09,ravdess/Actor_10,ravdess/Actor_11,ravdess/Actor_12 \
    --probe-layer 2 --copies 1 --out "$W/reference_$n.json"
done
for e in "$T" "$W/student_34" "$W/student_246"; do  # the per-state probe of the card's tables
  PYTHONPATH=training python training/results/default_v3/probe_layers.py "$e" "$C/encoder" "$D" \
    > "$W/probe_$(basename "$e").json"
done
for L in 2 4; do
  python -m edge_ser_train.reference --teacher "$T" --encoder-layers "$L" --cache "$C/encoder" \
    --data "$D/ravdess:ravdess" "$D/tess:tess" "$D/urdu:urdu" "$D/turev-db:turev-db" \
    --split holdout:ravdess/Actor_09,ravdess/Actor_10,ravdess/Actor_11,ravdess/Actor_12 \
    --probe-layer $((L < 3 ? L : 3)) --copies 1 --out "$W/reference_cut$L.json"
done

# 4. The shipped model: the same recipe on every shared speaker (82 s on cached states), static
#    int8 with the ORT Mobile files (17 s), its agreement with fp32, into the package.
edge-ser train --config training/configs/whisper_base.json --split none "${ALL_DATA[@]}" \
  --pretrained "$T" --encoder-layers 4 --frame-cache "$C/encoder" --augment --out "$W/model"
edge-ser export "$W/model" --out "$W/export" --calibration "$W/calibration" --ort
edge-ser export "$W/model" --out "$W/fp32" --quantize none --no-raw-variant
python benchmarks/int8_agreement.py "$W/export" "$W/fp32" "$D"/ravdess/Actor_{09,10,11,12} "$D/savee" \
  > "$W/agreement_default.json"
cp "$W/export/model.onnx" edge_ser/assets/default.onnx

# 5. Speed against ORT fp32 and PyTorch eager (and the previous default, if given as
#    PREVIOUS=path/to/v2.onnx), and the whole runtime's memory on 1/60/180-minute notes.
python benchmarks/runtime_budget.py ${PREVIOUS:+--compare "$PREVIOUS"}
