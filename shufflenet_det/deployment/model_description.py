"""The description an exported model carries: what the runtime (``shufflenet_det_runtime``)
needs to preprocess and decode it, read from the config and the detector it was exported from.

The format is the runtime's (:mod:`shufflenet_det_runtime.model_info`); this module fills it
and writes it into an ONNX file or beside an ncnn/OpenVINO pair, each file atomically.
"""
import json
import os
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple

import onnx
from mmdet.models.dense_heads import AnchorHead, FCOSHead
from mmdet.models.task_modules.coders import DeltaXYWHBBoxCoder
from mmengine.config import Config
from torch import nn

from shufflenet_det.errors import DeployedModelError
from shufflenet_det.models.dense_heads import NanoDetHead
from shufflenet_det.utils.run_config import leaf_datasets
from shufflenet_det_runtime.model_info import (FORMAT, GROUPS, METADATA_KEY, sha256_of,
                                               sidecar_path, weights_path)

#: Test-pipeline transforms the runtime does (or that carry no image work).
RUNTIME_TRANSFORMS = ('LoadImageFromFile', 'Resize', 'LoadAnnotations', 'PackDetInputs')


def _resize(cfg: Config) -> dict:
    """The test pipeline's ``Resize``, checked to be all the runtime needs to do."""
    for _, dataset in leaf_datasets('test_dataloader', cfg.get('test_dataloader')):
        pipeline = dataset.get('pipeline', [])
        others = [t.get('type') for t in pipeline if t.get('type') not in RUNTIME_TRANSFORMS]
        if others:
            raise DeployedModelError(
                f"the test pipeline's {', '.join(map(str, others))} is not done by the runtime, "
                f'which loads the image and resizes it ({", ".join(RUNTIME_TRANSFORMS)} only)')
        for transform in pipeline:
            if transform.get('type') == 'Resize':
                if transform.get('interpolation', 'bilinear') != 'bilinear' or not transform.get(
                        'scale'):
                    raise DeployedModelError('the runtime resizes to a fixed scale, bilinear; '
                                             f'the test pipeline has {dict(transform)}')
                return dict(scale=list(transform['scale']),
                            keep_ratio=bool(transform.get('keep_ratio', False)))
    raise DeployedModelError("the config's test pipeline has no Resize with a scale")


def _head(detector: nn.Module) -> Tuple[str, dict]:
    """The decoder that computes what ``detector``'s head computes, and its parameters."""
    head = detector.bbox_head
    if not head.use_sigmoid_cls:
        raise DeployedModelError(f'{type(head).__name__} scores with a softmax; the runtime '
                                 'decodes sigmoid scores only')
    generator = head.prior_generator
    levels = generator.num_levels
    cell_priors = generator.grid_priors([(1, 1)] * levels, device='cpu')
    priors = [(p.repeat(1, 2) if p.shape[-1] == 2 else p).tolist() for p in cell_priors]
    params = dict(strides=[list(stride) for stride in generator.strides], priors=priors)
    if isinstance(head, NanoDetHead):
        return 'gfl', dict(params, reg_max=head.reg_max)
    if isinstance(head, FCOSHead):
        return 'fcos', params
    coder = getattr(head, 'bbox_coder', None)
    if isinstance(head, AnchorHead) and isinstance(coder, DeltaXYWHBBoxCoder) and \
            not coder.add_ctr_clamp:
        return 'anchor_delta', dict(params, means=list(coder.means), stds=list(coder.stds),
                                    wh_ratio_clip=16 / 1000, clip_border=coder.clip_border)
    raise DeployedModelError(f'the runtime has no decoder for {type(head).__name__} (it decodes '
                             'NanoDet, NanoDet-Plus, YOLOv8, FCOS and RetinaNet heads)')


def _postprocess(detector: nn.Module) -> dict:
    """The head's test settings, checked to be class-wise NMS."""
    cfg = detector.bbox_head.test_cfg
    nms = dict(cfg.get('nms') or {})
    if nms.get('type', 'nms') != 'nms' or nms.get('class_agnostic', False):
        raise DeployedModelError(f'the runtime applies class-wise nms; the config has {nms}')
    clip_before_nms = getattr(detector.bbox_head, 'clip_before_nms', True)
    return dict(score_thr=float(cfg.get('score_thr', 0)), nms_pre=int(cfg.get('nms_pre', -1)),
                nms='class-wise', iou_threshold=float(nms['iou_threshold']),
                max_per_img=int(cfg.get('max_per_img', 100)),
                min_bbox_size=float(cfg.get('min_bbox_size', -1)),
                clip='before_nms' if clip_before_nms else 'after_nms')


def model_description(cfg: Config, detector: nn.Module, input_size: Tuple[int, int],
                      classes: Sequence[str], output_names: List[str],
                      checkpoint: Optional[str] = None) -> dict:
    """The description of ``detector`` exported at ``input_size``.

    Args:
        cfg (Config): The config it was built from (``cfg.filename`` is recorded).
        detector (nn.Module): The detector.
        input_size (tuple[int, int]): (height, width) of the exported network's input.
        classes (Sequence[str]): Its class names.
        output_names (list[str]): The network's output names, in order.
        checkpoint (str, optional): The weights file (its sha256 is recorded). Default: None.

    Returns:
        dict: The JSON-ready document.

    Raises:
        DeployedModelError: For a head, a test pipeline or NMS the runtime cannot reproduce,
            or classes that do not match the head.
    """
    decoder, head = _head(detector)
    if len(classes) != detector.bbox_head.num_classes:
        raise DeployedModelError(f'{len(classes)} class names for a head of '
                                 f'{detector.bbox_head.num_classes} classes')
    preprocessor = detector.data_preprocessor
    to_rgb = bool(getattr(preprocessor, '_channel_conversion', False))
    mean, std = preprocessor.mean.flatten(), preprocessor.std.flatten()
    pad = mean + std * float(getattr(preprocessor, 'pad_value', 0))  # in the network's order
    return {
        'format': FORMAT,
        'classes': list(classes),
        'input': dict(size=list(input_size), layout='NCHW float32 BGR 0-255',
                      mean=mean.tolist(), std=std.tolist(), to_rgb=to_rgb),
        'preprocess': dict(resize=_resize(cfg),
                           pad_size_divisor=int(getattr(preprocessor, 'pad_size_divisor', 1)),
                           pad_bgr=(pad.flip(0) if to_rgb else pad).tolist()),
        'head': dict(type=type(detector.bbox_head).__name__, decoder=decoder,
                     score_activation='sigmoid', **head),
        'outputs': dict(names=output_names, groups=list(GROUPS[decoder])),
        'postprocess': _postprocess(detector),
        'source': dict(config=Path(cfg.filename).name if cfg.filename else None,
                       checkpoint_sha256=sha256_of(checkpoint) if checkpoint else None),
    }


def _replace_atomically(path: str, write: Callable[[str], None]) -> None:
    """Call ``write(temporary path)`` beside ``path``, then rename the result into place: a
    reader sees the old file or the complete new one, never a part."""
    temporary = Path(path).with_name(f'.{Path(path).name}.{os.getpid()}.partial')
    try:
        write(str(temporary))
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_onnx_description(source: str, path: str, description: dict) -> None:
    """Write the ONNX model ``source`` to ``path`` as one self-contained file (external weights
    taken in) with ``description`` in its ``metadata_props``, atomically.

    Args:
        source (str): The ``.onnx`` file as exported (possibly with a ``.data`` beside it).
        path (str): The ``.onnx`` file to write (may be ``source``).
        description (dict): The document of :func:`model_description`.
    """
    model = onnx.load(source)  # external data, if any, loaded into the model
    del model.metadata_props[:]
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(description)
    _replace_atomically(path, lambda temporary: onnx.save(model, temporary))


def write_sidecar(model_path: str, description: dict) -> Path:
    """Write the JSON beside an ncnn ``.param`` or OpenVINO ``.xml`` that describes it, with
    both files' sha256, atomically.

    Returns:
        Path: The JSON file.
    """
    document = dict(description, sha256=dict(model=sha256_of(model_path),
                                             weights=sha256_of(str(weights_path(model_path)))))
    sidecar = sidecar_path(model_path)
    _replace_atomically(str(sidecar), lambda temporary: Path(temporary).write_text(
        json.dumps(document, indent=1)))
    return sidecar
