"""The deployment tools as a user runs them: an exported detector, run by the standalone
runtime, finds PyTorch's boxes in each runtime, and a conversion replaces a model's pair of
files whole or leaves it as it was."""
import json
import re

import cv2
import numpy as np
import onnx
import pytest
import torch
import torch.nn as nn

from shufflenet_det.utils.run_config import build_detector
from shufflenet_det_runtime.network_loading import load_network
from tests.reference_shufflenet import randomize_bn
from tests.runtime_runner import run_runtime
from tests.runtimes import requires
from tests.test_tools.tool_runner import REPO, run_tool

CONFIG = 'configs/fcos_shufflenetv2_coco.py'  # keep_ratio resizing


def detections(stdout):
    """(label, score, box) of every printed detection line."""
    found = re.findall(r'^\s+(.+?) ([\d.]+) \[([^\]]+)\]$', stdout, re.MULTILINE)
    # mmdet's COCO names in checkpoints use '_' where the dataset's use ' ' ('teddy bear')
    return [(label.replace('_', ' '), float(score), [float(v) for v in box.split(',')])
            for label, score, box in found]


@pytest.fixture(scope='module')
def fcos_export(tmp_path_factory):
    """FCOS with spread scores exported by tools/deployment/pytorch2onnx.py, a 300x300 image and
    the detections tools/image_demo.py prints for it in PyTorch (``xdist_group('fcos_export')``
    keeps the tests that read them on one worker)."""
    root = tmp_path_factory.mktemp('fcos_export')
    torch.manual_seed(0)
    _, model = build_detector(str(REPO / CONFIG))
    for module in model.modules():  # spread the scores of the untrained head
        if isinstance(module, nn.Conv2d):
            module.reset_parameters()
    randomize_bn(model)
    torch.save({'state_dict': model.state_dict()}, root / 'model.pth')
    image = root / 'image.jpg'  # goes through the config's resizing to 416x416
    cv2.imwrite(str(image), np.random.default_rng(0).integers(0, 256, (300, 300, 3), np.uint8))
    out = run_tool('tools/deployment/pytorch2onnx.py', CONFIG, '--weights', root / 'model.pth',
                   '--out', root / 'm.onnx').stdout
    assert 'input image (N, 3, 416, 416)' in out
    torch_out = run_tool('tools/image_demo.py', image, CONFIG, '--weights', root / 'model.pth',
                         '--score-thr', '0.2').stdout
    return root / 'm.onnx', image, detections(torch_out)  # the 10 best


@pytest.mark.xdist_group('fcos_export')
@pytest.mark.parametrize('backend', [
    pytest.param('onnxruntime'),
    pytest.param('ncnn', marks=requires('ncnn', 'pnnx')),
    pytest.param('openvino', marks=requires('openvino')),
])
def test_each_runtime_finds_the_boxes_pytorch_finds(fcos_export, tmp_path, backend):
    exported, image, expected = fcos_export
    if backend != 'onnxruntime':
        run_tool('tools/deployment/convert_onnx.py', exported, '--backend', backend)
        exported = exported.with_suffix('.ncnn.param' if backend == 'ncnn' else '.xml')
    run_runtime(exported, image, '--json', tmp_path / 'found.json', '--out', tmp_path / 'out')
    found = [(d['class'], d['score'], [d['bbox'][0], d['bbox'][1], d['bbox'][0] + d['bbox'][2],
                                      d['bbox'][1] + d['bbox'][3]])
             for d in json.loads((tmp_path / 'found.json').read_text())][:len(expected)]
    assert len(expected) > 0 and len(found) == len(expected)
    for (label, score, box), (exp_label, exp_score, exp_box) in zip(found, expected):
        assert label == exp_label and abs(score - exp_score) <= 1e-3
        assert np.allclose(box, exp_box, atol=0.11)
    assert cv2.imread(str(tmp_path / 'out' / 'image.jpg')).shape == (300, 300, 3)


@pytest.mark.parametrize('backend, suffixes', [
    pytest.param('ncnn', ('.ncnn.param', '.ncnn.bin'), marks=requires('ncnn', 'pnnx')),
    pytest.param('openvino', ('.xml', '.bin'), marks=requires('openvino')),
])
def test_conversion_replaces_an_existing_pair_or_leaves_it_as_it_was(tmp_path, backend, suffixes):
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU()).eval()
    torch.onnx.export(model, (torch.rand(1, 3, 32, 32), ), str(tmp_path / 'm.onnx'), dynamo=True)
    run_tool('tools/deployment/convert_onnx.py', tmp_path / 'm.onnx', '--backend', backend)
    pair = [tmp_path / ('m' + suffix) for suffix in suffixes]
    first = [path.read_bytes() for path in pair]
    listing = sorted(p.name for p in tmp_path.iterdir())  # the pair, no temporary files
    assert listing == sorted(['m.onnx', 'm.onnx.data', *(path.name for path in pair)])

    (tmp_path / 'bad.onnx').write_bytes(b'not a model')
    x = onnx.helper.make_tensor_value_info('x', onnx.TensorProto.FLOAT, [1, 3, 32, 32])
    graph = onnx.helper.make_graph(  # readable, but no converter knows its op
        [onnx.helper.make_node('NoSuchOp', ['x'], ['y'], domain='example')], 'g', [x],
        [onnx.helper.make_tensor_value_info('y', onnx.TensorProto.FLOAT, [1, 3, 32, 32])])
    onnx.save(onnx.helper.make_model(graph, opset_imports=[
        onnx.helper.make_opsetid('', 17), onnx.helper.make_opsetid('example', 1)]),
        tmp_path / 'unknown.onnx')
    out = tmp_path / pair[0].name
    for bad, message in (('bad.onnx', 'is not a readable ONNX model ('),
                         ('unknown.onnx', 'could not convert')):
        result = run_tool('tools/deployment/convert_onnx.py', tmp_path / bad, '--backend',
                          backend, '--out', out, check=False)
        assert result.returncode == 2
        assert result.stderr.startswith('error: ') and message in result.stderr
        assert 'Traceback' not in result.stderr
        assert [path.read_bytes() for path in pair] == first
    listing += ['bad.onnx', 'unknown.onnx']
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(listing)

    with torch.no_grad():  # a new model over the old pair: both files are the new model's
        model[0].weight.mul_(2)
    torch.onnx.export(model, (torch.rand(1, 3, 32, 32), ), str(tmp_path / 'm.onnx'), dynamo=True)
    run_tool('tools/deployment/convert_onnx.py', tmp_path / 'm.onnx', '--backend', backend)
    assert all(path.read_bytes() != old for path, old in zip(pair, first) if path.suffix == '.bin')
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(listing)
    image = np.random.default_rng(0).random((1, 3, 32, 32), np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(image)).numpy()
    np.testing.assert_allclose(load_network(str(pair[0]))(image)[0], expected, atol=1e-4)


def test_an_export_the_runtime_cannot_decode_is_refused_and_writes_nothing(tmp_path):
    base = str(REPO / 'configs/nanodet_shufflenetv2_lightpan_shapes.py')
    config = tmp_path / 'flipped_test.py'  # a test-time transform the runtime does not do
    config.write_text(f'_base_ = {base!r}\n'
                      "test_dataloader = dict(dataset=dict(pipeline=[\n"
                      "    dict(type='LoadImageFromFile'), dict(type='Resize', scale=(64, 64)),\n"
                      "    dict(type='RandomFlip', prob=1.0), dict(type='PackDetInputs')]))\n")
    out = tmp_path / 'model.onnx'
    out.write_bytes(b'an earlier export')
    result = run_tool('tools/deployment/pytorch2onnx.py', config, '--out', out, check=False)
    assert result.returncode == 2
    assert result.stderr.startswith("error: the test pipeline's RandomFlip is not done by the "
                                    'runtime')
    assert out.read_bytes() == b'an earlier export'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['flipped_test.py', 'model.onnx']
