# Copyright (c) mmgres contributors. All rights reserved.
from .conversation import (
    APPENDIX_QUESTIONS,
    IGNORE_INDEX,
    PAPER_QUESTION,
    TRAIN_QUESTIONS,
    VICUNA_V1_SYSTEM,
    GSVAConversationBuilder,
)

__all__ = [
    'GSVAConversationBuilder',
    'APPENDIX_QUESTIONS',
    'IGNORE_INDEX',
    'PAPER_QUESTION',
    'TRAIN_QUESTIONS',
    'VICUNA_V1_SYSTEM',
]
