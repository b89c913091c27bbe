# Copyright (c) mmgres contributors. All rights reserved.
"""GSVA: an MLLM that segments with several [SEG] and rejects with [REJ]."""

from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.structures import PixelData
from torch import Tensor

from mmgres.models.utils.output_frame import boxes_to_frame, frame_shape
from mmgres.models.utils.referring_targets import is_no_target, merged_target
from mmgres.registry import MODELS, TASK_UTILS
from mmgres.utils import ConfigType, OptConfigType, OptMultiConfig, SampleList

from .base_grounder import BaseGrounder
from .gsva_dialogues import GSVADialogues, sample_task
from .gsva_protocols import check_protocol, decide_slot, keeps_rejected_mask
from .gsva_slots import (
    NEEDS_GROUND_TRUTH,
    DialoguePass,
    SegSlots,
    slot_prediction,
)


@MODELS.register_module()
class GSVA(GSVADialogues, BaseGrounder):
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
    dialogues of at most ``conversation.max_expressions`` (k = 5, the
    paper's appendix E; ``test_cfg.max_expressions`` may differ). SAM
    encodes each distinct image once. With a random sampler most dialogues
    hold one expression; a sampler that keeps the sentences of an image
    together (:class:`ImageGroupedSampler`) fills them. Samples of
    different images never share one.

    **The pre-training mixture** (paper appendix B: semantic segmentation,
    referring, VQA and ReasonSeg data, as LISA). A sample's
    ``metainfo['task']`` says its kind: ``'refer'`` (the default; semantic
    segmentation classes are asked as referring expressions), ``'reason'``
    (a ReasonSeg query, ``text`` and ``is_sentence``, with an optional
    ``explanation``) or ``'vqa'`` (LLaVA-Instruct's ``conversations``).
    ReasonSeg and VQA samples are dialogues of their own
    (:meth:`group_dialogues`), worded as the release's
    (:class:`~mmgres.models.utils.conversation_mixture.MixtureDialogues`):
    a ReasonSeg dialogue has one ``[SEG]`` slot, the sample's mask (none
    when its answer is the explanation alone), a VQA one no slot and only
    the language loss. VQA samples are not predicted.

    **One pass.** Training, teacher-forced prediction and ``mode='tensor'``
    run the same sequence (:meth:`teacher_forced_pass`): group, encode the
    images, encode and collate the dialogues, run the LLM, collect the
    slots (:class:`SegSlots`). Generation writes the answer first, then
    reads its slots the same way.

    **Which hidden state.** As in LISA/GSVA, a slot's state is the last
    layer's output at the position *before* its ``[SEG]`` token, the state
    from which the token is predicted (paper Eq. 4 selects the output
    embedding ỹ_txt[SEG]), so that generation and teacher forcing read the
    same thing; the ``[SEG]``/``[REJ]`` decision uses the logits at that
    position. :meth:`slot_states` is the hook that chooses it.

    **Loss** (paper Eq. 7): ``loss_lm`` (1.0 · CE over the answer tokens
    of every dialogue, averaged over the batch's answer tokens as the
    release, :meth:`lm_loss`) plus :class:`GSVAMaskHead`'s ``loss_mask``
    (2.0 · BCE) and ``loss_dice`` (0.5 · Dice) over the ``[SEG]`` slots,
    against each expression's merged mask; a batch without ``[SEG]`` slot
    (VQA, ``[REJ]`` and explanation-only answers) gives mask losses of 0
    that still reach every trainable parameter of the mask head.

    **Prediction** (``test_cfg.mode``), both giving per sample
    ``pred_sem_seg`` (the expression's mask), ``pred_instances`` (that mask
    as one instance, or none), ``pred_no_target`` / ``pred_nt_score`` (the
    ``[REJ]`` probability of the 2-way softmax over the ``[SEG]``/``[REJ]``
    logits at the slot) and, in the metainfo, ``pred_answer`` (the answer
    text). A ReasonSeg sample is asked the release's test question (its
    ``ValDataset``), answered ``[SEG]``, its one slot decided as a referring
    one:

    - ``'teacher_forced'`` (the paper's benchmark protocol): the ground-truth
      answer is fed; each slot's decision is the argmax over the ``[SEG]`` and
      ``[REJ]`` logits at its position; then every ``[REJ]`` of the input is
      rewritten ``[SEG]`` and the dialogue re-run, so that every slot has a
      mask, stored as ``pred_slot_sem_seg`` for the record; an expression
      decided ``[REJ]`` gets an empty final mask. Needs
      ``metainfo['no_target']`` (or the ground-truth mask).
    - ``'generate'``: the model writes the answer (greedy
      ``model.generate``, at most the longest all-``[SEG]`` answer of the
      batch plus 8 tokens); the k-th ``[SEG]``/``[REJ]`` it writes is the
      k-th expression's slot (an expression without a slot is rejected);
      the dialogue is then re-read to get the slots' hidden states.

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
        train_cfg (dict, optional): Unused; kept for the common interface.
        test_cfg (dict, optional): ``mode`` (``'teacher_forced'`` or
            ``'generate'``), ``protocol`` (``'paper'``, the default, or
            ``'release'``: how teacher-forced slots are grouped and decided
            and whether a rejected slot keeps its mask, see
            :mod:`mmgres.models.grounders.gsva_protocols`; ``'release'``
            asks about all of an image's expressions in the batch in one
            dialogue), ``max_expressions``, ``mask_thr`` (logit threshold,
            0.0), ``min_mask_area`` (50), ``rescale`` and ``rescale_boxes``
            (the output frame, see :class:`BaseGrounder`).
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
        train_cfg: OptConfigType = None,
        test_cfg: OptConfigType = None,
        data_preprocessor: OptConfigType = None,
        init_cfg: OptMultiConfig = None,
    ) -> None:
        # GSVA has no separate text encoder: the MLLM reads the text
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg
        )
        self.mllm = MODELS.build(mllm)
        mask_head = dict(mask_head)
        mask_head.setdefault('in_channels', self.mllm.hidden_size)
        self.mask_head = MODELS.build(mask_head)
        if isinstance(conversation, dict):
            conversation = TASK_UTILS.build(conversation)
        self.conversation = conversation
        self.loss_lm = MODELS.build(loss_lm)
        self.train_cfg = dict(train_cfg or {})
        self.test_cfg = dict(test_cfg or {})
        if self.mode not in ('teacher_forced', 'generate'):
            raise ValueError(
                f"test_cfg.mode must be 'teacher_forced' or 'generate', got "
                f'{self.mode!r}.'
            )
        check_protocol(self.protocol, self.mode)

    @property
    def mode(self) -> str:
        """The prediction mode, ``test_cfg.mode`` (default
        ``'teacher_forced'``)."""
        return self.test_cfg.get('mode', 'teacher_forced')

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

    # ---------------------------------------------------------------- utils
    @staticmethod
    def _img_shape(sample) -> Tuple[int, int]:
        h, w = sample.metainfo['img_shape'][:2]
        return int(h), int(w)

    @staticmethod
    def _no_target(sample) -> bool:
        """The sample's ground-truth "no target" flag."""
        if (
            sample.metainfo.get('no_target') is None
            and 'gt_sem_seg' not in sample
            and 'gt_instances' not in sample
        ):
            raise ValueError(NEEDS_GROUND_TRUTH)
        return is_no_target(sample)

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

    def slot_states(
        self, hidden: Tensor, answer_start: int, positions: Tensor
    ) -> Tensor:
        """The states ψ reads for the slots of one dialogue.

        The hook a subclass overrides to read something else; here the last
        layer's state at the position before each slot's token.

        Args:
            hidden (Tensor): Shape (L, D), the dialogue's last-layer states.
            answer_start (int): Position of the answer's first token.
            positions (Tensor): Shape (K,), the slot tokens' positions,
                increasing.

        Returns:
            Tensor: Shape (K, D).
        """
        positions = torch.as_tensor(positions, device=hidden.device)
        return hidden[positions.long() - 1]

    def _states(self, hidden, positions, starts) -> List[Tensor]:
        return [
            self.slot_states(hidden[b], int(starts[b]), pos)
            for b, pos in enumerate(positions)
        ]

    def _slots(self, out, input_ids, dialogues, positions, starts):
        return SegSlots.gather(
            out['hidden_states'],
            out['logits'],
            input_ids,
            dialogues,
            positions,
            self._states(out['hidden_states'], positions, starts),
            self.mllm.seg_token_id,
        )

    def teacher_forced_pass(
        self,
        inputs: Tensor,
        samples: SampleList,
        no_target: Sequence[bool],
        train: bool,
        max_expressions: Optional[int] = None,
    ) -> DialoguePass:
        """The batch's dialogues with their answers fed, through the LLM.

        Args:
            inputs (Tensor): Shape (B, 3, H, W), RGB in 0-255.
            samples (list[DetDataSample]): One expression each.
            no_target (Sequence[bool]): Per sample, the answer's token:
                ``[REJ]`` when True.
            train (bool): Draw the training questions.
            max_expressions (int, optional): Expressions per dialogue.
                Defaults to ``conversation.max_expressions``.
        """
        images, dialogues = self.group_dialogues(
            inputs, samples, max_expressions
        )
        feats, pixels = self._encode_images(inputs, samples, images)
        pixels = pixels[[d.image for d in dialogues]]
        encodings = self._encode_dialogues(
            samples, dialogues, no_target, True, train, max_expressions
        )
        batch = self._collate(encodings, 'right', inputs.device)
        out = self.mllm(batch['input_ids'], batch['attention_mask'], pixels)
        slots = self._slots(
            out,
            batch['input_ids'],
            dialogues,
            batch['slot_positions'],
            [e['prompt_length'] for e in encodings],
        )
        return DialoguePass(
            feats, pixels, dialogues, encodings, batch, out, slots
        )

    # ----------------------------------------------------------------- loss
    def loss(
        self, batch_inputs: Tensor, batch_data_samples: SampleList
    ) -> Dict[str, Tensor]:
        """LM loss on the answers plus BCE and Dice on the [SEG] masks."""
        samples = batch_data_samples
        device = batch_inputs.device
        no_target = [
            sample_task(s) != 'vqa' and self._no_target(s) for s in samples
        ]
        run = self.teacher_forced_pass(
            batch_inputs, samples, no_target, train=True
        )
        loss_lm = self.lm_loss(run.out['logits'], run.batch['labels'])
        seg = run.slots[run.slots.is_seg]  # [REJ]: no mask, no mask loss
        gts = [
            merged_target(
                samples[i], self._img_shape(samples[i]), device, resize=True
            )
            for i in seg.sample.tolist()
        ]
        losses = self.mask_head.loss(seg.states, seg.image, run.feats, gts)
        return dict(loss_lm=loss_lm, **losses)

    def lm_loss(self, logits: Tensor, labels: Tensor) -> Tensor:
        """Next-token CE over the answer tokens (labels != -100), the hook a
        subclass overrides to weigh them.

        Args:
            logits (Tensor): (B, L, V) logits of the dialogues.
            labels (Tensor): (B, L) token ids, -100 outside the answers.
        """
        return self.loss_lm(
            logits[:, :-1].flatten(0, 1).float(), labels[:, 1:].flatten()
        )

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
        self._check_predictable(samples)
        masks_rescaled, boxes_rescaled = self.output_frames(rescale)
        if self.mode == 'teacher_forced':
            feats, slots, decided, answers = self._decide_teacher_forced(
                batch_inputs, samples
            )
            decode = torch.ones_like(decided)  # every slot, for the record
            keep = keeps_rejected_mask(self.protocol)
        else:
            feats, slots, decided, answers = self._decide_generated(
                batch_inputs, samples
            )
            decode, keep = decided, False
        sizes = [frame_shape(s.metainfo, masks_rescaled) for s in samples]
        logits: List[Optional[Tensor]] = [None] * len(samples)
        chosen = slots[decode]
        if len(chosen):
            masks = self.mask_head.predict(
                chosen.states,
                chosen.image,
                feats,
                [sizes[i] for i in chosen.sample.tolist()],
            )
            for i, m in zip(chosen.sample.tolist(), masks):
                logits[i] = m
        seg_id, rej_id = self.mllm.seg_token_id, self.mllm.rej_token_id
        nt_scores = slots.two_way(seg_id, rej_id).softmax(-1)[:, 1].tolist()
        slot_of = {i: k for k, i in enumerate(slots.sample.tolist())}
        thr = self.test_cfg.get('mask_thr', 0.0)
        device = batch_inputs.device
        results = []
        for i in range(len(samples)):
            k = slot_of.get(i)
            # an expression without a slot (not written) is rejected
            is_seg = k is not None and bool(decided[k])
            nt_score = 1.0 if k is None else nt_scores[k]
            if not self.conversation.use_rej and logits[i] is not None:
                # no [REJ] (Table 4): an (almost) empty mask is no target
                area = int((logits[i] > thr).sum())
                is_seg = area >= self.test_cfg.get('min_mask_area', 50)
                nt_score = 1.0 - float(logits[i].sigmoid().max())
            res = slot_prediction(
                is_seg, nt_score, logits[i], sizes[i], thr, keep, device
            )
            # the boxes are the masks' boxes, moved to their own frame
            inst = res['pred_instances']
            inst.bboxes = boxes_to_frame(
                inst.bboxes, samples[i].metainfo, masks_rescaled,
                boxes_rescaled,
            )  # fmt: skip
            results.append(res)
        self.add_pred_to_datasample(samples, results)
        for sample, res, answer in zip(samples, results, answers):
            sample.set_metainfo(dict(pred_answer=answer))
            if self.mode == 'teacher_forced':
                sample.pred_slot_sem_seg = PixelData(data=res['record'][None])
        return samples

    def _decide_teacher_forced(self, inputs, samples):
        """Feed the ground-truth answers; decide each slot from its logits,
        then re-read every ``[REJ]`` as ``[SEG]`` for the slots' states.

        Returns:
            tuple: SAM features, the slots (states of the re-run), the
            decisions (K,) bool (True: ``[SEG]``) and each sample's answer.
        """
        no_target = [self._no_target(s) for s in samples]
        run = self.teacher_forced_pass(
            inputs,
            samples,
            no_target,
            train=False,
            max_expressions=self._test_max_expressions(len(samples)),
        )
        seg_id, rej_id = self.mllm.seg_token_id, self.mllm.rej_token_id
        slots = run.slots
        decided = torch.tensor(
            [
                decide_slot(
                    slots.logits[k], bool(slots.is_seg[k]), seg_id, rej_id,
                    self.protocol,
                )
                for k in range(len(slots))
            ],
            dtype=torch.bool,
            device=inputs.device,
        )  # fmt: skip
        ids, mask = run.batch['input_ids'], run.batch['attention_mask']
        if bool((ids == rej_id).any()):
            # re-run every [REJ] as [SEG] to get its mask for the record
            hidden = self.mllm(
                ids.masked_fill(ids == rej_id, seg_id), mask, run.pixels
            )['hidden_states']
            starts = [e['prompt_length'] for e in run.encodings]
            states = self._states(hidden, run.batch['slot_positions'], starts)
            slots = slots.with_states(torch.cat(states))
        texts = self.get_texts(samples)
        answers = [''] * len(samples)
        for b, d in enumerate(run.dialogues):
            rejected = (~decided[slots.dialogue == b]).tolist()
            answer = self._dialogue_answer(
                d, [texts[i] for i in d.samples], rejected
            )
            for i in d.samples:
                answers[i] = answer
        return run.feats, slots, decided, answers

    def _max_new_tokens(self, samples, dialogues) -> int:
        """The longest all-``[SEG]`` answer of the dialogues plus 8."""
        encodings = self._encode_dialogues(
            samples,
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

    def _decide_generated(self, inputs, samples):
        """Let the model write the answers, then read their slots.

        Returns:
            tuple: As :meth:`_decide_teacher_forced`; the decision is the
            token written.
        """
        max_expressions = self.test_cfg.get('max_expressions')
        images, dialogues = self.group_dialogues(
            inputs, samples, max_expressions
        )
        feats, pixels = self._encode_images(inputs, samples, images)
        pixels = pixels[[d.image for d in dialogues]]
        prompts = self._encode_dialogues(
            samples, dialogues, None, False, False, max_expressions
        )
        batch = self._collate(prompts, 'left', inputs.device)
        ids, mask = batch['input_ids'], batch['attention_mask']
        seqs = self.mllm.generate(
            ids, mask, pixels, self._max_new_tokens(samples, dialogues)
        )
        start = ids.shape[1]
        new = seqs[:, start:]
        # a row's tokens after its first EOS are padding
        is_eos = new == self.mllm.eos_token_id
        after = (is_eos.long().cumsum(-1) - is_eos.long()) > 0
        out = self.mllm(seqs, torch.cat([mask, (~after).long()], 1), pixels)
        seg_id, rej_id = self.mllm.seg_token_id, self.mllm.rej_token_id
        answers = [''] * len(samples)
        positions = []
        for b, d in enumerate(dialogues):
            valid = ~after[b]
            answer = self.mllm.decode(new[b][valid & ~is_eos[b]].tolist())
            for i in d.samples:
                answers[i] = answer
            found = torch.nonzero(
                valid & ((new[b] == seg_id) | (new[b] == rej_id))
            ).squeeze(1)
            # the k-th slot written is the k-th expression's
            positions.append(found[: len(d.samples)] + start)
        slots = self._slots(
            out, seqs, dialogues, positions, [start] * len(dialogues)
        )
        return feats, slots, slots.is_seg, answers

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
        and the low-resolution ``mask_logits`` of the [SEG] slots. Samples
        without ``metainfo['no_target']`` are answered ``[SEG]``."""
        samples = batch_data_samples
        no_target = [bool(s.metainfo.get('no_target', False)) for s in samples]
        run = self.teacher_forced_pass(
            batch_inputs, samples, no_target, train=False
        )
        seg = run.slots[run.slots.is_seg]
        seg_id, rej_id = self.mllm.seg_token_id, self.mllm.rej_token_id
        return dict(
            logits=run.out['logits'],
            hidden_states=run.out['hidden_states'],
            slot_logits=run.slots.two_way(seg_id, rej_id),
            mask_logits=self.mask_head(seg.states, seg.image, run.feats),
        )
