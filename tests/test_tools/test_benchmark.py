"""The benchmark script runs and reports every contender (a smoke test: speed is not tested)."""
import json
import re

from tests.runtimes import requires
from tests.shared_data import NANODET_M
from tests.test_tools.tool_runner import run_tool

NANODET_NCNN = NANODET_M / 'ncnn'


def test_benchmark_reports_backbones_and_detectors(tmp_path):
    run_tool('tools/analysis_tools/benchmark.py', '--sizes', '64', '--batches', '1', '2',
             '--repeats', '2', '--warmup', '0', '--threads', '1', '--fpn-size', '96',
             '--configs', 'configs/retinanet_shufflenetv2_fpn_1x_coco.py', '--json',
             tmp_path / 'b.json', '--markdown', tmp_path / 'b.md', '--scaling-plot',
             tmp_path / 'scaling.png')
    report = json.loads((tmp_path / 'b.json').read_text())
    assert report['threads'] == [1] and report['matmul_peak_gflops']['1'] > 0
    rows = report['rows']
    backbone = [r for r in rows if r['group'] == 'backbone']
    detector = [r for r in rows if r['group'] == 'retinanet_shufflenetv2_fpn_1x_coco']
    assert len(backbone) == 6 * 2 and len(detector) == 4 * 2 * 2  # FPN adds the 96 size
    assert {r['size'] for r in detector} == {64, 96}
    for row in rows:
        assert row['median_ms'] > 0 and row['gflops_per_s'] > 0 and 0 < row['peak_fraction']
    ref = [r for r in backbone if r['name'].startswith('reference')]
    assert all(r['speedup_vs_reference'] == 1.0 for r in ref)
    shares = [r['outside_network_share'] for r in detector if 'outside_network_share' in r]
    assert len(shares) == 4 and all(share < 1 for share in shares)
    assert {r['name'] for r in rows} >= {'ShuffleNetV2 in ONNX Runtime',
                                         'ShuffleNetV2 in ONNX Runtime, channels not aligned',
                                         'ShuffleNetV2 in ONNX Runtime INT8',
                                         'end to end, ONNX Runtime'}
    table = (tmp_path / 'b.md').read_text()
    assert table.count('\n| ') == len(rows) + 1 and 'matmul peak' in table
    assert 'spent outside the network' in table
    assert (tmp_path / 'scaling.png').stat().st_size > 10_000


@requires('ncnn', 'pnnx', 'openvino')
def test_benchmark_times_every_runtime_per_thread_count(tmp_path):
    """NanoDet-m's network in PyTorch, ONNX Runtime FP32 and INT8, OpenVINO and ncnn, at 1 and 2
    threads; NanoDet's own ncnn model joins where ../shared has it (320 only)."""
    peer = ['--nanodet-ncnn', NANODET_NCNN] if NANODET_NCNN.exists() else []
    run_tool('tools/analysis_tools/benchmark.py', '--widths', '--sizes', '320', '--batches', '1',
             '--repeats', '2', '--warmup', '0', '--threads', '1', '2', '--configs',
             'configs/nanodet_shufflenetv2_lightpan_320_coco.py', '--runtimes', *peer,
             '--json', tmp_path / 'b.json', '--runtime-plot', tmp_path / 'runtimes.png')
    rows = json.loads((tmp_path / 'b.json').read_text())['rows']
    network = [r for r in rows if r['group'].endswith(' network')]
    names = {'PyTorch eager', 'PyTorch fast path', 'ONNX Runtime FP32',
             'ONNX Runtime FP32, channels not aligned', 'ONNX Runtime INT8', 'OpenVINO FP32',
             'ncnn FP32'} | ({"NanoDet-m's own ncnn model"} if peer else set())
    for threads in (1, 2):
        assert {r['name'] for r in network if r['threads'] == threads} == names
    assert all(r['median_ms'] > 0 for r in network)
    if peer:
        assert all(r['speedup_vs_nanodet_ncnn'] > 0 for r in network)
    assert (tmp_path / 'runtimes.png').stat().st_size > 10_000


def test_onnx_profile_lists_time_by_operator(tmp_path):
    run_tool('tools/deployment/pytorch2onnx.py',
             'configs/nanodet_shufflenetv2_lightpan_320_coco.py', '--out', tmp_path / 'm.onnx',
             '--shape', '64', '64')
    out = run_tool('tools/analysis_tools/onnx_profile.py', tmp_path / 'm.onnx', '--runs',
                   '3', '--nodes', '2').stdout
    assert 'ms of kernels per run (1 threads, 3 runs)' in out
    lines = out.splitlines()
    assert any(line.split()[0] in ('Conv', 'FusedConv') for line in lines[1:])
    nodes = lines[lines.index('  slowest nodes:') + 1:]
    assert len(nodes) == 2 and all(re.fullmatch(r'  +\d+\.\d us  \S+  \w+ -> [\dx ]+', line)
                                   for line in nodes), nodes
