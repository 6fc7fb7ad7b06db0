"""The runtime reads ONNX metadata without the onnx package: checked against onnx itself."""
import json

import onnx
import pytest
from onnx import TensorProto, helper

from shufflenet_det_runtime import ModelError
from shufflenet_det_runtime.onnx_metadata import read_onnx_metadata


def write_model(path, metadata: dict) -> None:
    graph = helper.make_graph(
        [helper.make_node('Relu', ['x'], ['y'])], 'g',
        [helper.make_tensor_value_info('x', TensorProto.FLOAT, [1, 3, 4, 4])],
        [helper.make_tensor_value_info('y', TensorProto.FLOAT, [1, 3, 4, 4])],
        initializer=[helper.make_tensor('w', TensorProto.FLOAT, [300], [0.5] * 300)])
    model = helper.make_model(graph, producer_name='test')
    helper.set_model_props(model, metadata)
    onnx.save(model, str(path))


def test_metadata_reads_as_onnx_reads_it(tmp_path):
    document = json.dumps({'classes': ['raccoon', 'café ☕'], 'size': [320, 320]})
    write_model(tmp_path / 'm.onnx', {'shufflenet_det': document, 'author': 'me'})
    expected = {p.key: p.value for p in onnx.load(str(tmp_path / 'm.onnx')).metadata_props}
    assert read_onnx_metadata(str(tmp_path / 'm.onnx')) == expected
    assert json.loads(expected['shufflenet_det'])['classes'][1] == 'café ☕'


def test_a_model_without_metadata_gives_none(tmp_path):
    write_model(tmp_path / 'm.onnx', {})
    assert read_onnx_metadata(str(tmp_path / 'm.onnx')) == {}


@pytest.mark.parametrize('content', [b'not an onnx model\n', b'\x72\xff\xff\xff\xff\x0f'])
def test_a_file_that_is_not_onnx_is_refused_in_one_line(tmp_path, content):
    (tmp_path / 'm.onnx').write_bytes(content)
    with pytest.raises(ModelError, match='is not a readable ONNX model'):
        read_onnx_metadata(str(tmp_path / 'm.onnx'))
