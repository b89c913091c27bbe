# Copyright (c) mmgres contributors. All rights reserved.
"""The texts of GSVA's dialogues: chat formats, the paper's questions and
answers, and the GSVA release's templates of its pre-training mixture
(ReasonSeg and LLaVA-Instruct dialogues), quoted verbatim."""

IGNORE_INDEX = -100

# The answer's parts: "Sure, e1:[SEG], e2:[REJ]." (paper Sec. 3.3, Fig. 3).
ANSWER_PREFIX = 'Sure,'
SLOT_TEMPLATE = '{expr}:{token}'
SLOT_SEPARATOR = ', '
ANSWER_SUFFIX = '.'
# Vicuna v1's role names (``conv_vicuna_v1`` in LLaVA).
ROLES = ('USER', 'ASSISTANT')
IMAGE_PLACEHOLDER = '<image>'
SEG_TOKEN, REJ_TOKEN = '[SEG]', '[REJ]'

# LLaVA v1 / Vicuna v1 system prompt (``conv_vicuna_v1`` in LLaVA).
VICUNA_V1_SYSTEM = (
    'A chat between a curious human and an artificial intelligence '
    'assistant. The assistant gives helpful, detailed, and polite answers '
    "to the human's questions."
)

# LLaVA's ``conv_llava_llama_2`` system prompt: the chat format of the
# LLaVA-Llama-2 base (GSVA-Llama2-13B; the release's ``--conv_type
# llava_llama_2``).
LLAVA_LLAMA_2_SYSTEM = (
    'You are a helpful language and vision assistant. You are able to '
    'understand the visual content that the user provides, and assist the '
    'user with a variety of tasks using natural language.'
)

# The GSVA release's evaluation question (``data/dataset.py: ValDataset``),
# verbatim: a space after the image line's newline and none between the
# last expression and "in" ("What are a cat, a dogin this image?").
RELEASE_TEST_QUESTION = (
    ' What are {objs}in this image? Please output segmentation masks.'
)

# The question of the paper's Sec. 3.3 / Fig. 3, used at test time.
PAPER_QUESTION = (
    'What are {objs} in this image? Please output segmentation masks.'
)

# Training questions: the paper's appendix A.3 says the prompt types are
# diversified during training ("Please segment {objs} in this image", "Can
# you segment {objs} in the image", ...); these four are the GSVA release's
# list for several expressions.
TRAIN_QUESTIONS = (
    'Can you segment {objs} in this image?',
    'Please segment {objs} in this image.',
    'What are {objs} in this image? Please respond with segmentation masks.',
    PAPER_QUESTION,
)

# The question types of the paper's Table 6 (appendix A.3). "Show" and
# "Outline" are quoted by the paper; the "Where" wording is ours (the paper
# only names it as the substitute of "What").
APPENDIX_QUESTIONS = dict(
    what=PAPER_QUESTION,
    where='Where are {objs} in this image? Please output segmentation masks.',
    show='Show me {objs} in the image with segmentation masks.',
    outline='Outline {objs} in this image with segmentation masks.',
)

# ---------------------------------------------------------------------------
# ReasonSeg (paper appendix B: the pre-training mixes in ReasonSeg, as
# LISA). The release's lists (``model/llava/constants.py``), verbatim but
# for their leading ``DEFAULT_IMAGE_TOKEN + "\n"``, which the dialogue's
# first turn writes itself (``GSVAConversationBuilder.chat_prompt``).

# A phrase query: ``.format(class_name=query.lower())``.
SHORT_QUESTION_LIST = (
    'Can you segment the {class_name} in this image?',
    'Please segment the {class_name} in this image.',
    'What is {class_name} in this image? Please respond with segmentation '
    'mask.',
    'What is {class_name} in this image? Please output segmentation mask.',
)

# A sentence query: ``.format(sent=query)``.
LONG_QUESTION_LIST = (
    '{sent} Please respond with segmentation mask.',
    '{sent} Please output segmentation mask.',
)

# Appended to the query (``query + " " + question``) when the answer ends
# with the explanation.
EXPLANATORY_QUESTION_LIST = (
    'Please output segmentation mask and explain why.',
    'Please output segmentation mask and explain the reason.',
    'Please output segmentation mask and give some explaination.',
)

# The answers of a ReasonSeg dialogue: one ``[SEG]`` each.
ANSWER_LIST = (
    'It is [SEG].',
    'Sure, [SEG].',
    'Sure, it is [SEG].',
    'Sure, the segmentation result is [SEG].',
    '[SEG].',
)

# The release's ReasonSeg evaluation (``data/dataset.py: ValDataset``, the
# ``reason_seg`` branch), verbatim: the question after the image line (a
# space after its newline; the query ``.strip()`` ed, a phrase not
# lower-cased) and the answer, ``[SEG]`` alone.
REASON_TEST_QUESTIONS = dict(
    sentence=' {sent} Please output segmentation mask.',
    phrase=' What is {class_name} in this image? Please output segmentation '
    'mask.',
)
REASON_TEST_ANSWER = SEG_TOKEN

# The release's ``explanatory`` (``main.py --explanatory``, 0.1): with an
# explanation, the chance that a ReasonSeg answer is the explanation only.
EXPLANATORY = 0.1

# The release's ``--model_max_length`` (1024): the longest training
# sequence, image tokens included (``data/dataset.py: collate_fn``
# truncates beyond it).
MAX_LENGTH = 1024

# The templates' texts for a closed vocabulary (tiny configs, tests), their
# ``{...}`` fields and ``[SEG]`` left out.
MIXTURE_WORDS = tuple(
    t.replace('{class_name}', ' ').replace('{sent}', ' ')
    .replace(SEG_TOKEN, ' ')
    for t in (
        *SHORT_QUESTION_LIST,
        *LONG_QUESTION_LIST,
        *EXPLANATORY_QUESTION_LIST,
        *ANSWER_LIST,
        *REASON_TEST_QUESTIONS.values(),
    )
)  # fmt: skip
