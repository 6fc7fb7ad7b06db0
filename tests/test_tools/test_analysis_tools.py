import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).parents[2]
NANODET = 'configs/nanodet_shufflenetv2_lightpan_320_coco.py'


def run(*args):
    result = subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True,
                            cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_get_flops_reports_nanodet_m_size():
    out = run('tools/analysis_tools/get_flops.py', NANODET)
    assert 'input: 320x320' in out and 'params: 0.950 M' in out
    assert 'FLOPs (multiply-adds): 0.353 G' in out
    assert 'input: 416x416' in run('tools/analysis_tools/get_flops.py', NANODET, '--shape', '416')


def test_config_table_prints_a_markdown_row_per_config():
    out = run('tools/analysis_tools/config_table.py', NANODET,
              'configs/nanodet_shufflenetv2-0.5x_lightpan_320_coco.py', '--repeats', '2',
              '--threads', '1')
    rows = [line for line in out.splitlines() if line.startswith('| `')]
    assert len(rows) == 2
    assert rows[0].startswith('| `nanodet_shufflenetv2_lightpan_320_coco.py` | 320x320 | 0.95 |')


def test_train_throughput_reports_loading_and_steps(tmp_path):
    run('tools/misc/make_synthetic_coco.py', tmp_path, '--train', '6', '--val', '1',
        '--size', '96')
    out = run('tools/analysis_tools/train_throughput.py',
              'configs/nanodet_shufflenetv2_lightpan_shapes.py', '--iters', '2', '--warmup',
              '1', '--cfg-options', f'train_dataloader.dataset.data_root={tmp_path}/',
              'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
              'train_dataloader.persistent_workers=False')
    row = [line for line in out.splitlines() if line.startswith('| `')][0].split('|')
    assert row[2].strip() == '2' and row[3].strip() == '0'
    assert float(row[4]) > 0 and float(row[5]) > 0 and float(row[6]) > 0
    assert row[8].strip() in ('compute', 'data loading')
