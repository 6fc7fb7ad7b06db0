"""setup_cpu_distributed: torchrun works without a GPU; other launchers are a clear error.

finish_distributed: the ranks of a run end together, and leave with status 0 once their logs
are closed.
"""
import logging
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from mmengine.config import Config

from shufflenet_det.errors import ConfigError, UserError
from shufflenet_det.utils import finish_distributed, setup_cpu_distributed


@pytest.mark.skipif(torch.cuda.is_available(), reason='the CPU path only runs without a GPU')
def test_another_launcher_than_torchrun_is_a_config_error():
    with pytest.raises(ConfigError) as error:
        setup_cpu_distributed(Config(dict(launcher='slurm')))
    assert isinstance(error.value, UserError)
    assert str(error.value) == ("without a GPU only --launcher pytorch (torchrun, "
                                "tools/dist_train.sh) is supported, not 'slurm'")


def test_no_launcher_changes_nothing():
    cfg = Config(dict(launcher='none'))
    setup_cpu_distributed(cfg)
    assert 'model_wrapper_cfg' not in cfg


class StateOnClose(logging.Handler):
    """Writes, when the logs are shut down, whether rank 1 had finished and whether the
    process group was still up."""

    def __init__(self, path: Path, late: Path) -> None:
        super().__init__()
        self.path, self.late = path, late

    def close(self) -> None:
        self.path.write_text(f'{self.late.exists()} {dist.is_initialized()}')
        super().close()


def finish_two_ranks(rank: int, tmp_dir: str) -> None:
    """Rank 1 reaches the end of its run a second later than rank 0 and says so in a file."""
    dist.init_process_group('gloo', init_method=f'file://{tmp_dir}/store', rank=rank,
                            world_size=2)
    tensor = torch.ones(1)
    dist.all_reduce(tensor)  # the run's last collective
    late = Path(tmp_dir, 'rank_1_finished')
    logging.getLogger('finish_two_ranks').addHandler(
        StateOnClose(Path(tmp_dir, f'rank_{rank}'), late))
    if rank == 1:
        time.sleep(1.0)
        late.touch()
    finish_distributed()
    Path(tmp_dir, f'rank_{rank}_went_on').touch()


def test_ranks_finish_together_and_leave_once_their_logs_are_closed(tmp_path):
    mp.spawn(finish_two_ranks, args=(str(tmp_path),), nprocs=2)  # raises unless both exit 0
    # rank 0 closed its logs only after rank 1 had reached the end, with both groups gone
    assert (tmp_path / 'rank_0').read_text() == 'True False'
    assert (tmp_path / 'rank_1').read_text() == 'True False'
    # and then each left: nothing after finish_distributed ran
    assert not list(tmp_path.glob('*_went_on'))


def test_finishing_a_single_process_run_does_nothing():
    finish_distributed()
    assert not dist.is_initialized()
