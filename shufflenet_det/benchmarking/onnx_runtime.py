"""The one way this project opens an ONNX model in ONNX Runtime on a CPU."""
from typing import Any


def onnx_runtime_session(path: str, threads: int = 0) -> Any:
    """An ONNX Runtime CPU session with ``threads`` intra-op threads, without spinning.

    Idle ONNX Runtime threads otherwise busy-wait after each run, stealing the cores that the
    caller (and, in a benchmark, the next contender) needs.

    Args:
        path (str): The ``.onnx`` file.
        threads (int): Intra-op threads; 0 lets ONNX Runtime choose. Default: 0.

    Returns:
        onnxruntime.InferenceSession: The session.
    """
    import onnxruntime  # an optional dependency (pip install .[deploy])
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.add_session_config_entry('session.intra_op.allow_spinning', '0')
    return onnxruntime.InferenceSession(path, options, providers=['CPUExecutionProvider'])
