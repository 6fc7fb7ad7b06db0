"""Measure a detector's size (parameters, multiply-adds) and its CPU latency."""
from typing import Any, Dict, Tuple

import torch
from mmengine.analysis import FlopAnalyzer
from mmengine.structures import InstanceData

from mmdet.structures import DetDataSample

from .timing import median_and_iqr, time_interleaved


#: The parts of a detector whose sizes are given apart.
PARTS = ('backbone', 'neck', 'bbox_head')


def complexity(model: torch.nn.Module, size: Tuple[int, int]) -> Dict[str, Any]:
    """Parameters and multiply-adds (MMEngine's counter) of the network, post-processing aside.

    Both count what ``_forward`` (backbone, neck and head) runs: modules that only train, such
    as NanoDet-Plus's auxiliary neck and head, are left out.

    Args:
        model (nn.Module): A detector.
        size (tuple[int, int]): Input height and width.

    Returns:
        dict: ``params`` and ``flops`` (multiply-adds, MMEngine's convention), ``conv_flops``
        (the convolutions' multiply-adds alone: those of the network with its BatchNorms
        folded, which Ultralytics counts twice as GFLOPs) and ``parts``: ``params`` and
        ``flops`` of each of the detector's backbone, neck and head.
    """
    called = []
    hooks = [m.register_forward_hook(lambda module, *_: called.append(module))
             for m in model.modules()]
    forward = model.forward
    model.forward = model._forward  # backbone, neck and head: what the counter can trace
    try:
        analyzer = FlopAnalyzer(model, inputs=(torch.rand(1, 3, *size), ))
        analyzer.unsupported_ops_warnings(False)
        analyzer.uncalled_modules_warnings(False)
        analyzer.tracer_warnings('none')
        flops = analyzer.by_module()
        conv_flops = analyzer.by_operator().get('conv', 0)
    finally:
        model.forward = forward
        for hook in hooks:
            hook.remove()
    ran = {id(m) for m in called}

    def params_of(module: torch.nn.Module) -> int:
        counted = {id(p): p.numel() for m in module.modules() if id(m) in ran
                   for p in m.parameters(recurse=False)}
        return sum(counted.values())

    parts = {name: dict(params=params_of(getattr(model, name)), flops=flops.get(name, 0))
             for name in PARTS if hasattr(model, name)}
    return dict(params=params_of(model), flops=flops[''], conv_flops=conv_flops, parts=parts)


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
