"""``DetDataPreprocessor`` that normalises a batch of same-sized images in one pass."""
import torch
from mmengine.utils import is_seq_of

from mmdet.models.data_preprocessors import DetDataPreprocessor
from mmdet.models.utils import samplelist_boxtype2tensor
from mmdet.registry import MODELS


@MODELS.register_module()
class BatchDetDataPreprocessor(DetDataPreprocessor):
    """``DetDataPreprocessor`` that, at inference, normalises a batch at once.

    ``DetDataPreprocessor`` converts, normalises and pads each image on its own, allocating
    a new float tensor at every step, and the channels-last fast path then copies the batch
    once more. When the images of a test batch share a size that needs no padding (the
    fixed-size test pipelines of the NanoDet-style configs), this writes the normalised,
    channel-swapped batch straight into one float tensor, in channels-last memory layout if
    ``channels_last`` (``optimize_for_inference`` turns it on). The values are the same; any
    other batch goes through ``DetDataPreprocessor``.

    Args:
        channels_last (bool): Write the batch in channels-last memory layout. Default: False.
        **kwargs: The arguments of :class:`mmdet.models.DetDataPreprocessor`.
    """

    def __init__(self, channels_last: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.channels_last = channels_last

    def forward(self, data: dict, training: bool = False) -> dict:
        """Normalise and stack ``data['inputs']``, and set the samples' batch meta info.

        Args:
            data (dict): ``inputs`` (list of uint8 (3, H, W) tensors) and ``data_samples``.
            training (bool): Whether this is a training batch (always handled by
                ``DetDataPreprocessor``).

        Returns:
            dict: ``inputs`` (N, 3, H, W) float tensor and ``data_samples``.
        """
        images = data['inputs']
        if (training or not self._enable_normalize or not is_seq_of(images, torch.Tensor)
                or len({tuple(image.shape) for image in images}) != 1
                or images[0].shape[0] != 3
                or any(side % self.pad_size_divisor for side in images[0].shape[-2:])):
            return super().forward(data, training)
        data = self.cast_data(data)
        batch = torch.stack(data['inputs'])
        if self._channel_conversion:
            batch = batch[:, [2, 1, 0]]
        memory_format = torch.channels_last if self.channels_last else torch.contiguous_format
        inputs = torch.empty(batch.shape, device=batch.device, memory_format=memory_format)
        torch.sub(batch, self.mean, out=inputs).div_(self.std)
        data_samples = data.get('data_samples')
        if data_samples is not None:
            shape = tuple(inputs.shape[-2:])
            for data_sample in data_samples:
                data_sample.set_metainfo({'batch_input_shape': shape, 'pad_shape': shape})
            if self.boxtype2tensor:
                samplelist_boxtype2tensor(data_samples)
        return {'inputs': inputs, 'data_samples': data_samples}
