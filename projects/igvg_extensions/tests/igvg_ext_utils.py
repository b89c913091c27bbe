"""The tiny IGVGExtendedHead of the tests: IGVGHead's tiny test config
(tests/test_models/igvg_utils.py, importable through this folder's
conftest.py) with the project's text-reading global branch."""

import copy

import test_models.igvg_utils as igvg_utils

import projects.igvg_extensions.igvg_extensions  # noqa: F401

DEFAULT_ARGS = dict(
    copy.deepcopy(igvg_utils.TINY_HEAD),
    type='IGVGExtendedHead',
    mask_decoder=dict(
        type='TextGatedUNetMaskDecoder',
        num_convs=1,
        text_channels=igvg_utils.C,
    ),
    nt_branch=dict(
        type='SentenceNoTargetBranch',
        text_channels=igvg_utils.C,
        feat_channels=igvg_utils.C,
    ),
)


def build_head(**kwargs):
    """``igvg_utils.build_head`` of :data:`DEFAULT_ARGS`."""
    return igvg_utils.build_head(DEFAULT_ARGS, **kwargs)
