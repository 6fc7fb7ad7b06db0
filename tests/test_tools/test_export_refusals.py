"""What the deployment tools refuse, each in one ``error:`` line before any work, and what they
leave as it was: weights of another detector, sizes the model cannot take, outputs that are
folders or would replace another pair's files, a quantized model to quantize again, a mixed
ncnn pair to evaluate; and SIGTERM, which stops an export as Ctrl-C does."""
import signal
import subprocess
import sys
import time

import onnx
import pytest
import torch

from shufflenet_det.deployment.int8_quantization import quantize_int8
from shufflenet_det.deployment.model_description import write_sidecar
from shufflenet_det.errors import DeployedModelError
from shufflenet_det.utils.run_config import build_detector
from shufflenet_det_runtime import read_model_info
from tests.test_docs import load_tool
from tests.test_tools.tool_runner import REPO, run_tool

SHAPES = str(REPO / 'configs/nanodet_shufflenetv2_lightpan_shapes.py')  # 256x256, 3 classes
FCOS = str(REPO / 'configs/fcos_shufflenetv2_coco.py')


def error_line(result) -> str:
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('error: '), result.stderr[-2000:]
    return lines[0]


def export(*args):
    return run_tool('tools/deployment/pytorch2onnx.py', SHAPES, *args, check=False)


def test_weights_of_another_detector_are_refused_before_exporting(tmp_path):
    for name, config, options in (('fcos.pth', FCOS, None),
                                  ('five_classes.pth', SHAPES, {'model.bbox_head.num_classes': 5})):
        _, model = build_detector(config, options)
        torch.save({'state_dict': model.state_dict()}, tmp_path / name)
    line = error_line(export('--weights', tmp_path / 'fcos.pth', '--out', tmp_path / 'a.onnx'))
    assert f'fcos.pth does not match the detector of {SHAPES}: missing keys' in line
    assert line.endswith('; give the config it was trained with')
    line = error_line(export('--weights', tmp_path / 'five_classes.pth', '--out',
                             tmp_path / 'a.onnx'))
    assert 'five_classes.pth does not fit the detector of' in line and 'in the file but' in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ['fcos.pth', 'five_classes.pth']


def test_sizes_and_outputs_the_export_cannot_have_are_refused_or_said(tmp_path):
    (tmp_path / 'folder.onnx').mkdir()
    assert 'is a folder; give a file name' in error_line(export('--out', tmp_path / 'folder.onnx'))
    zero = export('--shape', '0', '0', '--out', tmp_path / 'a.onnx')
    assert zero.returncode == 2 and '--shape must be two positive sizes, got 0 0' in zero.stderr
    small = export('--shape', '250', '250', '--out', tmp_path / 'small.onnx')
    assert small.returncode == 0 and small.stdout.strip().splitlines()[-1] == (
        'warning: the test pipeline resizes every image to 256x256, larger than this 250x250 '
        'input: the runtime and test_deployed.py will refuse such images (a network to time or '
        'profile only; export with a --shape they fit in)')
    (tmp_path / 'small.onnx').unlink()
    old_opset = export('--opset', '7', '--out', tmp_path / 'a.onnx')  # the exporter logs too
    assert old_opset.returncode == 2 and old_opset.stderr.strip().splitlines()[-1] == (
        'error: the graph could not be written in ONNX opset 7 (the exporter gave opset 18); '
        'give --opset 18')
    assert sorted(p.name for p in tmp_path.iterdir()) == ['folder.onnx']
    export('--out', tmp_path / 'new' / 'folder' / 'a.onnx')  # a folder that is not there: made
    assert read_model_info(str(tmp_path / 'new' / 'folder' / 'a.onnx')).classes == [
        'circle', 'square', 'triangle']


def test_conversion_does_not_replace_the_files_of_another_pair(tmp_path):
    (tmp_path / 'm.onnx').write_bytes(b'checked before it is read')
    files = {'m.xml': '<?xml version="1.0"?>\n<net name="m" version="11">\n', 'm.bin': 'weights',
             'm.json': '{}'}  # an OpenVINO pair and its description
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    line = error_line(run_tool('tools/deployment/convert_onnx.py', tmp_path / 'm.onnx',
                               '--backend', 'ncnn', '--out', tmp_path / 'm.param', check=False))
    assert line == (f'error: {tmp_path / "m.param"} would write m.bin and m.json, which belong '
                    f'to {tmp_path / "m.xml"}; give --out another name (say m.ncnn.param)')
    assert all((tmp_path / name).read_text() == text for name, text in files.items())
    (tmp_path / 'm.xml').write_text('<annotation><filename>m.jpg</filename></annotation>')
    line = error_line(run_tool('tools/deployment/convert_onnx.py', tmp_path / 'm.onnx',
                               '--backend', 'ncnn', '--out', tmp_path / 'm.param', check=False))
    assert 'is not a readable ONNX model' in line  # a Pascal VOC m.xml is no pair to keep


def test_a_quantized_model_or_unknown_op_types_are_refused_before_calibrating(tmp_path):
    x = onnx.helper.make_tensor_value_info('x', onnx.TensorProto.FLOAT, [1, 3, 4, 4])
    graph = onnx.helper.make_graph(  # a QDQ pair, as quantize.py writes them
        [onnx.helper.make_node('QuantizeLinear', ['x', 's', 'z'], ['q']),
         onnx.helper.make_node('DequantizeLinear', ['q', 's', 'z'], ['y'])], 'g', [x],
        [onnx.helper.make_tensor_value_info('y', onnx.TensorProto.FLOAT, [1, 3, 4, 4])],
        [onnx.helper.make_tensor('s', onnx.TensorProto.FLOAT, [], [0.1]),
         onnx.helper.make_tensor('z', onnx.TensorProto.UINT8, [], [128])])
    onnx.save(onnx.helper.make_model(graph), tmp_path / 'int8.onnx')
    with pytest.raises(DeployedModelError, match=r'int8\.onnx is quantized already '
                                                 r'\(DequantizeLinear, QuantizeLinear nodes\)'):
        quantize_int8(str(tmp_path / 'int8.onnx'), str(tmp_path / 'again.onnx'), None)
    graph = onnx.helper.make_graph([onnx.helper.make_node('Relu', ['x'], ['y'])], 'g', [x],
                                   [onnx.helper.make_tensor_value_info(
                                       'y', onnx.TensorProto.FLOAT, [1, 3, 4, 4])])
    onnx.save(onnx.helper.make_model(graph), tmp_path / 'fp32.onnx')
    with pytest.raises(DeployedModelError, match=r'^ONNX Runtime does not quantize Foo; the op '
                                                 r'types it quantizes are '):
        quantize_int8(str(tmp_path / 'fp32.onnx'), str(tmp_path / 'q.onnx'), None,
                      int8_op_types=['Conv', 'Foo'])
    assert sorted(p.name for p in tmp_path.iterdir()) == ['fp32.onnx', 'int8.onnx']


def test_test_deployed_refuses_a_mixed_pair_and_an_out_that_is_a_folder(tmp_path):
    model = tmp_path / 'shapes.onnx'
    export('--out', model)
    param, weights = tmp_path / 'm.ncnn.param', tmp_path / 'm.ncnn.bin'
    param.write_text('7767517\n')
    weights.write_bytes(b'weights of one export')
    write_sidecar(str(param), read_model_info(str(model)).document)
    weights.write_bytes(b'weights of another export')
    line = error_line(run_tool('tools/deployment/test_deployed.py', SHAPES, param, check=False))
    assert 'm.ncnn.bin is not the file m.ncnn.json describes (another export, or a mixed ' \
           'pair)' in line
    (tmp_path / 'dets.pkl').mkdir()
    assert 'dets.pkl is a folder; give a file name' in error_line(run_tool(
        'tools/deployment/test_deployed.py', SHAPES, model, '--out', tmp_path / 'dets.pkl',
        check=False))


def test_sigterm_during_an_export_leaves_no_temporary_files(tmp_path):
    out = tmp_path / 'model.onnx'
    out.write_bytes(b'an earlier export')
    process = subprocess.Popen([sys.executable, 'tools/deployment/pytorch2onnx.py', SHAPES,
                                '--out', str(out)], cwd=REPO, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while (not list(tmp_path.glob('.export-*')) and process.poll() is None
           and time.monotonic() < deadline):
        time.sleep(0.05)  # until the export has begun writing
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 143 and stderr.strip().splitlines()[-1] == 'stopped (SIGTERM)'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['model.onnx']  # no .export-* left
    assert out.read_bytes() == b'an earlier export'


def test_a_shape_that_keep_ratio_photos_do_not_fit_is_said():
    too_large = load_tool('tools/deployment/pytorch2onnx.py').photos_too_large
    keep_ratio = dict(scale=[416, 416], keep_ratio=True)
    assert too_large(keep_ratio, (416, 416)) == []
    assert too_large(keep_ratio, (320, 416)) == ['a 480x640 photo to 312x416']  # portrait
    assert too_large(keep_ratio, (256, 256)) == ['a 640x480 photo to 416x312',
                                                 'a 480x640 photo to 312x416']
    assert too_large(dict(scale=[320, 320], keep_ratio=False), (256, 256)) == [
        'every image to 320x320']
