"""What the benchmarks and the tests measure with: one timing loop, one ONNX Runtime session
factory and one plain-PyTorch reference ShuffleNetV2."""
from .reference_shufflenet_v2 import ReferenceShuffleNetV2
from .timing import matmul_peak_gflops, median_and_iqr, time_interleaved, timed

__all__ = [
    'ReferenceShuffleNetV2', 'matmul_peak_gflops', 'median_and_iqr', 
    'time_interleaved', 'timed'
]
