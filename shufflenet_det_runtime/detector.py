"""A detector from an exported model file alone: BGR image in, boxes in its pixels out."""
import threading
from dataclasses import dataclass
from typing import List, Optional

import numpy as np

from .decoding import Decoder
from .model_info import ModelInfo, read_model_info
from .network_loading import backend_of, load_network
from .preprocessing import NetworkInput, preprocess


@dataclass
class Detections:
    """The detections of one image, best score first.

    Args:
        boxes (np.ndarray): (N, 4) float32 x1, y1, x2, y2 in original-image pixels.
        scores (np.ndarray): (N, ) float32 scores.
        labels (np.ndarray): (N, ) int64 indices into the model's class names.
        names (list[str]): The class name of each detection.
    """

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    names: List[str]

    def __len__(self) -> int:
        return len(self.scores)


class Detector:
    """An exported model (``.onnx``, OpenVINO ``.xml`` or ncnn ``.param``) with the decoding
    its description gives: the same boxes as the config's head, without PyTorch.

    One detector may be called from several threads at once: each thread has its own input
    buffer (and OpenVINO request), and the runtimes run concurrent calls.

    Example:
        >>> detector = Detector('nanodet.onnx')
        >>> found = detector(cv2.imread('dog.jpg'))
        >>> found.boxes, found.scores, found.names

    Args:
        model (str): The model file; its description is read from it (ONNX) or from the JSON
            beside it (ncnn, OpenVINO).
        threads (int): The runtime's threads; 0 lets the runtime choose. OpenCV's own
            threads (resizing) are ``cv2.setNumThreads``'s. Default: 0.
        backend (str, optional): ``onnxruntime``, ``openvino`` or ``ncnn``; default: by the
            file's suffix.

    Raises:
        ModelError: For a missing or mismatched file, a model without a description, or a
            network whose outputs are not the ones described.
        ValueError: For ``threads`` that is not a whole number of at least 0.
    """

    def __init__(self, model: str, threads: int = 0, backend: Optional[str] = None) -> None:
        if not isinstance(threads, (int, np.integer)) or isinstance(threads, bool) or threads < 0:
            raise ValueError(f'threads must be a whole number of at least 0 (0: the runtime '
                             f'chooses), not {threads!r}')
        backend = backend_of(model, backend)  # a file no runtime reads: said first
        self.info: ModelInfo = read_model_info(model)
        self.network = load_network(model, backend, int(threads))
        self.decoder = Decoder(self.info)
        self._local = threading.local()  # each thread's input buffer
        self._checked_shapes: List[tuple] = []
        self.model = model
        #: The model's class names; label ``i`` is ``classes[i]``.
        self.classes: List[str] = self.info.classes

    def __call__(self, image: np.ndarray) -> Detections:
        """Detect in one image: :meth:`prepare`, :meth:`infer`, :meth:`decode`.

        Args:
            image (np.ndarray): A BGR uint8 image (H, W, 3), as ``cv2.imread`` gives it.

        Returns:
            Detections: Boxes after the model's score threshold, NMS and maximum count.
        """
        prepared = self.prepare(image)
        return self.decode(self.infer(prepared), prepared)

    def prepare(self, image: np.ndarray) -> NetworkInput:
        """``image`` resized and padded as the config's test pipeline does it, in the
        calling thread's input buffer, which its next call overwrites (copy the blob to keep
        it): a new buffer per image costs the page faults of fresh memory each time."""
        prepared = preprocess(image, self.info, self.network.input_size,
                              getattr(self._local, 'blob', None))
        self._local.blob = prepared.blob
        return prepared

    def infer(self, prepared: NetworkInput) -> List[np.ndarray]:
        """The network's raw outputs for a prepared image, checked against the description
        whenever their shapes change."""
        outputs = self.network(prepared.blob)
        shapes = [out.shape for out in outputs]
        if shapes != self._checked_shapes:
            self.decoder.check_outputs(outputs, self.model)
            self._checked_shapes = shapes
        return outputs

    def decode(self, outputs: List[np.ndarray], prepared: NetworkInput) -> Detections:
        """Boxes in original-image pixels from the raw outputs: decoding and NMS."""
        boxes, scores, labels = self.decoder(outputs, prepared.image_shape, prepared.scale)
        return Detections(boxes, scores, labels, [self.classes[i] for i in labels.tolist()])
