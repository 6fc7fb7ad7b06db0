"""Static INT8 quantization of an exported network with ONNX Runtime's quantization tool.

QDQ format, per-channel INT8 weights, UINT8 activations, ranges calibrated on real images.
"""
import copy
import os
import tempfile
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence, Tuple

import numpy as np
import onnx
from mmdet.registry import DATASETS
from mmengine.config import Config
from mmengine.dataset import pseudo_collate

from shufflenet_det.errors import ConfigError, DeployedModelError
from shufflenet_det.utils import leaf_datasets
from .deployed_detector import DeployedDetector
from .int8_graph_rewrites import rewrite_for_int8

CALIBRATION_METHODS = ('minmax', 'entropy', 'percentile')
#: Op types of a model quantized already.
QUANTIZED_OP_TYPES = {'QuantizeLinear', 'DequantizeLinear', 'DynamicQuantizeLinear',
                      'QLinearConv', 'QLinearMatMul', 'ConvInteger', 'MatMulInteger'}


class CalibrationImages:
    """ONNX Runtime's calibration data reader over prepared network inputs.

    Args:
        input_name (str): The graph's input name.
        batches (Iterator[np.ndarray]): Float32 BGR batches (N, 3, H, W), as the network takes.
        on_batch (Callable, optional): Called after each batch is handed out (progress).
    """

    def __init__(self, input_name: str, batches: Iterator[np.ndarray],
                 on_batch: Optional[Callable[[], None]] = None) -> None:
        self.input_name = input_name
        self.batches = batches
        self.on_batch = on_batch

    def get_next(self) -> Optional[dict]:
        batch = next(self.batches, None)
        if batch is None:
            return None
        if self.on_batch is not None:
            self.on_batch()
        return {self.input_name: batch}


def quantize_int8(fp32_path: str, int8_path: str, calibration: CalibrationImages,
                  method: str = 'minmax', fp32_op_types: Sequence[str] = (),
                  fp32_nodes: Sequence[str] = (),
                  int8_op_types: Optional[Sequence[str]] = None) -> None:
    """Write a static INT8 QDQ model of ``fp32_path`` to ``int8_path``.

    The FP32 graph is first run through ONNX Runtime's pre-processing (shape inference and
    graph optimisation, which folds what can be folded before quantization). The INT8 model
    carries the FP32 model's ``metadata_props`` (its description for the runtime).
    ``int8_path`` is replaced only by a complete model.

    Args:
        fp32_path (str): The FP32 ``.onnx`` file.
        int8_path (str): The INT8 ``.onnx`` file to write.
        calibration (CalibrationImages): The calibration inputs.
        method (str): ``minmax``, ``entropy`` or ``percentile``. Default: ``minmax``.
        fp32_op_types (Sequence[str]): ONNX op types to leave in FP32, e.g. ``('Resize', )``.
        fp32_nodes (Sequence[str]): Node names to leave in FP32.
        int8_op_types (Sequence[str], optional): Quantize only these op types, e.g.
            ``('Conv', )``. Default: every op type ONNX Runtime can quantize.

    Raises:
        DeployedModelError: For a model quantized already, op types ONNX Runtime does not
            quantize, or none left to quantize.
    """
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.registry import QDQRegistry

    if method not in CALIBRATION_METHODS:
        raise ValueError(f'calibration method must be one of {CALIBRATION_METHODS}, '
                         f'but got {method!r}')
    quantized = sorted({node.op_type for node in onnx.load(
        fp32_path, load_external_data=False).graph.node} & QUANTIZED_OP_TYPES)
    if quantized:  # ONNX Runtime's quantizer would loop on it without end
        raise DeployedModelError(f'{fp32_path} is quantized already ({", ".join(quantized)} '
                                 'nodes); give the FP32 model pytorch2onnx.py wrote')
    unknown = sorted(set(int8_op_types or ()) - set(QDQRegistry))
    if unknown:
        raise DeployedModelError(f'ONNX Runtime does not quantize {", ".join(unknown)}; the op '
                                 f'types it quantizes are {", ".join(sorted(QDQRegistry))}')
    methods = dict(minmax=CalibrationMethod.MinMax, entropy=CalibrationMethod.Entropy,
                   percentile=CalibrationMethod.Percentile)
    # Both steps write into a temporary directory beside the output, which is renamed into
    # place only once complete: an interrupted run leaves an existing ``int8_path`` as it was.
    with tempfile.TemporaryDirectory(dir=Path(int8_path).resolve().parent) as workdir:
        prepared = os.path.join(workdir, 'prepared.onnx')
        quantized = os.path.join(workdir, 'int8.onnx')
        prepare_for_quantization(str(Path(fp32_path).resolve()), prepared, workdir)
        rewrite_for_int8(prepared)
        quantizable = set(QDQRegistry) if int8_op_types is None else set(int8_op_types)
        op_types = sorted({node.op_type for node in onnx.load(prepared).graph.node} &
                          quantizable - set(fp32_op_types))
        if not op_types:  # an empty list would mean "every op type" to ONNX Runtime
            raise DeployedModelError('no op type of the graph is left to quantize (the INT8 '
                                     'op types given are not in it, or all are kept in FP32)')
        quantize_static(
            prepared, quantized, calibration, quant_format=QuantFormat.QDQ, per_channel=True,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            op_types_to_quantize=op_types, nodes_to_exclude=list(fp32_nodes),
            calibrate_method=methods[method])
        model = onnx.load(quantized)  # the description the runtime decodes by, as the FP32's
        del model.metadata_props[:]
        model.metadata_props.extend(onnx.load(fp32_path, load_external_data=False).metadata_props)
        onnx.save(model, quantized)
        os.replace(quantized, int8_path)


def prepare_for_quantization(source: str, prepared: str, workdir: str) -> None:
    """ONNX Runtime's pre-processing of ``source`` into ``prepared`` (shape inference, graph
    optimisation), run in ``workdir``: when shape inference fails, ONNX Runtime saves its
    partial model into the current directory.

    Shape inference merges conflicting symbolic dimensions (``auto_merge``) only where it fails
    without, so that a graph that needs none is prepared as before. YOLOv8's neck needs it: a
    nearest upsampling by scale gives a batch of ``floor(1.0 * batch)``, which the Concat after
    it cannot match with ``batch``.

    Args:
        source (str): The FP32 ``.onnx`` file (an absolute path).
        prepared (str): The file to write (an absolute path).
        workdir (str): A scratch directory.
    """
    from onnxruntime.quantization.shape_inference import quant_pre_process

    current = os.getcwd()
    os.chdir(workdir)
    try:
        try:
            quant_pre_process(source, prepared)
        except Exception as error:  # ONNX Runtime raises a bare Exception
            if 'Incomplete symbolic shape inference' not in str(error):
                raise
            quant_pre_process(source, prepared, auto_merge=True)
    finally:
        os.chdir(current)


def calibration_batches(cfg: Config, deployed: DeployedDetector, count: int, seed: int,
                        split: str = 'train') -> Tuple[int, Iterator[np.ndarray]]:
    """Network inputs from ``count`` images of the config's ``{split}_dataloader`` dataset,
    drawn with ``seed``, prepared as at test time (the test pipeline, the data preprocessor).

    Args:
        cfg (Config): The config.
        deployed (DeployedDetector): The FP32 network as a detector (for the preprocessing).
        count (int): Images to draw; all of them if the dataset has fewer.
        seed (int): Seed of the draw.
        split (str): ``train``, ``val`` or ``test``. Default: ``train``, so that the images
            the model is then evaluated on play no part in its quantization.

    Returns:
        tuple: The number of images and an iterator of (1, 3, H, W) float32 BGR batches.
    """
    leaves = list(leaf_datasets(f'{split}_dataloader', cfg.get(f'{split}_dataloader')))
    if not leaves:
        raise ConfigError(f'the config has no {split}_dataloader dataset to calibrate on')
    (_, test_dataset), *_ = leaf_datasets('test_dataloader', cfg.test_dataloader)
    dataset_cfg = copy.deepcopy(leaves[0][1])
    dataset_cfg.update(pipeline=test_dataset['pipeline'], test_mode=True)
    dataset = DATASETS.build(dataset_cfg)
    picked = np.random.default_rng(seed).permutation(len(dataset))[:count]

    def batches() -> Iterator[np.ndarray]:
        for index in picked:
            data = deployed.data_preprocessor(pseudo_collate([dataset[int(index)]]), False)
            yield deployed.network_images(data['inputs'])

    return len(picked), batches()
