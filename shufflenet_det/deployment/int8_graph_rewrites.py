"""Rewrites of an exported ONNX graph, before its INT8 quantization, that compute the same
outputs in less time in ONNX Runtime's INT8 kernels.

Each was found with ONNX Runtime's profiler (``tools/analysis_tools/onnx_profile.py``) on
NanoDet-m and is measured in ``docs/deployment.md``:

- :func:`pool_before_leaky_relu`: a LeakyReLU followed by a max pooling is applied after it,
  to the pooled values (a quarter of them after NanoDet-m's stride-2 stem pooling; INT8
  LeakyReLU is a table lookup per value, where ReLU would be fused into the convolution);
- :func:`widen_image_convolutions`: convolutions reading 3 channels get a fourth, zero one.
"""
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper


def attribute(node: onnx.NodeProto, name: str, default: Any) -> Any:
    """The value of ``node``'s attribute ``name``, or ``default``."""
    found = next((a for a in node.attribute if a.name == name), None)
    return default if found is None else helper.get_attribute_value(found)


def pool_before_leaky_relu(graph: onnx.GraphProto) -> int:
    """Swap each ``LeakyRelu -> MaxPool`` pair whose LeakyReLU output only the pooling reads:
    the maximum of ``f`` over a window is ``f`` of the maximum for a non-decreasing ``f`` (a
    LeakyReLU with ``alpha >= 0``; MaxPool's padding is never the maximum). A pooling with an
    ``Indices`` output, or a LeakyReLU that is a graph output, is left alone.

    Args:
        graph (onnx.GraphProto): The graph, changed in place.

    Returns:
        int: The number of pairs swapped.
    """
    outputs = {value.name for value in graph.output}
    nodes = graph.node
    swapped = 0
    for first in range(len(nodes)):
        activation = nodes[first]
        if (activation.op_type != 'LeakyRelu' or attribute(activation, 'alpha', 0.01) < 0
                or activation.output[0] in outputs):
            continue
        readers = [index for index, node in enumerate(nodes)
                   if activation.output[0] in node.input]
        pool = nodes[readers[0]] if len(readers) == 1 else None
        if pool is None or pool.op_type != 'MaxPool' or len(pool.output) != 1:
            continue
        activated, pooled = activation.output[0], pool.output[0]
        pool.input[0], pool.output[0] = activation.input[0], f'{activated}_pooled_first'
        activation.input[0], activation.output[0] = pool.output[0], pooled
        # the pooling now runs first: it takes the LeakyReLU's place in the order
        pool_first, activation_second = onnx.NodeProto(), onnx.NodeProto()
        pool_first.CopyFrom(pool)
        activation_second.CopyFrom(activation)
        nodes[first].CopyFrom(pool_first)
        nodes[readers[0]].CopyFrom(activation_second)
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
