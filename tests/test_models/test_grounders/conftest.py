"""Shared set-up of the grounder tests: every mmgres module registered, and
the default scope ``mmgres`` for each test."""

import pytest
from mmengine.registry import DefaultScope

from mmgres.utils import register_all_modules

register_all_modules(init_default_scope=False)


@pytest.fixture(autouse=True)
def _scope():
    with DefaultScope.overwrite_default_scope('mmgres'):
        yield
