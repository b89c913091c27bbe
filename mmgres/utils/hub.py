# Copyright (c) mmgres contributors. All rights reserved.
"""Whether the HuggingFace hub can be reached, decided once per process.

Without a network, ``huggingface_hub`` retries each file request five times
with back-off (about 23 s per file, so about 45 s for a tokenizer) before
``from_pretrained`` falls back to the local cache. Tools that only need a
tokenizer or a stand-in for it ask :func:`hub_offline` first: one request,
without retries, decides, and a failure switches ``huggingface_hub`` to
offline mode for the rest of the process, so that every later
``from_pretrained`` reads the local cache only and fails at once when the
files are not there.
"""

import logging
import os

from mmengine.logging import print_log

_TRUE = ('1', 'ON', 'YES', 'TRUE')
_unreachable = None  # the reason the probe failed, once it has


def _env_offline() -> bool:
    return any(
        os.environ.get(k, '').upper() in _TRUE
        for k in ('HF_HUB_OFFLINE', 'TRANSFORMERS_OFFLINE')
    )


def _set_hub_offline() -> None:
    # ``huggingface_hub`` reads the variables at import; transformers and the
    # hub ask ``constants.is_offline_mode()`` at each call, which reads this.
    from huggingface_hub import constants

    constants.HF_HUB_OFFLINE = True


def hub_offline(timeout: float = 5.0) -> bool:
    """Whether the HuggingFace hub is out of reach in this process.

    True when ``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE`` is set, or when
    an earlier call found the hub unreachable. Otherwise one ``HEAD``
    request to the hub endpoint (``HF_ENDPOINT``), without retries, decides;
    if it fails, ``huggingface_hub`` is put in offline mode for the rest of
    the process and the hub is not tried again.

    Args:
        timeout (float): Seconds the request may take. Defaults to 5.

    Returns:
        bool: True if hub calls will not reach the hub.
    """
    global _unreachable
    if _env_offline():
        _set_hub_offline()
        return True
    if _unreachable is not None:
        return True
    import huggingface_hub
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return True
    try:
        huggingface_hub.get_session().head(constants.ENDPOINT, timeout=timeout)
    except Exception as e:  # DNS, refused, timeout, proxy...
        _unreachable = f'{type(e).__name__}: {e}'
        _set_hub_offline()
        print_log(
            f'The HuggingFace hub at {constants.ENDPOINT} cannot be reached '
            f'({_unreachable}): offline mode, from_pretrained reads the '
            'local cache only.',
            logger='current',
            level=logging.WARNING,
        )
        return True
    return False
