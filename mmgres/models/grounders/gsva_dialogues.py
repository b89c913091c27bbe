# Copyright (c) mmgres contributors. All rights reserved.
"""Which samples of a batch GSVA asks about together, and their tokens:
referring expressions grouped by image, ReasonSeg and VQA samples one
dialogue each (the pre-training mixture)."""

from typing import List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from mmgres.utils import SampleList

from .gsva_slots import Dialogue

#: Values of a sample's ``metainfo['task']`` (default ``'refer'``).
TASKS = ('refer', 'reason', 'vqa')


def sample_task(sample) -> str:
    """A sample's kind, ``metainfo['task']``: ``'refer'`` when absent."""
    task = sample.metainfo.get('task', 'refer')
    if task not in TASKS:
        raise ValueError(
            f'Unknown task {task!r} of {describe(sample)}; GSVA takes {TASKS}.'
        )
    return task


def describe(sample) -> str:
    """The sample's image path and ids, for error messages."""
    meta = sample.metainfo
    keys = ('img_path', 'img_id', 'ref_id', 'sent_id', 'task')
    return 'sample ' + ', '.join(
        f'{k}={meta[k]!r}' for k in keys if meta.get(k) is not None
    )


class GSVADialogues:
    """The dialogues of :class:`GSVA`: grouping and encoding.

    A mixin; it uses the grounder's ``conversation`` (the builder), ``mllm``
    (its tokenizer and number of image tokens) and ``get_texts``.
    """

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

        The referring samples of an image are asked together, at most
        ``max_expressions`` per dialogue; a ReasonSeg or VQA sample
        (``metainfo['task']``) is a dialogue of its own (the release gives
        each its own conversation), after the image's referring ones. SAM
        and CLIP read each distinct image once, whatever its dialogues.

        Returns:
            tuple: ``images``, the batch index of one sample per distinct
            image, and the :class:`Dialogue` s, image after image.

        Example:
            Samples 0, 1, 2, 3 where 0, 1, 3 show image A and 2 image B, with
            ``max_expressions=2``: images ``[0, 2]``; dialogues
            ``[Dialogue(0, [0, 1]), Dialogue(0, [3]), Dialogue(1, [2])]``.
            Were sample 1 a ReasonSeg one: ``[Dialogue(0, [0, 3]),
            Dialogue(0, [1], 'reason'), Dialogue(1, [2])]``.
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
            tasks = [sample_task(samples[i]) for i in idx]
            refer = [i for i, t in zip(idx, tasks) if t == 'refer']
            for chunk in self.conversation.split(len(refer), max_expressions):
                dialogues.append(Dialogue(j, [refer[c] for c in chunk]))
            dialogues.extend(
                Dialogue(j, [i], t) for i, t in zip(idx, tasks) if t != 'refer'
            )
        return images, dialogues

    def _encode_dialogues(
        self,
        samples: SampleList,
        dialogues: Sequence[Dialogue],
        no_target: Optional[Sequence[bool]],
        with_answer: bool,
        train: bool,
        max_expressions: Optional[int] = None,
    ) -> List[dict]:
        """Each dialogue's encoding by the builder: ``encode`` (referring),
        ``encode_reason`` or ``encode_vqa``. ``no_target`` picks the
        referring slots' tokens; a ReasonSeg answer is always ``[SEG]``
        (as the release's)."""
        if no_target is None:
            no_target = [False] * len(samples)
        tokenizer = self.mllm.tokenizer
        n = self.mllm.num_image_tokens
        encodings = []
        for d in dialogues:
            first = samples[d.samples[0]]
            if d.task == 'refer':
                enc = self.conversation.encode(
                    tokenizer,
                    self.get_texts([samples[i] for i in d.samples]),
                    [no_target[i] for i in d.samples],
                    with_answer=with_answer,
                    train=train,
                    num_image_tokens=n,
                    max_expressions=max_expressions,
                )
            elif d.task == 'reason':
                if first.metainfo.get('is_sentence') is None:
                    raise ValueError(
                        f'{describe(first)} has no metainfo is_sentence.'
                    )
                enc = self.conversation.encode_reason(
                    tokenizer,
                    self.get_texts([first])[0],
                    bool(first.metainfo['is_sentence']),
                    first.metainfo.get('explanation'),
                    with_answer=with_answer,
                    train=train,
                    num_image_tokens=n,
                )
            else:
                if not with_answer or 'conversations' not in first.metainfo:
                    raise ValueError(
                        f'{describe(first)}: a VQA dialogue is encoded from '
                        'its metainfo conversations, answers included.'
                    )
                enc = self.conversation.encode_vqa(
                    tokenizer, first.metainfo['conversations'], n
                )
            encodings.append(enc)
        return encodings

    def _dialogue_answer(
        self, dialogue: Dialogue, texts: Sequence[str], rejected: List[bool]
    ) -> str:
        """The answer text of a dialogue whose slots are decided
        ``rejected`` (True: ``[REJ]``)."""
        if dialogue.task == 'reason':
            return self.conversation.reason_answer(
                not rejected or bool(rejected[0])
            )
        return self.conversation.answer(texts, rejected)

    @staticmethod
    def _check_predictable(samples: SampleList) -> None:
        """VQA samples have no mask to predict: a clear error names one."""
        for i, sample in enumerate(samples):
            if sample_task(sample) == 'vqa':
                raise ValueError(
                    f'GSVA predicts masks; batch sample {i} is a VQA sample '
                    f"(task='vqa', language loss only): {describe(sample)}."
                )
