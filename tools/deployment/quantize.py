r"""Quantize an exported ONNX model to static INT8 with ONNX Runtime's quantization: QDQ format,
per-channel INT8 weights, UINT8 activations calibrated on images of the config's own dataset
(the training split by default, prepared as at test time).

With --compare, the FP32 and the INT8 model are then evaluated on the config's test set (its
evaluator, the config's decoding) and timed side by side, in the same run; only then are the
test set's annotations needed.

Examples:
    python tools/deployment/quantize.py configs/nanodet_shufflenetv2_lightpan_320_coco.py \
        nanodet.onnx --out nanodet_int8.onnx --calib-images 200 --seed 0 --compare
    python tools/deployment/quantize.py CONFIG nanodet.onnx --out nanodet_int8.onnx \
        --calib-method percentile --fp32-op-types Resize
"""
import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from mmengine.config import DictAction
from mmengine.logging import print_log
from mmengine.utils import ProgressBar

import shufflenet_det  # noqa: F401  (registers modules)
from shufflenet_det.benchmarking import median_and_iqr, time_interleaved
from shufflenet_det.deployment import DeployedDetector, DeployedTester
from shufflenet_det.deployment.int8_quantization import (CALIBRATION_METHODS,
                                                         CalibrationImages,
                                                         calibration_batches, quantize_int8)
from shufflenet_det.utils import load_run_config
from shufflenet_det.utils.cli import exit_status, output_file
from shufflenet_det.utils.run_config import build_detector
from shufflenet_det_runtime.model_info import METADATA_KEY
from shufflenet_det_runtime.network_loading import load_network
from shufflenet_det_runtime.onnx_metadata import read_onnx_metadata


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The tool's arguments, parsed from ``argv`` (default: the command line)."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='the config the model was exported from')
    parser.add_argument('model', help='the FP32 .onnx file (tools/deployment/pytorch2onnx.py)')
    parser.add_argument('--out', required=True, help='the INT8 .onnx file to write')
    parser.add_argument('--calib-images', type=int, default=100,
                        help='calibration images (default 100)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the image draw')
    parser.add_argument('--calib-split', choices=('train', 'val', 'test'), default='train',
                        help='the dataloader whose dataset gives the images (default train)')
    parser.add_argument('--calib-method', choices=CALIBRATION_METHODS, default='minmax')
    parser.add_argument('--fp32-op-types', nargs='+', default=[], metavar='OP',
                        help='ONNX op types to keep in FP32, e.g. Resize Sigmoid')
    parser.add_argument('--int8-op-types', nargs='+', metavar='OP',
                        help='quantize only these ONNX op types, e.g. Conv (default: all '
                        'that ONNX Runtime can)')
    parser.add_argument('--fp32-nodes', nargs='+', default=[], metavar='NODE',
                        help='ONNX node names to keep in FP32')
    parser.add_argument('--compare', action='store_true',
                        help='then evaluate and time FP32 and INT8 side by side')
    parser.add_argument('--threads', type=int, default=0,
                        help='ONNX Runtime threads for --compare (default: its choice)')
    parser.add_argument('--repeats', type=int, default=50, help='timed rounds for --compare')
    parser.add_argument('--work-dir', help='the dir for the --compare evaluation logs')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    args = parser.parse_args(argv)
    if args.calib_images < 1:
        parser.error('--calib-images must be at least 1')
    if args.repeats < 2:
        parser.error('--repeats must be at least 2 (a spread needs two samples)')
    if Path(args.out).resolve() == Path(args.model).resolve():
        parser.error('--out must not be the FP32 model itself')
    return args


def compare(tester: DeployedTester, fp32_path: str, int8_path: str,
            args: argparse.Namespace) -> None:
    """Evaluate both models on the test set and time them on one image; print one table."""
    networks = {'FP32': load_network(fp32_path, threads=args.threads),
                'INT8': load_network(int8_path, threads=args.threads)}
    height, width = networks['FP32'].input_size
    sample = np.random.default_rng(0).integers(0, 256, (1, 3, height, width)).astype(np.float32)
    metrics = {name: tester.test(network) for name, network in networks.items()}
    key = next(iter(metrics['FP32']))  # the evaluator's first metric, coco/bbox_mAP for COCO
    times = time_interleaved({name: (lambda n=network: n(sample))
                              for name, network in networks.items()}, args.repeats, warmup=5)
    medians = {name: median_and_iqr(values)[0] * 1e3 for name, values in times.items()}
    print(f'\n| model | {key} | network ms (median of {args.repeats}, '
          f'{args.threads or "default"} threads) |\n|---|---|---|')
    for name in networks:
        print(f'| {name} | {metrics[name][key]:.3f} | {medians[name]:.2f} |')
    print(f'\nINT8 - FP32: {metrics["INT8"][key] - metrics["FP32"][key]:+.3f} {key}, '
          f'{medians["FP32"] / medians["INT8"]:.2f}x the FP32 speed')


def main() -> None:
    args = parse_args()
    fp32 = load_network(args.model, 'onnxruntime')
    if METADATA_KEY not in read_onnx_metadata(args.model):
        print(f'warning: {args.model} carries no description, so neither will the INT8 model: '
              'python -m shufflenet_det_runtime will refuse it; export the model with '
              'tools/deployment/pytorch2onnx.py')
    if args.compare:  # the test set is needed only to evaluate
        cfg = load_run_config(args.config, args.cfg_options, args.work_dir, 'none')
        tester = DeployedTester(cfg)
        detector = tester.detector
    else:
        cfg, detector = build_detector(args.config, args.cfg_options)
    count, batches = calibration_batches(cfg, DeployedDetector(fp32, detector),
                                         args.calib_images, args.seed, args.calib_split)
    print_log(f'calibrating on {count} {args.calib_split} images (seed {args.seed}, '
              f'{args.calib_method})', logger='current')
    output_file(args.out)
    progress = ProgressBar(count)
    images = CalibrationImages(fp32.input_name, batches, progress.update)
    quantize_int8(args.model, args.out, images, args.calib_method, args.fp32_op_types,
                  args.fp32_nodes, args.int8_op_types)
    print(f'\nwrote {args.out}')
    if args.compare:
        compare(tester, args.model, args.out, args)


if __name__ == '__main__':
    sys.exit(exit_status(main, stop_on_sigterm=True))
