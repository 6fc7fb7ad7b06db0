"""An exported network run by ONNX Runtime (FP32 or quantized INT8 ONNX)."""
from typing import Any, List, Optional

import numpy as np

from .errors import ModelError
from .network import Network


def onnx_runtime_session(path: str, threads: int = 0,
                         profile_prefix: Optional[str] = None) -> Any:
    """An ONNX Runtime CPU session with ``threads`` intra-op threads, whose threads spin only
    while a run lasts.

    Spinning between the operators of a run is what makes a second thread pay off on small
    networks, whose operators are too short to wait for a sleeping thread. After the run,
    idle threads would otherwise keep busy-waiting, stealing the cores that the caller (and, in a
    benchmark, the next contender) needs: ``session.force_spinning_stop`` ends that.

    Args:
        path (str): The ``.onnx`` file.
        threads (int): Intra-op threads; 0 lets ONNX Runtime choose. Default: 0.
        profile_prefix (str, optional): Turn on ONNX Runtime's profiler, writing to files with
            this prefix (``session.end_profiling()`` names the file). Default: None.

    Returns:
        onnxruntime.InferenceSession: The session.
    """
    import onnxruntime  # optional: the runtime picked by the model file
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.add_session_config_entry('session.force_spinning_stop', '1')
    if profile_prefix is not None:
        options.enable_profiling = True
        options.profile_file_prefix = profile_prefix
    return onnxruntime.InferenceSession(path, options, providers=['CPUExecutionProvider'])


class OnnxRuntimeNetwork(Network):
    """An ``.onnx`` file in an ONNX Runtime CPU session.

    Args:
        path (str): The ``.onnx`` file.
        threads (int): Intra-op threads; 0 lets ONNX Runtime choose. Default: 0.
    """

    def __init__(self, path: str, threads: int = 0) -> None:
        self.session = onnx_runtime_session(path, threads)
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]
        shape = self.session.get_inputs()[0].shape
        if len(shape) != 4 or not all(isinstance(side, int) for side in shape[2:]):
            raise ModelError(f'{path} takes an input of shape {shape}, not (N, 3, H, W) with a '
                             'fixed H and W; export it with tools/deployment/pytorch2onnx.py')
        self.input_size = tuple(shape[2:])

    def __call__(self, images: np.ndarray) -> List[np.ndarray]:
        return self.session.run(self.output_names, {self.input_name: images})
