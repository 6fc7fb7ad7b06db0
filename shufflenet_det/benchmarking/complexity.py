"""Measure a detector's size (parameters, multiply-adds) and its CPU latency."""
from typing import Dict, Tuple

import torch
from mmengine.analysis import get_model_complexity_info
from mmengine.structures import InstanceData

from mmdet.structures import DetDataSample

from .timing import median_and_iqr, time_interleaved


def complexity(model: torch.nn.Module, size: Tuple[int, int]) -> Dict[str, float]:
    """Parameters and multiply-adds (MMEngine's counter) of the network, post-processing aside.

    Both count what ``_forward`` (backbone, neck and head) runs: modules that only train, such
    as NanoDet-Plus's auxiliary neck and head, are left out.

    Args:
        model (nn.Module): A detector.
        size (tuple[int, int]): Input height and width.

    Returns:
        dict: ``params`` and ``flops`` (multiply-adds, MMEngine's convention).
    """
    called = []
    hooks = [m.register_forward_hook(lambda module, *_: called.append(module))
             for m in model.modules()]
    forward = model.forward
    model.forward = model._forward  # backbone, neck and head: what the counter can trace
    try:
        info = get_model_complexity_info(model, inputs=(torch.rand(1, 3, *size), ),
                                         show_table=False, show_arch=False)
    finally:
        model.forward = forward
        for hook in hooks:
            hook.remove()
    params = {id(p): p.numel() for m in called for p in m.parameters(recurse=False)}
    return dict(params=sum(params.values()), flops=info['flops'])


def end_to_end_batch(size: Tuple[int, int], batch_size: int = 1) -> dict:
    """A batch as the test dataloader yields it: uint8 images and their meta information."""
    height, width = size
    samples = []
    for _ in range(batch_size):
        sample = DetDataSample(metainfo=dict(img_shape=size, ori_shape=size,
                                             scale_factor=(1.0, 1.0), pad_shape=size))
        sample.gt_instances = InstanceData(bboxes=torch.zeros(0, 4),
                                           labels=torch.zeros(0, dtype=torch.long))
        samples.append(sample)
    images = [torch.randint(0, 256, (3, height, width), dtype=torch.uint8)
              for _ in range(batch_size)]
    return dict(inputs=images, data_samples=samples)


@torch.no_grad()
def end_to_end_latency(model: torch.nn.Module, size: Tuple[int, int], repeats: int = 20,
                       warmup: int = 5) -> Tuple[float, float]:
    """Median and interquartile range (seconds) of ``model.test_step`` on one image:
    normalisation, network and post-processing (decoding, NMS)."""
    data = end_to_end_batch(size)
    times = time_interleaved({'end to end': lambda: model.test_step(data)}, repeats, warmup)
    return median_and_iqr(times['end to end'])
