# Copyright (c) mmgres contributors. All rights reserved.
from .backbones import *  # noqa: F401,F403
from .grounders import *  # noqa: F401,F403
from .heads import *  # noqa: F401,F403
from .language_models import *  # noqa: F401,F403
from .layers import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .mllm import *  # noqa: F401,F403
from .necks import *  # noqa: F401,F403
from .segmentors import *  # noqa: F401,F403
from .task_modules import *  # noqa: F401,F403
from .tokenizers import *  # noqa: F401,F403
from .utils import *  # noqa: F401,F403
