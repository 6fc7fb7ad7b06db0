"""An exported network inside an MMDetection detector: the config's data preprocessor in front,
the config's own head decoding behind, so runners, evaluators and visualisers take it as is."""
from typing import List, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from mmdet.models.detectors import BaseDetector
from mmdet.structures import DetDataSample

from shufflenet_det.errors import DeployedModelError
from shufflenet_det_runtime.network import Network


class DeployedDetector(BaseDetector):
    """Predicts with ``network`` and decodes with ``detector``'s head (``predict_by_feat``).

    The images go through ``detector``'s data preprocessor exactly as in PyTorch testing
    (normalisation, padding), are mapped back to the BGR 0-255 values the exported graph
    normalises itself, and are padded on to the size the network was exported for.

    Args:
        network (Network): The exported network in its runtime.
        detector (BaseDetector): A detector built from the same config. Its weights are not
            used: only its data preprocessor and its head's test settings and decoding.
    """

    def __init__(self, network: Network, detector: BaseDetector) -> None:
        super().__init__(data_preprocessor=detector.data_preprocessor)
        self.network = network
        self.bbox_head = detector.bbox_head
        self.num_levels = detector.bbox_head.prior_generator.num_levels
        preprocessor = detector.data_preprocessor
        self.bgr_to_rgb = bool(getattr(preprocessor, '_channel_conversion', False))
        self.check_outputs(detector)

    @torch.no_grad()
    def check_outputs(self, detector: BaseDetector) -> None:
        """Run the network once on a mean image and compare its outputs' channels with what
        ``detector`` gives, so that a model exported from another config (another
        ``num_classes``) stops here, not in the decoding of the first batch.

        Raises:
            DeployedModelError: When the outputs differ in number or channels.
        """
        size = self.network.input_size or (64, 64)
        zeros = torch.zeros(1, 3, *size)  # the mean image, once normalised
        was_training = detector.training
        detector.eval()
        expected = [level.shape[1] for group in detector._forward(zeros) for level in group]
        detector.train(was_training)
        found = [out.shape[1] for out in self.network(self.network_images(zeros))]
        if found != expected:
            raise DeployedModelError(
                f'the model gives {len(found)} outputs of {found} channels where the config\'s '
                f'head gives {len(expected)} of {expected}: was it exported from this config '
                '(and its num_classes)?')

    def network_images(self, batch_inputs: torch.Tensor) -> np.ndarray:
        """The float32 BGR 0-255 batch the network takes, from the preprocessor's output."""
        height, width = batch_inputs.shape[2:]
        if self.network.input_size is not None:
            net_height, net_width = self.network.input_size
            if height > net_height or width > net_width:
                raise DeployedModelError(
                    f'the test pipeline gives {height}x{width} batches but the model was '
                    f'exported for {net_height}x{net_width}; export it with --shape')
            # with what the preprocessor pads (after normalisation: 0 is the mean)
            batch_inputs = F.pad(batch_inputs, (0, net_width - width, 0, net_height - height),
                                 value=float(self.data_preprocessor.pad_value))
        preprocessor = self.data_preprocessor
        images = batch_inputs * preprocessor.std + preprocessor.mean
        if self.bgr_to_rgb:
            images = images.flip(1)
        return np.ascontiguousarray(images.numpy(), dtype=np.float32)

    def raw_outputs(self, batch_inputs: torch.Tensor) -> Tuple[List[torch.Tensor], ...]:
        """The network's outputs, grouped as the head's ``forward`` returns them."""
        flat = [torch.from_numpy(np.asarray(out)) for out in
                self.network(self.network_images(batch_inputs))]
        levels = self.num_levels
        return tuple(flat[i:i + levels] for i in range(0, len(flat), levels))

    def predict(self, batch_inputs: torch.Tensor, batch_data_samples: List[DetDataSample],
                rescale: bool = True) -> List[DetDataSample]:
        metas = [sample.metainfo for sample in batch_data_samples]
        results = self.bbox_head.predict_by_feat(*self.raw_outputs(batch_inputs),
                                                 batch_img_metas=metas, rescale=rescale)
        return self.add_pred_to_datasample(batch_data_samples, results)

    def _forward(self, batch_inputs: torch.Tensor, batch_data_samples=None) -> tuple:
        return self.raw_outputs(batch_inputs)

    def extract_feat(self, batch_inputs: torch.Tensor):
        raise NotImplementedError('an exported network gives head outputs, not features')

    def loss(self, batch_inputs: torch.Tensor, batch_data_samples: List[DetDataSample]):
        raise NotImplementedError('an exported network cannot be trained; train the config '
                                  'with tools/train.py and export again')
