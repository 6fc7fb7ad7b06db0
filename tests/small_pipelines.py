"""Config text for the tests' short runs: pipelines that resize to one small size."""
from typing import Tuple


def small_pipelines(img_scale: Tuple[int, int], keep_ratio: bool = False,
                    flip: bool = False) -> str:
    """Lines of a config that set ``img_scale``, ``train_pipeline`` and ``test_pipeline``.

    Args:
        img_scale (tuple[int, int]): The size images are resized to.
        keep_ratio (bool): Keep the aspect ratio while resizing. Default: False.
        flip (bool): Flip training images at random, half of the time. Default: False.

    Returns:
        str: Config lines, to write after ``_base_``.
    """
    random_flip = "    dict(type='RandomFlip', prob=0.5),\n" if flip else ''
    return f'''img_scale = {tuple(img_scale)}
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=img_scale, keep_ratio={keep_ratio}),
{random_flip}    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio={keep_ratio}),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))
]
'''
