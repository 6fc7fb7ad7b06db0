"""The graph rewrites before INT8 quantization compute what the graph computed, and leave
alone what they cannot rewrite exactly."""
import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from onnx import TensorProto, helper

from shufflenet_det.deployment.int8_graph_rewrites import (pool_before_leaky_relu,
                                                           rewrite_for_int8,
                                                           widen_image_convolutions)


class Normalised(torch.nn.Module):
    """A network behind the export's normalisation, ``(x - mean) / std``."""

    def __init__(self, body: torch.nn.Module) -> None:
        super().__init__()
        self.register_buffer('mean', torch.tensor([103.5, 116.3, 123.7]).view(1, 3, 1, 1))
        self.register_buffer('std', torch.tensor([57.4, 57.1, 58.4]).view(1, 3, 1, 1))
        self.body = body

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.body((image - self.mean) / self.std)


class TwoReaders(torch.nn.Module):
    """A LeakyReLU read by a max-pooling and by the output: it must stay where it is."""

    def forward(self, x: torch.Tensor) -> tuple:
        activated = torch.nn.functional.leaky_relu(x, 0.1)
        return torch.nn.functional.max_pool2d(activated, 3, 2, 1), activated


def exported(model: torch.nn.Module, path: str, channels: int = 3) -> onnx.ModelProto:
    """``model`` exported to ONNX at ``path`` for a (1, channels, 32, 32) image, and loaded."""
    torch.manual_seed(0)
    torch.onnx.export(model.eval(), (torch.rand(1, channels, 32, 32), ), path,
                      input_names=['image'], dynamo=True, external_data=False)
    return onnx.load(path)


def outputs(model: onnx.ModelProto, image: np.ndarray) -> list:
    """The model's outputs for ``image`` (its input named ``image``) in ONNX Runtime."""
    session = onnxruntime.InferenceSession(model.SerializeToString(),
                                           providers=['CPUExecutionProvider'])
    return session.run(None, {'image': image})


def image(channels: int = 3) -> np.ndarray:
    """A random 0-255 float32 image, (1, channels, 32, 32)."""
    return np.random.default_rng(0).random((1, channels, 32, 32), np.float32) * 255


def ops(model: onnx.ModelProto) -> list:
    """The graph's op types in order."""
    return [node.op_type for node in model.graph.node]


def test_the_pooling_runs_before_the_leaky_relu_and_computes_the_same(tmp_path):
    torch.manual_seed(0)
    body = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, 2, 1), torch.nn.LeakyReLU(0.1),
                               torch.nn.MaxPool2d(3, 2, 1), torch.nn.Conv2d(8, 4, 1))
    model = exported(body, str(tmp_path / 'm.onnx'))
    expected = outputs(model, image())
    assert ops(model) == ['Conv', 'LeakyRelu', 'MaxPool', 'Conv']
    assert pool_before_leaky_relu(model.graph) == 1
    assert ops(model) == ['Conv', 'MaxPool', 'LeakyRelu', 'Conv']
    onnx.checker.check_model(model, full_check=True)
    np.testing.assert_allclose(outputs(model, image())[0], expected[0], rtol=1e-6, atol=1e-5)


def chain(alphas: list, indices: bool = False) -> onnx.ModelProto:
    """A graph of ``LeakyRelu -> MaxPool`` pairs one after the other (3x3, stride 2, pad 1), one
    pair per alpha; with ``indices`` the last pooling also gives its ``Indices`` output."""
    nodes, tensor = [], 'image'
    for pair, alpha in enumerate(alphas):
        last = pair == len(alphas) - 1
        nodes += [helper.make_node('LeakyRelu', [tensor], [f'act{pair}'], alpha=alpha),
                  helper.make_node('MaxPool', [f'act{pair}'],
                                   [f'pool{pair}'] + (['where'] if last and indices else []),
                                   kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])]
        tensor = f'pool{pair}'
    pooled = [1, 3, 32 >> len(alphas), 32 >> len(alphas)]
    graph = helper.make_graph(
        nodes, 'chain', [helper.make_tensor_value_info('image', TensorProto.FLOAT,
                                                       [1, 3, 32, 32])],
        [helper.make_tensor_value_info(tensor, TensorProto.FLOAT, pooled)] +
        ([helper.make_tensor_value_info('where', TensorProto.INT64, pooled)] if indices else []))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)])


def test_every_pair_of_a_graph_is_swapped():
    model = chain([0.1, 0.2])
    expected = outputs(model, image() - 128)
    assert pool_before_leaky_relu(model.graph) == 2
    assert ops(model) == ['MaxPool', 'LeakyRelu', 'MaxPool', 'LeakyRelu']
    onnx.checker.check_model(model, full_check=True)
    np.testing.assert_array_equal(outputs(model, image() - 128)[0], expected[0])


@pytest.mark.parametrize('model', [chain([-0.1]), chain([0.1], indices=True)],
                         ids=['negative alpha', 'pooling indices'])
def test_a_pair_that_cannot_be_swapped_exactly_stays(model):
    assert pool_before_leaky_relu(model.graph) == 0
    assert ops(model) == ['LeakyRelu', 'MaxPool']


def test_a_leaky_relu_read_by_more_than_the_pooling_stays(tmp_path):
    model = exported(TwoReaders(), str(tmp_path / 'm.onnx'), channels=8)
    assert pool_before_leaky_relu(model.graph) == 0
    assert ops(model) == ['LeakyRelu', 'MaxPool']


def test_image_convolutions_get_a_fourth_zero_channel_and_compute_the_same(tmp_path):
    torch.manual_seed(0)
    model = exported(torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, 2, 1), torch.nn.ReLU(),
        torch.nn.Conv2d(8, 8, 3, padding=1, groups=8), torch.nn.Conv2d(8, 3, 1),
        torch.nn.Conv2d(3, 4, 1)), str(tmp_path / 'm.onnx'))
    expected = outputs(model, image())
    assert widen_image_convolutions(model.graph) == 2
    shapes = {t.name: list(t.dims) for t in model.graph.initializer}
    convs = [node for node in model.graph.node if node.op_type == 'Conv']
    # the two convs reading 3 channels (the image, and a 3-channel feature map) read 4
    assert [shapes[node.input[1]] for node in convs] == [[8, 4, 3, 3], [8, 1, 3, 3],
                                                         [3, 8, 1, 1], [4, 4, 1, 1]]
    assert ops(model).count('Pad') == 2
    np.testing.assert_allclose(outputs(model, image())[0], expected[0], rtol=1e-5, atol=1e-4)


def test_both_rewrites_on_a_file(tmp_path):
    torch.manual_seed(0)
    body = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, 2, 1), torch.nn.LeakyReLU(0.1),
                               torch.nn.MaxPool2d(3, 2, 1))
    path = str(tmp_path / 'm.onnx')
    expected = outputs(exported(Normalised(body), path), image())
    rewrite_for_int8(path)
    model = onnx.load(path)
    assert ops(model) == ['Sub', 'Div', 'Pad', 'Conv', 'MaxPool', 'LeakyRelu']
    np.testing.assert_allclose(outputs(model, image())[0], expected[0], rtol=1e-5, atol=1e-4)
