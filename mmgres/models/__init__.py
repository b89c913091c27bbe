# Copyright (c) mmgres contributors. All rights reserved.
from .language_models import *  # noqa: F401,F403
