"""An exported network run by OpenVINO on the CPU."""
import threading
from typing import List

import numpy as np

from .network import Network


class OpenVinoNetwork(Network):
    """An OpenVINO IR (``.xml`` with its ``.bin``) or an ``.onnx`` file, compiled for the CPU.

    Args:
        path (str): The ``.xml`` or ``.onnx`` file.
        threads (int): Inference threads; 0 lets OpenVINO choose. Default: 0.
    """

    def __init__(self, path: str, threads: int = 0) -> None:
        import openvino  # optional: the runtime picked by the model file
        core = openvino.Core()
        model = core.read_model(path)
        config = {'PERFORMANCE_HINT': 'LATENCY', 'INFERENCE_PRECISION_HINT': 'f32'}
        if threads:
            config['INFERENCE_NUM_THREADS'] = threads
        self.compiled = core.compile_model(model, 'CPU', config)
        self._local = threading.local()  # a request per thread: one runs one call at a time
        height, width = model.inputs[0].get_partial_shape()[2:]
        self.input_size = (height.get_length(), width.get_length())

    def __call__(self, images: np.ndarray) -> List[np.ndarray]:
        if not hasattr(self._local, 'request'):
            self._local.request = self.compiled.create_infer_request()
        results = self._local.request.infer({0: images})
        return [results[output] for output in self.compiled.outputs]
