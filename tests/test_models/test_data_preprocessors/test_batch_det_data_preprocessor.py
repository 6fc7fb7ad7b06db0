"""BatchDetDataPreprocessor: DetDataPreprocessor's batches, normalised in one pass."""
import pytest
import torch
from mmengine.structures import InstanceData

from mmdet.models.data_preprocessors import DetDataPreprocessor
from mmdet.structures import DetDataSample
from shufflenet_det.models.data_preprocessors import BatchDetDataPreprocessor

ARGS = dict(mean=[103.53, 116.28, 123.675], std=[57.375, 57.12, 58.395], pad_size_divisor=32)


def batch(sizes):
    torch.manual_seed(0)
    samples = []
    for size in sizes:
        sample = DetDataSample(metainfo=dict(img_shape=size))
        sample.gt_instances = InstanceData(bboxes=torch.zeros(0, 4))
        samples.append(sample)
    return dict(inputs=[torch.randint(0, 256, (3, *size), dtype=torch.uint8) for size in sizes],
                data_samples=samples)


@pytest.mark.parametrize('bgr_to_rgb', [False, True])
@pytest.mark.parametrize('channels_last', [False, True])
@pytest.mark.parametrize('sizes', [[(64, 96)] * 3, [(64, 96), (96, 64)], [(50, 70)]],
                         ids=['same size', 'mixed sizes', 'padded'])
def test_same_batches_as_det_data_preprocessor(bgr_to_rgb, channels_last, sizes):
    ours = BatchDetDataPreprocessor(channels_last=channels_last, bgr_to_rgb=bgr_to_rgb, **ARGS)
    reference = DetDataPreprocessor(bgr_to_rgb=bgr_to_rgb, **ARGS)
    out, expected = ours(batch(sizes)), reference(batch(sizes))
    torch.testing.assert_close(out['inputs'], expected['inputs'])
    batched = len(set(sizes)) == 1 and sizes[0] == (64, 96)
    assert out['inputs'].is_contiguous(memory_format=torch.channels_last) == (
        batched and channels_last)
    for a, b in zip(out['data_samples'], expected['data_samples']):
        assert a.metainfo == b.metainfo


def test_training_batches_are_det_data_preprocessors():
    ours = BatchDetDataPreprocessor(channels_last=True, **ARGS)
    out = ours(batch([(64, 96)] * 2), training=True)
    assert out['inputs'].is_contiguous()
    torch.testing.assert_close(out['inputs'],
                               DetDataPreprocessor(**ARGS)(batch([(64, 96)] * 2), True)['inputs'])
