# Copyright (c) mmgres contributors. All rights reserved.
"""The synthetic gRefCOCO-format benchmark: the embedded default data.

Scenes of a few coloured shapes with occlusion-aware masks, and referring
expressions from a small grammar (single-, multi- and hard-negative
no-target), written in the exact gRefCOCO format (plus a classic RefCOCO
variant)::

    from mmgres.datasets.synthetic import generate_synthetic_grefcoco
    summary = generate_synthetic_grefcoco('data/synthetic_grefcoco')

or ``python tools/dataset_converters/generate_synthetic_grefcoco.py``.
"""

from .expressions import (
    Description,
    Expression,
    GrammarConfig,
    enumerate_expressions,
)
from .generator import (
    DEFAULT_NUM_IMAGES,
    SPLITS,
    format_summary,
    generate_synthetic_grefcoco,
)
from .mixture import COLOUR_CLASSES, SHAPE_CLASSES, write_synthetic_mixture
from .sampler import MixBalancer, select_refs
from .scene import (
    Scene,
    SceneConfig,
    SceneObject,
    compute_masks,
    paint_scene,
    sample_scene,
)
from .vocab import COLOURS, SHAPES, SIZES, SYNTHETIC_VOCAB
from .writer import BenchmarkWriter, compressed_rle, uncompressed_rle

__all__ = [
    'generate_synthetic_grefcoco',
    'write_synthetic_mixture',
    'SHAPE_CLASSES',
    'COLOUR_CLASSES',
    'format_summary',
    'SYNTHETIC_VOCAB',
    'DEFAULT_NUM_IMAGES',
    'SPLITS',
    'COLOURS',
    'SHAPES',
    'SIZES',
    'Scene',
    'SceneConfig',
    'SceneObject',
    'sample_scene',
    'compute_masks',
    'paint_scene',
    'Description',
    'Expression',
    'GrammarConfig',
    'enumerate_expressions',
    'MixBalancer',
    'select_refs',
    'BenchmarkWriter',
    'compressed_rle',
    'uncompressed_rle',
]
