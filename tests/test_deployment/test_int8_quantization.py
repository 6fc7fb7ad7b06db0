"""Static INT8 quantization: calibration images drawn by count and seed from the config's own
dataset, per-channel QDQ weights, and op types kept in FP32 on request."""
import copy
import re

import numpy as np
import onnx
import pytest
import torch
from mmengine.registry import init_default_scope

from shufflenet_det.apis.onnx_export import export_onnx
from shufflenet_det.deployment import DeployedDetector
from shufflenet_det_runtime.network_loading import load_network
from shufflenet_det.deployment.int8_quantization import (CalibrationImages,
                                                         calibration_batches, quantize_int8)
from shufflenet_det.errors import ConfigError
from shufflenet_det.utils import build_checked_model, load_config
from tests.test_tools.tool_runner import REPO, run_tool

CONFIG = REPO / 'configs/nanodet_shufflenetv2_lightpan_shapes.py'


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    """The shapes config on 8 generated training images, its detector exported at 256x256."""
    root = tmp_path_factory.mktemp('shapes')
    run_tool('tools/misc/make_synthetic_coco.py', root, '--train', '8', '--val', '2', '--size',
             '96')
    cfg = load_config(str(CONFIG), {'train_dataloader.dataset.data_root': f'{root}/'})
    init_default_scope('mmdet')
    torch.manual_seed(0)
    detector = build_checked_model(cfg.model).eval()
    path = str(root / 'fp32.onnx')
    export_onnx(detector, path, (256, 256))
    return cfg, DeployedDetector(load_network(path), detector), path


def test_calibration_draws_count_images_by_seed(setup):
    cfg, deployed, _ = setup
    count, batches = calibration_batches(cfg, deployed, 3, seed=0)
    first = list(batches)
    assert count == 3 and len(first) == 3
    assert all(b.shape == (1, 3, 256, 256) and b.dtype == np.float32 for b in first)
    assert 0 <= min(b.min() for b in first) and max(b.max() for b in first) <= 255
    again = list(calibration_batches(cfg, deployed, 3, seed=0)[1])
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    other = list(calibration_batches(cfg, deployed, 3, seed=1)[1])
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))
    assert calibration_batches(cfg, deployed, 100, seed=0)[0] == 8  # all there are
    no_val = copy.deepcopy(cfg)
    no_val.val_dataloader = None
    with pytest.raises(ConfigError, match='no val_dataloader dataset to calibrate on'):
        calibration_batches(no_val, deployed, 3, 0, 'val')


def quantized_nodes(path):
    """The INT8 graph's nodes, and each tensor's producer and consumers' op types."""
    graph = onnx.load(path).graph
    producer = {out: node for node in graph.node for out in node.output}
    consumers = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node.op_type)
    return graph, producer, consumers


@pytest.mark.parametrize('fp32_op_types', [(), ('Resize', )])
def test_int8_graph_is_per_channel_qdq_with_fp32_ops_left_alone(setup, tmp_path, fp32_op_types):
    cfg, deployed, fp32 = setup
    count, batches = calibration_batches(cfg, deployed, 2, seed=0)
    handed_out = []
    images = CalibrationImages(deployed.network.input_name, batches,
                               lambda: handed_out.append(1))
    int8 = str(tmp_path / 'int8.onnx')
    quantize_int8(fp32, int8, images, 'minmax', fp32_op_types)
    assert len(handed_out) == count == 2  # the progress callback saw every image
    graph, producer, consumers = quantized_nodes(int8)
    initializers = {t.name: t for t in graph.initializer}

    conv_weights = [producer[node.input[1]] for node in graph.node if node.op_type == 'Conv']
    assert conv_weights and all(dq.op_type == 'DequantizeLinear' for dq in conv_weights)
    for dq in conv_weights:  # one scale per output channel
        scale = onnx.numpy_helper.to_array(initializers[dq.input[1]])
        weight = onnx.numpy_helper.to_array(initializers[dq.input[0]])
        assert scale.shape == (weight.shape[0], ) and weight.dtype == np.int8

    resizes = [node for node in graph.node if node.op_type == 'Resize']
    assert resizes
    quantized = [any(op == 'QuantizeLinear' for op in consumers.get(node.output[0], []))
                 for node in resizes]
    assert any(quantized) if not fp32_op_types else not any(quantized)

    network = load_network(int8)  # runs, and close to FP32 on a calibration-like image
    image = next(calibration_batches(cfg, deployed, 1, seed=3)[1])
    for out, ref in zip(network(image), deployed.network(image)):
        assert np.abs(out - ref).max() <= 0.1 * np.abs(ref).max() + 0.5


def test_the_quantized_graph_is_rewritten_first(setup, tmp_path):
    cfg, deployed, fp32 = setup
    int8 = str(tmp_path / 'int8.onnx')
    quantize_int8(fp32, int8, CalibrationImages(deployed.network.input_name,
                                                calibration_batches(cfg, deployed, 1, 0)[1]))
    graph, producer, _ = quantized_nodes(int8)
    initializers = {t.name: t for t in graph.initializer}
    first = next(node for node in graph.node if node.op_type == 'Conv')
    assert list(initializers[producer[first.input[1]].input[0]].dims) == [32, 4, 3, 3]
    # and the stem's LeakyReLU runs after its max pooling (int8_graph_rewrites)
    ops = [node.op_type for node in graph.node if node.op_type in ('LeakyRelu', 'MaxPool')]
    assert ops[:2] == ['MaxPool', 'LeakyRelu'], ops[:2]


def test_an_interrupted_quantization_leaves_the_existing_model_as_it_was(setup, tmp_path):
    cfg, deployed, fp32 = setup
    out = tmp_path / 'int8.onnx'
    out.write_bytes(b'the model a previous run wrote')
    _, batches = calibration_batches(cfg, deployed, 3, seed=0)

    def interrupt():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        quantize_int8(fp32, str(out), CalibrationImages(deployed.network.input_name, batches,
                                                        interrupt))
    assert out.read_bytes() == b'the model a previous run wrote'
    assert [p.name for p in tmp_path.iterdir()] == ['int8.onnx']  # no temporary left behind


def test_quantize_tool_reads_the_test_set_only_to_compare(setup, tmp_path):
    """Calibration alone needs only the training images; --compare then stops in one line
    naming the missing test annotations, before any model is written."""
    cfg, _, fp32 = setup
    missing = tmp_path / 'no_test_set'
    train_root = cfg.train_dataloader.dataset.data_root
    options = ('--cfg-options', f'train_dataloader.dataset.data_root={train_root}',
               f'test_dataloader.dataset.data_root={missing}/',
               f'test_evaluator.ann_file={missing}/instances_val.json')
    int8 = tmp_path / 'int8.onnx'
    run_tool('tools/deployment/quantize.py', CONFIG, fp32, '--out', int8, '--calib-images', '2',
             *options)
    assert any(node.op_type == 'QuantizeLinear' for node in onnx.load(str(int8)).graph.node)

    compared = tmp_path / 'compared.onnx'
    result = run_tool('tools/deployment/quantize.py', CONFIG, fp32, '--out', compared,
                      '--calib-images', '2', '--compare', *options, check=False)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith(
        f'error: test_dataloader.dataset.ann_file not found: '
        f'{missing}/annotations/instances_val.json. Put COCO under data/coco/')
    assert not compared.exists()

    test_set = ('--cfg-options', f'train_dataloader.dataset.data_root={train_root}',
                f'test_dataloader.dataset.data_root={train_root}',
                f'test_evaluator.ann_file={train_root}annotations/instances_val.json')
    result = run_tool('tools/deployment/quantize.py', CONFIG, fp32, '--out', compared,
                      '--calib-images', '2', '--compare', '--threads', '1', '--repeats', '2',
                      '--work-dir', tmp_path / 'work', *test_set)
    table = re.findall(r'^\| (FP32|INT8) \| (\d\.\d{3}) \| (\d+\.\d{2}) \|$', result.stdout,
                       re.MULTILINE)
    assert '| model | coco/bbox_mAP | network ms (median of 2, 1 threads) |' in result.stdout
    assert [row[0] for row in table] == ['FP32', 'INT8'], result.stdout[-2000:]
