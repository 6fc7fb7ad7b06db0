"""Build a detector from a config and measure its size and CPU latency."""
import logging
from typing import Dict, Optional, Tuple

import torch
from mmengine.analysis import get_model_complexity_info
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

from mmdet.structures import DetDataSample

from shufflenet_det.benchmarking.timing import median_and_iqr, time_interleaved
from shufflenet_det.errors import ConfigError

from .model_config_check import build_checked_model
from .run_config import leaf_datasets, load_config


def build_detector(config: str,
                   cfg_options: Optional[dict] = None) -> Tuple[Config, torch.nn.Module]:
    """Build (and initialise) the detector of a config file, in eval mode.

    Args:
        config (str): Config file path.
        cfg_options (dict, optional): Overrides merged into the config. Default: None.

    Returns:
        tuple: The config and the detector.

    Raises:
        ModelConfigError: In one line, when the model config cannot work.
    """
    cfg = load_config(config, cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    model = build_checked_model(cfg.model, cfg.get('default_scope', 'mmdet'))
    # Without a runner's log file MMEngine reports every parameter's initialisation on stdout.
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        model.init_weights()
    finally:
        logger.setLevel(level)
    return cfg, model.eval()


def input_size(cfg: Config) -> Tuple[int, int]:
    """The (height, width) a config's test pipeline resizes to.

    Args:
        cfg (Config): A config whose ``test_dataloader`` (possibly wrapped) has a ``Resize``
            with a ``scale`` (width, height) in its pipeline.

    Returns:
        tuple[int, int]: Height and width.

    Raises:
        ConfigError: When the test pipeline resizes to no fixed size.
    """
    for _, dataset in leaf_datasets('test_dataloader', cfg.get('test_dataloader')):
        for transform in dataset.get('pipeline', []):
            if transform.get('type') == 'Resize' and transform.get('scale'):
                width, height = transform['scale']
                return height, width
    raise ConfigError("the config's test pipeline has no Resize with a scale to measure or "
                      'export at; give the input size (--shape H W)')


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
