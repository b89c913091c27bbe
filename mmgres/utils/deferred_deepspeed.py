# Copyright (c) mmgres contributors. All rights reserved.
"""Import DeepSpeed only when a DeepSpeed strategy is built.

mmengine's ``mmengine/_strategy/deepspeed.py`` runs ``import deepspeed`` at
module level, so every process that imports ``mmengine.runner`` imports
DeepSpeed, whether it trains with ``DeepSpeedStrategy`` or not. That import
takes seconds, logs "Setting accelerator to CPU" on a machine without CUDA,
and compiles and links a test program for each of DeepSpeed's ops to probe
which ones are compatible (``async_io`` links ``-laio``; where
``sys.stderr`` is not file descriptor 2, e.g. under a test runner's capture,
the linker's "cannot find -laio" reaches the terminal).

:func:`defer_deepspeed_import` imports ``mmengine.runner`` with DeepSpeed
hidden, then gives mmengine's strategy module a stand-in that imports
DeepSpeed on first use: ``DeepSpeedStrategy.__init__`` reads
``deepspeed.__version__``, so DeepSpeed is imported exactly when a
DeepSpeed strategy is built.
"""

import importlib
import importlib.util
import sys


class _DeferredDeepSpeed:
    """Stands in for the ``deepspeed`` module in ``owner``'s namespace.

    The first attribute read imports DeepSpeed, puts the real module in
    ``owner`` in place of this object and returns the attribute.
    """

    def __init__(self, owner):
        self._owner = owner

    def __getattr__(self, name):
        module = importlib.import_module('deepspeed')
        self._owner.deepspeed = module
        return getattr(module, name)

    def __repr__(self):
        return '<deepspeed, imported on first use by mmgres>'


def defer_deepspeed_import() -> None:
    """Import ``mmengine.runner`` without importing DeepSpeed.

    Does nothing when ``mmengine.runner`` (or DeepSpeed) is already
    imported: it has to run before anything imports ``mmengine.runner``,
    which is why importing this module (first thing ``mmgres.utils`` does)
    calls it.
    """
    if 'mmengine._strategy' in sys.modules or 'deepspeed' in sys.modules:
        return
    # Import what mmengine.runner needs besides DeepSpeed first, outside the
    # window in which DeepSpeed is hidden: transformers and accelerate
    # (imported by mmengine.optim) probe and cache whether DeepSpeed is
    # installed.
    import mmengine.model  # noqa: F401
    import mmengine.optim  # noqa: F401

    installed = importlib.util.find_spec('deepspeed') is not None
    # A ``None`` entry makes ``import deepspeed`` raise ImportError, which
    # mmengine's strategy module catches (``deepspeed = None``).
    sys.modules['deepspeed'] = None
    try:
        import mmengine.runner  # noqa: F401
    finally:
        if 'deepspeed' in sys.modules and sys.modules['deepspeed'] is None:
            del sys.modules['deepspeed']
    strategy_module = sys.modules['mmengine._strategy.deepspeed']
    if installed and strategy_module.deepspeed is None:
        strategy_module.deepspeed = _DeferredDeepSpeed(strategy_module)


defer_deepspeed_import()
