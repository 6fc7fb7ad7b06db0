"""shufflenet_det's detectors without PyTorch: an exported model file (ONNX, OpenVINO IR or
ncnn) and its description are all it needs; numpy and OpenCV do the rest.

Its dependencies are numpy, OpenCV and tqdm, and the runtime of the model file (onnxruntime,
openvino or ncnn). It imports nothing of torch, mmcv, mmengine, mmdet or ``shufflenet_det``.
"""
from .detector import Detections, Detector
from .errors import ModelError, RuntimeUserError, SourceError
from .model_info import ModelInfo, read_model_info

__all__ = ['Detections', 'Detector', 'ModelError', 'ModelInfo', 'RuntimeUserError',
           'SourceError', 'read_model_info']
