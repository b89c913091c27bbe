# Copyright (c) mmgres contributors. All rights reserved.
"""GSVA's dialogue: several expressions of one image, one [SEG]/[REJ] slot
each, in the Vicuna v1 chat format that LLaVA v1 was tuned on; and the
dialogues of the pre-training mixture (ReasonSeg, VQA:
:class:`~.conversation_mixture.MixtureDialogues`)."""

import random
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from mmgres.registry import TASK_UTILS

from .conversation_mixture import MixtureDialogues
from .conversation_templates import (  # noqa: F401  (re-exported)
    ANSWER_PREFIX,
    ANSWER_SUFFIX,
    APPENDIX_QUESTIONS,
    EXPLANATORY,
    IGNORE_INDEX,
    IMAGE_PLACEHOLDER,
    LLAVA_LLAMA_2_SYSTEM,
    MAX_LENGTH,
    MIXTURE_WORDS,
    PAPER_QUESTION,
    REJ_TOKEN,
    RELEASE_TEST_QUESTION,
    ROLES,
    SEG_TOKEN,
    SLOT_SEPARATOR,
    SLOT_TEMPLATE,
    TRAIN_QUESTIONS,
    VICUNA_V1_SYSTEM,
)


@TASK_UTILS.register_module()
class GSVAConversationBuilder(MixtureDialogues):
    """Turn one image's expressions into GSVA dialogues and token ids.

    For expressions ``e1`` (present) and ``e2`` (absent) the dialogue is, in
    the Vicuna v1 format (``{system} USER: ... ASSISTANT: ...</s>``)::

        A chat between ... questions. USER: <image>
        What are e1, e2 in this image? Please output segmentation masks.
        ASSISTANT: Sure, e1:[SEG], e2:[REJ].</s>

    Each expression is one *slot*: its ``[SEG]`` (target present) or
    ``[REJ]`` (no target) token. The ``<image>`` placeholder is expanded to
    ``num_image_tokens`` copies of the image token id, as HF
    ``LlavaForConditionalGeneration`` expects (one id per visual token).

    Labels are ``-100`` everywhere except the answer tokens (the tokens of
    ``"Sure, e1:[SEG], e2:[REJ]."`` and the closing EOS), so only the answer
    is learned.

    Token positions are exact whatever the tokenizer: the whole text is
    tokenized at once (no boundary artefacts), and the answer tokens are
    those whose character offset starts at or after the end of the prompt
    (a fast tokenizer's ``offset_mapping``); the k-th ``[SEG]``/``[REJ]`` of
    the answer is the k-th expression's slot.

    Worked example (word-level tokenizer, 4 image tokens): for
    ``['the red circle', 'a cat']`` with no-target flags ``[False, True]`` the
    answer tokens are ``sure , the red circle : [SEG] , a cat : [REJ] .
    </s>``; the labels equal the ids at those 14 positions and are -100 on
    the BOS, the system prompt, ``USER :``, the 4 image tokens, the question
    and ``ASSISTANT :``; ``slot_positions`` are the positions of ``[SEG]``
    and ``[REJ]``; ``slot_is_seg`` is ``[True, False]``.

    With ``style='llama_2'`` (LLaVA's ``conv_llava_llama_2``, the template
    of the LLaVA-Llama-2 base) the same dialogue reads::

        [INST] <<SYS>>
        You are a helpful language and vision assistant. ...
        <</SYS>>

        <image>
        What are e1, e2 in this image? Please output segmentation masks.
        [/INST] Sure, e1:[SEG], e2:[REJ].</s>

    The GSVA release's test dialogue (``test_question=
    RELEASE_TEST_QUESTION``, ``prefix_separator=''``, ``image_start=
    '<im_start>'``, ``image_end='<im_end>'``, ``expression_style=
    'release'``, as configs/gsva/*_release.py set) is
    ``{system} USER: <im_start><image><im_end>\n What are e1, e2in this
    image? Please output segmentation masks. ASSISTANT: Sure,e1:[SEG],
    e2:[REJ].</s>``: the image wrapped in ``<im_start>``/``<im_end>``
    (``use_mm_start_end``), and its question and answer spacing verbatim.

    The pre-training mixture's ReasonSeg and VQA dialogues, in the same
    chat format: :meth:`encode_reason` and :meth:`encode_vqa`
    (:class:`~.conversation_mixture.MixtureDialogues`).

    Args:
        max_expressions (int): Most expressions in one dialogue (k); more
            are split over several dialogues (:meth:`split`). Defaults to 5,
            the paper's choice (appendix E, Fig. 8: the metrics saturate at
            5 [SEG] tokens); the GSVA release samples 3
            (``num_classes_per_sample``).
        test_question (str): The question in test mode. Defaults to the
            paper's "What are {objs} in this image? Please output segmentation
            masks."; training draws from :data:`TRAIN_QUESTIONS`.
        system (str): System prompt. Defaults to Vicuna v1's.
        use_rej (bool): Write ``[REJ]`` for absent targets. False gives the
            paper's Table 4 "no [REJ]" ablation: every slot is ``[SEG]``.
            Defaults to True.
        style (str): Chat format: ``'vicuna_v1'`` (LLaVA v1 / Vicuna, the
            paper's 7B and Vicuna-13B bases) or ``'llama_2'`` (LLaVA's
            ``llava_llama_2``, ``[INST] <<SYS>> ... [/INST]``). Defaults to
            ``'vicuna_v1'``.
        image_start (str): Text written right before the image placeholder,
            e.g. ``'<im_start>'`` (the release's ``use_mm_start_end``); the
            tokenizer must have it as one token. Defaults to ``''``.
        image_end (str): Text written right after it, e.g. ``'<im_end>'``.
            Defaults to ``''``.
        prefix_separator (str): Between ``'Sure,'`` and the first slot:
            ``' '`` (the paper's "Sure, e1:[SEG]"); the release's test answer
            has ``''`` ("Sure,e1:[SEG]").
        expression_style (str): How an expression is cleaned:
            ``'collapse'`` (whitespace collapsed, trailing periods dropped)
            or ``'release'`` (as the release's evaluation:
            ``s.strip().lower().strip().strip('.')``, inner whitespace kept,
            leading and trailing periods dropped). Defaults to
            ``'collapse'``.
        explanatory (float): With a ReasonSeg explanation, the chance that
            the training answer is the explanation alone (no ``[SEG]``);
            else "[SEG] answer" or "[SEG] answer + explanation", 50/50.
            Defaults to 0.1, the release's ``--explanatory``.
        max_length (int): Longest training sequence of a ReasonSeg or VQA
            dialogue, image tokens included; longer ones are cut (the
            encoding's ``truncated``). The tokenizer's
            ``model_max_length`` bounds it too. Defaults to 1024, the
            release's ``--model_max_length``.
    """

    def __init__(
        self,
        max_expressions: int = 5,
        test_question: str = PAPER_QUESTION,
        system: str = VICUNA_V1_SYSTEM,
        use_rej: bool = True,
        style: str = 'vicuna_v1',
        image_start: str = '',
        image_end: str = '',
        prefix_separator: str = ' ',
        expression_style: str = 'collapse',
        explanatory: float = EXPLANATORY,
        max_length: int = MAX_LENGTH,
    ) -> None:
        if style not in ('vicuna_v1', 'llama_2'):
            raise ValueError(
                f"style must be 'vicuna_v1' or 'llama_2', got {style!r}."
            )
        if expression_style not in ('collapse', 'release'):
            raise ValueError(
                "expression_style must be 'collapse' or 'release', got "
                f'{expression_style!r}.'
            )
        if max_expressions < 1:
            raise ValueError(
                f'max_expressions must be >= 1, got {max_expressions}.'
            )
        if not 0.0 <= explanatory <= 1.0:
            raise ValueError(
                f'explanatory must be in [0, 1], got {explanatory}.'
            )
        if max_length < 1:
            raise ValueError(f'max_length must be >= 1, got {max_length}.')
        if '{objs}' not in test_question:
            raise ValueError(
                f'Question {test_question!r} has no {{objs}} field.'
            )
        self.max_expressions = int(max_expressions)
        self.test_question = test_question
        self.system = system
        self.use_rej = use_rej
        self.style = style
        self.image_start = image_start
        self.image_end = image_end
        self.prefix_separator = prefix_separator
        self.expression_style = expression_style
        self.explanatory = float(explanatory)
        self.max_length = int(max_length)

    # ------------------------------------------------------------------ text
    def words(self) -> List[str]:
        """Every text of the referring templates, for building a closed
        vocabulary (tiny configs): system prompt, roles, questions, answer
        parts. The pre-training mixture's are :meth:`mixture_words`."""
        return [
            self.system,
            *ROLES,
            *TRAIN_QUESTIONS,
            self.test_question,
            *APPENDIX_QUESTIONS.values(),
            ANSWER_PREFIX,
            SLOT_TEMPLATE,
            SLOT_SEPARATOR,
            ANSWER_SUFFIX,
        ]

    @staticmethod
    def mixture_words() -> List[str]:
        """The texts of the ReasonSeg templates (questions, answers,
        explanatory questions): a closed vocabulary adds their words after
        its other tokens, so that the others keep their ids."""
        return list(MIXTURE_WORDS)

    def clean(self, expression: str) -> str:
        """Normalise one expression for the dialogue: collapse whitespace,
        drop trailing periods and any special token written in it."""
        text = str(expression)
        specials = (SEG_TOKEN, REJ_TOKEN, IMAGE_PLACEHOLDER)
        for tok in (*specials, self.image_start, self.image_end):
            if tok:
                text = text.replace(tok, ' ')
        if self.expression_style == 'release':
            text = text.strip().lower().strip().strip('.')
        else:
            text = ' '.join(text.split()).rstrip('.').strip()
        if not text:
            raise ValueError(
                f'Expression {expression!r} is empty once cleaned.'
            )
        return text

    def split(
        self, num: int, max_expressions: Optional[int] = None
    ) -> List[List[int]]:
        """Indices of ``num`` expressions in dialogues of at most
        ``max_expressions`` (default: the builder's), in order: ``split(5)``
        with 3 gives ``[[0, 1, 2], [3, 4]]``."""
        m = int(max_expressions or self.max_expressions)
        return [list(range(i, min(i + m, num))) for i in range(0, num, m)]

    def question(self, expressions: Sequence[str], train: bool) -> str:
        template = (
            random.choice(TRAIN_QUESTIONS) if train else self.test_question
        )
        objs = ', '.join(self.clean(e) for e in expressions)
        return template.replace('{objs}', objs)

    def prompt(self, expressions: Sequence[str], train: bool = False) -> str:
        """Text up to and including ``'ASSISTANT:'`` (``'[/INST]'`` in the
        ``llama_2`` style)."""
        return self.chat_prompt(self.question(expressions, train))

    def chat_prompt(self, question: str, first: bool = True) -> str:
        """One round's text up to and including ``'ASSISTANT:'``
        (``'[/INST]'``): the first round's has the system prompt and the
        image line before the question.

        Example:
            ``chat_prompt('Hi?', first=False)`` is ``'USER: Hi? ASSISTANT:'``
            (LLaVA's ``SeparatorStyle.TWO``; a later round follows the
            previous answer's ``</s>``).
        """
        user, assistant = ROLES
        if self.style == 'llama_2':
            # LLaVA's SeparatorStyle.LLAMA_2: the system prompt wrapped in
            # <<SYS>> inside the first [INST]; the leading '<s>' separator
            # is stripped from the text (the tokenizer's BOS takes its place)
            if not first:
                return f'[INST] {question} [/INST]'
            image = f'{self.image_start}{IMAGE_PLACEHOLDER}{self.image_end}'
            return (
                f'[INST] <<SYS>>\n{self.system}\n<</SYS>>\n\n'
                f'{image}\n{question} [/INST]'
            )
        if not first:
            return f'{user}: {question} {assistant}:'
        image = f'{self.image_start}{IMAGE_PLACEHOLDER}{self.image_end}'
        return f'{self.system} {user}: {image}\n{question} {assistant}:'

    def slot_tokens(self, no_target: Optional[Sequence[bool]], num: int):
        if no_target is None:
            no_target = [False] * num
        if len(no_target) != num:
            raise ValueError(
                f'{num} expressions but {len(no_target)} no-target flags.'
            )
        return [
            REJ_TOKEN if (nt and self.use_rej) else SEG_TOKEN
            for nt in no_target
        ]

    def answer(
        self,
        expressions: Sequence[str],
        no_target: Optional[Sequence[bool]] = None,
    ) -> str:
        """The assistant's answer, e.g. ``'Sure, e1:[SEG], e2:[REJ].'``."""
        tokens = self.slot_tokens(no_target, len(expressions))
        slots = [
            SLOT_TEMPLATE.replace('{expr}', self.clean(e)).replace(
                '{token}', t
            )
            for e, t in zip(expressions, tokens)
        ]
        return (
            f'{ANSWER_PREFIX}{self.prefix_separator}'
            f'{SLOT_SEPARATOR.join(slots)}{ANSWER_SUFFIX}'
        )

    # ---------------------------------------------------------------- tokens
    def encode(
        self,
        tokenizer,
        expressions: Sequence[str],
        no_target: Optional[Sequence[bool]] = None,
        with_answer: bool = True,
        train: bool = False,
        num_image_tokens: int = 1,
        max_expressions: Optional[int] = None,
    ) -> Dict[str, object]:
        """Token ids (and labels) of one dialogue.

        Args:
            tokenizer: A fast ``transformers`` tokenizer that has the image
                placeholder, ``[SEG]`` and ``[REJ]`` as single tokens.
            expressions (Sequence[str]): The dialogue's expressions, at most
                ``max_expressions``.
            no_target (Sequence[bool], optional): Per expression, True when
                it has no target (``[REJ]``). Defaults to all present.
            with_answer (bool): Append the answer (training, teacher
                forcing); False gives the prompt for generation.
            train (bool): Draw the question at random from
                ``question_templates``; else use ``test_question``.
            num_image_tokens (int): Visual tokens of the MLLM.
            max_expressions (int, optional): Overrides the builder's limit
                (e.g. a larger one at test time).

        Returns:
            dict: ``input_ids`` (L,) long; ``prompt_length`` (int, tokens
            up to ``ASSISTANT:`` included, image tokens expanded); ``text``;
            with the answer also ``labels`` (L,), ``slot_positions`` (K,)
            long (index of each expression's ``[SEG]``/``[REJ]`` in
            ``input_ids``) and ``slot_is_seg`` (K,) bool.
        """
        limit = int(max_expressions or self.max_expressions)
        if not 0 < len(expressions) <= limit:
            raise ValueError(
                f'A dialogue takes 1..{limit} expressions, '
                f'got {len(expressions)}; use split().'
            )
        prompt = self.prompt(expressions, train)
        answer = self.answer(expressions, no_target) if with_answer else None
        out = self.encode_rounds(
            tokenizer, [(prompt, answer)], num_image_tokens
        )
        out['text'] = prompt if answer is None else f'{prompt} {answer}'
        if with_answer and len(out['slot_positions']) != len(expressions):
            raise ValueError(
                f'{len(expressions)} expressions but '
                f'{len(out["slot_positions"])} [SEG]/[REJ] tokens in the '
                'answer; are they single tokens of the tokenizer?'
            )
        return out

    def encode_rounds(
        self,
        tokenizer,
        rounds: Sequence[Tuple[str, Optional[str]]],
        num_image_tokens: int = 1,
        max_length: Optional[int] = None,
    ) -> Dict[str, object]:
        """Token ids (and labels) of a dialogue of one or more rounds.

        Each round's text is ``prompt + ' ' + answer``, tokenized at once
        (its answer tokens are those whose offset starts at or after the
        end of the prompt) and followed by the EOS id; a ``llama_2`` round
        after the first starts with the BOS id (LLaVA's ``'<s>'``
        separator). The dialogue starts with the BOS id; the image
        placeholder, which the first prompt holds once, is expanded to
        ``num_image_tokens`` ids.

        Args:
            tokenizer: A fast tokenizer (as :meth:`encode`).
            rounds (Sequence[tuple[str, str | None]]): ``(prompt, answer)``
                per round, the prompts made by :meth:`chat_prompt`; the
                last answer may be None (a prompt for generation), no
                other.
            num_image_tokens (int): Visual tokens of the MLLM.
            max_length (int, optional): Cut the ids beyond this length
                (never inside the image tokens).

        Returns:
            dict: ``input_ids`` (L,); ``prompt_length`` (position of the
            first answer token, L without answer); with answers ``labels``
            (the ids of the answer tokens and their EOS, -100 elsewhere),
            ``slot_positions`` (the answers' ``[SEG]``/``[REJ]`` tokens)
            and ``slot_is_seg``; ``truncated`` when ``max_length`` is given.
        """
        bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
        ids: List[int] = []
        in_answer: List[bool] = []
        for r, (prompt, answer) in enumerate(rounds):
            if answer is None and r != len(rounds) - 1:
                raise ValueError('Only the last round may have no answer.')
            if r and self.style == 'llama_2' and bos is not None:
                ids.append(bos)
                in_answer.append(False)
            text = prompt if answer is None else f'{prompt} {answer}'
            enc = tokenizer(
                text, add_special_tokens=False, return_offsets_mapping=True
            )
            cut = len(prompt)
            for tid, (s, e) in zip(enc['input_ids'], enc['offset_mapping']):
                if s < cut < e:
                    raise ValueError(
                        'A token straddles the end of the prompt; the '
                        'tokenizer merges across "ASSISTANT:" and the '
                        'answer.'
                    )
                ids.append(tid)
                in_answer.append(s >= cut)
            if answer is not None:
                ids.append(eos)
                in_answer.append(True)
        k = self._check_image_tokens(tokenizer, ids)
        n = int(num_image_tokens)
        ids = ids[:k] + [ids[k]] * n + ids[k + 1 :]
        in_answer = in_answer[:k] + [False] * n + in_answer[k + 1 :]
        if bos is not None:
            ids = [bos] + ids
            in_answer = [False] + in_answer
        out: Dict[str, object] = {}
        if max_length is not None:
            limit = int(max_length)
            tok_limit = getattr(tokenizer, 'model_max_length', None)
            if isinstance(tok_limit, int) and 0 < tok_limit < limit:
                limit = tok_limit
            image_end = k + n + int(bos is not None)
            if len(ids) > limit and image_end > limit:
                raise ValueError(
                    f'max_length {limit} would cut the image tokens (they '
                    f'end at {image_end}).'
                )
            out['truncated'] = len(ids) > limit
            ids, in_answer = ids[:limit], in_answer[:limit]
        input_ids = torch.tensor(ids, dtype=torch.long)
        answer_mask = torch.tensor(in_answer, dtype=torch.bool)
        first = torch.nonzero(answer_mask).flatten()
        out.update(
            input_ids=input_ids,
            prompt_length=int(first[0]) if len(first) else len(ids),
        )
        if rounds[-1][1] is None:
            return out
        labels = torch.full_like(input_ids, IGNORE_INDEX)
        labels[answer_mask] = input_ids[answer_mask]
        seg_id = tokenizer.convert_tokens_to_ids(SEG_TOKEN)
        rej_id = tokenizer.convert_tokens_to_ids(REJ_TOKEN)
        is_slot = answer_mask & ((input_ids == seg_id) | (input_ids == rej_id))
        slot_positions = torch.nonzero(is_slot).squeeze(1)
        out.update(
            labels=labels,
            slot_positions=slot_positions,
            slot_is_seg=input_ids[slot_positions] == seg_id,
        )
        return out

    def _check_image_tokens(self, tokenizer, ids: Sequence[int]) -> int:
        """The position of the image placeholder in ``ids``, which must
        hold it, and the image wrapping tokens, once."""
        image_id = tokenizer.convert_tokens_to_ids(IMAGE_PLACEHOLDER)
        if list(ids).count(image_id) != 1:
            raise ValueError(
                f'The prompt must hold the image token '
                f'{IMAGE_PLACEHOLDER!r} once as one token, found '
                f'{list(ids).count(image_id)}; add it to the tokenizer.'
            )
        for tok in (self.image_start, self.image_end):
            tid = tokenizer.convert_tokens_to_ids(tok) if tok else None
            if tok and (tid is None or list(ids).count(tid) != 1):
                raise ValueError(
                    f'{tok!r} must be one token of the tokenizer '
                    '(LlavaMLLM adds it with image_start_end=True).'
                )
        return list(ids).index(image_id)

    @staticmethod
    def collate(
        encodings: Sequence[dict],
        pad_token_id: int,
        padding_side: str = 'right',
    ) -> Dict[str, Tensor]:
        """Pad encoded dialogues into a batch.

        Args:
            encodings (Sequence[dict]): Outputs of :meth:`encode`.
            pad_token_id (int): Id written in padding.
            padding_side (str): ``'right'`` (training, teacher forcing) or
                ``'left'`` (generation).

        Returns:
            dict: ``input_ids``, ``attention_mask`` (B, L) long, ``labels``
            (B, L) (-100 in padding) when the encodings have labels, and
            ``slot_positions`` (list of (K_b,) tensors, moved by the left
            padding) when they have slots.
        """
        if padding_side not in ('left', 'right'):
            raise ValueError(f'padding_side {padding_side!r}.')
        length = max(len(e['input_ids']) for e in encodings)
        b = len(encodings)
        input_ids = torch.full((b, length), pad_token_id, dtype=torch.long)
        mask = torch.zeros((b, length), dtype=torch.long)
        has_labels = all('labels' in e for e in encodings)
        labels = torch.full((b, length), IGNORE_INDEX, dtype=torch.long)
        slots = []
        for i, e in enumerate(encodings):
            n = len(e['input_ids'])
            off = length - n if padding_side == 'left' else 0
            input_ids[i, off : off + n] = e['input_ids']
            mask[i, off : off + n] = 1
            if has_labels:
                labels[i, off : off + n] = e['labels']
            if 'slot_positions' in e:
                slots.append(e['slot_positions'] + off)
        out = dict(input_ids=input_ids, attention_mask=mask)
        if has_labels:
            out['labels'] = labels
        if len(slots) == b:
            out['slot_positions'] = slots
        return out
