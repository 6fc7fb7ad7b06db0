"""Exported networks (run by shufflenet_det_runtime) wrapped as MMDetection detectors with the
config's own decoding; their descriptions; exports to ncnn and OpenVINO; static INT8
quantization."""
from .deployed_detector import DeployedDetector
from .deployed_tester import DeployedTester

__all__ = ['DeployedDetector', 'DeployedTester']
