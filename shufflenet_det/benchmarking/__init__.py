"""What the benchmarks and the tests measure with: one timing loop and one plain-PyTorch
reference ShuffleNetV2 (the ONNX Runtime session factory is the runtime's)."""
from .reference_shufflenet_v2 import ReferenceShuffleNetV2
from .timing import matmul_peak_gflops, median_and_iqr, time_interleaved, timed

__all__ = [
    'ReferenceShuffleNetV2', 'matmul_peak_gflops', 'median_and_iqr', 'time_interleaved', 'timed'
]
