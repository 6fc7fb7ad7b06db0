from tests.test_tools.tool_runner import run_tool

CONFIG = 'configs/nanodet_shufflenetv2_lightpan_shapes.py'


def test_export_and_onnx_runtime_inference(tmp_path):
    run_tool('tools/misc/make_synthetic_coco.py', tmp_path, '--train', '1', '--val', '1',
             '--size', '200')
    out = run_tool('tools/deployment/pytorch2onnx.py', CONFIG, '--out', tmp_path / 'm.onnx')
    assert 'input image (N, 3, 256, 256)' in out.stdout
    out = run_tool('tools/deployment/onnxruntime_infer.py', tmp_path / 'm.onnx', CONFIG,
                   tmp_path / 'val/000001.jpg', '--score-thr', '0.0', '--out-file',
                   tmp_path / 'pred.jpg')
    assert 'detections with score >= 0.0' in out.stdout
    assert (tmp_path / 'pred.jpg').stat().st_size > 0
