"""What an exported model says about itself: the one contract between training and runtime.

``tools/deployment/pytorch2onnx.py`` writes it into the ``.onnx`` file's ``metadata_props``
(key :data:`METADATA_KEY`, a JSON document); ``tools/deployment/convert_onnx.py`` copies it into
a JSON file beside an ncnn or OpenVINO pair (:func:`sidecar_path`), adding each file's sha256 so
that a mixed set is refused (``sha256``: ``model`` and ``weights``). The document
(format :data:`FORMAT`):

- ``classes``: the class names, label ``i`` is ``classes[i]``;
- ``input``: ``size`` [height, width] the network was exported for; the network takes float32
  BGR images 0-255 in NCHW, normalised inside the graph (``mean``, ``std``, ``to_rgb`` recorded);
- ``preprocess``: ``resize`` (``scale`` [width, height], ``keep_ratio``, bilinear as
  ``cv2.resize``), then padding at the bottom and right with ``pad_bgr`` up to a multiple of
  ``pad_size_divisor`` (and up to ``input.size`` when the runtime fixes the size);
- ``head``: ``decoder`` (``gfl``, ``fcos`` or ``anchor_delta``), ``strides`` [[w, h], ...], the
  ``priors`` of cell (0, 0) of each level ([[x1, y1, x2, y2], ...]; cell (i, j) adds
  ``i * stride``), ``reg_max`` (``gfl``) or the delta coder's ``means``, ``stds``,
  ``wh_ratio_clip`` and ``clip_border`` (``anchor_delta``); scores are sigmoids;
- ``outputs``: ``groups`` (e.g. ``cls_score``, ``bbox_pred``, ``centerness``), each given for
  every level in turn (group-major), NCHW;
- ``postprocess``: the config's ``score_thr``, ``nms_pre`` (per level; -1: all), class-wise NMS
  at ``iou_threshold``, ``max_per_img``, ``min_bbox_size`` (-1: none), and ``clip``: boxes are
  clipped to the image ``before_nms`` (MMDetection's heads; the default) or ``after_nms``
  (YOLOv8);
- ``source``: the config's file name and the checkpoint's sha256.
"""
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np

from .errors import ModelError
from .network_loading import backend_of
from .onnx_metadata import read_onnx_metadata

METADATA_KEY = 'shufflenet_det'
FORMAT = 'shufflenet_det.model/1'
DECODERS = ('gfl', 'fcos', 'anchor_delta')
GROUPS = dict(gfl=('cls_score', 'bbox_pred'), fcos=('cls_score', 'bbox_pred', 'centerness'),
              anchor_delta=('cls_score', 'bbox_pred'))


def sha256_of(path: str) -> str:
    """The sha256 of a file's bytes, as hex."""
    digest = hashlib.sha256()
    with open(path, 'rb') as file:
        for block in iter(lambda: file.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def sidecar_path(model_path: str) -> Path:
    """The JSON file that describes an ncnn ``.param`` or OpenVINO ``.xml`` model: beside it,
    ``.json`` in place of the suffix (``model.ncnn.param`` -> ``model.ncnn.json``)."""
    return Path(model_path).with_suffix('.json')


def weights_path(model_path: str) -> Path:
    """The ``.bin`` of an ncnn ``.param`` or OpenVINO ``.xml`` model."""
    return Path(model_path).with_suffix('.bin')


@dataclass(frozen=True)
class ModelInfo:
    """The parts of the document the runtime uses, checked once when a model is opened.

    Args:
        document (dict): The whole document, as written; the properties read it.
    """

    document: dict

    def __post_init__(self) -> None:
        try:
            doc = self.document
            if doc.get('format') != FORMAT:
                raise ValueError(f"format {doc.get('format')!r}, this runtime reads {FORMAT!r}")
            if doc['head']['decoder'] not in DECODERS:
                raise ValueError(f"decoder {doc['head']['decoder']!r}, not one of {DECODERS}")
            levels = len(doc['head']['strides'])
            if not levels:
                raise ValueError('no strides')
            if len(doc['head']['priors']) != levels:
                raise ValueError(f"{len(doc['head']['priors'])} levels of priors for {levels} "
                                 'strides')
            for key in ('score_thr', 'nms_pre', 'iou_threshold', 'max_per_img'):
                float(doc['postprocess'][key])
            if not doc['classes'] or len(doc['input']['size']) != 2:
                raise ValueError('no classes or no input size')
            if self.keep_ratio not in (True, False) or len(self.resize_scale) != 2:
                raise ValueError('a resize without scale or keep_ratio')
            if self.pad_size_divisor < 1 or len(self.pad_bgr) != 3:
                raise ValueError('a padding without a divisor of at least 1 or a BGR value')
            if not all(isinstance(name, str) for name in doc['classes']):
                raise ValueError('class names that are not strings')
            if len({len(level) for level in self.base_priors}) != 1:
                raise ValueError('levels with different numbers of priors per cell')
            head = doc['head']
            if self.decoder == 'gfl' and int(head['reg_max']) < 0:
                raise ValueError(f"reg_max {head['reg_max']}")
            if self.decoder == 'anchor_delta' and (len(head['means']) != 4 or
                                                   len(head['stds']) != 4 or
                                                   float(head['wh_ratio_clip']) <= 0):
                raise ValueError('a delta coder without 4 means, 4 stds and a positive '
                                 'wh_ratio_clip')
        except (KeyError, TypeError, ValueError) as error:
            detail = f'no {error}' if isinstance(error, KeyError) else str(error)
            raise ModelError(f'the model description is incomplete ({detail}); export the '
                             'model again with tools/deployment/pytorch2onnx.py') from error

    @property
    def classes(self) -> List[str]:
        return list(self.document['classes'])

    @property
    def input_size(self) -> Tuple[int, int]:
        height, width = self.document['input']['size']
        return int(height), int(width)

    @property
    def resize_scale(self) -> Tuple[int, int]:
        """(width, height) of the resize, as MMDetection's ``Resize`` gives it."""
        width, height = self.document['preprocess']['resize']['scale']
        return int(width), int(height)

    @property
    def keep_ratio(self) -> bool:
        return self.document['preprocess']['resize']['keep_ratio']

    @property
    def pad_size_divisor(self) -> int:
        return int(self.document['preprocess'].get('pad_size_divisor', 1))

    @property
    def pad_bgr(self) -> Tuple[float, float, float]:
        return tuple(float(v) for v in self.document['preprocess']['pad_bgr'])

    @property
    def decoder(self) -> str:
        return self.document['head']['decoder']

    @property
    def head(self) -> dict:
        return self.document['head']

    @property
    def strides(self) -> List[Tuple[float, float]]:
        return [(float(w), float(h)) for w, h in self.document['head']['strides']]

    @property
    def base_priors(self) -> List[np.ndarray]:
        """The priors of cell (0, 0) of each level, (A, 4) x1, y1, x2, y2."""
        return [np.asarray(level, np.float32).reshape(-1, 4)
                for level in self.document['head']['priors']]

    @property
    def groups(self) -> Tuple[str, ...]:
        return GROUPS[self.decoder]

    @property
    def postprocess(self) -> dict:
        return self.document['postprocess']


def parse_document(text: str, source: str) -> ModelInfo:
    """A :class:`ModelInfo` from the JSON text of a model description."""
    try:
        document = json.loads(text)
    except ValueError as error:
        raise ModelError(f'{source}: the model description is not valid JSON ({error})') \
            from error
    if not isinstance(document, dict):
        raise ModelError(f'{source}: the model description is not a JSON object')
    return ModelInfo(document)


def read_model_info(model_path: str) -> ModelInfo:
    """The description of an exported model: from an ``.onnx`` file's metadata, or from the
    JSON beside an ncnn ``.param`` or OpenVINO ``.xml``, whose recorded sha256 must match both
    files of the pair.

    Args:
        model_path (str): The ``.onnx``, ``.param`` or ``.xml`` file.

    Returns:
        ModelInfo: The description.

    Raises:
        ModelError: When there is no description (an export older than the runtime, or a
            network exported elsewhere) or it belongs to other files.
    """
    path = Path(model_path)
    if not path.is_file():
        raise ModelError(f'{model_path} does not exist' if not path.exists()
                         else f'{model_path} is not a model file')
    backend_of(model_path)  # a file no runtime reads: said first
    if path.suffix == '.onnx':
        text = read_onnx_metadata(model_path).get(METADATA_KEY)
        if text is None:
            raise ModelError(f'{model_path} carries no shufflenet_det description (exported '
                             'before the runtime existed, or elsewhere); export it again with '
                             'tools/deployment/pytorch2onnx.py')
        return parse_document(text, model_path)
    sidecar = sidecar_path(model_path)
    if not sidecar.is_file():
        raise ModelError(f'no {sidecar.name} beside {path.name}: convert the model with '
                         'tools/deployment/convert_onnx.py, which writes it')
    info = parse_document(sidecar.read_text(), str(sidecar))
    recorded: Dict[str, str] = info.document.get('sha256', {})
    if not isinstance(recorded, dict):
        raise ModelError(f'{sidecar.name}: sha256 is not the files\' digests; convert the model '
                         'again')
    for role, file in (('model', path), ('weights', weights_path(model_path))):
        if not file.is_file():
            raise ModelError(f'{file} is missing: {path.name} needs its {file.suffix} beside it')
        if recorded.get(role) != sha256_of(str(file)):
            raise ModelError(f'{file.name} is not the file {sidecar.name} describes (another '
                             'export, or a mixed pair); convert the model again')
    return info
