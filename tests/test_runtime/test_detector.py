"""The runtime's Python API, ``Detector``: shared between threads, and its arguments checked."""
import threading

import numpy as np
import pytest

from shufflenet_det_runtime import Detector, read_model_info
from shufflenet_det_runtime.errors import ModelError
from tests.runtimes import requires


@pytest.mark.parametrize('backend', ['onnxruntime',
                                     pytest.param('openvino', marks=requires('openvino'))])
def test_one_detector_called_from_two_threads_gives_each_its_own_boxes(shapes_model, backend):
    detector = Detector(str(shapes_model), threads=1, backend=backend)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (200 + 40 * i, 300, 3), np.uint8) for i in range(2)]
    expected = [detector(image) for image in images]
    wrong = []

    def detect_again(index: int) -> None:
        for _ in range(60):
            found = detector(images[index])
            if not (np.array_equal(found.boxes, expected[index].boxes)
                    and np.array_equal(found.scores, expected[index].scores)):
                wrong.append(index)

    threads = [threading.Thread(target=detect_again, args=(i, )) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(expected[0]) and len(expected[1]) and not wrong  # 5 of 120 calls differed
    # while the two threads shared one input buffer (ONNX Runtime), 12 of 60 (OpenVINO)


@pytest.mark.parametrize('threads', [-1, 1.5, '2', True])
def test_threads_must_be_a_whole_number_of_at_least_0(shapes_model, threads):
    with pytest.raises(ValueError, match=r'^threads must be a whole number of at least 0'):
        Detector(str(shapes_model), threads=threads)


def test_a_file_of_another_kind_is_said_to_be_no_exported_model(tmp_path):
    (tmp_path / 'dog.jpg').write_bytes(b'\xff\xd8')
    with pytest.raises(ModelError, match=r'dog.jpg is not an exported model: .onnx, .xml'):
        read_model_info(str(tmp_path / 'dog.jpg'))
