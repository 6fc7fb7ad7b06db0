"""An exported network run by ncnn, the runtime NanoDet's users deploy with."""
import re
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np

from .errors import ModelError
from .network import Network


def blob_names(param_path: str) -> Sequence[List[str]]:
    """The input and the output blob names of an ncnn ``.param`` file.

    Inputs are the blobs of ``Input`` layers; outputs are the blobs no layer consumes: in the
    graph's output order where pnnx named them (``out0``, ``out1``, ...), otherwise in the
    order the layers produce them.
    """
    produced, consumed, inputs = [], set(), []
    lines = Path(param_path).read_text().splitlines()
    for line in lines[2:]:  # magic number, then layer and blob counts
        fields = line.split()
        if not fields:
            continue
        layer_type, num_in, num_out = fields[0], int(fields[2]), int(fields[3])
        bottoms = fields[4:4 + num_in]
        tops = fields[4 + num_in:4 + num_in + num_out]
        consumed.update(bottoms)
        produced += tops
        if layer_type == 'Input':
            inputs += tops
    outputs = [blob for blob in produced if blob not in consumed]
    if all(re.fullmatch(r'out\d+', blob) for blob in outputs):
        outputs.sort(key=lambda blob: int(blob[3:]))
    return inputs, outputs


class NcnnNetwork(Network):
    """An ncnn model (``.param`` and the ``.bin`` beside it), run one image at a time.

    ncnn takes inputs of any size, so ``input_size`` is None: images are only padded as the
    config's data preprocessor pads them.

    Args:
        param_path (str): The ``.param`` file; the weights are the ``.bin`` of the same name.
        threads (int): Threads; 0 lets ncnn choose. Default: 0.
        mean_std (tuple, optional): Per-channel mean and std that ncnn subtracts and divides by
            before the network, for models without normalisation in the graph (NanoDet's own
            exports: ``substract_mean_normalize``, as NanoDet's demos call it). Default: None.
    """

    def __init__(self, param_path: str, threads: int = 0,
                 mean_std: Optional[Tuple[Sequence[float], Sequence[float]]] = None) -> None:
        bin_path = str(Path(param_path).with_suffix('.bin'))
        for path in (param_path, bin_path):  # checked first: ncnn prints its own complaint
            if not Path(path).is_file():
                raise ModelError(f'{path} does not exist')
        import ncnn  # optional: the runtime picked by the model file
        self.ncnn = ncnn
        self.net = ncnn.Net()
        self.net.opt.use_vulkan_compute = False
        if threads:
            self.net.opt.num_threads = threads
        if self.net.load_param(str(param_path)) or self.net.load_model(bin_path):
            raise ModelError(f'ncnn cannot load {param_path} with {bin_path}')
        (self.input_name, *_), self.output_names = blob_names(param_path)
        self.mean_std = None
        if mean_std is not None:
            mean, std = mean_std
            self.mean_std = ([float(m) for m in mean], [1 / float(d) for d in std])

    def __call__(self, images: np.ndarray) -> List[np.ndarray]:
        per_image = []
        for image in images:
            # ncnn.Mat wraps the array's memory without copying: the array must outlive the
            # extraction, and normalising in place must not change the caller's image.
            array = (np.array(image, np.float32, order='C') if self.mean_std is not None
                     else np.ascontiguousarray(image, np.float32))
            mat = self.ncnn.Mat(array)
            if self.mean_std is not None:
                mat.substract_mean_normalize(*self.mean_std)
            extractor = self.net.create_extractor()
            extractor.input(self.input_name, mat)
            per_image.append([np.array(extractor.extract(name)[1]) for name in self.output_names])
        return [np.stack(level) for level in zip(*per_image)]
