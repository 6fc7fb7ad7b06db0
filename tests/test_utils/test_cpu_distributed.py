"""setup_cpu_distributed: torchrun works without a GPU; other launchers are a clear error."""
import pytest
import torch
from mmengine.config import Config

from shufflenet_det.errors import ConfigError, UserError
from shufflenet_det.utils import setup_cpu_distributed


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
