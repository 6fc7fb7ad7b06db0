"""Rewrites of an exported ONNX graph, before its INT8 quantization, that compute the same
outputs in less time in ONNX Runtime's INT8 kernels.

Each was found with ONNX Runtime's profiler (``tools/analysis_tools/onnx_profile.py``) on
NanoDet-m and is measured in ``docs/deployment.md``:

- :func:`pool_before_leaky_relu`: a LeakyReLU followed by a max-pooling is applied after it,
  to a quarter of the values (INT8 LeakyReLU is a table lookup per value; ReLU would be
  fused into the convolution instead);
- :func:`widen_image_convolutions`: convolutions reading 3 channels get a fourth, zero one.
"""
from typing import List

import numpy as np
import onnx
from onnx import helper, numpy_helper


def consumers(graph: onnx.GraphProto, tensor: str) -> List[onnx.NodeProto]:
    """The nodes of ``graph`` that read ``tensor``."""
    return [node for node in graph.node if tensor in node.input]


def attribute(node: onnx.NodeProto, name: str, default):
    """The value of ``node``'s attribute ``name``, or ``default``."""
    found = next((a for a in node.attribute if a.name == name), None)
    return default if found is None else helper.get_attribute_value(found)


def pool_before_leaky_relu(graph: onnx.GraphProto) -> int:
    """Swap each ``LeakyRelu -> MaxPool`` pair whose LeakyReLU output only the pooling reads:
    the maximum of non-decreasing function values is the function of the maximum (a
    LeakyReLU with ``alpha >= 0`` is non-decreasing; MaxPool's padding is never the maximum).

    Args:
        graph (onnx.GraphProto): The graph, changed in place.

    Returns:
        int: The number of pairs swapped.
    """
    outputs = {value.name for value in graph.output}
    swapped = 0
    for activation in list(graph.node):
        if activation.op_type != 'LeakyRelu' or attribute(activation, 'alpha', 0.01) < 0:
            continue
        readers = consumers(graph, activation.output[0])
        if (len(readers) != 1 or readers[0].op_type != 'MaxPool' or len(readers[0].output) != 1
                or activation.output[0] in outputs):
            continue
        pool = readers[0]
        activated, pooled = activation.output[0], pool.output[0]
        pool.input[0], pool.output[0] = activation.input[0], f'{activated}_pooled_first'
        activation.input[0], activation.output[0] = pool.output[0], pooled
        nodes = list(graph.node)  # the pooling now runs first: swap the two in the order
        first, second = nodes.index(activation), nodes.index(pool)
        nodes[first], nodes[second] = pool, activation
        graph.ClearField('node')
        graph.node.extend(nodes)
        stale = [value for value in graph.value_info if value.name == activated]
        for value in stale:  # its shape was the one before pooling
            graph.value_info.remove(value)
        swapped += 1
    return swapped


def widen_image_convolutions(graph: onnx.GraphProto) -> int:
    """Give every convolution that reads 3 channels (the image) a fourth, zero input channel,
    computing the same outputs: ONNX Runtime's INT8 convolution has no fast kernel for 3
    input channels (NanoDet-m's stem at 320x320 took 1208 us as it is and 463 us with the
    fourth channel, one thread).

    Args:
        graph (onnx.GraphProto): The graph, changed in place.

    Returns:
        int: The number of convolutions widened.
    """
    weights = {tensor.name: tensor for tensor in graph.initializer}
    widened = 0
    for node in list(graph.node):
        weight = weights.get(node.input[1]) if node.op_type == 'Conv' else None
        if weight is None or attribute(node, 'group', 1) != 1 or weight.dims[1] != 3:
            continue
        array = numpy_helper.to_array(weight)
        wide = numpy_helper.from_array(
            np.concatenate((array, np.zeros_like(array[:, :1])), axis=1), f'{node.name}_weight_4ch')
        pads = numpy_helper.from_array(np.array([0, 0, 0, 0, 0, 1, 0, 0], np.int64),
                                       f'{node.name}_pads')
        graph.initializer.extend([wide, pads])
        padded = f'{node.name}_input_4ch'
        graph.node.insert(list(graph.node).index(node), helper.make_node(
            'Pad', [node.input[0], pads.name], [padded], name=f'{node.name}_to_4_channels'))
        node.input[0], node.input[1] = padded, wide.name
        if all(weight.name not in other.input for other in graph.node):
            graph.initializer.remove(weight)
        widened += 1
    return widened


def rewrite_for_int8(path: str) -> None:
    """Apply every rewrite of this module to the ONNX model in ``path``, in place.

    Args:
        path (str): The ``.onnx`` file (FP32, prepared for quantization).
    """
    model = onnx.load(path)
    for rewrite in (pool_before_leaky_relu, widen_image_convolutions):
        rewrite(model.graph)
    onnx.save(model, path)
