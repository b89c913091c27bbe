#!/usr/bin/env bash
# README command (a): install everything (idempotent), generate the synthetic
# gRefCOCO-format benchmark, then train and evaluate the default tiny model.
#   bash tools/quickstart.sh
# Environment: MMGRES_DATA (default data/synthetic_grefcoco),
#              MMGRES_WORK_DIR (default work_dirs/quickstart),
#              MMGRES_CONFIG (default: the tiny config named below).
set -eo pipefail
cd "$(dirname "$0")/.."
# shellcheck disable=SC1091
source tools/setup_env.sh
export PYTHONUNBUFFERED=1

DATA="${MMGRES_DATA:-data/synthetic_grefcoco}"
WORK_DIR="${MMGRES_WORK_DIR:-work_dirs/quickstart}"
CONFIG="${MMGRES_CONFIG:-projects/instalign_extensions/configs/instalign_tiny-r18_1xb8-10e_synthetic-grefcoco_context.py}"
GENERATOR=tools/dataset_converters/generate_synthetic_grefcoco.py

if [ ! -f "$GENERATOR" ]; then
    echo "[mmgres] install finished. The synthetic benchmark generator ($GENERATOR)"
    echo "[mmgres] has not landed yet, so there is no data to train on: stopping here."
    exit 0
fi
python "$GENERATOR" --out-dir "$DATA"

if [ ! -f "$CONFIG" ]; then
    echo "[mmgres] benchmark written to $DATA. The default tiny model ($CONFIG)"
    echo "[mmgres] has not landed yet: stopping after data generation."
    exit 0
fi
ROOTS=()
for split in train val test; do
    ROOTS+=("${split}_dataloader.dataset.data_root=$DATA/")
done
# --resume: a killed run picks up from its last checkpoint
python tools/train.py "$CONFIG" --work-dir "$WORK_DIR" --resume --cfg-options "${ROOTS[@]}"
python tools/test.py "$CONFIG" "$(cat "$WORK_DIR/last_checkpoint")" \
    --work-dir "$WORK_DIR" --cfg-options "${ROOTS[@]}"
# the same checkpoint with flip test-time augmentation (README: --tta)
python tools/test.py "$CONFIG" "$(cat "$WORK_DIR/last_checkpoint")" \
    --work-dir "$WORK_DIR" --tta --cfg-options "${ROOTS[@]}"
