# Copyright (c) mmgres contributors. All rights reserved.
"""The token rows of a GSVA release, moved to our token ids (for
``gsva2mmgres.py``).

GSVA's tokenizer is the base LLaVA's with ``[SEG]`` and ``[REJ]`` appended,
then ``<im_start>``/``<im_end>`` where the base lacks them
(``add_task_tokens``, ``use_mm_start_end=True``); ``IMAGE_TOKEN_INDEX``
(-200) is no vocabulary entry. Ours is the base LLaVA's (as
``llava2hf.py`` wrote it, ``<image>`` appended) with ``[SEG]`` and
``[REJ]`` appended by ``LlavaMLLM``. The base rows keep their ids; each
appended release row moves to our id of the same token; our rows that the
release has no token for (``<image>``, whose input row HF LLaVA replaces
by image features) get the mean of the release's base rows, as
``llava2hf.py`` initialises ``<image>`` (ours). The release's row count
must equal the base vocabulary plus its appended tokens.
"""

from typing import Dict, List, Tuple

import torch
from torch import Tensor

IM_START, IM_END = '<im_start>', '<im_end>'  # LLaVA's DEFAULT_IM_*_TOKEN


class ConversionError(ValueError):
    """The input is not a GSVA release this converter can load exactly."""


def release_token_map(
    n_rows: int,
    vocab: Dict[str, int],
    seg_token: str = '[SEG]',
    rej_token: str = '[REJ]',
    image_token: str = '<image>',
    use_mm_start_end: bool = True,
) -> Tuple[Dict[int, int], int, List[str]]:
    """Map the release's token ids to ours.

    Our tokenizer is the base LLaVA's, then ``image_token``, ``[SEG]``,
    ``[REJ]`` appended; the release's is the base, then ``[SEG]``,
    ``[REJ]``, then ``<im_start>``, ``<im_end>`` where the base lacks them.

    Example:
        A base of 32003 tokens (``<im_patch>``, ``<im_start>``,
        ``<im_end>`` at 32000-32002, LLaVA-Lightning-7B-v1-1): ours has
        ``<image>`` 32003, ``[SEG]`` 32004, ``[REJ]`` 32005; the release
        ``[SEG]`` 32003, ``[REJ]`` 32004 and 32005 rows. The map is
        ``i -> i`` for ``i < 32003``, ``32003 -> 32004``,
        ``32004 -> 32005``.

    Args:
        n_rows (int): Rows of the release's ``embed_tokens``.
        vocab (dict): Our tokenizer's token -> id.

    Returns:
        tuple: ``{release id: our id}``, the base size and the release's
        appended tokens.
    """
    ours = [
        vocab[t] for t in (seg_token, rej_token, image_token) if t in vocab
    ]
    if seg_token not in vocab or rej_token not in vocab:
        raise ConversionError(
            f'Our tokenizer has no {seg_token} / {rej_token}; is the '
            'config a GSVA one?'
        )
    base = min(ours)
    appended = [seg_token, rej_token]
    if use_mm_start_end:
        appended += [
            t for t in (IM_START, IM_END) if vocab.get(t, base) >= base
        ]
    if base + len(appended) != n_rows:
        raise ConversionError(
            f'The release has {n_rows} token rows, but the base tokenizer '
            f'of the config ({base} tokens) plus the tokens GSVA appends '
            f'({appended}) makes {base + len(appended)}: the release was '
            'trained from another base LLaVA than the config names.'
        )
    lacking = [t for t in appended if t not in vocab]
    if lacking:
        raise ConversionError(
            f'The release appended {lacking} to its tokenizer and trained '
            'their rows, but our tokenizer has no such tokens (the base '
            "LLaVA lacks them and LlavaMLLM does not add them); GSVA's "
            'prompt uses them, so this release cannot be loaded exactly.'
        )
    mapping = {i: i for i in range(base)}
    mapping.update({base + k: vocab[t] for k, t in enumerate(appended)})
    return mapping, base, appended


def move_rows(
    weight: Tensor, mapping: Dict[int, int], base: int, n_out: int
) -> Tuple[Tensor, List[int]]:
    """Rows of ``weight`` (release ids) put at our ids.

    Args:
        weight (Tensor): Shape (N_release, D).
        mapping (dict): Release id -> our id.
        base (int): Base vocabulary size; unmapped rows of ours get the
            mean of ``weight[:base]``.
        n_out (int): Our row count.

    Returns:
        tuple: The (n_out, D) tensor and our ids filled with the mean.
    """
    if max(mapping.values()) >= n_out:
        raise ConversionError(
            f'Our embedding has {n_out} rows, fewer than our token ids.'
        )
    mean = weight[:base].float().mean(0).to(weight.dtype)
    out = mean.expand(n_out, -1).clone()
    src = torch.tensor(list(mapping))
    dst = torch.tensor(list(mapping.values()))
    out[dst] = weight[src]
    filled = sorted(set(range(n_out)) - set(mapping.values()))
    return out, filled
