"""The runtime resizes as MMCV's ``Resize`` does: the same sizes and the same pixels."""
import copy

import mmcv
import numpy as np
import pytest

from shufflenet_det_runtime import Detector, ModelInfo, read_model_info
from shufflenet_det_runtime.preprocessing import preprocess, resized_size


@pytest.mark.parametrize('width, height', [(640, 480), (480, 640), (333, 500), (3, 900),
                                           (1280, 719)])
@pytest.mark.parametrize('scale', [(320, 320), (1333, 800), (416, 256)])
def test_keep_ratio_sizes_are_mmcvs(width, height, scale):
    image = np.zeros((height, width, 3), np.uint8)
    expected = mmcv.imrescale(image, scale).shape[1::-1]
    assert resized_size(width, height, scale, keep_ratio=True) == tuple(expected)
    assert resized_size(width, height, scale, keep_ratio=False) == scale


@pytest.mark.parametrize('keep_ratio', [True, False])
@pytest.mark.parametrize('reused', [False, True])
def test_the_blob_is_mmcvs_resize_padded_with_the_pad_colour(shapes_model, keep_ratio, reused):
    """Also written into the blob of an earlier image, as ``Detector`` reuses it."""
    document = copy.deepcopy(read_model_info(str(shapes_model)).document)
    document['preprocess'].update(resize=dict(scale=[256, 192], keep_ratio=keep_ratio),
                                  pad_bgr=[1.5, 2.5, 3.5])
    info = ModelInfo(document)
    image = np.random.default_rng(0).integers(0, 256, (300, 500, 3), np.uint8)
    earlier = np.full((1, 3, 192, 256), np.nan, np.float32) if reused else None
    prepared = preprocess(image, info, (192, 256), earlier)
    assert (prepared.blob is earlier) == reused
    resized = (mmcv.imrescale(image, (256, 192)) if keep_ratio
               else mmcv.imresize(image, (256, 192)))
    height, width = resized.shape[:2]
    expected = np.empty((192, 256, 3), np.float32)
    expected[...] = [1.5, 2.5, 3.5]
    expected[:height, :width] = resized
    assert prepared.blob.shape == (1, 3, 192, 256) and prepared.blob.flags.c_contiguous
    np.testing.assert_array_equal(prepared.blob[0], expected.transpose(2, 0, 1))
    assert prepared.image_shape == (height, width)
    assert prepared.scale == (width / 500, height / 300)
    if keep_ratio:
        assert (height, width) == (154, 256)  # padded below


def test_a_blob_of_another_size_is_not_reused(shapes_model):
    info = read_model_info(str(shapes_model))
    earlier = np.zeros((1, 3, 64, 64), np.float32)
    prepared = preprocess(np.zeros((300, 500, 3), np.uint8), info, (256, 256), earlier)
    assert prepared.blob.shape == (1, 3, 256, 256) and not earlier.any()


def test_the_detector_prepares_each_image_in_its_threads_one_buffer(shapes_model):
    detector = Detector(str(shapes_model), threads=1)
    dark, light = (np.full((300, 500, 3), value, np.uint8) for value in (0, 255))
    expected = preprocess(light, detector.info, (256, 256)).blob
    first = detector.prepare(dark).blob
    second = detector.prepare(light).blob
    assert second is first
    np.testing.assert_array_equal(second, expected)


def test_an_array_that_is_no_colour_image_is_refused(shapes_model):
    info = read_model_info(str(shapes_model))
    with pytest.raises(ValueError, match=r'not uint8 \(64, 64\)'):
        preprocess(np.zeros((64, 64), np.uint8), info, (256, 256))
    with pytest.raises(ValueError, match=r'not uint16 \(64, 64, 3\)'):  # a 16-bit PNG's array
        preprocess(np.zeros((64, 64, 3), np.uint16), info, (256, 256))
    with pytest.raises(ValueError, match=r'^an empty image \(shape \(0, 5, 3\)\)'):  # a crop
        preprocess(np.zeros((0, 5, 3), np.uint8), info, (256, 256))  # outside the frame
    with pytest.raises(TypeError, match=r'not NoneType \(cv2.imread gives None for a file it '):
        preprocess(None, info, (256, 256))
