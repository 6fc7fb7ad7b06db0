"""One switch from a training model to a fast CPU inference model that gives the same boxes."""
import torch
import torch.nn as nn
from mmcv.cnn import fuse_conv_bn


def _to_channels_last(module: nn.Module, args: tuple) -> tuple:
    return tuple(a.contiguous(memory_format=torch.channels_last)
                 if isinstance(a, torch.Tensor) and a.dim() == 4 else a for a in args)


def optimize_for_inference(model: nn.Module,
                           channels_last: bool = True,
                           compile: bool = False) -> nn.Module:
    """Prepare a detector (or a backbone) for inference, in place.

    - eval mode, and every BatchNorm that follows a convolution folded into it (MMCV's
      ``fuse_conv_bn``): one op less per conv, identical outputs up to float rounding;
    - ``channels_last``: weights and the backbone's input in NHWC memory layout, which oneDNN's
      CPU convolutions run faster (a ``BatchDetDataPreprocessor`` writes its batches in it);
    - ``compile``: ``torch.compile`` the backbone, neck and head forward passes (the first call
      for each new input shape then takes tens of seconds).

    Channel split and shuffle need no switch: ``ShuffleNetV2`` always splits by views and
    writes concatenation and shuffle in one copy.

    Args:
        model (nn.Module): A detector with ``backbone`` (and ``neck``, ``bbox_head``), or a
            bare backbone.
        channels_last (bool): Use the NHWC memory layout. Default: True.
        compile (bool): Compile with ``torch.compile``. Default: False.

    Returns:
        nn.Module: ``model`` itself, changed in place.
    """
    model.eval()
    fuse_conv_bn(model)
    parts = [getattr(model, name) for name in ('backbone', 'neck', 'bbox_head')
             if isinstance(getattr(model, name, None), nn.Module)] or [model]
    if channels_last:
        model.to(memory_format=torch.channels_last)
        parts[0].register_forward_pre_hook(_to_channels_last)
        if hasattr(getattr(model, 'data_preprocessor', None), 'channels_last'):
            model.data_preprocessor.channels_last = True  # BatchDetDataPreprocessor
    if compile:
        for part in parts:
            part.compile()
    return model
