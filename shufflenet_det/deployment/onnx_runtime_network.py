"""An exported network run by ONNX Runtime (FP32 or quantized INT8 ONNX)."""
from typing import List

import numpy as np

from shufflenet_det.benchmarking import onnx_runtime_session
from .deployed_network import DeployedNetwork


class OnnxRuntimeNetwork(DeployedNetwork):
    """An ``.onnx`` file in an ONNX Runtime CPU session.

    Args:
        path (str): The ``.onnx`` file.
        threads (int): Intra-op threads; 0 lets ONNX Runtime choose. Default: 0.
    """

    def __init__(self, path: str, threads: int = 0) -> None:
        self.session = onnx_runtime_session(path, threads)
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]
        height, width = self.session.get_inputs()[0].shape[2:]
        self.input_size = (height, width)

    def __call__(self, images: np.ndarray) -> List[np.ndarray]:
        return self.session.run(self.output_names, {self.input_name: images})
