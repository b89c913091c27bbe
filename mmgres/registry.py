# Copyright (c) mmgres contributors. All rights reserved.
"""mmgres registries.

Every registry is a child of mmdet's registry of the same kind, in scope
``mmgres``. A config with ``default_scope='mmgres'`` therefore finds mmgres
types first, then mmdet's, then mmengine's; an mmgres type overrides an mmdet
type of the same name. mmseg types are reached with their scope prefix, e.g.
``type='mmseg.SegDataPreProcessor'``.

``TOKENIZER`` has no mmdet parent (mmdet has no tokenizer registry); it
holds the tokenizers that models build from ``tokenizer=dict(type=...)``:
the in-memory word-list ones, BEiT-3's sentencepiece one, HF
``AutoTokenizer``, and the synthetic benchmark's, registered by its dataset
package.

The ``locations`` are imported lazily by mmengine the first time a registry is
used to build something in scope ``mmgres``.
"""

from mmdet.registry import DATA_SAMPLERS as MMDET_DATA_SAMPLERS
from mmdet.registry import DATASETS as MMDET_DATASETS
from mmdet.registry import EVALUATOR as MMDET_EVALUATOR
from mmdet.registry import HOOKS as MMDET_HOOKS
from mmdet.registry import LOG_PROCESSORS as MMDET_LOG_PROCESSORS
from mmdet.registry import LOOPS as MMDET_LOOPS
from mmdet.registry import METRICS as MMDET_METRICS
from mmdet.registry import MODEL_WRAPPERS as MMDET_MODEL_WRAPPERS
from mmdet.registry import MODELS as MMDET_MODELS
from mmdet.registry import (
    OPTIM_WRAPPER_CONSTRUCTORS as MMDET_OPTIM_WRAPPER_CONSTRUCTORS,
)
from mmdet.registry import OPTIM_WRAPPERS as MMDET_OPTIM_WRAPPERS
from mmdet.registry import OPTIMIZERS as MMDET_OPTIMIZERS
from mmdet.registry import PARAM_SCHEDULERS as MMDET_PARAM_SCHEDULERS
from mmdet.registry import RUNNER_CONSTRUCTORS as MMDET_RUNNER_CONSTRUCTORS
from mmdet.registry import RUNNERS as MMDET_RUNNERS
from mmdet.registry import TASK_UTILS as MMDET_TASK_UTILS
from mmdet.registry import TRANSFORMS as MMDET_TRANSFORMS
from mmdet.registry import VISBACKENDS as MMDET_VISBACKENDS
from mmdet.registry import VISUALIZERS as MMDET_VISUALIZERS
from mmdet.registry import WEIGHT_INITIALIZERS as MMDET_WEIGHT_INITIALIZERS
from mmengine.registry import Registry

RUNNERS = Registry('runner', parent=MMDET_RUNNERS, locations=['mmgres.engine'])
RUNNER_CONSTRUCTORS = Registry(
    'runner constructor',
    parent=MMDET_RUNNER_CONSTRUCTORS,
    locations=['mmgres.engine'],
)
LOOPS = Registry('loop', parent=MMDET_LOOPS, locations=['mmgres.engine'])
HOOKS = Registry('hook', parent=MMDET_HOOKS, locations=['mmgres.engine'])

DATASETS = Registry(
    'dataset', parent=MMDET_DATASETS, locations=['mmgres.datasets']
)
DATA_SAMPLERS = Registry(
    'data sampler', parent=MMDET_DATA_SAMPLERS, locations=['mmgres.datasets']
)
TRANSFORMS = Registry(
    'transform',
    parent=MMDET_TRANSFORMS,
    locations=['mmgres.datasets.transforms'],
)

MODELS = Registry('model', parent=MMDET_MODELS, locations=['mmgres.models'])
MODEL_WRAPPERS = Registry(
    'model_wrapper', parent=MMDET_MODEL_WRAPPERS, locations=['mmgres.models']
)
WEIGHT_INITIALIZERS = Registry(
    'weight initializer',
    parent=MMDET_WEIGHT_INITIALIZERS,
    locations=['mmgres.models'],
)

OPTIMIZERS = Registry(
    'optimizer', parent=MMDET_OPTIMIZERS, locations=['mmgres.engine']
)
OPTIM_WRAPPERS = Registry(
    'optim_wrapper', parent=MMDET_OPTIM_WRAPPERS, locations=['mmgres.engine']
)
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor',
    parent=MMDET_OPTIM_WRAPPER_CONSTRUCTORS,
    locations=['mmgres.engine'],
)
PARAM_SCHEDULERS = Registry(
    'parameter scheduler',
    parent=MMDET_PARAM_SCHEDULERS,
    locations=['mmgres.engine'],
)

METRICS = Registry(
    'metric', parent=MMDET_METRICS, locations=['mmgres.evaluation']
)
EVALUATOR = Registry(
    'evaluator', parent=MMDET_EVALUATOR, locations=['mmgres.evaluation']
)

TASK_UTILS = Registry(
    'task util', parent=MMDET_TASK_UTILS, locations=['mmgres.models']
)

VISUALIZERS = Registry(
    'visualizer', parent=MMDET_VISUALIZERS, locations=['mmgres.visualization']
)
VISBACKENDS = Registry(
    'vis_backend', parent=MMDET_VISBACKENDS, locations=['mmgres.visualization']
)

LOG_PROCESSORS = Registry(
    'log_processor', parent=MMDET_LOG_PROCESSORS, locations=['mmgres.engine']
)

TOKENIZER = Registry(
    'tokenizer', locations=['mmgres.models.tokenizers', 'mmgres.datasets']
)
