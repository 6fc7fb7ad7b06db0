"""Exported files open in the runtime they name; a wrong file is one clear line."""
import onnx
import pytest

from shufflenet_det_runtime import ModelError
from shufflenet_det_runtime.ncnn_network import blob_names
from shufflenet_det_runtime.network_loading import backend_of, load_network
from tests.runtimes import requires
from tests.shared_data import NANODET_M, requires_shared

NANODET_NCNN = NANODET_M / 'ncnn/nanodet-m.param'


def test_the_file_names_its_runtime():
    assert backend_of('m.onnx') == 'onnxruntime'
    assert backend_of('m.onnx', 'openvino') == 'openvino'
    assert backend_of('m.xml') == 'openvino'
    assert backend_of('m.ncnn.param') == 'ncnn'
    with pytest.raises(ModelError, match=r'ncnn does not run \.onnx files; \.onnx '
                       r'runs in onnxruntime or openvino'):
        backend_of('m.onnx', 'ncnn')
    with pytest.raises(ModelError, match=r'm\.pth is not an exported model'):
        backend_of('m.pth')


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(ModelError, match='no such model file'):
        load_network(str(tmp_path / 'absent.onnx'))


@requires('ncnn')
def test_an_unreadable_ncnn_file_is_refused(tmp_path):
    garbage = tmp_path / 'garbage.param'
    garbage.write_text('not an ncnn model\n')
    with pytest.raises(ModelError, match='garbage.bin does not exist'):
        load_network(str(garbage))
    (tmp_path / 'garbage.bin').write_bytes(b'no weights')
    with pytest.raises(ModelError, match='ncnn cannot load'):
        load_network(str(garbage))


@requires_shared(NANODET_M)
def test_ncnn_blob_names_of_nanodets_own_model():
    inputs, outputs = blob_names(str(NANODET_NCNN))
    assert inputs == ['input.1']
    assert outputs == [f'{kind}_pred_stride_{s}' for s in (8, 16, 32) for kind in ('cls', 'dis')]


def test_an_onnx_file_the_runtime_rejects_is_one_line(tmp_path):
    graph = onnx.helper.make_graph(  # a valid protobuf whose op no runtime knows
        [onnx.helper.make_node('NoSuchOp', ['x'], ['y'], domain='example')], 'g',
        [onnx.helper.make_tensor_value_info('x', onnx.TensorProto.FLOAT, [1, 3, 4, 4])],
        [onnx.helper.make_tensor_value_info('y', onnx.TensorProto.FLOAT, [1, 3, 4, 4])])
    onnx.save(onnx.helper.make_model(graph, opset_imports=[
        onnx.helper.make_opsetid('', 17), onnx.helper.make_opsetid('example', 1)]),
        tmp_path / 'unknown.onnx')
    with pytest.raises(ModelError, match=r'onnxruntime cannot load .*unknown\.onnx: '):
        load_network(str(tmp_path / 'unknown.onnx'))


def test_an_onnx_input_without_a_fixed_size_is_one_line(tmp_path):
    graph = onnx.helper.make_graph(  # an image input whose height and width are symbolic
        [onnx.helper.make_node('Relu', ['x'], ['y'])], 'g',
        [onnx.helper.make_tensor_value_info('x', onnx.TensorProto.FLOAT, [1, 3, 'h', 'w'])],
        [onnx.helper.make_tensor_value_info('y', onnx.TensorProto.FLOAT, [1, 3, 'h', 'w'])])
    onnx.save(onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid('', 17)]),
              tmp_path / 'dynamic.onnx')
    with pytest.raises(ModelError, match=r"dynamic\.onnx takes an input of shape \[1, 3, 'h', "
                                         r"'w'\], not \(N, 3, H, W\) with a fixed H and W"):
        load_network(str(tmp_path / 'dynamic.onnx'))
