# Copyright (c) mmgres contributors. All rights reserved.
"""Guarded ratios for metric totals."""

import math
from typing import Union

Number = Union[int, float]


def percent(numerator: Number, denominator: Number) -> float:
    """``100 * numerator / denominator``, or NaN when the denominator is 0.

    A metric whose population is empty (e.g. N-acc on a split without
    no-target samples) is undefined, and NaN says so in the log instead of
    a misleading 0 or a ``ZeroDivisionError``.

    Example:
        >>> percent(1, 4)
        25.0
        >>> percent(0, 0)
        nan
    """
    if denominator == 0:
        return math.nan
    return 100.0 * float(numerator) / float(denominator)
