"""shufflenet_det's detectors without PyTorch: an exported model file (ONNX, OpenVINO IR or
ncnn) and its description are all it needs; numpy and OpenCV do the rest.

Its dependencies are numpy, OpenCV and tqdm, and the runtime of the model file (onnxruntime,
openvino or ncnn). It imports nothing of torch, mmcv, mmengine, mmdet or ``shufflenet_det``.
"""
try:
    import cv2  # noqa: F401  (each install picks its own OpenCV wheel: checked here, once)
except ImportError as error:
    raise ImportError('shufflenet_det_runtime needs OpenCV: pip install '
                      'opencv-python-headless (a server) or opencv-python (for --show); the '
                      "runtime's extras [headless] and [gui] install them") from error

from .detector import Detections, Detector  # noqa: E402
from .errors import ModelError, RuntimeUserError, SourceError  # noqa: E402
from .model_info import ModelInfo, read_model_info  # noqa: E402

__all__ = ['Detections', 'Detector', 'ModelError', 'ModelInfo', 'RuntimeUserError',
           'SourceError', 'read_model_info']
