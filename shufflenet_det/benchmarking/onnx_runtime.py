"""The one way this project opens an ONNX model in ONNX Runtime on a CPU."""
from typing import Any, Optional


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
    import onnxruntime  # an optional dependency (pip install .[deploy])
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.add_session_config_entry('session.force_spinning_stop', '1')
    if profile_prefix is not None:
        options.enable_profiling = True
        options.profile_file_prefix = profile_prefix
    return onnxruntime.InferenceSession(path, options, providers=['CPUExecutionProvider'])
