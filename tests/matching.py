"""Comparing two detectors' boxes, as test helpers."""
import torch


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    lt = torch.max(a[:, None, :2], b[None, :, :2])
    rb = torch.min(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area_a = (a[:, 2:] - a[:, :2]).prod(-1)
    area_b = (b[:, 2:] - b[:, :2]).prod(-1)
    return inter / (area_a[:, None] + area_b[None] - inter)


def matched_fraction(pred, ref, score_tol: float = 1e-4) -> float:
    """Fraction of ``pred``'s boxes found in ``ref`` with the same label and score."""
    same = ((box_iou(pred.bboxes, ref.bboxes) > 0.999)
            & (pred.labels[:, None] == ref.labels[None])
            & ((pred.scores[:, None] - ref.scores[None]).abs() < score_tol))
    return same.any(1).float().mean().item()
