"""teardown_launcher: the process group of a run is destroyed at its end."""

import torch.distributed as dist

from mmgres.utils import teardown_launcher


def test_teardown_destroys_the_group_and_is_a_noop_without_one(tmp_path):
    assert not dist.is_initialized()
    teardown_launcher()  # nothing to do
    dist.init_process_group(
        'gloo', init_method=f'file://{tmp_path}/store', rank=0, world_size=1
    )
    assert dist.is_initialized()
    teardown_launcher()
    assert not dist.is_initialized()
