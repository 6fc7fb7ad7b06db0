"""Detections drawn on an image: a box and ``name score`` per detection, a colour per class."""
import cv2
import numpy as np

from .detector import Detections


def class_colour(label: int) -> tuple:
    """A BGR colour for a class, distinct for neighbouring labels and the same every run."""
    hue = (label * 47) % 180
    bgr = cv2.cvtColor(np.uint8([[[hue, 200, 230]]]), cv2.COLOR_HSV2BGR)[0, 0]
    return tuple(int(c) for c in bgr)


def draw_detections(image: np.ndarray, found: Detections, score_thr: float) -> np.ndarray:
    """A copy of ``image`` with the detections scoring at least ``score_thr`` drawn.

    Args:
        image (np.ndarray): BGR uint8 image.
        found (Detections): Its detections.
        score_thr (float): The lowest score drawn.

    Returns:
        np.ndarray: The drawn copy.
    """
    drawn = image.copy()
    thickness = max(1, round(sum(image.shape[:2]) / 600))
    for box, score, label, name in zip(found.boxes, found.scores, found.labels, found.names):
        if score < score_thr:
            continue
        colour = class_colour(int(label))
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        cv2.rectangle(drawn, (x1, y1), (x2, y2), colour, thickness)
        text = f'{name} {score:.2f}'
        (width, height), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.4, 1)
        top = max(y1, height + baseline)
        cv2.rectangle(drawn, (x1, top - height - baseline), (x1 + width, top), colour, -1)
        cv2.putText(drawn, text, (x1, top - baseline), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                    (0, 0, 0), 1, cv2.LINE_AA)
    return drawn
