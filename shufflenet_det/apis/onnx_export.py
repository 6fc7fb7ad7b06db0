"""Export a detector's network to ONNX and run it with ONNX Runtime.

The graph takes float32 BGR images (N, 3, H, W) with values 0-255, any batch size, and
returns the head's raw outputs level by level (class scores, box regressions, and FCOS's
centerness). Normalisation is inside the graph; decoding and NMS stay in MMDetection's
``predict_by_feat`` (``shufflenet_det.deployment.DeployedDetector``), so a runtime's boxes come
from the same post-processing as PyTorch's.
"""
import copy
import tempfile
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import onnx
import torch
import torch.nn as nn
from mmengine.config import Config

from shufflenet_det.deployment.channel_alignment import align_branch_channels
from shufflenet_det.deployment.model_description import model_description, write_onnx_description
from shufflenet_det.errors import DeployedModelError


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


def export_onnx(detector: nn.Module, path: str, size: Tuple[int, int], opset: int = 18,
                align_channels: bool = True) -> None:
    """Write ``detector``'s network as ONNX with a dynamic batch dimension.

    With ``align_channels``, a copy of the detector is exported, its ShuffleNetV2 channels
    aligned for ONNX Runtime's blocked layout
    (:func:`shufflenet_det.deployment.channel_alignment.align_branch_channels`): the same
    outputs, a faster graph. ``detector`` itself is left as it is.

    Args:
        detector (nn.Module): The detector, in eval mode.
        path (str): Output ``.onnx`` file.
        size (tuple[int, int]): Input height and width (fixed in the graph).
        opset (int): ONNX opset. Default: 18.
        align_channels (bool): Align ShuffleNetV2's channels. Default: True.

    Raises:
        DeployedModelError: When the graph cannot be written in ``opset``.
    """
    names = output_names(detector, size)
    batch = torch.export.Dim('batch', min=1, max=1024)
    torch.onnx.export(
        ExportableDetector(align_branch_channels(copy.deepcopy(detector))
                           if align_channels else detector).eval(),
        (torch.zeros(2, 3, *size), ), path,
        input_names=['image'], output_names=names, opset_version=opset, dynamo=True,
        dynamic_shapes={'image': {0: batch}}, verbose=False)
    written = next((o.version for o in onnx.load(path, load_external_data=False).opset_import
                    if o.domain in ('', 'ai.onnx')), None)
    if written != opset:  # the exporter keeps its own opset when it cannot convert the graph
        raise DeployedModelError(f'the graph could not be written in ONNX opset {opset} (the '
                                 f'exporter gave opset {written}); give --opset {written}')


def export_described_onnx(cfg: Config, detector: nn.Module, path: str, size: Tuple[int, int],
                          classes: Sequence[str], checkpoint: Optional[str] = None,
                          opset: int = 18, align_channels: bool = True) -> dict:
    """Export ``detector`` as :func:`export_onnx` does, into one self-contained ``.onnx`` that
    carries its description for ``shufflenet_det_runtime``, written atomically.

    The description is made first, so a detector the runtime cannot decode is refused before
    anything is exported, and an existing ``path`` is replaced only by a complete model.

    Args:
        cfg (Config): The config the detector was built from (its test pipeline).
        detector (nn.Module): The detector, in eval mode.
        path (str): Output ``.onnx`` file.
        size (tuple[int, int]): Input height and width.
        classes (Sequence[str]): The class names of its labels.
        checkpoint (str, optional): The weights file, whose sha256 is recorded. Default: None.
        opset (int): ONNX opset. Default: 18.
        align_channels (bool): Align ShuffleNetV2's channels. Default: True.

    Returns:
        dict: The description written.
    """
    description = model_description(cfg, detector, size, classes, output_names(detector, size),
                                     checkpoint)
    with tempfile.TemporaryDirectory(dir=Path(path).resolve().parent,
                                     prefix='.export-') as workdir:
        exported = str(Path(workdir) / 'model.onnx')
        export_onnx(detector, exported, size, opset, align_channels)
        write_onnx_description(exported, path, description)
    return description
