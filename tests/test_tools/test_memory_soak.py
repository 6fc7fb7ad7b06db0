"""tools/analysis_tools/memory_soak.py: memory samples over training and evaluation."""
import re

import pytest

from shufflenet_det.utils.memory_usage import growth
from tests.test_tools.tool_runner import REPO, run_tool

SCRIPT = REPO / 'tools/analysis_tools/memory_soak.py'


def test_growth_is_measured_from_the_first_sample_after_warmup():
    samples = [(10, 500.0, 800.0), (20, 600.0, 900.0), (30, 606.0, 990.0)]
    assert growth(samples, 15) == pytest.approx((20, 1.0, 10.0))


def test_short_soak_samples_training_and_a_repeated_evaluation(tmp_path):
    data = tmp_path / 'shapes'
    run_tool('tools/misc/make_synthetic_coco.py', data, '--train', '8', '--val', '4', '--size',
             '96')
    result = run_tool(
        SCRIPT, REPO / 'configs/nanodet_shufflenetv2_lightpan_shapes.py', '--iters', '8',
        '--warmup', '2', '--interval', '2', '--test-repeats', '3', '--work-dir', tmp_path / 'w',
        '--cfg-options', f'train_dataloader.dataset.data_root={data}/',
        f'test_dataloader.dataset.data_root={data}/',
        f'test_evaluator.ann_file={data}/annotations/instances_val.json',
        'train_dataloader.batch_size=4', 'test_dataloader.batch_size=1', check=False)
    out = result.stdout
    assert result.returncode in (0, 1), result.stderr[-3000:]
    # samples every 2 iterations: 8 training iterations, 12 test batches
    assert len(re.findall(r'^ +\d+ \| +\d+\.\d \| +\d+\.\d$', out, re.M)) == 4 + 6
    assert 'evaluated 12 images in 12 batches' in out
    verdicts = re.findall(r'^(train|test) growth from iteration \d+: RSS [+-]\d+\.\d%, PSS '
                          r'[+-]\d+\.\d% \((within|above) 5.0%\)$', out, re.M)
    assert [name for name, _ in verdicts] == ['train', 'test']
    assert result.returncode == (0 if all(v == 'within' for _, v in verdicts) else 1)
