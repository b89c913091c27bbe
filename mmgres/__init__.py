# Copyright (c) mmgres contributors. All rights reserved.
"""mmgres: generalized visual grounding (GRES / GREC) on OpenMMLab."""

import mmcv
import mmdet
import mmengine
from mmengine.utils import digit_version

from .version import __version__, version_info

# The same windows that mmdet 3.3.0 and mmseg 1.2.2 accept.
mmcv_minimum_version = '2.1.0'
mmcv_maximum_version = '2.2.0'
mmengine_minimum_version = '0.10.7'
mmengine_maximum_version = '1.0.0'
mmdet_version = '3.3.0'

_mmcv = digit_version(mmcv.__version__)
assert (
    digit_version(mmcv_minimum_version)
    <= _mmcv
    < digit_version(mmcv_maximum_version)
), (
    f'MMCV=={mmcv.__version__} is used but incompatible. Please install '
    f'mmcv>={mmcv_minimum_version}, <{mmcv_maximum_version}.'
)
_mmengine = digit_version(mmengine.__version__)
assert (
    digit_version(mmengine_minimum_version)
    <= _mmengine
    < digit_version(mmengine_maximum_version)
), (
    f'MMEngine=={mmengine.__version__} is used but incompatible. Please '
    f'install mmengine>={mmengine_minimum_version}, '
    f'<{mmengine_maximum_version}.'
)
assert digit_version(mmdet.__version__) == digit_version(mmdet_version), (
    f'MMDetection=={mmdet.__version__} is used but incompatible. Please '
    f'install mmdet=={mmdet_version}.'
)

# Checkpoints written by mmengine must load under torch>=2.6's safe loading.
from .utils.checkpoint import setup_safe_checkpoint_loading  # noqa: E402

setup_safe_checkpoint_loading()

__all__ = ['__version__', 'version_info']
