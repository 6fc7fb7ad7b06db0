"""The network's raw outputs decoded into boxes in numpy, as the config's head decodes them.

Three decoders cover the heads the project exports: ``gfl`` (NanoDet-m, NanoDet-Plus, YOLOv8: a
distribution over ``reg_max + 1`` distances per side, integrated), ``fcos`` (distances times
the stride, centerness) and ``anchor_delta`` (RetinaNet: anchor deltas). Every step works on
whole arrays: no Python loop over priors or boxes.
"""
from typing import Dict, List, NamedTuple, Sequence, Tuple

import numpy as np

from .errors import ModelError
from .model_info import ModelInfo
from .nms import best_first, nms_in_score_order


def sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over='ignore'):  # exp(-x) of a very negative logit is inf: score 0
        return 1 / (1 + np.exp(-x))


def float32_key(value: float) -> int:
    """An integer that orders float32 numbers as their values do (-0 and 0 alike)."""
    bits = int(np.asarray(value, np.float32).view(np.int32))
    return bits if bits >= 0 else -(bits & 0x7FFFFFFF)


def float32_of_key(key: int) -> np.float32:
    """The float32 number of a :func:`float32_key`."""
    bits = key if key >= 0 else -key | -0x80000000
    return np.int32(bits).view(np.float32)


def logit_cut(score_thr: float) -> np.float32:
    """The largest float32 logit whose score (:func:`sigmoid` in float32) is not above
    ``score_thr``: a logit is above it exactly when its score is above ``score_thr``, the
    scores MMDetection keeps, so only those logits need a sigmoid. Found by bisection over the
    float32 numbers in their order: the logit of the threshold itself is off by the sigmoid's
    rounding, by up to 1.2e-7 at 0.5, and a score of 0 (below -88.72) is never above 0.

    Args:
        score_thr (float): The score threshold.

    Returns:
        np.float32: The cut; -inf when every score is above the threshold, inf when none is.
    """
    def above(key: int) -> bool:
        return bool(sigmoid(np.float32([float32_of_key(key)]))[0] > np.float32(score_thr))

    low, high = (float32_key(np.float32(side * np.finfo(np.float32).max)) for side in (-1, 1))
    if above(low):
        return np.float32(-np.inf)
    if not above(high):
        return np.float32(np.inf)
    while high - low > 1:  # the score at low is not above the threshold, at high it is
        middle = (low + high) // 2
        low, high = (low, middle) if above(middle) else (middle, high)
    return float32_of_key(low)


class Grid(NamedTuple):
    """Every level's priors one after the other, for one set of feature map sizes (a prior
    is cell x anchors + anchor, counted across the levels).

    Args:
        priors (np.ndarray): (4, priors) x1, y1, x2, y2.
        centers (np.ndarray): (4, priors) each prior's centre x, y, x, y.
        signed_strides (np.ndarray): (4, priors) -stride, -stride, stride, stride (the
            x stride, as MMDetection's distance decoding takes it).
        first_priors (list[int]): Each level's first prior.
        level_cells (list[int]): Each level's H x W.
    """

    priors: np.ndarray
    centers: np.ndarray
    signed_strides: np.ndarray
    first_priors: List[int]
    level_cells: List[int]


#: Turns distances (left, top, right, bottom) into offsets of x1, y1, x2, y2 from a centre.
SIDES = np.float32([[-1], [-1], [1], [1]])


class Decoder:
    """Decodes one image's outputs for a model (priors cached per feature map sizes).

    Only the scores above the threshold are looked at: the classifier's logits are compared
    with the threshold's logit on the network's own (A x C, H, W) layout, level by level, and
    only those candidates get a sigmoid and the ``nms_pre`` cut. A candidate's box is decoded
    only when NMS gets to it: NMS takes them best first (ties in the order they were found:
    level, class, cell), a block at a time, and stops at ``max_per_img`` boxes.

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
        self.logit_cut = logit_cut(float(post['score_thr']))
        self.nms_pre = int(post['nms_pre'])
        self.iou_threshold = float(post['iou_threshold'])
        self.max_per_img = int(post['max_per_img'])
        self.min_size = float(post.get('min_bbox_size', -1))
        self.clip = head.get('clip_border', True)
        self.clip_after_nms = post.get('clip', 'before_nms') == 'after_nms'
        self.decode = getattr(self, f'_{info.decoder}')
        if info.decoder == 'gfl':
            bins = np.arange(int(head['reg_max']) + 1, dtype=np.float32)
            #: a distribution's expectation and its sum in one product
            self.integral = np.stack([bins, np.ones_like(bins)])
        self._grids: Dict[tuple, Grid] = {}

    def check_outputs(self, outputs: Sequence[np.ndarray], model: str) -> None:
        """Raise :class:`ModelError` unless ``outputs`` are what the description says: one
        (1, C, H, W) array per group and level, each level's groups of one size, with the
        channels its head and classes give."""
        expected = self.levels * len(self.groups)
        if len(outputs) != expected:
            raise ModelError(f'{model} gives {len(outputs)} outputs where its description '
                             f'({self.info.decoder} head, {self.levels} levels) says {expected}: '
                             'the description belongs to another network')
        box_channels = 4 * (int(self.info.head['reg_max']) + 1 if self.info.decoder == 'gfl'
                            else 1)
        channels = dict(cls_score=self.anchors * self.num_classes,
                        bbox_pred=self.anchors * box_channels, centerness=self.anchors)
        for group, name in enumerate(self.groups):
            for level in range(self.levels):
                shape = outputs[group * self.levels + level].shape
                size = outputs[level].shape[2:]
                if len(shape) != 4 or shape[:2] != (1, channels[name]) or shape[2:] != size:
                    raise ModelError(f'{model} gives a {name} of shape {tuple(shape)} on level '
                                     f'{level} where its description ({len(self.info.classes)} '
                                     f'classes, {self.info.decoder} head) says (1, '
                                     f'{channels[name]}, H, W): the description belongs to '
                                     'another network')

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
                strides.append(np.full(height * width * self.anchors, stride_w, np.float32))
            priors = np.ascontiguousarray(np.concatenate(priors).T)
            centers = (priors[:2] + priors[2:]) / 2
            level_cells = [height * width for height, width in sizes]
            self._grids[key] = Grid(
                priors, np.concatenate([centers, centers]), SIDES * np.concatenate(strides),
                [int(cells) * self.anchors for cells in np.cumsum([0] + level_cells[:-1])],
                level_cells)
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
        prior, labels, scores = self._candidates(groups['cls_score'], grid)
        # every level's cells side by side: (channels, cells)
        cells = {name: np.concatenate([out.reshape(out.shape[1], -1) for out in outs], 1)
                 for name, outs in groups.items() if name != 'cls_score'}
        if 'centerness' in cells:  # FCOS: NMS ranks class score x centerness
            scores = scores * sigmoid(cells['centerness'][0].take(prior // self.anchors))
        height, width = image_shape
        limits = np.float32([[width], [height], [width], [height]])
        rescale = np.float32([[scale[0]], [scale[1]], [scale[0]], [scale[1]]])
        clip_before_nms = self.clip and not self.clip_after_nms
        min_size = self.min_size

        def boxes_of(index: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
            boxes = self.decode(cells, prior.take(index), grid)  # a new array: changed in place
            if clip_before_nms:
                np.maximum(boxes, 0, out=boxes)
                np.minimum(boxes, limits, out=boxes)
            boxes /= rescale
            if min_size >= 0:
                big = ((boxes[2:] - boxes[:2]) > min_size).all(0)
                index, boxes = index[big], boxes[:, big]
            return index, boxes

        kept, boxes = nms_in_score_order(best_first(scores), labels, boxes_of, self.iou_threshold,
                                         self.max_per_img)
        if self.clip and self.clip_after_nms:  # YOLOv8: to the original image, after NMS
            boxes = np.clip(boxes, 0, limits / rescale)
        return np.ascontiguousarray(boxes.T), scores.take(kept), labels.take(kept)

    def _candidates(self, logits: Sequence[np.ndarray],
                    grid: Grid) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The prior, class and score of each class score above the threshold, level by
        level (the ``nms_pre`` best of each), in the network's order: class, then cell."""
        priors, labels, values = [], [], []
        per_cell = self.anchors * self.num_classes
        for level_logits, first_prior, cells in zip(logits, grid.first_priors,
                                                    grid.level_cells):  # (1, A x C, H, W)
            flat = level_logits.reshape(-1)
            index = (flat > self.logit_cut).nonzero()[0]
            channel, cell = np.divmod(index, cells)
            level_values = flat.take(index)
            if len(index) > self.nms_pre > 0:  # the level's best, ties as MMDetection lists them
                best = np.lexsort((cell * per_cell + channel, -sigmoid(level_values)))
                channel, cell, level_values = (part.take(best[:self.nms_pre])
                                               for part in (channel, cell, level_values))
            if self.anchors > 1:
                anchor, channel = np.divmod(channel, self.num_classes)
                cell = cell * self.anchors + anchor
            priors.append(cell + first_prior)
            labels.append(channel)
            values.append(level_values)
        return (np.concatenate(priors), np.concatenate(labels),
                sigmoid(np.concatenate(values)))

    def _gfl(self, cells: dict, prior: np.ndarray, grid: Grid) -> np.ndarray:
        """Box sides as the expectation of a softmax over ``reg_max + 1`` bins, times the
        stride, from the prior's centre; (4, n) x1, y1, x2, y2 (one prior per cell)."""
        logits = cells['bbox_pred'].take(prior, 1).reshape(4, self.integral.shape[1], -1)
        weights = np.exp(logits - logits.max(1, keepdims=True))
        expectation, total = np.matmul(self.integral, weights).transpose(1, 0, 2)
        return grid.centers.take(prior, 1) + expectation / total * grid.signed_strides.take(
            prior, 1)

    def _fcos(self, cells: dict, prior: np.ndarray, grid: Grid) -> np.ndarray:
        """Box sides in pixels from the point (the scores take the centerness before); (4, n)
        x1, y1, x2, y2."""
        distances = cells['bbox_pred'].take(prior // self.anchors, 1)
        return grid.centers.take(prior, 1) + distances * SIDES

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
