# mmgres first, before any test module or conftest imports mmengine.runner
# (mmdet.structures and mmcv.ops do): mmgres defers mmengine's DeepSpeed
# import to the tests that build a DeepSpeed strategy, so the others do
# not pay for it or print its import-time messages.
import mmgres  # noqa: F401, I001

# isort: split
import pytest
from tool_utils import TOY_CONFIG


@pytest.fixture
def toy_config():
    return TOY_CONFIG
