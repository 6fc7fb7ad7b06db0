"""Drawn test images saved under their path below the image root, not only their file name."""
import os
import os.path as osp
from typing import Optional, Sequence

from mmdet.engine.hooks import DetVisualizationHook
from mmdet.registry import HOOKS
from mmdet.structures import DetDataSample


def image_root(dataset) -> Optional[str]:
    """The image directory of a dataset (looking into dataset wrappers), if it has one.

    Args:
        dataset: A dataset, e.g. ``CocoDataset`` or ``RepeatDataset`` around one.

    Returns:
        str, optional: ``data_prefix['img']``.
    """
    while hasattr(dataset, 'dataset'):
        dataset = dataset.dataset
    return getattr(dataset, 'data_prefix', {}).get('img')


@HOOKS.register_module()
class RelativePathVisualizationHook(DetVisualizationHook):
    """``DetVisualizationHook`` that saves each drawn test image (``test_out_dir``,
    ``tools/test.py --show-dir``) under its path relative to the dataset's image root.

    MMDetection's hook names each drawing by the image's file name alone, so
    ``cam1/0001.jpg`` and ``cam2/0001.jpg`` end in one file, the second overwriting the first;
    here they are ``cam1/0001.jpg`` and ``cam2/0001.jpg`` in ``test_out_dir``. An image outside
    the image root keeps its whole path (without a leading ``/``).

    The arguments are those of :class:`mmdet.engine.hooks.DetVisualizationHook`.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._out_root: Optional[str] = None

    def after_test_iter(self, runner, batch_idx: int, data_batch: dict,
                        outputs: Sequence[DetDataSample]) -> None:
        """Draw each image of the batch into the directory of its relative path.

        Args:
            runner (Runner): The runner of the testing process.
            batch_idx (int): The index of the batch in the test loop.
            data_batch (dict): Data from the dataloader.
            outputs (Sequence[DetDataSample]): The batch's predictions.
        """
        if self.draw is False or self.test_out_dir is None:
            return super().after_test_iter(runner, batch_idx, data_batch, outputs)
        if self._out_root is None:
            self._out_root = osp.join(runner.work_dir, runner.timestamp, self.test_out_dir)
        root = image_root(runner.test_loop.dataloader.dataset)
        for data_sample in outputs:
            path = data_sample.img_path
            relative = osp.relpath(path, root) if root else path
            if relative.startswith(os.pardir) or osp.isabs(relative):
                relative = path.lstrip('/')
            # MMDetection's hook joins its (now absolute) test_out_dir and the file name.
            self.test_out_dir = osp.join(self._out_root, osp.dirname(relative))
            super().after_test_iter(runner, batch_idx, data_batch, [data_sample])
