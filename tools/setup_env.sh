#!/usr/bin/env bash
# Create (or reuse) the mmgres Python environment and install everything into it.
#
#   source tools/setup_env.sh      # leaves the environment activated
#   bash tools/setup_env.sh        # just installs
#
# Idempotent: a second run on the same machine finds a stamp that matches the
# requirement files and returns in seconds.  mmcv 2.1.0 has no binary wheel on
# PyPI, so its wheel is built once with the compiled ops and cached under
# $MMGRES_CACHE (default ~/.cache/mmgres), keyed by the Python and torch versions.
#
# Environment variables:
#   MMGRES_VENV        where the virtual environment lives (default: <repo>/.venv)
#   MMGRES_CACHE       wheel cache (default: ~/.cache/mmgres)
#   MMGRES_TORCH_SPEC  what to install when torch is absent (default: torch==2.13.0).
#                      An existing torch (e.g. your own CUDA build) is never replaced.
#   MMGRES_PYTHON      interpreter used to create the environment (default: python3)
_mmgres_restore_opts() {
    if [ "$1" = 1 ]; then set -e; else set +e; fi
    if [ "$2" = 1 ]; then set -o pipefail; else set +o pipefail; fi
}

_mmgres_setup() {
    # restore the caller's shell options on the way out (this file is sourced)
    local had_e=0 had_pipefail=0
    case $- in *e*) had_e=1 ;; esac
    shopt -qo pipefail && had_pipefail=1
    set -eo pipefail
    local repo venv cache py torch_spec stamp want have
    repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    venv="${MMGRES_VENV:-$repo/.venv}"
    cache="${MMGRES_CACHE:-$HOME/.cache/mmgres}"
    py="${MMGRES_PYTHON:-python3}"
    torch_spec="${MMGRES_TORCH_SPEC:-torch==2.13.0}"

    if [ ! -x "$venv/bin/python" ]; then
        echo "[mmgres] creating virtual environment at $venv"
        "$py" -m venv "$venv"
    fi
    # shellcheck disable=SC1091
    source "$venv/bin/activate"

    stamp="$venv/.mmgres-install-stamp"
    want="$(cat "$repo"/requirements/*.txt "$repo/setup.py" "$repo/tools/setup_env.sh" | sha1sum | cut -d' ' -f1)"
    have="$(cat "$stamp" 2>/dev/null || true)"
    if [ "$want" = "$have" ] && python -c "import mmgres, mmcv.ops" >/dev/null 2>&1; then
        echo "[mmgres] environment up to date ($venv)"
        _mmgres_restore_opts "$had_e" "$had_pipefail"
        return 0
    fi

    local t0=$SECONDS
    echo "[mmgres] installing into $venv"
    python -m pip install -q --upgrade pip wheel
    if ! python -c "import torch" >/dev/null 2>&1; then
        echo "[mmgres] installing $torch_spec"
        python -m pip install -q "$torch_spec"
    fi
    # after torch, whose metadata asks for a newer setuptools
    python -m pip install -q "setuptools>=64,<70"

    if ! python -c "import mmcv, mmcv.ops; assert mmcv.__version__ == '2.1.0'" >/dev/null 2>&1; then
        local key wheeldir whl
        key="$(python -c 'import sys, torch; print("py%d%d-torch%s" % (sys.version_info[0], sys.version_info[1], torch.__version__.replace("+", "_")))')"
        wheeldir="$cache/wheels/$key"
        whl="$(ls "$wheeldir"/mmcv-2.1.0-*.whl 2>/dev/null | head -n1 || true)"
        if [ -z "$whl" ]; then
            echo "[mmgres] building mmcv 2.1.0 with ops (about 9 minutes on 2 cores; cached in $wheeldir)"
            mkdir -p "$wheeldir"
            python -m pip install -q ninja psutil
            MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" python -m pip wheel -q --no-build-isolation \
                --no-deps --no-binary mmcv -w "$wheeldir" mmcv==2.1.0
            whl="$(ls "$wheeldir"/mmcv-2.1.0-*.whl | head -n1)"
        fi
        python -m pip install -q "$whl"
    fi

    local torch_before
    torch_before="$(python -c 'import torch; print(torch.__version__)')"
    # setuptools stays <70 throughout (constraint): mmcv, openmim and mmengine's
    # is_installed import pkg_resources.
    local constraints="$venv/.mmgres-constraints.txt"
    echo "setuptools>=64,<70" >"$constraints"
    # docs.txt: tests/test_docs_build.py builds docs/en with Sphinx
    PIP_CONSTRAINT="$constraints" python -m pip install -q \
        -r "$repo/requirements/runtime.txt" -r "$repo/requirements/tests.txt" \
        -r "$repo/requirements/docs.txt" -r "$repo/requirements/mim.txt"
    # openmim, torchscale, fairscale, peft and accelerate: --no-deps, see
    # nodeps.txt.
    python -m pip install -q --no-deps -r "$repo/requirements/nodeps.txt"
    local torch_now
    torch_now="$(python -c 'import torch; print(torch.__version__)')"
    if [ "$torch_now" != "$torch_before" ]; then
        echo "[mmgres] ERROR: installing the requirements replaced torch" \
            "$torch_before with $torch_now; a requirement that depends on" \
            "torch must go to requirements/nodeps.txt" >&2
        _mmgres_restore_opts "$had_e" "$had_pipefail"
        return 1
    fi
    # Editable install as a `develop` egg-link: mim locates a package through
    # its distribution's location, which a PEP 660 editable install points at
    # site-packages, so `mim train mmgres` would find nothing. setup.py links
    # tools/ and configs/ into mmgres/.mim.
    (cd "$repo" && python setup.py -q develop --no-deps >/dev/null 2>&1) || \
        (cd "$repo" && python setup.py develop --no-deps)
    python -c "import os, mim.utils as u; p = u.get_installed_path('mmgres'); \
assert os.path.isfile(os.path.join(p, '.mim', 'tools', 'train.py')), p"
    python -c "import mmgres, mmcv.ops" >/dev/null
    echo "$want" >"$stamp"
    echo "[mmgres] install finished in $((SECONDS - t0)) s"
    _mmgres_restore_opts "$had_e" "$had_pipefail"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    _mmgres_setup
else
    _mmgres_setup || return 1
fi
