"""Exported networks in their runtimes (ONNX Runtime, OpenVINO, ncnn), wrapped as MMDetection
detectors; exports to ncnn and OpenVINO; static INT8 quantization."""
from .deployed_detector import DeployedDetector
from .deployed_tester import DeployedTester

__all__ = ['BACKENDS', 'DeployedDetector', 'DeployedNetwork', 'DeployedTester', 'backend_of', 'load_network']
