# Copyright (c) mmgres contributors. All rights reserved.
"""GSVA's dialogues and slots: which expressions are asked together, and
what the LLM gives for each one's ``[SEG]``/``[REJ]`` token."""

from dataclasses import dataclass, fields, replace
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import torch
from mmdet.structures.mask import mask2bbox
from mmengine.structures import InstanceData
from torch import Tensor


class Dialogue(NamedTuple):
    """One dialogue of a batch: several expressions about one image, or
    one ReasonSeg or VQA sample.

    Attributes:
        image (int): Index into the batch's distinct images
            (:meth:`GSVA.group_dialogues`).
        samples (list[int]): Batch indices of its samples, one expression
            each, in the order they are asked.
        task (str): Its samples' ``metainfo['task']``: ``'refer'`` (the
            default), ``'reason'`` or ``'vqa'`` (one sample each).
    """

    image: int
    samples: List[int]
    task: str = 'refer'


@dataclass
class SegSlots:
    """The slots of a batch's dialogues: one per expression that has a
    ``[SEG]`` or ``[REJ]`` token in the sequence read, in dialogue order.

    Attributes:
        states (Tensor): Shape (K, D), what ψ reads for each slot: the last
            layer's hidden state at the position before the slot's token
            (:meth:`GSVA.slot_states`).
        logits (Tensor): Shape (K, V), the LM logits at that position, from
            which the slot's token is predicted.
        image (Tensor): Shape (K,), long: the slot's image (index into the
            batch's distinct images).
        sample (Tensor): Shape (K,), long: the batch index of the sample
            whose expression the slot answers.
        dialogue (Tensor): Shape (K,), long: index of its dialogue.
        expression (Tensor): Shape (K,), long: index of the expression in
            its dialogue.
        is_seg (Tensor): Shape (K,), bool: the token in the sequence is
            ``[SEG]`` (True) or ``[REJ]`` (False), as fed (teacher forcing)
            or written (generation).
    """

    states: Tensor
    logits: Tensor
    image: Tensor
    sample: Tensor
    dialogue: Tensor
    expression: Tensor
    is_seg: Tensor

    def __len__(self) -> int:
        return len(self.sample)

    def __getitem__(self, index) -> 'SegSlots':
        """The slots selected by a bool mask or an index tensor."""
        return SegSlots(
            **{f.name: getattr(self, f.name)[index] for f in fields(self)}
        )

    def with_states(self, states: Tensor) -> 'SegSlots':
        """The same slots with other states (e.g. from a re-run)."""
        return replace(self, states=states)

    def two_way(self, seg_id: int, rej_id: int) -> Tensor:
        """Shape (K, 2): the ``[SEG]`` and ``[REJ]`` logits of each slot."""
        return self.logits[:, [seg_id, rej_id]].float()

    @classmethod
    def gather(
        cls,
        hidden: Tensor,
        logits: Tensor,
        input_ids: Tensor,
        dialogues: Sequence[Dialogue],
        positions: Sequence[Tensor],
        states: Sequence[Tensor],
        seg_id: int,
    ) -> 'SegSlots':
        """Collect the slots of a batch of dialogues.

        Args:
            hidden (Tensor): Shape (B, L, D), the dialogues' last states.
            logits (Tensor): Shape (B, L, V).
            input_ids (Tensor): Shape (B, L), the sequences read.
            dialogues (Sequence[Dialogue]): The B dialogues.
            positions (Sequence[Tensor]): Per dialogue, the positions of its
                slot tokens in order; the k-th is the k-th sample's (a
                dialogue may have fewer slots than samples, never more).
            states (Sequence[Tensor]): Per dialogue, (K_b, D): the states
                ψ reads for those slots.
            seg_id (int): Token id of ``[SEG]``.
        """
        rows = dict(image=[], sample=[], dialogue=[], expression=[])
        picked, is_seg = [], []
        for b, (d, pos) in enumerate(zip(dialogues, positions)):
            pos = torch.as_tensor(pos, dtype=torch.long, device=hidden.device)
            if len(pos) > len(d.samples):
                raise ValueError(
                    f'Dialogue {b} has {len(pos)} slots for '
                    f'{len(d.samples)} expressions.'
                )
            for k, p in enumerate(pos.tolist()):
                rows['image'].append(d.image)
                rows['sample'].append(d.samples[k])
                rows['dialogue'].append(b)
                rows['expression'].append(k)
                picked.append(logits[b, p - 1])
                is_seg.append(int(input_ids[b, p]) == seg_id)
        device = hidden.device
        width = hidden.shape[-1]
        states = [s for s in states if len(s)]
        return cls(
            states=torch.cat(states)
            if states
            else hidden.new_zeros((0, width)),
            logits=torch.stack(picked)
            if picked
            else logits.new_zeros((0, logits.shape[-1])),
            is_seg=torch.tensor(is_seg, dtype=torch.bool, device=device),
            **{
                k: torch.tensor(v, dtype=torch.long, device=device)
                for k, v in rows.items()
            },
        )


NEEDS_GROUND_TRUTH = (
    'GSVA needs the ground truth (metainfo no_target or a mask) for '
    "training and teacher-forced prediction; use test_cfg.mode='generate' "
    'without it.'
)


class DialoguePass(NamedTuple):
    """What one teacher-forced pass over a batch's dialogues gives
    (:meth:`GSVA.teacher_forced_pass`)."""

    feats: dict  # SAM image features (GSVAMaskHead.encode_images)
    pixels: Tensor  # (B, 3, S, S): the CLIP input of each dialogue
    dialogues: List[Dialogue]
    encodings: List[dict]  # GSVAConversationBuilder.encode, per dialogue
    batch: Dict[str, Tensor]  # the collated dialogues
    out: Dict[str, Tensor]  # LlavaMLLM outputs: hidden_states, logits
    slots: SegSlots


def slot_prediction(
    is_seg: bool,
    nt_score: float,
    logits: Optional[Tensor],
    size: Tuple[int, int],
    thr: float,
    keep_mask: bool,
    device,
) -> dict:
    """One expression's prediction from its slot's decision and mask.

    Args:
        is_seg (bool): The slot is decided ``[SEG]``.
        nt_score (float): Its ``[REJ]`` probability.
        logits (Tensor, optional): Shape ``size``, its mask logits; None
            when it was not decoded.
        size (tuple[int, int]): The output frame.
        thr (float): Mask logit threshold.
        keep_mask (bool): A rejected slot keeps its mask as the raw
            prediction (the release protocol).
        device: Of the outputs.

    Returns:
        dict: ``pred_instances`` (the mask as one instance, or none),
        ``merged`` (H, W) bool, ``no_target``, ``nt_score`` and ``record``
        (the slot's thresholded mask, whatever the decision).
    """
    record = (
        logits > thr
        if logits is not None
        else torch.zeros(size, dtype=torch.bool, device=device)
    )
    # a rejected slot's mask is kept only where the protocol scores it;
    # the no-target contract then moves it to pred_sem_seg_raw
    merged = record if is_seg or keep_mask else torch.zeros_like(record)
    if merged.any():
        inst = InstanceData(
            masks=merged[None],
            bboxes=mask2bbox(merged[None]),
            scores=merged.new_tensor([1.0 - nt_score], dtype=torch.float),
            labels=torch.zeros(1, dtype=torch.long, device=device),
        )
    else:
        h, w = merged.shape
        inst = InstanceData(
            masks=merged.new_zeros((0, h, w)),
            bboxes=torch.zeros((0, 4), device=device),
            scores=torch.zeros((0,), device=device),
            labels=torch.zeros((0,), dtype=torch.long, device=device),
        )
    return dict(
        pred_instances=inst,
        merged=merged,
        no_target=not is_seg,
        nt_score=nt_score,
        record=record,
    )
