"""The network's raw outputs decoded into boxes in numpy, as the config's head decodes them.

Three decoders cover the heads the project exports: ``gfl`` (NanoDet-m, NanoDet-Plus: a
distribution over ``reg_max + 1`` distances per side, integrated), ``fcos`` (distances times
the stride, centerness) and ``anchor_delta`` (RetinaNet: anchor deltas). Every step works on
whole arrays; only NMS goes round by round, one round per box kept.
"""
from typing import Dict, Sequence, Tuple

import numpy as np

from .model_info import ModelInfo
from .nms import batched_nms


def sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over='ignore'):  # exp(-x) of a very negative logit is inf: score 0
        return 1 / (1 + np.exp(-x))


def flatten(output: np.ndarray, channels: int) -> np.ndarray:
    """One image's (C', H, W) output as (H * W * C' / channels, channels), location-major."""
    return output.transpose(1, 2, 0).reshape(-1, channels)


def top_per_level(scores: np.ndarray, levels: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` best ``scores`` of each level (all if ``k`` <= 0), level by level,
    best first within a level."""
    order = np.lexsort((-scores, levels))
    if k <= 0:
        return order
    sorted_levels = levels[order]
    starts = np.searchsorted(sorted_levels, sorted_levels, side='left')
    return order[np.arange(len(order)) - starts < k]


class Decoder:
    """Decodes one image's outputs for a model (priors cached per feature map sizes).

    Args:
        info (ModelInfo): The model's description.
    """

    def __init__(self, info: ModelInfo) -> None:
        self.info = info
        self.num_classes = len(info.classes)
        self._priors: Dict[tuple, Tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def priors(self, sizes: Sequence[Tuple[int, int]]) -> Tuple[np.ndarray, ...]:
        """Priors (P, 4), their strides (P, 2) and level indices (P, ) for feature maps of
        ``sizes`` [(H, W), ...]: each level's cell (0, 0) priors shifted by the stride, x
        fastest, the priors of a cell together."""
        key = tuple(sizes)
        if key not in self._priors:
            priors, strides, levels = [], [], []
            for level, ((height, width), (stride_w, stride_h), base) in enumerate(
                    zip(sizes, self.info.strides, self.info.base_priors)):
                ys, xs = np.meshgrid(np.arange(height, dtype=np.float32) * stride_h,
                                     np.arange(width, dtype=np.float32) * stride_w,
                                     indexing='ij')
                shifts = np.stack([xs, ys, xs, ys], -1).reshape(-1, 1, 4)
                level_priors = (shifts + base[None]).reshape(-1, 4)
                priors.append(level_priors)
                strides.append(np.tile([stride_w, stride_h], (len(level_priors), 1)))
                levels.append(np.full(len(level_priors), level))
            self._priors[key] = (np.concatenate(priors), np.concatenate(strides, dtype=np.float32),
                                 np.concatenate(levels))
        return self._priors[key]

    def __call__(self, outputs: Sequence[np.ndarray], image_shape: Tuple[int, int],
                 scale: Tuple[float, float]) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Boxes (original pixels), scores and labels after the score threshold, NMS and
        ``max_per_img``, best first.

        Args:
            outputs (list[np.ndarray]): The network's outputs for one image (batch 1),
                group-major as ``info.groups`` says.
            image_shape (tuple[int, int]): (height, width) of the resized image.
            scale (tuple[float, float]): (width, height) resize factors.
        """
        levels = len(self.info.strides)
        groups = {name: [out[0] for out in outputs[i * levels:(i + 1) * levels]]
                  for i, name in enumerate(self.info.groups)}
        cfg = self.info.postprocess
        priors, strides, levels = self.priors([out.shape[1:] for out in groups['cls_score']])
        scores = sigmoid(np.concatenate([flatten(o, self.num_classes)
                                         for o in groups['cls_score']]))
        locations, labels = self._candidates(scores, levels, cfg)
        boxes, scores = getattr(self, f'_{self.info.decoder}')(
            groups, locations, priors[locations], strides[locations], scores[locations, labels])
        if self.info.head.get('clip_border', True):
            height, width = image_shape
            boxes = np.clip(boxes, 0, [width, height, width, height])
        boxes = boxes.astype(np.float32)
        boxes /= np.array([scale[0], scale[1], scale[0], scale[1]], np.float32)
        min_size = float(cfg.get('min_bbox_size', -1))
        if min_size >= 0:
            big = ((boxes[:, 2] - boxes[:, 0]) > min_size) & ((boxes[:, 3] - boxes[:, 1])
                                                              > min_size)
            boxes, scores, labels = boxes[big], scores[big], labels[big]
        keep = batched_nms(boxes, scores, labels, float(cfg['iou_threshold']),
                           int(cfg['max_per_img']))
        return boxes[keep], scores[keep].astype(np.float32), labels[keep].astype(np.int64)

    def _candidates(self, scores: np.ndarray, levels: np.ndarray, cfg: dict) -> tuple:
        """(prior index, label) of the scores above the threshold, the ``nms_pre`` best of
        each level."""
        locations, labels = np.nonzero(scores > float(cfg['score_thr']))
        kept = top_per_level(scores[locations, labels], levels[locations], int(cfg['nms_pre']))
        return locations[kept], labels[kept]

    @staticmethod
    def _gather(outputs: Sequence[np.ndarray], channels: int,
                locations: np.ndarray) -> np.ndarray:
        """The ``channels`` values of every level's output at the prior indices ``locations``."""
        return np.concatenate([flatten(o, channels) for o in outputs])[locations]

    def _gfl(self, groups: dict, locations: np.ndarray, priors: np.ndarray,
             strides: np.ndarray, scores: np.ndarray) -> tuple:
        """Box sides as the expectation of a softmax over ``reg_max + 1`` bins, times the
        stride, from the prior's centre."""
        reg_max = int(self.info.head['reg_max'])
        bins = self._gather(groups['bbox_pred'], 4 * (reg_max + 1), locations)
        bins = bins.reshape(-1, 4, reg_max + 1)
        bins = np.exp(bins - bins.max(-1, keepdims=True))
        distances = (bins / bins.sum(-1, keepdims=True)) @ np.arange(reg_max + 1,
                                                                     dtype=np.float32)
        distances = distances * strides[:, :1]
        centers = (priors[:, :2] + priors[:, 2:]) / 2
        return np.concatenate([centers - distances[:, :2], centers + distances[:, 2:]], 1), scores

    def _fcos(self, groups: dict, locations: np.ndarray, priors: np.ndarray,
              strides: np.ndarray, scores: np.ndarray) -> tuple:
        """Box sides in pixels from the point; scores times the centerness."""
        distances = self._gather(groups['bbox_pred'], 4, locations)
        centerness = sigmoid(self._gather(groups['centerness'], 1, locations)[:, 0])
        centers = priors[:, :2]
        boxes = np.concatenate([centers - distances[:, :2], centers + distances[:, 2:]], 1)
        return boxes, scores * centerness

    def _anchor_delta(self, groups: dict, locations: np.ndarray, priors: np.ndarray,
                      strides: np.ndarray, scores: np.ndarray) -> tuple:
        """Centre shifts and log size ratios relative to the anchor (``DeltaXYWHBBoxCoder``)."""
        head = self.info.head
        deltas = self._gather(groups['bbox_pred'], 4, locations)
        deltas = deltas * np.float32(head['stds']) + np.float32(head['means'])
        centers = (priors[:, :2] + priors[:, 2:]) * 0.5
        sizes = priors[:, 2:] - priors[:, :2]
        max_ratio = abs(np.log(float(head['wh_ratio_clip'])))
        centers = centers + sizes * deltas[:, :2]
        sizes = sizes * np.exp(np.clip(deltas[:, 2:], -max_ratio, max_ratio))
        return np.concatenate([centers - sizes * 0.5, centers + sizes * 0.5], 1), scores
