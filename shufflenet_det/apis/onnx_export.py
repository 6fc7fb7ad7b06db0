"""Export a detector's network to ONNX and run it with ONNX Runtime.

The graph takes float32 BGR images (N, 3, H, W) with values 0-255, any batch size, and
returns the head's raw outputs level by level (class scores, box regressions, and FCOS's
centerness). Normalisation is inside the graph; decoding and NMS stay in MMDetection's
``predict_by_feat``, so ONNX Runtime's boxes come from the same post-processing as PyTorch's.
"""
from typing import List, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
from mmengine.structures import InstanceData

from shufflenet_det.benchmarking import onnx_runtime_session


class ExportableDetector(nn.Module):
    """Normalisation plus backbone, neck and head, returning a flat tuple of tensors.

    Args:
        detector (nn.Module): An MMDetection single-stage detector.
    """

    def __init__(self, detector: nn.Module) -> None:
        super().__init__()
        self.detector = detector
        preprocessor = detector.data_preprocessor
        self.bgr_to_rgb = bool(getattr(preprocessor, '_channel_conversion', False))
        self.register_buffer('mean', preprocessor.mean.clone().view(1, 3, 1, 1))
        self.register_buffer('std', preprocessor.std.clone().view(1, 3, 1, 1))

    def forward(self, image: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        if self.bgr_to_rgb:
            image = image.flip(1)
        outputs = self.detector._forward((image - self.mean) / self.std)
        return tuple(level for group in outputs for level in group)


def output_names(detector: nn.Module, size: Tuple[int, int]) -> List[str]:
    """Names ``out{group}_{level}`` for the head's outputs, found by a forward pass."""
    with torch.no_grad():
        outputs = detector._forward(torch.zeros(1, 3, *size))
    return [f'out{g}_{level}' for g, group in enumerate(outputs) for level in range(len(group))]


def export_onnx(detector: nn.Module, path: str, size: Tuple[int, int], opset: int = 18) -> None:
    """Write ``detector``'s network as ONNX with a dynamic batch dimension.

    Args:
        detector (nn.Module): The detector, in eval mode.
        path (str): Output ``.onnx`` file.
        size (tuple[int, int]): Input height and width (fixed in the graph).
        opset (int): ONNX opset. Default: 18.
    """
    names = output_names(detector, size)
    batch = torch.export.Dim('batch', min=1, max=1024)
    torch.onnx.export(
        ExportableDetector(detector).eval(), (torch.zeros(2, 3, *size), ), path,
        input_names=['image'], output_names=names, opset_version=opset, dynamo=True,
        dynamic_shapes={'image': {0: batch}}, verbose=False)


class OnnxRuntimeDetector:
    """Runs an exported network with ONNX Runtime and decodes boxes with the PyTorch head.

    Args:
        path (str): The ``.onnx`` file.
        detector (nn.Module): A detector built from the same config (its weights are not
            used: only its head's ``predict_by_feat`` and test settings).
        threads (int): ONNX Runtime intra-op threads; 0 lets it choose. Default: 0.
    """

    def __init__(self, path: str, detector: nn.Module, threads: int = 0) -> None:
        self.session = onnx_runtime_session(path, threads)
        self.head = detector.bbox_head
        self.names = [o.name for o in self.session.get_outputs()]

    @property
    def input_size(self) -> Tuple[int, int]:
        """The (height, width) the graph was exported for."""
        height, width = self.session.get_inputs()[0].shape[2:]
        return height, width

    def raw(self, images: np.ndarray) -> List[np.ndarray]:
        """The network's outputs for float32 BGR images (N, 3, H, W), flat as exported."""
        return self.session.run(self.names, {'image': images.astype(np.float32)})

    def predict(self, images: np.ndarray,
                batch_img_metas: Sequence[dict]) -> List[InstanceData]:
        """Boxes, scores and labels per image, after the head's decoding and NMS."""
        groups: List[List[torch.Tensor]] = []
        for name, value in zip(self.names, self.raw(images)):
            group = int(name[3:name.index('_')])
            if group == len(groups):
                groups.append([])
            groups[group].append(torch.from_numpy(value))
        return self.head.predict_by_feat(*groups, batch_img_metas=list(batch_img_metas),
                                         rescale=True)
