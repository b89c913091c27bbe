#!/usr/bin/env bash
# Copyright (c) mmgres contributors. All rights reserved.
#
# One check of mmgres on a CUDA GPU, run from the repository root on a
# machine without internet, that writes what it measured to $OUT (or --out):
#
#   bash tools/analysis_tools/gpu_check.sh [--out DIR] [--budget SECONDS]
#       [--only STEP,...] [--skip-build] [--gsva-llm-layers N]
#   bash tools/analysis_tools/gpu_check.sh --dry-run [--out DIR]   # on a CPU
#   bash tools/analysis_tools/gpu_check.sh --prepare   # where pip has a network
#
# Steps, each under its own time limit, in this order:
#   env        the GPU (nvidia-smi), torch, CUDA and package versions
#   setup      the Python packages: missing ones are installed from the
#              wheels in .whl/ (see --prepare) into work_dirs/gpu_check_site
#   mmcv       mmcv 2.1.0's ops built with CUDA (MMCV_WITH_OPS=1 FORCE_CUDA=1,
#              for this GPU's architecture) from its sdist: $MMCV_SDIST,
#              .whl/mmcv-2.1.0.tar.gz or $MMGRES_CACHE/sdist/; skipped, with a
#              message, when mmcv's CUDA ops already import or no sdist is found
#   msda       mmcv.ops.MultiScaleDeformableAttention on CUDA (its kernel)
#              against its PyTorch path on the CPU, fp32, fp16 and bf16
#   configs    the model steps' configs (gpu_check.py configs)
#   <model>_<amp>, for model in instalign raam igvg gsva and amp in fp16 bf16:
#              benchmark.py on the full-size config with random weights, a
#              training step (forward, backward, optimizer step) and an
#              inference pass, timed, with their peak memory; InstAlign beside
#              mmdet's Mask2Former on the same backbone, decoder and input,
#              RaAM-RVG beside its direct-interaction ablation; GSVA with
#              LLaVA-7B on a GPU of 40 GiB or more, else with its LLM cut to
#              4 decoder layers (--gsva-llm-layers)
# then a summary table (summary.md) with the GPU's name.
#
# Output in $OUT (else --out, else work_dirs/gpu_check): gpu_check.json (every
# step's status, time and result, rewritten after each step, so that a run
# cut short keeps what it measured), summary.md and gpu_check.log (the end
# of each step's log). Each step's time limit is cut to what is left of
# --budget (default 480 s), so that the summary is always written; a step
# that does not fit is recorded as skipped, and `--only STEP,...` (msda, a
# model step's name or a model's, e.g. `--only gsva,msda`) reruns some steps
# into the same report (env, setup, mmcv and configs always run: they are
# quick once done). The build and the packages stay in work_dirs/, so that a second run
# on the same machine skips them. Exit status 1 if a step failed or timed out.
#
# --dry-run runs every step on the CPU at the smallest size: the tiny
# configs, one iteration, bf16 and fp16 autocast on the CPU, the
# deformable-attention check on small maps against itself; the mmcv step
# checks the sdist and prints the build command instead of building.
#
# --prepare (on a machine with a network, before the GPU run) downloads into
# .whl/ ($MMGRES_WHEELS) what the GPU machine's Python lacks: the wheels of mmengine, mmdet,
# mmsegmentation and their small dependencies for $PYTHON_VERSION (default
# 3.12) on manylinux x86-64, and the sdists of mmcv 2.1.0 and fairscale.
set -uo pipefail

SELF=$(readlink -f "${BASH_SOURCE[0]}")
REPO=$(cd "$(dirname "$SELF")/../.." && pwd)
HELPER="$REPO/tools/analysis_tools/gpu_check.py"
BENCH="$REPO/tools/analysis_tools/benchmark.py"
WHEELS="${MMGRES_WHEELS:-$REPO/.whl}"  # what --prepare downloads

# modules that mmgres and its model steps import (find_spec: not imported)
NEEDED="mmengine mmdet mmseg transformers peft pycocotools shapely
terminaltables prettytable ftfy regex addict yapf termcolor scipy cv2
sentencepiece einops torchscale fairscale pkg_resources"

usage() {
    sed -n '4,/^set -uo/p' "$SELF" | sed '$d' | sed 's/^# \{0,1\}//'
}

# ------------------------------------------------------------------ steps
# Each runs in a child (`gpu_check.sh --internal-step NAME`) under timeout,
# with the variables exported below. Exit 0: ok, 2: skipped, else failed.
step_setup() {
    local missing
    missing=$(missing_modules)
    if [ -z "$missing" ]; then
        echo "all needed modules are importable"
        return 0
    fi
    echo "missing: $missing"
    if [ "$DRY" = 1 ]; then
        echo "dry run: nothing installed"
        return 1
    fi
    shopt -s nullglob
    local wheels=() sdists=() w
    for w in "$WHEELS"/*.whl; do
        case "$(basename "$w")" in
        setuptools-*) case " $missing " in *" pkg_resources "*) wheels+=("$w") ;; esac ;;
        *) wheels+=("$w") ;;
        esac
    done
    for w in "$WHEELS"/*.tar.gz; do
        case "$(basename "$w")" in mmcv-*) ;; *) sdists+=("$w") ;; esac
    done
    if [ ${#wheels[@]} = 0 ] && [ ${#sdists[@]} = 0 ]; then
        echo "no wheels in $WHEELS: run 'bash tools/analysis_tools/gpu_check.sh" \
            "--prepare' where pip has a network, and carry .whl"
        return 1
    fi
    mkdir -p "$SITE"
    if [ ${#wheels[@]} -gt 0 ]; then
        "$PY" -m pip install -q --no-index --no-deps --no-compile \
            --no-cache-dir --upgrade --target "$SITE" "${wheels[@]}" || return 1
    fi
    if [ ${#sdists[@]} -gt 0 ]; then
        "$PY" -m pip install -q --no-index --no-deps --no-build-isolation \
            --no-cache-dir --upgrade --target "$SITE" "${sdists[@]}" || return 1
    fi
    missing=$(missing_modules)
    if [ -n "$missing" ]; then
        echo "still missing: $missing"
        return 1
    fi
    echo "installed into $SITE: $(basename -a "${wheels[@]}" "${sdists[@]}" | tr '\n' ' ')"
}

missing_modules() {
    "$PY" - $NEEDED <<'EOF'
import importlib.util, sys
print(' '.join(m for m in sys.argv[1:] if importlib.util.find_spec(m) is None))
EOF
}

find_sdist() {
    local c
    for c in "${MMCV_SDIST:-}" "$WHEELS/mmcv-2.1.0.tar.gz" \
        "${MMGRES_CACHE:-$HOME/.cache/mmgres}/sdist/mmcv-2.1.0.tar.gz"; do
        if [ -n "$c" ] && [ -f "$c" ]; then
            echo "$c"
            return 0
        fi
    done
    return 1
}

step_mmcv() {
    local ops="" sdist arch cmd
    if [ "$DRY" = 0 ]; then
        ops=$("$PY" -c "from mmcv.ops import get_compiling_cuda_version as v; print(v())" 2>/dev/null)
        if [ -n "$ops" ] && [ "$ops" != "not available" ]; then
            echo "mmcv's ops already import, compiled with CUDA $ops: no build"
            return 0
        fi
    fi
    if ! sdist=$(find_sdist); then
        echo "SKIPPED: no mmcv 2.1.0 sdist (looked at \$MMCV_SDIST," \
            ".whl/mmcv-2.1.0.tar.gz, \$MMGRES_CACHE/sdist/): put one there" \
            "(bash tools/analysis_tools/gpu_check.sh --prepare downloads it)"
        return 2
    fi
    if [ "$DRY" = 1 ]; then
        arch="9.0"
    else
        arch=$("$PY" -c "import torch; print('%d.%d' % torch.cuda.get_device_capability())") || return 1
    fi
    cmd="MMCV_WITH_OPS=1 FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST=$arch MAX_JOBS=$(nproc)"
    cmd+=" $PY -m pip install --no-build-isolation --no-deps --no-index"
    cmd+=" --no-cache-dir --upgrade --target $SITE $sdist"
    if [ "$DRY" = 1 ]; then
        tar tzf "$sdist" | grep -q 'mmcv-2.1.0/mmcv/ops/csrc/pytorch/cuda/ms_deform_attn_cuda.cu' || {
            echo "$sdist holds no mmcv 2.1.0 source"
            return 1
        }
        echo "dry run: $sdist is mmcv 2.1.0's source; on a GPU without" \
            "mmcv's CUDA ops this step runs: $cmd"
        return 0
    fi
    command -v nvcc >/dev/null || [ -n "${CUDA_HOME:-}" ] || {
        echo "no nvcc on PATH and no CUDA_HOME: cannot build the CUDA ops"
        return 1
    }
    echo "$cmd"
    mkdir -p "$SITE"
    eval "$cmd" || return 1
    "$PY" -c "from mmcv.ops import get_compiling_cuda_version as v; print('mmcv ops built with CUDA', v())"
}

step_model() {  # NAME AMP
    local name=$1 amp=$2 args=()
    local config_var="CFG_$name"
    if [ -z "${!config_var:-}" ]; then
        echo "no config for $name: see the configs step"
        return 1
    fi
    args=("${!config_var}" --device "$DEVICE" --amp-dtype "$amp"
        --out-json "$WORK/${name}_$amp.json")
    if [ "$DRY" = 1 ]; then
        args+=(--batch-size 2 --warmup 0 --iters 1 --threads 1)
    elif [ "$name" = gsva ]; then
        args+=(--batch-size 2 --warmup 1 --iters 3)
    else
        args+=(--batch-size 2 --warmup 2 --iters 5)
    fi
    case "$name" in
    instalign) args+=(--compare-mask2former) ;;
    raam) args+=(--compare-config "$CFG_raam_direct") ;;
    esac
    exec "$PY" "$BENCH" "${args[@]}"
}

internal_step() {
    local name=$1
    shift
    case "$name" in
    setup) step_setup ;;
    mmcv) step_mmcv ;;
    env) exec "$PY" "$HELPER" env --out-json "$WORK/env.json" ;;
    msda)
        local small=()
        [ "$DRY" = 1 ] && small=(--small)
        exec "$PY" "$HELPER" msda --device "$DEVICE" --out-json "$WORK/msda.json" "${small[@]}"
        ;;
    configs)
        local extra=()
        [ "$DRY" = 1 ] && extra+=(--dry-run)
        [ -n "$GSVA_LAYERS" ] && extra+=(--gsva-llm-layers "$GSVA_LAYERS")
        exec "$PY" "$HELPER" configs --dir "$WORK/configs" "${extra[@]}"
        ;;
    *) step_model "${name%_*}" "${name##*_}" ;;
    esac
}

# ------------------------------------------------------------- --prepare
prepare() {
    local pyv="${PYTHON_VERSION:-3.12}" py="${MMGRES_PYTHON:-python3}"
    local platforms=() n
    for n in 28 27 17; do platforms+=(--platform "manylinux_2_${n}_x86_64"); done
    platforms+=(--platform manylinux2014_x86_64 --platform manylinux1_x86_64)
    mkdir -p "$WHEELS"
    "$py" -m pip download --no-deps --only-binary=:all: --python-version "$pyv" \
        --implementation cp "${platforms[@]}" -d "$WHEELS" \
        mmengine==0.10.7 mmdet==3.3.0 mmsegmentation==1.2.2 addict yapf \
        platformdirs termcolor terminaltables pycocotools shapely ftfy wcwidth \
        prettytable torchscale==0.3.0 "setuptools>=64,<70" || return 1
    # sdists: their metadata is read with the local setuptools and torch
    "$py" -m pip download --no-deps --no-binary=:all: --no-build-isolation \
        -d "$WHEELS" mmcv==2.1.0 fairscale==0.4.0 || return 1
    du -sh "$WHEELS"
    echo "carry $WHEELS to the GPU machine (.whl/ is git-ignored)"
}

# ------------------------------------------------------------------ main
if [ "${1:-}" = --internal-step ]; then
    shift
    internal_step "$@"
    exit $?
fi

DRY=0 OUT_ARG="" BUDGET=480 ONLY="" SKIP_BUILD=0 GSVA_LAYERS=""
while [ $# -gt 0 ]; do
    case "$1" in
    --dry-run) DRY=1 ;;
    --out) OUT_ARG=$2; shift ;;
    --budget) BUDGET=$2; shift ;;
    --only) ONLY=$2; shift ;;
    --skip-build) SKIP_BUILD=1 ;;
    --gsva-llm-layers) GSVA_LAYERS=$2; shift ;;
    --prepare) prepare; exit $? ;;
    -h | --help) usage; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

cd "$REPO" || exit 1
OUT_DIR=${OUT_ARG:-${OUT:-$REPO/work_dirs/gpu_check}}
mkdir -p "$OUT_DIR" && OUT_DIR=$(cd "$OUT_DIR" && pwd)
if [ "$DRY" = 1 ]; then
    WORK="$OUT_DIR/.work"
    SITE="$OUT_DIR/.site"
    DEVICE=cpu
else
    WORK="$REPO/work_dirs/gpu_check_work"
    SITE="$REPO/work_dirs/gpu_check_site"
    DEVICE=cuda
fi
mkdir -p "$WORK/logs"
if [ -z "${MMGRES_PYTHON:-}" ]; then
    if [ -x "$REPO/.venv/bin/python" ] && "$REPO/.venv/bin/python" -c 'import torch' 2>/dev/null; then
        MMGRES_PYTHON="$REPO/.venv/bin/python"
    else
        MMGRES_PYTHON=python3
    fi
fi
PY=$MMGRES_PYTHON
export PY DRY WORK SITE DEVICE GSVA_LAYERS
export PYTHONPATH="$SITE:$REPO${PYTHONPATH:+:$PYTHONPATH}"
# no network there: no request to the HuggingFace hub
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1 MPLBACKEND=Agg
# a fresh report, unless --only reruns steps into the last one
[ -z "$ONLY" ] && rm -f "$OUT_DIR/gpu_check.json" "$OUT_DIR/summary.md"
: >"$OUT_DIR/gpu_check.log"
DEADLINE=$((SECONDS + BUDGET))
FAILED=0

selected() {  # a step runs if --only is empty or names it or its model
    [ -z "$ONLY" ] && return 0
    local item
    for item in ${ONLY//,/ }; do
        [ "$item" = "$1" ] || [ "$item" = "${1%_*}" ] && return 0
    done
    return 1
}

record() {  # NAME STATUS RC SECONDS LIMIT [NOTE]
    local result="$WORK/$1.json" args=()
    [ -n "${6:-}" ] && args+=(--note "$6")
    "$PY" "$HELPER" record --out "$OUT_DIR" --step "$1" --status "$2" \
        --rc "$3" --seconds "$4" --limit "$5" --log "$WORK/logs/$1.log" \
        --result "$result" "${args[@]}"
    {
        echo "===== $1: $2 (exit $3, ${4} s of ${5} s)"
        tail -n 200 "$WORK/logs/$1.log" 2>/dev/null
    } >>"$OUT_DIR/gpu_check.log"
}

run_step() {  # NAME LIMIT
    local name=$1 limit=$2 left t0 rc status note=""
    selected "$name" || return 0
    left=$((DEADLINE - SECONDS - 15))  # 15 s kept for the summary
    if [ "$left" -lt 10 ]; then
        echo "[gpu_check] $name: skipped, the budget is spent"
        : >"$WORK/logs/$name.log"
        rm -f "$WORK/$name.json"
        record "$name" skipped 0 0 0 "no time left in --budget $BUDGET s"
        return 0
    fi
    [ "$limit" -gt "$left" ] && limit=$left
    rm -f "$WORK/$name.json"
    echo "[gpu_check] $name (limit $limit s)"
    t0=$SECONDS
    timeout --kill-after=10 "$limit" bash "$SELF" --internal-step "$name" \
        >"$WORK/logs/$name.log" 2>&1
    rc=$?
    case $rc in
    0) status=ok ;;
    2) status=skipped; note=$(tail -n 1 "$WORK/logs/$name.log") ;;
    124 | 137) status=timeout; FAILED=1 ;;
    *) status=failed; FAILED=1 ;;
    esac
    echo "[gpu_check] $name: $status ($((SECONDS - t0)) s)"
    [ "$status" = ok ] || tail -n 5 "$WORK/logs/$name.log" | sed 's/^/    /'
    record "$name" "$status" "$rc" $((SECONDS - t0)) "$limit" "$note"
}

skip_step() {  # NAME NOTE
    selected "$1" || return 0
    echo "[gpu_check] $1: skipped ($2)"
    : >"$WORK/logs/$1.log"
    rm -f "$WORK/$1.json"
    record "$1" skipped 0 0 0 "$2"
}

echo "[gpu_check] python: $PY; report: $OUT_DIR; budget $BUDGET s$([ "$DRY" = 1 ] && echo '; dry run on the CPU')"
# env, setup, mmcv and configs run whatever --only says (quick once done)
ONLY="" run_step env 60
ONLY="" run_step setup 120
if [ "$SKIP_BUILD" = 1 ]; then
    ONLY="" skip_step mmcv "--skip-build"
else
    ONLY="" run_step mmcv 360
fi
run_step msda 90

# the models, by priority, after their configs
MODEL_STEPS=()
for m in instalign raam igvg gsva; do
    for amp in fp16 bf16; do
        selected "${m}_$amp" && MODEL_STEPS+=("${m}_$amp")
    done
done
if [ ${#MODEL_STEPS[@]} -gt 0 ]; then
    ONLY="" run_step configs 90
    while IFS='=' read -r key value; do
        [[ "$key" =~ ^[a-z_]+$ ]] && export "CFG_$key=$value"
    done <"$WORK/logs/configs.log"
    for s in "${MODEL_STEPS[@]}"; do
        if [ "${s%_*}" = gsva ]; then
            run_step "$s" 240
        else
            run_step "$s" 150
        fi
    done
fi

# after a build, the versions again, with the CUDA version of mmcv's ops
MMCV_STATUS=$("$PY" "$HELPER" status --out "$OUT_DIR" --step mmcv)
if [ "$MMCV_STATUS" = ok ] && [ $((DEADLINE - SECONDS)) -gt 20 ]; then
    timeout 15 "$PY" "$HELPER" env --ops --out-json "$WORK/env.json" \
        >/dev/null 2>&1 &&
        "$PY" "$HELPER" record --out "$OUT_DIR" --step env --result-only \
            --result "$WORK/env.json"
fi
"$PY" "$HELPER" summary --out "$OUT_DIR"
exit $FAILED
