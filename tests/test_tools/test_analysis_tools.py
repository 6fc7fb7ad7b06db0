from tests.test_tools.tool_runner import run_tool

NANODET = 'configs/nanodet_shufflenetv2_lightpan_320_coco.py'


def test_get_flops_reports_nanodet_m_size():
    out = run_tool('tools/analysis_tools/get_flops.py', NANODET).stdout
    assert 'input: 320x320' in out and 'params: 0.950 M' in out
    assert 'FLOPs (multiply-adds): 0.353 G' in out
    out = run_tool('tools/analysis_tools/get_flops.py', NANODET, '--shape', '416').stdout
    assert 'input: 416x416' in out


def test_config_table_prints_a_markdown_row_per_config():
    out = run_tool('tools/analysis_tools/config_table.py', NANODET,
                   'configs/nanodet_shufflenetv2-0.5x_lightpan_320_coco.py', '--repeats', '2',
                   '--threads', '1').stdout
    rows = [line for line in out.splitlines() if line.startswith('| `')]
    assert len(rows) == 2
    assert 'Initialized by' not in out  # no per-parameter report around the table
    assert rows[0].startswith('| `nanodet_shufflenetv2_lightpan_320_coco.py` | 320x320 | 0.95 |')


def test_train_throughput_reports_loading_and_steps(tmp_path):
    run_tool('tools/misc/make_synthetic_coco.py', tmp_path, '--train', '6', '--val', '1',
             '--size', '96')
    out = run_tool('tools/analysis_tools/train_throughput.py',
                   'configs/nanodet_shufflenetv2_lightpan_shapes.py', '--iters', '2',
                   '--warmup', '1', '--cfg-options',
                   f'train_dataloader.dataset.data_root={tmp_path}/',
                   'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
                   'train_dataloader.persistent_workers=False').stdout
    row = [line for line in out.splitlines() if line.startswith('| `')][0].split('|')
    assert row[2].strip() == '2' and row[3].strip() == '0'
    assert float(row[4]) > 0 and float(row[5]) > 0 and float(row[6]) > 0
    assert row[8].strip() in ('compute', 'data loading')


def test_dataset_build_cost_builds_both_dataset_types_on_the_same_file():
    out = run_tool('tools/analysis_tools/dataset_build_cost.py', '--images', '40', '--boxes',
                   '200', '--rounds', '1').stdout
    rows = [line.split('|')[1:-1] for line in out.splitlines()
            if line.startswith(('| CocoDataset', '| CheckedCocoDataset'))]
    assert [row[0].strip() for row in rows] == ['CocoDataset', 'CheckedCocoDataset']
    images = {int(row[1]) for row in rows}
    assert len(images) == 1 and 0 < images.pop() <= 40  # the same filter result
    assert all(float(row[2]) > 0 and float(row[3]) > 0 for row in rows)


def test_compare_training_trains_each_config_alike_and_reports_it(tmp_path):
    run_tool('tools/misc/make_synthetic_coco.py', tmp_path / 'shapes', '--train', '8', '--val',
             '4', '--size', '128')
    configs = [NANODET, 'configs/nanodet-plus_shufflenetv2_ghostpan_320_coco.py']
    out = run_tool('tools/analysis_tools/compare_training.py', *configs, '--data-root',
                   tmp_path / 'shapes', '--iters', '20', '--batch-size', '2', '--size', '64',
                   '--workers', '0', '--work-dir', tmp_path / 'work', '--markdown',
                   tmp_path / 'table.md').stdout
    rows = [line.split('|')[1:-1] for line in out.splitlines() if line.startswith('| `')]
    assert [row[0].strip() for row in rows] == [
        '`nanodet_shufflenetv2_lightpan_320_coco`', '`nanodet-plus_shufflenetv2_ghostpan_320_coco`']
    assert 0.9 < float(rows[0][1]) < float(rows[1][1]) < 1.2  # params at inference
    for row in rows:
        assert 0 <= float(row[3]) <= 1 and float(row[5]) > 0
    assert (tmp_path / 'table.md').read_text().strip().endswith(out.strip().splitlines()[-1])
    run = (tmp_path / 'work/nanodet-plus_shufflenetv2_ghostpan_320_coco').glob('*_run.py')
    assert 'max_iters=20' in next(run).read_text()
