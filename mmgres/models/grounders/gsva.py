# Copyright (c) mmgres contributors. All rights reserved.
"""GSVA: an MLLM that segments with several [SEG] and rejects with [REJ]."""

from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmdet.models.detectors.base import BaseDetector
from mmdet.structures.mask import mask2bbox
from mmengine.structures import InstanceData, PixelData
from torch import Tensor

from mmgres.models.utils.output_frame import boxes_to_frame, frame_shape
from mmgres.registry import MODELS, TASK_UTILS
from mmgres.utils import ConfigType, OptConfigType, OptMultiConfig, SampleList

from .base_grounder import BaseGrounder
from .gsva_protocols import check_protocol, decide_slot, keeps_rejected_mask

# Dialogue: the samples (batch indices) it asks about and its image (index
# into the batch's distinct images).
Dialogue = Dict[str, object]


@MODELS.register_module()
class GSVA(BaseGrounder):
    """GSVA (Xia et al., CVPR 2024): generalized segmentation with an MLLM.

    LLaVA reads the image and a dialogue that asks about several expressions
    at once, "What are e1, e2 in this image? Please output segmentation
    masks.", and answers "Sure, e1:[SEG], e2:[REJ]." Each ``[SEG]`` slot's
    output hidden state is projected (ψ) to a SAM prompt, which gives that
    expression's mask; a ``[REJ]`` slot rejects the expression (no target,
    empty mask) and is never decoded. The logic lives in the parts:
    :class:`LlavaMLLM`, :class:`GSVAMaskHead` (ψ + :class:`HFSamSegmentor`
    + mask losses) and :class:`GSVAConversationBuilder`.

    **Several expressions per dialogue.** mmgres datasets yield one
    expression per sample, so the grounder groups the samples of a batch
    that show the same image (same ``img_path``/``img_id``, same
    ``img_shape`` and flip, identical input tensors) and asks about them in
    dialogues of at most ``max_expressions`` (3, as the GSVA release samples
    per training image; ``test_cfg.max_expressions`` may differ). SAM
    encodes each distinct image once. With a random sampler most dialogues
    hold one expression; a sampler or dataset order that keeps the
    sentences of an image together (gRefCOCO's refs of one image are
    consecutive) fills them. Samples of different images never share one.

    **Which hidden state.** As in LISA/GSVA, a slot's state is the last
    layer's output at the position *before* its ``[SEG]`` token, the state
    from which the token is predicted, so that generation and teacher
    forcing read the same thing; the ``[SEG]``/``[REJ]`` decision uses the
    logits at that position. ``slot_state='span_mean'`` (ours) has ψ read
    the mean over the slot's copy of its expression instead.

    **Loss** (paper Eq. 7): ``loss_lm`` (1.0 · CE over the answer tokens)
    plus :class:`GSVAMaskHead`'s ``loss_mask`` (2.0 · BCE) and ``loss_dice``
    (0.5 · Dice) over the ``[SEG]`` slots.

    **Prediction** (``test_cfg.mode``), both giving per sample
    ``pred_sem_seg`` (the expression's mask), ``pred_instances`` (that mask
    as one instance, or none), ``pred_no_target`` / ``pred_nt_score`` (the
    ``[REJ]`` probability of the 2-way softmax over the ``[SEG]``/``[REJ]``
    logits at the slot) and, in the metainfo, ``pred_answer`` (the answer
    text):

    - ``'teacher_forced'`` (the paper's benchmark protocol): the ground-truth
      answer is fed; each slot's decision is the argmax over the ``[SEG]`` and
      ``[REJ]`` logits at its position; then every ``[REJ]`` of the input is
      rewritten ``[SEG]`` and the dialogue re-run, so that every slot has a
      mask, stored as ``pred_slot_sem_seg`` for the record; an expression
      decided ``[REJ]`` gets an empty final mask. Needs
      ``metainfo['no_target']`` (or the ground-truth mask).
    - ``'generate'``: the model writes the answer (greedy
      ``model.generate``); the k-th ``[SEG]``/``[REJ]`` it writes is the
      k-th expression's slot (an expression without a slot is rejected); the
      dialogue is then re-read to get the slots' hidden states.

    Without ``[REJ]`` (``conversation.use_rej=False``, the paper's Table 4
    ablation) every slot is ``[SEG]``, absent targets are trained towards
    empty masks, and an expression is no-target when its mask has fewer than
    ``test_cfg.min_mask_area`` pixels (50, the paper's rule for LISA).

    Inputs are RGB in 0-255 (the data preprocessor must not normalise: SAM
    and CLIP normalise their own copies).

    Args:
        mllm (dict): :class:`LlavaMLLM` config.
        mask_head (dict): :class:`GSVAMaskHead` config; its ``in_channels``
            defaults to the MLLM's hidden size.
        conversation (dict): :class:`GSVAConversationBuilder` config
            (``TASK_UTILS``).
        loss_lm (dict): LM loss config; mmdet's ``CrossEntropyLoss`` averaged
            over the answer tokens (labels -100 elsewhere), weight 1.0.
        rej_token_weight (float): Weight of the answer tokens that are
            ``[REJ]`` in the LM loss (every other answer token weighs 1; the
            mean is over the weights). Ours, for data where rejections are
            rare: a small random LLM otherwise learns to always answer
            ``[SEG]``. 1.0 (the default) is the paper's plain CE.
        slot_state (str): What ψ reads for a slot. ``'token'`` (the
            paper): the last layer's state at the position before the slot's
            token. ``'span_mean'`` (ours, for small LLMs trained from
            scratch): the mean of the last layer's states from the previous
            slot (or the answer's start) up to that position, i.e. over the
            slot's copy of its expression. A random tiny LLM keeps in the
            state before ``[SEG]`` only what predicting ``[SEG]``/``[REJ]``
            needs, not the expression (configs/gsva/README.md, session 8);
            the states of the copied words do carry it. Defaults to
            ``'token'``.
        train_cfg (dict, optional): Unused; kept for the common interface.
        test_cfg (dict, optional): ``mode`` (``'teacher_forced'`` or
            ``'generate'``), ``protocol`` (``'paper'``, the default, or
            ``'release'``: how teacher-forced slots are grouped and decided
            and whether a rejected slot keeps its mask, see
            :mod:`mmgres.models.grounders.gsva_protocols`; ``'release'``
            asks about all of an image's expressions in the batch in one
            dialogue), ``max_expressions``, ``max_new_tokens`` (None:
            the longest all-``[SEG]`` answer of the batch plus 8),
            ``mask_thr`` (logit threshold, 0.0), ``min_mask_area`` (50),
            ``rescale`` and ``rescale_boxes`` (the output frame, see
            :class:`BaseGrounder`).
        data_preprocessor (dict, optional): Data preprocessor config.
        init_cfg (dict, optional): Initialization config.
    """

    def __init__(
        self,
        mllm: ConfigType,
        mask_head: ConfigType,
        conversation: ConfigType = dict(type='GSVAConversationBuilder'),
        loss_lm: ConfigType = dict(
            type='CrossEntropyLoss',
            ignore_index=-100,
            avg_non_ignore=True,
            loss_weight=1.0,
        ),
        rej_token_weight: float = 1.0,
        slot_state: str = 'token',
        train_cfg: OptConfigType = None,
        test_cfg: OptConfigType = None,
        data_preprocessor: OptConfigType = None,
        init_cfg: OptMultiConfig = None,
    ) -> None:
        # GSVA has no separate text encoder: the MLLM reads the text, so the
        # base grounder's text-encoder set-up is skipped.
        BaseDetector.__init__(
            self, data_preprocessor=data_preprocessor, init_cfg=init_cfg
        )
        self.mllm = MODELS.build(mllm)
        mask_head = dict(mask_head)
        mask_head.setdefault('in_channels', self.mllm.hidden_size)
        self.mask_head = MODELS.build(mask_head)
        if isinstance(conversation, dict):
            conversation = TASK_UTILS.build(conversation)
        self.conversation = conversation
        self.loss_lm = MODELS.build(loss_lm)
        if rej_token_weight <= 0:
            raise ValueError(
                f'rej_token_weight must be > 0, got {rej_token_weight}'
            )
        self.rej_token_weight = float(rej_token_weight)
        if slot_state not in ('token', 'span_mean'):
            raise ValueError(
                f"slot_state must be 'token' or 'span_mean', got "
                f'{slot_state!r}.'
            )
        self.slot_state = slot_state
        self.train_cfg = dict(train_cfg or {})
        self.test_cfg = dict(test_cfg or {})
        mode = self.test_cfg.get('mode', 'teacher_forced')
        if mode not in ('teacher_forced', 'generate'):
            raise ValueError(
                f"test_cfg.mode must be 'teacher_forced' or 'generate', got "
                f'{mode!r}.'
            )
        check_protocol(self.protocol, mode)

    @property
    def protocol(self) -> str:
        """The test protocol, ``test_cfg.protocol`` (default ``'paper'``)."""
        return self.test_cfg.get('protocol', 'paper')

    def _test_max_expressions(self, num_samples: int) -> Optional[int]:
        # the release puts every expression of an image in one dialogue;
        # the batch size bounds how many of them one image can have here
        if self.protocol == 'release':
            return max(int(num_samples), 1)
        return self.test_cfg.get('max_expressions')

    # --------------------------------------------------------------- groups
    @staticmethod
    def _same_image(inputs: Tensor, samples: SampleList, i: int, j: int):
        a, b = samples[i].metainfo, samples[j].metainfo
        for key in ('img_path', 'img_id', 'img_shape', 'flip'):
            if key in a and key in b and a[key] != b[key]:
                return False
        return inputs[i].shape == inputs[j].shape and torch.equal(
            inputs[i], inputs[j]
        )

    def group_dialogues(
        self,
        inputs: Tensor,
        samples: SampleList,
        max_expressions: Optional[int] = None,
    ) -> Tuple[List[int], List[Dialogue]]:
        """Group the batch's samples by image, then into dialogues.

        Returns:
            tuple: ``images``, the batch index of one sample per distinct
            image, and the dialogues, each ``dict(image=j, samples=[...])``
            with ``j`` an index into ``images``, in batch order.

        Example:
            Samples 0, 1, 2, 3 where 0, 1, 3 show image A and 2 image B, with
            ``max_expressions=2``: images ``[0, 2]``; dialogues
            ``[{image: 0, samples: [0, 1]}, {image: 0, samples: [3]},
            {image: 1, samples: [2]}]``.
        """
        images: List[int] = []
        members: List[List[int]] = []
        for i in range(len(samples)):
            for j, rep in enumerate(images):
                if self._same_image(inputs, samples, i, rep):
                    members[j].append(i)
                    break
            else:
                images.append(i)
                members.append([i])
        dialogues = []
        for j, idx in enumerate(members):
            for chunk in self.conversation.split(len(idx), max_expressions):
                dialogues.append(
                    dict(image=j, samples=[idx[c] for c in chunk])
                )
        return images, dialogues

    # ---------------------------------------------------------------- utils
    @staticmethod
    def _img_shape(sample) -> Tuple[int, int]:
        h, w = sample.metainfo['img_shape'][:2]
        return int(h), int(w)

    @classmethod
    def _gt_mask(cls, sample, device) -> Tensor:
        """The expression's merged ground-truth mask (h, w) bool, in the
        image-content frame (``img_shape``)."""
        h, w = cls._img_shape(sample)
        if 'gt_sem_seg' in sample:
            m = sample.gt_sem_seg.data[0]
        elif 'gt_instances' in sample and len(sample.gt_instances) > 0:
            masks = sample.gt_instances.masks
            masks = (
                masks.to_tensor(torch.bool, device)
                if hasattr(masks, 'to_tensor')
                else masks
            )
            m = masks.any(0)
        else:
            return torch.zeros((h, w), dtype=torch.bool, device=device)
        m = m.to(device)[:h, :w]
        if tuple(m.shape) != (h, w):
            m = F.interpolate(m[None, None].float(), size=(h, w))[0, 0]
        return m > 0

    @classmethod
    def _no_target(cls, sample, device) -> bool:
        nt = sample.metainfo.get('no_target')
        if nt is not None:
            return bool(nt)
        if 'gt_sem_seg' not in sample and 'gt_instances' not in sample:
            raise ValueError(
                'GSVA needs the ground truth (metainfo no_target or a mask) '
                'for training and teacher-forced prediction; use '
                "test_cfg.mode='generate' without it."
            )
        return not bool(cls._gt_mask(sample, device).any())

    def _encode_images(self, inputs: Tensor, samples: SampleList, images):
        shapes = [self._img_shape(samples[i]) for i in images]
        imgs = inputs[images].float()
        feats = self.mask_head.encode_images(imgs, shapes)
        # CLIP inputs made from the original image by the pipeline
        # (CLIPImageInput, the release's preprocessing) win over the ones
        # the MLLM makes from the resized input
        clip = [samples[i].metainfo.get('clip_img') for i in images]
        clip = None if any(c is None for c in clip) else clip
        pixels = self.mllm.preprocess_images(imgs, shapes, clip)
        return feats, pixels

    def _encode_dialogues(
        self,
        texts: Sequence[str],
        dialogues: Sequence[Dialogue],
        no_target: Optional[Sequence[bool]],
        with_answer: bool,
        train: bool,
        max_expressions: Optional[int] = None,
    ) -> List[dict]:
        return [
            self.conversation.encode(
                self.mllm.tokenizer,
                [texts[i] for i in d['samples']],
                None
                if no_target is None
                else [no_target[i] for i in d['samples']],
                with_answer=with_answer,
                train=train,
                num_image_tokens=self.mllm.num_image_tokens,
                max_expressions=max_expressions,
            )
            for d in dialogues
        ]

    def _collate(self, encodings, padding_side: str, device) -> dict:
        batch = self.conversation.collate(
            encodings, self.mllm.pad_token_id, padding_side
        )
        return {
            k: [t.to(device) for t in v]
            if isinstance(v, list)
            else v.to(device)
            for k, v in batch.items()
        }

    def _slot_logits(self, logits: Tensor, b: int, pos: int) -> Tensor:
        """[SEG] and [REJ] logits at the position that predicts slot
        ``pos`` of dialogue ``b``: shape (2,)."""
        ids = [self.mllm.seg_token_id, self.mllm.rej_token_id]
        return logits[b, pos - 1, ids].float()

    def _slot_states(
        self, hidden: Tensor, answer_start: int, positions: Sequence[int]
    ) -> List[Tensor]:
        """The states ψ reads for the slots at ``positions`` (increasing) of
        one dialogue whose answer starts at ``answer_start``: per slot, the
        state before its token, or with ``slot_state='span_mean'`` the mean
        from the previous slot (or the answer's start) up to it."""
        states, start = [], int(answer_start)
        for pos in positions:
            pos = int(pos)
            if self.slot_state == 'token' or pos <= start:
                states.append(hidden[pos - 1])
            else:
                states.append(hidden[start:pos].mean(0))
            start = pos + 1
        return states

    # ----------------------------------------------------------------- loss
    def loss(
        self, batch_inputs: Tensor, batch_data_samples: SampleList
    ) -> Dict[str, Tensor]:
        """LM loss on the answers plus BCE and Dice on the [SEG] masks."""
        samples = batch_data_samples
        device = batch_inputs.device
        texts = self.get_texts(samples)
        no_target = [self._no_target(s, device) for s in samples]
        images, dialogues = self.group_dialogues(batch_inputs, samples)
        feats, pixels = self._encode_images(batch_inputs, samples, images)
        encodings = self._encode_dialogues(
            texts, dialogues, no_target, with_answer=True, train=True
        )
        batch = self._collate(encodings, 'right', device)
        out = self.mllm(
            batch['input_ids'],
            batch['attention_mask'],
            pixels[[d['image'] for d in dialogues]],
        )
        logits = out['logits']
        loss_lm = self.lm_loss(logits, batch['labels'])
        states, image_index, gts = [], [], []
        for b, d in enumerate(dialogues):
            seg = encodings[b]['slot_is_seg']
            slot_states = self._slot_states(
                out['hidden_states'][b],
                encodings[b]['prompt_length'],
                batch['slot_positions'][b],
            )
            for k, i in enumerate(d['samples']):
                if not seg[k]:
                    continue  # [REJ]: no mask, no mask loss
                states.append(slot_states[k])
                image_index.append(d['image'])
                gts.append(self._gt_mask(samples[i], device))
        hidden = out['hidden_states']
        states = (
            torch.stack(states)
            if states
            else hidden.new_zeros((0, hidden.shape[-1]))
        )
        losses = self.mask_head.loss(
            states,
            torch.tensor(image_index, dtype=torch.long, device=device),
            feats,
            gts,
        )
        return dict(loss_lm=loss_lm, **losses)

    def lm_loss(self, logits: Tensor, labels: Tensor) -> Tensor:
        """Next-token CE over the answer tokens (labels != -100), with
        ``[REJ]`` answer tokens weighted ``rej_token_weight``.

        Args:
            logits (Tensor): (B, L, V) logits of the dialogues.
            labels (Tensor): (B, L) token ids, -100 outside the answers.
        """
        logits = logits[:, :-1].flatten(0, 1).float()
        labels = labels[:, 1:].flatten()
        if self.rej_token_weight == 1.0:
            return self.loss_lm(logits, labels)
        weight = torch.where(
            labels == self.mllm.rej_token_id,
            logits.new_tensor(self.rej_token_weight),
            logits.new_tensor(1.0),
        )
        avg = weight[labels != -100].sum().clamp(min=1.0)
        return self.loss_lm(logits, labels, weight=weight, avg_factor=avg)

    # -------------------------------------------------------------- predict
    def predict(
        self,
        batch_inputs: Tensor,
        batch_data_samples: SampleList,
        rescale: Optional[bool] = None,
    ) -> SampleList:
        """Masks, no-target decisions and answers per expression (see the
        class docstring for the two modes); their frame:
        :meth:`BaseGrounder.output_frames`."""
        samples = batch_data_samples
        masks_rescaled, boxes_rescaled = self.output_frames(rescale)
        mode = self.test_cfg.get('mode', 'teacher_forced')
        images, dialogues = self.group_dialogues(
            batch_inputs, samples, self._test_max_expressions(len(samples))
        )
        feats, pixels = self._encode_images(batch_inputs, samples, images)
        pixels = pixels[[d['image'] for d in dialogues]]
        if mode == 'teacher_forced':
            slots = self._teacher_forced(
                batch_inputs, samples, dialogues, pixels
            )
        else:
            slots = self._generate(samples, dialogues, pixels)
        # decode the masks of the slots that carry one
        out_sizes, keys, states, image_index = {}, [], [], []
        for i, s in enumerate(slots):
            meta = samples[i].metainfo
            out_sizes[i] = frame_shape(meta, masks_rescaled)
            if s['state'] is not None:
                keys.append(i)
                states.append(s['state'])
                image_index.append(s['image'])
        logits = {}
        if keys:
            masks = self.mask_head.predict(
                torch.stack(states),
                torch.tensor(image_index, device=batch_inputs.device),
                feats,
                [out_sizes[i] for i in keys],
            )
            logits = dict(zip(keys, masks))
        results = [
            self._result(slots[i], logits.get(i), out_sizes[i])
            for i in range(len(samples))
        ]
        for sample, res in zip(samples, results):
            # the boxes are the masks' boxes, moved to their own frame
            inst = res['pred_instances']
            inst.bboxes = boxes_to_frame(
                inst.bboxes, sample.metainfo, masks_rescaled, boxes_rescaled
            )
        self.add_pred_to_datasample(samples, results)
        for sample, res, slot in zip(samples, results, slots):
            sample.set_metainfo(dict(pred_answer=slot['answer']))
            if mode == 'teacher_forced':
                sample.pred_slot_sem_seg = PixelData(data=res['record'][None])
        return samples

    def _teacher_forced(
        self, inputs, samples, dialogues, pixels
    ) -> List[dict]:
        device = inputs.device
        texts = self.get_texts(samples)
        no_target = [self._no_target(s, device) for s in samples]
        encodings = self._encode_dialogues(
            texts,
            dialogues,
            no_target,
            with_answer=True,
            train=False,
            max_expressions=self._test_max_expressions(len(samples)),
        )
        batch = self._collate(encodings, 'right', device)
        ids, mask = batch['input_ids'], batch['attention_mask']
        out = self.mllm(ids, mask, pixels)
        seg_id, rej_id = self.mllm.seg_token_id, self.mllm.rej_token_id
        hidden = out['hidden_states']
        if bool((ids == rej_id).any()):
            # re-run every [REJ] as [SEG] to get its mask for the record
            hidden = self.mllm(
                ids.masked_fill(ids == rej_id, seg_id), mask, pixels
            )['hidden_states']
        slots: List[dict] = [None] * len(samples)
        for b, d in enumerate(dialogues):
            decided = []
            slot_states = self._slot_states(
                hidden[b],
                encodings[b]['prompt_length'],
                batch['slot_positions'][b],
            )
            for k, i in enumerate(d['samples']):
                pos = int(batch['slot_positions'][b][k])
                two = self._slot_logits(out['logits'], b, pos)
                is_seg = decide_slot(
                    out['logits'][b, pos - 1],
                    bool(encodings[b]['slot_is_seg'][k]),
                    seg_id,
                    rej_id,
                    self.protocol,
                )
                decided.append(is_seg)
                slots[i] = dict(
                    image=d['image'],
                    state=slot_states[k],
                    is_seg=is_seg,
                    nt_score=float(two.softmax(-1)[1]),
                    record=True,
                    keep_mask=keeps_rejected_mask(self.protocol),
                )
            answer = self.conversation.answer(
                [texts[i] for i in d['samples']], [not s for s in decided]
            )
            for i in d['samples']:
                slots[i]['answer'] = answer
        return slots

    def _max_new_tokens(self, texts, dialogues) -> int:
        n = self.test_cfg.get('max_new_tokens')
        if n:
            return int(n)
        encodings = self._encode_dialogues(
            texts,
            dialogues,
            None,
            with_answer=True,
            train=False,
            max_expressions=self.test_cfg.get('max_expressions'),
        )
        return (
            max(len(e['input_ids']) - e['prompt_length'] for e in encodings)
            + 8
        )

    def _generate(self, samples, dialogues, pixels) -> List[dict]:
        device = pixels.device
        texts = self.get_texts(samples)
        prompts = self._encode_dialogues(
            texts,
            dialogues,
            None,
            with_answer=False,
            train=False,
            max_expressions=self.test_cfg.get('max_expressions'),
        )
        batch = self._collate(prompts, 'left', device)
        ids, mask = batch['input_ids'], batch['attention_mask']
        seqs = self.mllm.generate(
            ids, mask, pixels, self._max_new_tokens(texts, dialogues)
        )
        new = seqs[:, ids.shape[1] :]
        # a row's tokens after its first EOS are padding
        is_eos = new == self.mllm.eos_token_id
        after = (is_eos.long().cumsum(-1) - is_eos.long()) > 0
        full_mask = torch.cat([mask, (~after).long()], dim=1)
        out = self.mllm(seqs, full_mask, pixels)
        seg_id, rej_id = self.mllm.seg_token_id, self.mllm.rej_token_id
        slots: List[dict] = [None] * len(samples)
        for b, d in enumerate(dialogues):
            valid = ~after[b]
            answer = self.mllm.decode(new[b][valid & ~is_eos[b]].tolist())
            found = torch.nonzero(
                valid & ((new[b] == seg_id) | (new[b] == rej_id))
            ).squeeze(1)
            slot_states = self._slot_states(
                out['hidden_states'][b], ids.shape[1], found + ids.shape[1]
            )
            for k, i in enumerate(d['samples']):
                if k >= len(found):  # the model wrote no slot for it
                    slots[i] = dict(
                        image=d['image'],
                        state=None,
                        is_seg=False,
                        nt_score=1.0,
                        answer=answer,
                    )
                    continue
                pos = int(found[k]) + ids.shape[1]
                is_seg = int(seqs[b, pos]) == seg_id
                two = self._slot_logits(out['logits'], b, pos)
                slots[i] = dict(
                    image=d['image'],
                    state=slot_states[k] if is_seg else None,
                    is_seg=is_seg,
                    nt_score=float(two.softmax(-1)[1]),
                    answer=answer,
                )
        return slots

    def _result(self, slot: dict, logits: Optional[Tensor], size) -> dict:
        """Per-sample prediction from a slot and its mask logits."""
        thr = self.test_cfg.get('mask_thr', 0.0)
        device = next(self.mask_head.parameters()).device
        record = (
            logits > thr
            if logits is not None
            else torch.zeros(size, dtype=torch.bool, device=device)
        )
        is_seg = slot['is_seg']
        nt_score = slot['nt_score']
        if not self.conversation.use_rej and logits is not None:
            # no [REJ]: an (almost) empty mask means no target
            is_seg = int(record.sum()) >= self.test_cfg.get(
                'min_mask_area', 50
            )
            nt_score = 1.0 - float(logits.sigmoid().max())
        # a rejected slot's mask is kept only where the protocol scores it;
        # the no-target contract then moves it to pred_sem_seg_raw
        keep = is_seg or slot.get('keep_mask', False)
        merged = record if keep else torch.zeros_like(record)
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

    # ---------------------------------------------------------------- other
    def extract_feat(self, batch_inputs: Tensor) -> Tensor:
        """SAM image embeddings (B, C, h, w) of whole inputs."""
        h, w = batch_inputs.shape[-2:]
        feats = self.mask_head.encode_images(
            batch_inputs.float(), [(h, w)] * len(batch_inputs)
        )
        return feats['embeddings']

    def _forward(
        self, batch_inputs: Tensor, batch_data_samples: SampleList = None
    ) -> Dict[str, Tensor]:
        """Teacher-forced network outputs without post-processing
        (``mode='tensor'``): LM ``logits`` and ``hidden_states`` of the
        dialogues, the ``slot_logits`` (K, 2) ([SEG], [REJ]) of every slot
        and the low-resolution ``mask_logits`` of the [SEG] slots."""
        samples = batch_data_samples
        device = batch_inputs.device
        texts = self.get_texts(samples)
        no_target = [bool(s.metainfo.get('no_target', False)) for s in samples]
        images, dialogues = self.group_dialogues(batch_inputs, samples)
        feats, pixels = self._encode_images(batch_inputs, samples, images)
        encodings = self._encode_dialogues(
            texts, dialogues, no_target, with_answer=True, train=False
        )
        batch = self._collate(encodings, 'right', device)
        out = self.mllm(
            batch['input_ids'],
            batch['attention_mask'],
            pixels[[d['image'] for d in dialogues]],
        )
        two, states, image_index = [], [], []
        for b, d in enumerate(dialogues):
            positions = batch['slot_positions'][b].tolist()
            slot_states = self._slot_states(
                out['hidden_states'][b],
                encodings[b]['prompt_length'],
                positions,
            )
            for k, pos in enumerate(positions):
                two.append(self._slot_logits(out['logits'], b, pos))
                if encodings[b]['slot_is_seg'][k]:
                    states.append(slot_states[k])
                    image_index.append(d['image'])
        hidden = out['hidden_states']
        states = (
            torch.stack(states)
            if states
            else hidden.new_zeros((0, hidden.shape[-1]))
        )
        masks = self.mask_head(
            states, torch.tensor(image_index, device=device), feats
        )
        return dict(
            logits=out['logits'],
            hidden_states=hidden,
            slot_logits=torch.stack(two),
            mask_logits=masks,
        )
