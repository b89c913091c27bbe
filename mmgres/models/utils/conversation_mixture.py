# Copyright (c) mmgres contributors. All rights reserved.
"""The dialogues of GSVA's pre-training mixture besides the referring ones:
ReasonSeg (one query, one ``[SEG]``) and VQA (LLaVA-Instruct's multi-round
conversations, language loss only), as the GSVA release writes them
(``data/reason_seg_dataset.py``, ``data/vqa_dataset.py``)."""

import random
from typing import Dict, List, Optional, Sequence, Tuple

from .conversation_templates import (
    ANSWER_LIST,
    EXPLANATORY_QUESTION_LIST,
    IMAGE_PLACEHOLDER,
    LONG_QUESTION_LIST,
    REASON_TEST_ANSWER,
    REASON_TEST_QUESTIONS,
    REJ_TOKEN,
    SEG_TOKEN,
    SHORT_QUESTION_LIST,
)

#: ``'human'``/``'gpt'``: the roles of LLaVA-Instruct's turns.
VQA_ROLES = ('human', 'gpt')


class MixtureDialogues:
    """ReasonSeg and VQA dialogues of :class:`GSVAConversationBuilder`.

    A mixin: it uses the builder's :meth:`chat_prompt` (the chat format),
    :meth:`encode_rounds` (tokens and labels), ``explanatory`` and
    ``max_length``.

    **ReasonSeg** (:meth:`encode_reason`), one query per dialogue. In
    training, as the release's ``ReasonSegDataset``: a sentence query asks
    a :data:`LONG_QUESTION_LIST` question (``"{sent} Please respond with
    segmentation mask."``), a phrase a :data:`SHORT_QUESTION_LIST` one
    (lower-cased); the answer is an :data:`ANSWER_LIST` one (``"It is
    [SEG]."``). With an explanation (ReasonSeg's ``explanatory/train.json``),
    with probability ``explanatory`` the question is the query alone and the
    answer the explanation alone (no ``[SEG]``, no mask); otherwise, 50/50,
    the plain dialogue or the query with an :data:`EXPLANATORY_QUESTION_LIST`
    question answered ``"<[SEG] answer> <explanation>"``. The draws use
    Python's ``random``, in the release's order. At test time the question
    and answer are the release's ``ValDataset`` ones
    (:data:`REASON_TEST_QUESTIONS`, answer ``[SEG]``).

    **VQA** (:meth:`encode_vqa`): LLaVA-Instruct's turns, the image line
    put before the first question (LLaVA's ``preprocess_multimodal``),
    rendered round after round in the chat format (Vicuna v1:
    ``{system} USER: <image>\\n{q1} ASSISTANT: {a1}</s>USER: {q2}
    ASSISTANT: {a2}</s>``); every answer's tokens and its ``</s>`` are
    learned (LLaVA v1's masking of the human turns), and the dialogue has
    no slot.

    ``[SEG]``/``[REJ]`` (and the image tokens) written in a query, an
    explanation or a VQA turn are dropped from it, so that only the
    template's ``[SEG]`` makes a slot.
    """

    # ----------------------------------------------------------- ReasonSeg
    def _plain(self, text: str, image: str = ' ') -> str:
        """``text`` without the special tokens: ``[SEG]``, ``[REJ]`` and
        the image wrapping become spaces, the image placeholder
        ``image``."""
        text = str(text).replace(IMAGE_PLACEHOLDER, image)
        for tok in (SEG_TOKEN, REJ_TOKEN, self.image_start, self.image_end):
            if tok:
                text = text.replace(tok, ' ')
        return text

    def reason_dialogue(
        self,
        query: str,
        is_sentence: bool,
        explanation: Optional[str] = None,
        train: bool = False,
    ) -> Tuple[str, str]:
        """The question and answer of a ReasonSeg query (class docstring).

        Example:
            ``reason_dialogue('the cat', False)`` (test) is ``(' What is the
            cat in this image? Please output segmentation mask.',
            '[SEG]')``.
        """
        query = self._plain(query).strip()
        if not query:
            raise ValueError('Empty ReasonSeg query.')
        if not train:
            if is_sentence:
                q = REASON_TEST_QUESTIONS['sentence'].format(sent=query)
            else:
                q = REASON_TEST_QUESTIONS['phrase'].format(class_name=query)
            return q, REASON_TEST_ANSWER
        choice = 0
        if explanation is not None:
            explanation = self._plain(explanation)
            # the release draws the choice first, then the question
            if random.random() < self.explanatory:
                choice = 2
            else:
                choice = random.randint(0, 1)
        if is_sentence:
            question = random.choice(LONG_QUESTION_LIST).format(sent=query)
        else:
            question = random.choice(SHORT_QUESTION_LIST).format(
                class_name=query.lower()
            )
        if choice == 0:  # [SEG]
            return question, random.choice(ANSWER_LIST)
        if choice == 1:  # [SEG] and the explanation
            answer = random.choice(ANSWER_LIST) + f' {explanation}'
            question = f'{query} {random.choice(EXPLANATORY_QUESTION_LIST)}'
            return question, answer
        return query, explanation  # the explanation alone

    def reason_answer(self, rejected: bool) -> str:
        """The test answer written for a ReasonSeg slot decided ``[REJ]``
        (``rejected``) or ``[SEG]``."""
        return REJ_TOKEN if rejected else REASON_TEST_ANSWER

    def encode_reason(
        self,
        tokenizer,
        query: str,
        is_sentence: bool,
        explanation: Optional[str] = None,
        with_answer: bool = True,
        train: bool = False,
        num_image_tokens: int = 1,
    ) -> Dict[str, object]:
        """Token ids (and labels) of a ReasonSeg dialogue.

        Args:
            tokenizer: As :meth:`encode`.
            query (str): The ReasonSeg query.
            is_sentence (bool): A sentence (LONG questions), else a phrase
                (SHORT questions).
            explanation (str, optional): The query's explanation
                (training only).
            with_answer (bool): Append the answer; False gives the prompt
                for generation.
            train (bool): Draw the training question and answer; else the
                release's test ones.
            num_image_tokens (int): Visual tokens of the MLLM.

        Returns:
            dict: As :meth:`encode`, with one slot (the answer's ``[SEG]``)
            or none (an explanation alone); in training also ``truncated``
            (beyond ``max_length``).
        """
        question, answer = self.reason_dialogue(
            query, is_sentence, explanation, train
        )
        prompt = self.chat_prompt(question)
        answer = answer if with_answer else None
        out = self.encode_rounds(
            tokenizer,
            [(prompt, answer)],
            num_image_tokens,
            self.max_length if train else None,
        )
        out['text'] = prompt if answer is None else f'{prompt} {answer}'
        if with_answer:
            expected = int(SEG_TOKEN in answer)
            if len(out['slot_positions']) != expected:
                raise ValueError(
                    f'The ReasonSeg answer {answer!r} gives '
                    f'{len(out["slot_positions"])} [SEG]/[REJ] tokens, '
                    f'{expected} expected; is [SEG] one token of the '
                    'tokenizer?'
                )
        return out

    # ----------------------------------------------------------------- VQA
    def vqa_rounds(self, conversations: Sequence[dict]) -> List[Tuple]:
        """The ``(question, answer)`` texts of LLaVA-Instruct's turns.

        As the release's ``VQADataset``: a first turn that is not the
        human's is skipped, the turns must alternate human, gpt; the image
        placeholder is removed from the turns and written before the first
        question (``preprocess_multimodal`` moves it to the front of its
        turn, the first one in LLaVA-Instruct). A last question without
        answer is an error (the release's label masking fails on it).
        """
        turns = list(conversations)
        if turns and turns[0].get('from') != VQA_ROLES[0]:
            turns = turns[1:]
        if not turns or len(turns) % 2:
            raise ValueError(
                f'A VQA conversation needs human, gpt turn pairs, got '
                f'{[t.get("from") for t in conversations]}.'
            )
        rounds = []
        for j in range(0, len(turns), 2):
            roles = (turns[j].get('from'), turns[j + 1].get('from'))
            if roles != VQA_ROLES:
                raise ValueError(
                    f'VQA turns {j}, {j + 1} are {roles}, not {VQA_ROLES}.'
                )
            question = self._plain(turns[j]['value'], image='')
            if IMAGE_PLACEHOLDER in turns[j]['value'] or j == 0:
                question = question.strip()
            answer = self._plain(turns[j + 1]['value'], image='')
            rounds.append((question, answer))
        return rounds

    def vqa_text(self, conversations: Sequence[dict]) -> str:
        """The VQA dialogue's text, as LLaVA's ``get_prompt`` writes it
        (``</s>`` after each answer; ``llama_2``: ``' </s><s>'``)."""
        parts = []
        for r, (q, a) in enumerate(self.vqa_rounds(conversations)):
            if r and self.style == 'llama_2':
                parts.append('<s>')
            parts.append(f'{self.chat_prompt(q, first=r == 0)} {a}')
            parts.append(' </s>' if self.style == 'llama_2' else '</s>')
        return ''.join(parts)

    def encode_vqa(
        self,
        tokenizer,
        conversations: Sequence[dict],
        num_image_tokens: int = 1,
    ) -> Dict[str, object]:
        """Token ids and labels of a VQA dialogue (class docstring), cut
        at ``max_length`` (``truncated``: True then).

        Args:
            tokenizer: As :meth:`encode`.
            conversations (Sequence[dict]): LLaVA-Instruct's turns,
                ``{'from': 'human' | 'gpt', 'value': str}``.
            num_image_tokens (int): Visual tokens of the MLLM.

        Returns:
            dict: As :meth:`encode`: ``labels`` on every answer's tokens and
            its EOS, no slot (``slot_positions`` empty), ``truncated``.
        """
        rounds = [
            (self.chat_prompt(q, first=r == 0), a)
            for r, (q, a) in enumerate(self.vqa_rounds(conversations))
        ]
        out = self.encode_rounds(
            tokenizer, rounds, num_image_tokens, self.max_length
        )
        if len(out['slot_positions']):
            raise ValueError(
                'A VQA dialogue has [SEG]/[REJ] tokens after their removal; '
                'the tokenizer makes them from other text.'
            )
        out['text'] = self.vqa_text(conversations)
        return out
