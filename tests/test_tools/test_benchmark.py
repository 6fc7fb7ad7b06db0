"""The benchmark script runs and reports every contender (a smoke test: speed is not tested)."""
import json

from tests.test_tools.tool_runner import run_tool


def test_benchmark_reports_backbones_and_detectors(tmp_path):
    run_tool('tools/analysis_tools/benchmark.py', '--sizes', '64', '--batches', '1', '2',
             '--repeats', '2', '--warmup', '0', '--threads', '1', '--fpn-size', '96',
             '--configs', 'configs/retinanet_shufflenetv2_fpn_1x_coco.py', '--json',
             tmp_path / 'b.json', '--markdown', tmp_path / 'b.md', '--scaling-plot',
             tmp_path / 'scaling.png')
    report = json.loads((tmp_path / 'b.json').read_text())
    assert report['threads'] == 1 and report['matmul_peak_gflops'] > 0
    rows = report['rows']
    backbone = [r for r in rows if r['group'] == 'backbone']
    detector = [r for r in rows if r['group'] == 'retinanet_shufflenetv2_fpn_1x_coco']
    assert len(backbone) == 4 * 2 and len(detector) == 4 * 2 * 2  # FPN adds the 96 size
    assert {r['size'] for r in detector} == {64, 96}
    for row in rows:
        assert row['median_ms'] > 0 and row['gflops_per_s'] > 0 and 0 < row['peak_fraction']
    ref = [r for r in backbone if r['name'].startswith('reference')]
    assert all(r['speedup_vs_reference'] == 1.0 for r in ref)
    shares = [r['outside_network_share'] for r in detector if 'outside_network_share' in r]
    assert len(shares) == 4 and all(share < 1 for share in shares)
    assert {r['name'] for r in rows} >= {'ShuffleNetV2 in ONNX Runtime',
                                         'end to end, ONNX Runtime'}
    table = (tmp_path / 'b.md').read_text()
    assert table.count('\n| ') == len(rows) + 1 and 'matmul peak' in table
    assert 'spent outside the network' in table
    assert (tmp_path / 'scaling.png').stat().st_size > 10_000
