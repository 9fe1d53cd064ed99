import pytest
from mmengine.registry import init_default_scope


@pytest.fixture(autouse=True)
def d3l_scope():
    init_default_scope('d3l')
