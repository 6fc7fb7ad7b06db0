r"""Evaluate an exported model (ONNX, INT8 ONNX, OpenVINO, ncnn) as tools/test.py evaluates a
checkpoint: the config's test dataloader and evaluator, the config's own head decoding and NMS.

The runtime is picked by the file: .onnx runs in ONNX Runtime (--backend openvino runs it in
OpenVINO), .xml in OpenVINO, .param in ncnn (its .bin beside it). Training hooks of the config
(EMA, class transfer) are left out: a deployed model has no weights for them to change.

Examples:
    python tools/deployment/test_deployed.py configs/nanodet_shufflenetv2_lightpan_320_coco.py \
        nanodet.onnx
    python tools/deployment/test_deployed.py CONFIG nanodet_int8.onnx --threads 2
    python tools/deployment/test_deployed.py CONFIG nanodet.ncnn.param --show-dir vis
"""
import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

from mmdet.engine.hooks.utils import trigger_visualization_hook
from mmdet.evaluation import DumpDetResults
from mmengine.config import DictAction

import shufflenet_det  # noqa: F401  (registers modules)
from shufflenet_det.deployment import DeployedTester
from shufflenet_det.utils import load_run_config
from shufflenet_det.utils.cli import exit_status, output_file
from shufflenet_det_runtime.model_info import read_model_info, sidecar_path
from shufflenet_det_runtime.network_loading import BACKENDS, load_network


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The tool's arguments, parsed from ``argv`` (default: the command line)."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='the config the model was exported from')
    parser.add_argument('model', help='.onnx, OpenVINO .xml or ncnn .param file')
    parser.add_argument('--backend', choices=BACKENDS,
                        help='runtime (default: by the file: .onnx in onnxruntime)')
    parser.add_argument('--threads', type=int, default=0,
                        help='runtime threads (default 0: the runtime chooses)')
    parser.add_argument('--work-dir', help='the dir to save the evaluation metrics')
    parser.add_argument('--out', help='dump the predictions to this .pkl file')
    parser.add_argument('--show', action='store_true', help='show the predictions')
    parser.add_argument('--show-dir', help='save images with drawn predictions in this dir, '
                        'inside the run\'s timestamped dir')
    parser.add_argument('--wait-time', type=float, default=2, help='seconds per shown image')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    args = parser.parse_args(argv)
    if args.out is not None and not args.out.endswith(('.pkl', '.pickle')):
        parser.error(f'--out must name a .pkl file, got {args.out}')
    return args


def main() -> None:
    args = parse_args()
    if Path(args.model).suffix != '.onnx' and sidecar_path(args.model).is_file():
        read_model_info(args.model)  # refuses a mixed pair (a .bin of another export)
    network = load_network(args.model, args.backend, args.threads)  # a bad file stops here
    cfg = load_run_config(args.config, args.cfg_options, args.work_dir, 'none')
    if args.show or args.show_dir:
        cfg = trigger_visualization_hook(cfg, args)
    if args.out is not None:
        output_file(args.out)
    tester = DeployedTester(cfg)
    if args.out is not None:
        tester.runner.test_evaluator.metrics.append(DumpDetResults(out_file_path=args.out))
    tester.test(network)


if __name__ == '__main__':
    sys.exit(exit_status(main))
