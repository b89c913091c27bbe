import pytest
from tool_utils import TOY_CONFIG


@pytest.fixture
def toy_config():
    return TOY_CONFIG
