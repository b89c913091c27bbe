# Copyright (c) mmgres contributors. All rights reserved.
"""GSVA's two test protocols: the paper's text and the release's code.

Both feed the ground-truth answer (teacher forcing) and read each slot at
the position before its ``[SEG]``/``[REJ]`` token. They differ in:

============================  ==========================  =================
                              ``'paper'``                 ``'release'``
============================  ==========================  =================
expressions per dialogue      ``test_cfg.max_expressions``  all of the
                              (3, ours)                   image's in the
                                                          batch
slot decision                 ``[SEG]`` vs ``[REJ]`` logit  argmax over the
                                                          whole vocabulary
                                                          (below)
mask of a slot decided        none (empty raw mask): the  decoded and kept
``[REJ]``                     paper assigns an empty mask   as the raw mask
                              "without decoding"          (scored by the
                                                          release's metric)
============================  ==========================  =================

The release's decision (``model/modeling_lisa_gsva.py``, ``inference``
branch): ``top = logits.argmax()`` over the vocabulary at the position
before the slot; a ground-truth ``[SEG]`` slot is predicted ``[SEG]`` only
when ``top`` is ``[SEG]`` (any other token, ``[REJ]`` or a word, counts as
``[REJ]``), and a ground-truth ``[REJ]`` slot is predicted ``[REJ]`` only
when ``top`` is ``[REJ]`` (any other token counts as ``[SEG]``). So a third
token at the top decides against the ground truth either way.
"""

from torch import Tensor

PROTOCOLS = ('paper', 'release')


def check_protocol(protocol: str, mode: str) -> None:
    """Raise a clear error for an unknown protocol, or one that needs
    teacher forcing used with generation."""
    if protocol not in PROTOCOLS:
        raise ValueError(
            f'test_cfg.protocol must be one of {PROTOCOLS}, got {protocol!r}.'
        )
    if protocol == 'release' and mode != 'teacher_forced':
        raise ValueError(
            "test_cfg.protocol='release' decides slots against the fed "
            "ground-truth answer; it needs mode='teacher_forced', got "
            f'{mode!r}.'
        )


def decide_slot(
    logits: Tensor,
    gt_is_seg: bool,
    seg_id: int,
    rej_id: int,
    protocol: str = 'paper',
) -> bool:
    """Whether a slot is predicted ``[SEG]`` (True) or ``[REJ]`` (False).

    Args:
        logits (Tensor): Shape (V,), the LM logits at the position before
            the slot's token (from which that token is predicted).
        gt_is_seg (bool): The fed (ground-truth) token is ``[SEG]``; read by
            the ``'release'`` protocol only.
        seg_id (int): Token id of ``[SEG]``.
        rej_id (int): Token id of ``[REJ]``.
        protocol (str): ``'paper'`` or ``'release'`` (module docstring).

    Returns:
        bool: True for ``[SEG]``.

    Example:
        With logits ``[5, 1, 2]`` over ``(word, [SEG], [REJ])``: the paper
        decides ``[REJ]`` (2 > 1) whatever the ground truth; the release
        takes the argmax ``word`` and so decides ``[REJ]`` at a
        ground-truth ``[SEG]`` slot and ``[SEG]`` at a ground-truth
        ``[REJ]`` slot.
    """
    if protocol == 'paper':
        return bool(logits[seg_id] >= logits[rej_id])
    if protocol != 'release':
        raise ValueError(f'Unknown protocol {protocol!r}.')
    top = int(logits.argmax())
    if gt_is_seg:
        return top == seg_id
    return top != rej_id


def keeps_rejected_mask(protocol: str) -> bool:
    """Whether a slot decided ``[REJ]`` keeps its decoded mask as the raw
    prediction (``pred_sem_seg_raw``): the release's metric scores it on a
    target sample (``solver.py: eval_gres``); the paper gives it none."""
    return protocol == 'release'
