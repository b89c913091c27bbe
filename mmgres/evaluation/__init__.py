# Copyright (c) mmgres contributors. All rights reserved.
"""Evaluation: registered metrics over pure metric arithmetic."""

from .functional import *  # noqa: F401,F403
from .metrics import *  # noqa: F401,F403
