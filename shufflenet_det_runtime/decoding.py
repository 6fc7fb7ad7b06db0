"""The network's raw outputs decoded into boxes in numpy, as the config's head decodes them.

Three decoders cover the heads the project exports: ``gfl`` (NanoDet-m, NanoDet-Plus, YOLOv8: a
distribution over ``reg_max + 1`` distances per side, integrated), ``fcos`` (distances times
the stride, centerness) and ``anchor_delta`` (RetinaNet: anchor deltas). Every step works on
whole arrays: no Python loop over priors or boxes.
"""
from typing import Dict, List, NamedTuple, Sequence, Tuple

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


def score_order(scores: np.ndarray, location: np.ndarray) -> np.ndarray:
    """Indices that sort candidates by score, best first, ties by location, with one sort
    of int64 keys: a float32 score in [0, 1] orders as its bits do (30 bits), and the
    location fills the bits below them.

    Args:
        scores (np.ndarray): (N, ) scores in [0, 1].
        location (np.ndarray): (N, ) distinct integers in [0, 2 ** 33).

    Returns:
        np.ndarray: (N, ) indices, best score first.
    """
    bits = int(location.max(initial=0)).bit_length()
    bits_of_score = np.asarray(scores, np.float32).view(np.int32).astype(np.int64)
    rank = 0x3F800000 - bits_of_score  # 1.0 first; int64 under NumPy 1 and 2 alike
    return np.argsort((rank << bits) | location.astype(np.int64, copy=False))


class Grid(NamedTuple):
    """Every level's cells one after the other, for one set of feature map sizes.

    Args:
        priors (np.ndarray): (4, cells x anchors) x1, y1, x2, y2, a cell's priors
            together.
        strides (np.ndarray): (cells, ) each cell's x stride.
        first_cells (np.ndarray): (levels + 1, ) each level's first cell, then the count.
        level_cells (list[int]): Each level's H x W.
    """

    priors: np.ndarray
    strides: np.ndarray
    first_cells: np.ndarray
    level_cells: List[int]


class Decoder:
    """Decodes one image's outputs for a model (priors cached per feature map sizes).

    Only the scores above the threshold are looked at: the classifier's logits are compared
    with the threshold's logit on the network's own (C, H, W) layout, level by level, and only
    those candidates get a sigmoid and the ``nms_pre`` cut. A candidate's box is decoded only
    when NMS gets to it: NMS takes them best first, a block at a time, and stops at
    ``max_per_img`` boxes.

    Args:
        info (ModelInfo): The model's description.
    """

    def __init__(self, info: ModelInfo) -> None:
        self.info = info
        post, head = info.postprocess, info.head
        self.num_classes = len(info.classes)
        self.anchors = len(info.base_priors[0])  # priors per cell, the same on every level
        self.levels = len(info.strides)
        self.groups = info.groups
        self.score_thr = float(post['score_thr'])
        self.logit_cut = logit_below(self.score_thr)
        self.nms_pre = int(post['nms_pre'])
        self.iou_threshold = float(post['iou_threshold'])
        self.max_per_img = int(post['max_per_img'])
        self.min_size = float(post.get('min_bbox_size', -1))
        self.clip = head.get('clip_border', True)
        self.clip_after_nms = post.get('clip', 'before_nms') == 'after_nms'
        self.decode = getattr(self, f'_{info.decoder}')
        if info.decoder == 'gfl':
            self.bins = np.arange(int(head['reg_max']) + 1, dtype=np.float32)
        self._grids: Dict[tuple, Grid] = {}

    def grid(self, sizes: Sequence[Tuple[int, int]]) -> Grid:
        """The :class:`Grid` of feature maps of ``sizes`` [(H, W), ...]: each level's cell
        (0, 0) priors shifted by the stride, x fastest."""
        key = tuple(sizes)
        if key not in self._grids:
            priors, strides = [], []
            for (height, width), (stride_w, stride_h), base in zip(
                    sizes, self.info.strides, self.info.base_priors):
                ys, xs = np.meshgrid(np.arange(height, dtype=np.float32) * stride_h,
                                     np.arange(width, dtype=np.float32) * stride_w,
                                     indexing='ij')
                shifts = np.stack([xs, ys, xs, ys], -1).reshape(-1, 1, 4)
                priors.append((shifts + base[None]).reshape(-1, 4))
                strides.append(np.full(height * width, stride_w, np.float32))
            level_cells = [height * width for height, width in sizes]
            self._grids[key] = Grid(np.ascontiguousarray(np.concatenate(priors).T),
                                    np.concatenate(strides),
                                    np.cumsum([0] + level_cells), level_cells)
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
        levels = self.levels
        groups = {name: outputs[i * levels:(i + 1) * levels]
                  for i, name in enumerate(self.groups)}
        grid = self.grid([out.shape[2:] for out in groups['cls_score']])
        location, scores = self._candidates(groups['cls_score'], grid)
        prior, labels = np.divmod(location, self.num_classes)  # prior: cell x anchors + anchor
        # every level's cells side by side: (channels, cells)
        cells = {name: np.concatenate([out.reshape(out.shape[1], -1) for out in outs], 1)
                 for name, outs in groups.items() if name != 'cls_score'}
        if 'centerness' in cells:  # FCOS: NMS ranks class score x centerness
            scores = scores * sigmoid(cells['centerness'][0].take(prior // self.anchors))
        height, width = image_shape
        limits = np.array([[width], [height], [width], [height]], np.float32)
        rescale = np.array([[scale[0]], [scale[1]], [scale[0]], [scale[1]]], np.float32)
        clip_before_nms = self.clip and not self.clip_after_nms
        min_size = self.min_size

        def boxes_of(index: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
            boxes = self.decode(cells, prior.take(index), grid)
            if clip_before_nms:
                boxes = np.minimum(np.maximum(boxes, 0), limits)
            boxes = (boxes / rescale).astype(np.float32, copy=False)
            if min_size >= 0:
                big = (boxes[2] - boxes[0] > min_size) & (boxes[3] - boxes[1] > min_size)
                index, boxes = index[big], boxes[:, big]
            return index, boxes.T  # (n, 4), x1 ... y2 each contiguous for NMS

        kept, boxes = nms_in_score_order(score_order(scores, location), labels, boxes_of,
                                         self.iou_threshold, self.max_per_img)
        if self.clip and self.clip_after_nms:  # YOLOv8: to the original image, after NMS
            boxes = np.clip(boxes, 0, (limits / rescale).T)
        return (np.ascontiguousarray(boxes, np.float32), scores.take(kept).astype(np.float32),
                labels.take(kept).astype(np.int64))

    def _candidates(self, logits: Sequence[np.ndarray],
                    grid: Grid) -> Tuple[np.ndarray, np.ndarray]:
        """The location ((cell x anchors + anchor) x classes + class, as MMDetection's head
        lists them) and class score of the scores above the threshold, the ``nms_pre`` best
        of each level."""
        locations, values = [], []
        per_cell = self.anchors * self.num_classes
        for level_logits, first_cell, cells in zip(logits, grid.first_cells,
                                                   grid.level_cells):  # (1, A x C, H, W)
            flat = level_logits.reshape(-1)
            index = (flat > self.logit_cut).nonzero()[0]
            channel, cell = np.divmod(index, cells)
            locations.append(cell * per_cell + (channel + first_cell * per_cell))
            values.append(flat.take(index))
        location, scores = np.concatenate(locations), sigmoid(np.concatenate(values))
        above = scores > self.score_thr
        location, scores = location[above], scores[above]
        if self.nms_pre > 0:
            level = np.searchsorted(grid.first_cells * per_cell, location, 'right') - 1
            if self.nms_pre < np.bincount(level).max(initial=0):
                # each level's best, ties location by location
                order = np.lexsort((location, -scores, level))
                sorted_levels = level[order]
                rank = np.arange(len(order)) - np.searchsorted(sorted_levels, sorted_levels)
                order = order[rank < self.nms_pre]
                location, scores = location[order], scores[order]
        return location, scores

    def _gfl(self, cells: dict, prior: np.ndarray, grid: Grid) -> np.ndarray:
        """Box sides as the expectation of a softmax over ``reg_max + 1`` bins, times the
        stride, from the prior's centre; (4, n) x1, y1, x2, y2."""
        cell = prior // self.anchors
        logits = cells['bbox_pred'].take(cell, 1).reshape(4, len(self.bins), -1)  # sides, bins
        weights = np.exp(logits - logits.max(1, keepdims=True))
        distances = np.dot(self.bins, weights) / weights.sum(1) * grid.strides.take(cell)
        corners = grid.priors.take(prior, 1)
        centers = (corners[:2] + corners[2:]) / 2
        return np.concatenate([centers - distances[:2], centers + distances[2:]])

    def _fcos(self, cells: dict, prior: np.ndarray, grid: Grid) -> np.ndarray:
        """Box sides in pixels from the point (the scores take the centerness before); (4, n)
        x1, y1, x2, y2."""
        distances = cells['bbox_pred'].take(prior // self.anchors, 1)
        centers = grid.priors.take(prior, 1)[:2]
        return np.concatenate([centers - distances[:2], centers + distances[2:]])

    def _anchor_delta(self, cells: dict, prior: np.ndarray, grid: Grid) -> np.ndarray:
        """Centre shifts and log size ratios relative to the anchor (``DeltaXYWHBBoxCoder``);
        (4, n) x1, y1, x2, y2."""
        head = self.info.head
        cell, anchor = np.divmod(prior, self.anchors)
        deltas = cells['bbox_pred'].reshape(self.anchors, 4, -1)[anchor, :, cell].T  # (4, n)
        deltas = deltas * np.float32(head['stds'])[:, None] + np.float32(head['means'])[:, None]
        anchors = grid.priors.take(prior, 1)
        centers = (anchors[:2] + anchors[2:]) * 0.5
        sizes = anchors[2:] - anchors[:2]
        max_ratio = float(abs(np.log(head['wh_ratio_clip'])))  # a Python float: boxes stay float32
        centers = centers + sizes * deltas[:2]
        sizes = sizes * np.exp(np.clip(deltas[2:], -max_ratio, max_ratio))
        return np.concatenate([centers - sizes * 0.5, centers + sizes * 0.5])
