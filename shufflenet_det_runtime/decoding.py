"""The network's raw outputs decoded into boxes in numpy, as the config's head decodes them.

Three decoders cover the heads the project exports: ``gfl`` (NanoDet-m, NanoDet-Plus, YOLOv8: a
distribution over ``reg_max + 1`` distances per side, integrated), ``fcos`` (distances times
the stride, centerness) and ``anchor_delta`` (RetinaNet: anchor deltas). Every step works on
whole arrays, every level at once.
"""
from typing import Dict, Sequence, Tuple

import numpy as np

from .model_info import ModelInfo
from .nms import nms_in_score_order


def sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over='ignore'):  # exp(-x) of a very negative logit is inf: score 0
        return 1 / (1 + np.exp(-x))


def logit_below(score: float) -> float:
    """A logit a little below the one whose sigmoid is ``score``: logits under it cannot
    score above ``score``, so only the others need a sigmoid."""
    if score <= 0:
        return -np.inf
    if score >= 1:
        return np.inf
    return float(np.log(score / (1 - score))) - 1e-3


class Decoder:
    """Decodes one image's outputs for a model (priors cached per feature map sizes).

    Only the scores above the threshold are looked at: the classifier's logits are compared
    with the threshold's logit on the network's own (C, H, W) layout, all levels together,
    and only those candidates get a sigmoid and the ``nms_pre`` cut. A candidate's box is
    decoded only when NMS gets to it: NMS takes them best first, a block at a time, and
    stops at ``max_per_img`` boxes.

    Args:
        info (ModelInfo): The model's description.
    """

    def __init__(self, info: ModelInfo) -> None:
        self.info = info
        self.num_classes = len(info.classes)
        self.score_thr = float(info.postprocess['score_thr'])
        self.logit_cut = logit_below(self.score_thr)
        self.nms_pre = int(info.postprocess['nms_pre'])
        self.anchors = len(info.base_priors[0])  # priors per cell, the same on every level
        self._grids: Dict[tuple, Tuple[np.ndarray, ...]] = {}

    def grid(self, sizes: Sequence[Tuple[int, int]]) -> Tuple[np.ndarray, ...]:
        """For feature maps of ``sizes`` [(H, W), ...], every level's cells one after the
        other: the priors (cells x anchors, 4; each level's cell (0, 0) priors shifted by the
        stride, x fastest, a cell's priors together), each cell's x stride and level, and
        each level's first cell."""
        key = tuple(sizes)
        if key not in self._grids:
            priors, strides, levels = [], [], []
            for level, ((height, width), (stride_w, stride_h), base) in enumerate(
                    zip(sizes, self.info.strides, self.info.base_priors)):
                ys, xs = np.meshgrid(np.arange(height, dtype=np.float32) * stride_h,
                                     np.arange(width, dtype=np.float32) * stride_w,
                                     indexing='ij')
                shifts = np.stack([xs, ys, xs, ys], -1).reshape(-1, 1, 4)
                priors.append((shifts + base[None]).reshape(-1, 4))
                strides.append(np.full(height * width, stride_w, np.float32))
                levels.append(np.full(height * width, level))
            first_cells = np.cumsum([0] + [height * width for height, width in sizes])
            self._grids[key] = (np.concatenate(priors), np.concatenate(strides),
                                np.concatenate(levels), first_cells)
        return self._grids[key]

    def __call__(self, outputs: Sequence[np.ndarray], image_shape: Tuple[int, int],
                 scale: Tuple[float, float]) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Boxes (original pixels), scores and labels after the score threshold, NMS and
        ``max_per_img``, best first. Boxes are decoded only for the candidates NMS gets to.

        Args:
            outputs (list[np.ndarray]): The network's outputs for one image (batch 1),
                group-major as ``info.groups`` says.
            image_shape (tuple[int, int]): (height, width) of the resized image.
            scale (tuple[float, float]): (width, height) resize factors.
        """
        levels = len(self.info.strides)
        groups = {name: [out[0] for out in outputs[i * levels:(i + 1) * levels]]
                  for i, name in enumerate(self.info.groups)}
        priors, strides, cell_levels, first_cells = self.grid(
            [out.shape[1:] for out in groups['cls_score']])
        cell, anchor, labels, scores = self._candidates(groups['cls_score'], first_cells,
                                                        cell_levels)
        # every level's cells side by side: (channels, cells)
        cells = {name: np.concatenate([out.reshape(len(out), -1) for out in outs], 1)
                 for name, outs in groups.items() if name != 'cls_score'}
        if 'centerness' in cells:  # FCOS: NMS ranks class score x centerness
            scores = scores * sigmoid(cells['centerness'][0, cell])
        height, width = image_shape
        limits = np.array([width, height, width, height], np.float32)
        rescale = np.array([scale[0], scale[1], scale[0], scale[1]], np.float32)
        min_size = float(self.info.postprocess.get('min_bbox_size', -1))
        clip = self.info.head.get('clip_border', True)
        clip_after_nms = self.info.postprocess.get('clip', 'before_nms') == 'after_nms'
        decode = getattr(self, f'_{self.info.decoder}')

        def boxes_of(index: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
            boxes = decode(cells, cell[index], anchor[index],
                           np.take(priors, cell[index] * self.anchors + anchor[index], 0),
                           strides[cell[index]])
            if clip and not clip_after_nms:
                boxes = np.clip(boxes, 0, limits)
            boxes = boxes.astype(np.float32) / rescale
            if min_size >= 0:
                big = (boxes[:, 2] - boxes[:, 0] > min_size) & (boxes[:, 3] - boxes[:, 1]
                                                                > min_size)
                index, boxes = index[big], boxes[big]
            return index, boxes

        order = np.argsort(-scores, kind='stable')  # ties stay in location order
        kept, boxes = nms_in_score_order(order, labels, boxes_of,
                                         float(self.info.postprocess['iou_threshold']),
                                         int(self.info.postprocess['max_per_img']))
        if clip and clip_after_nms:  # YOLOv8: to the original image, after NMS
            boxes = np.clip(boxes, 0, limits / rescale)
        return boxes, scores[kept].astype(np.float32), labels[kept].astype(np.int64)

    def _candidates(self, logits: Sequence[np.ndarray], first_cells: np.ndarray,
                    cell_levels: np.ndarray) -> Tuple[np.ndarray, ...]:
        """Cell (over all levels), anchor, label and class score of the scores above the
        threshold, the ``nms_pre`` best of each level, location by location as MMDetection's
        head lists them (level, cell, anchor, class)."""
        channels, cells, values = [], [], []
        for level_logits, first_cell in zip(logits, first_cells):  # (A * C, H, W) each
            flat = level_logits.reshape(-1)
            index = np.flatnonzero(flat > self.logit_cut)
            channel, cell = np.divmod(index, flat.size // len(level_logits))
            channels.append(channel)
            cells.append(cell + first_cell)
            values.append(flat[index])
        scores = sigmoid(np.concatenate(values))
        above = scores > self.score_thr
        channel, cell, scores = np.concatenate(channels)[above], np.concatenate(cells)[above], \
            scores[above]
        anchor, labels = np.divmod(channel, self.num_classes)
        location = (cell * self.anchors + anchor) * self.num_classes + labels
        levels = cell_levels[cell]
        if 0 < self.nms_pre < np.bincount(levels).max(initial=0):
            # each level's best, ties location by location
            order = np.lexsort((location, -scores, levels))
            sorted_levels = levels[order]
            rank = np.arange(len(order)) - np.searchsorted(sorted_levels, sorted_levels)
            order = order[rank < self.nms_pre]
            order = order[np.argsort(location[order], kind='stable')]
        else:
            order = np.argsort(location, kind='stable')
        return cell[order], anchor[order], labels[order], scores[order]

    def _gfl(self, cells: dict, cell: np.ndarray, anchor: np.ndarray, priors: np.ndarray,
             strides: np.ndarray) -> np.ndarray:
        """Box sides as the expectation of a softmax over ``reg_max + 1`` bins, times the
        stride, from the prior's centre."""
        bins = int(self.info.head['reg_max']) + 1
        logits = np.take(cells['bbox_pred'], cell, 1).reshape(4, bins, -1)  # sides, bins, n
        weights = np.exp(logits - logits.max(1, keepdims=True))
        distances = (np.tensordot(np.arange(bins, dtype=np.float32), weights, (0, 1))
                     / weights.sum(1)).T * strides[:, None]  # (n, sides)
        centers = (priors[:, :2] + priors[:, 2:]) / 2
        return np.concatenate([centers - distances[:, :2], centers + distances[:, 2:]], 1)

    def _fcos(self, cells: dict, cell: np.ndarray, anchor: np.ndarray, priors: np.ndarray,
              strides: np.ndarray) -> np.ndarray:
        """Box sides in pixels from the point (the scores take the centerness before)."""
        distances = np.take(cells['bbox_pred'], cell, 1).T
        centers = priors[:, :2]
        return np.concatenate([centers - distances[:, :2], centers + distances[:, 2:]], 1)

    def _anchor_delta(self, cells: dict, cell: np.ndarray, anchor: np.ndarray,
                      priors: np.ndarray, strides: np.ndarray) -> np.ndarray:
        """Centre shifts and log size ratios relative to the anchor (``DeltaXYWHBBoxCoder``)."""
        head = self.info.head
        deltas = cells['bbox_pred'].reshape(self.anchors, 4, -1)[anchor, :, cell]  # (n, 4)
        deltas = deltas * np.float32(head['stds']) + np.float32(head['means'])
        centers = (priors[:, :2] + priors[:, 2:]) * 0.5
        sizes = priors[:, 2:] - priors[:, :2]
        max_ratio = abs(np.log(float(head['wh_ratio_clip'])))
        centers = centers + sizes * deltas[:, :2]
        sizes = sizes * np.exp(np.clip(deltas[:, 2:], -max_ratio, max_ratio))
        return np.concatenate([centers - sizes * 0.5, centers + sizes * 0.5], 1)
