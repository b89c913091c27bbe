import os.path as osp
import sys

import pytest

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

from refer_fixtures import write_all  # noqa: E402


@pytest.fixture(scope='module')
def refer_root(tmp_path_factory):
    """A directory holding every fixture dataset (see refer_fixtures)."""
    return write_all(str(tmp_path_factory.mktemp('refer')))


@pytest.fixture(scope='module', autouse=True)
def _mmgres_scope():
    from mmdet.utils import register_all_modules
    from mmengine.registry import DefaultScope

    import mmgres.datasets  # noqa: F401

    register_all_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope('mmgres'):
        yield
