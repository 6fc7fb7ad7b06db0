"""Convert an exported ONNX model (tools/deployment/pytorch2onnx.py) for an edge runtime:
ncnn through pnnx, ncnn's own converter, or OpenVINO's IR. Both keep float32 weights, the
input of the ONNX model (float32 BGR 0-255, normalisation inside) and its outputs in order.

The pair gets a JSON file beside it (model.ncnn.json, model.json) with the ONNX model's
description and both files' sha256: run it with `python -m shufflenet_det_runtime MODEL SOURCE`,
or evaluate it with tools/deployment/test_deployed.py (the config's own decoding).

Examples:
    python tools/deployment/convert_onnx.py nanodet.onnx --backend ncnn
    python tools/deployment/convert_onnx.py nanodet.onnx --backend openvino --out nanodet.xml
"""
import argparse
import json
import sys
from pathlib import Path
from typing import Optional, Sequence

import onnx

from shufflenet_det.deployment.model_description import write_sidecar
from shufflenet_det.deployment.ncnn_export import onnx_to_ncnn
from shufflenet_det.deployment.openvino_export import onnx_to_openvino
from shufflenet_det.errors import DeployedModelError
from shufflenet_det.utils.cli import exit_status, output_file
from shufflenet_det_runtime.model_info import (METADATA_KEY, parse_document, sidecar_path,
                                               weights_path)
from shufflenet_det_runtime.onnx_metadata import read_onnx_metadata

SUFFIXES = dict(ncnn='.ncnn.param', openvino='.xml')


def input_shape(onnx_path: str) -> tuple:
    """The (1, C, H, W) input of an ONNX graph whose batch dimension may be dynamic."""
    try:
        graph = onnx.load(onnx_path, load_external_data=False).graph
    except Exception as error:  # protobuf's DecodeError, or an unreadable file
        raise DeployedModelError(
            f'{onnx_path} is not a readable ONNX model ({error})') from error
    dims = graph.input[0].type.tensor_type.shape.dim
    shape = [dim.dim_value for dim in dims[1:]]
    if not all(shape):
        raise DeployedModelError(f'{onnx_path} has no fixed input size; export it with --shape')
    return (1, *shape)


def is_model_of_other_pair(path: Path) -> bool:
    """Whether ``path`` is the model file of an OpenVINO (``.xml``, its root a ``<net>``) or
    an ncnn (``.param``, its magic number first) pair, not any file of that suffix."""
    if not path.is_file():
        return False
    with open(path, 'rb') as file:
        head = file.read(4096)
    return b'<net' in head if path.suffix == '.xml' else head.startswith(b'7767517')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The tool's arguments, parsed from ``argv`` (default: the command line)."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('onnx', help='the .onnx file')
    parser.add_argument('--backend', choices=sorted(SUFFIXES), required=True)
    parser.add_argument('--out', help='the .param (ncnn) or .xml (OpenVINO) file to write '
                        '(default: beside the .onnx, .ncnn.param or .xml)')
    args = parser.parse_args(argv)
    expected = SUFFIXES[args.backend].split('.')[-1]
    if args.out and not args.out.endswith('.' + expected):
        parser.error(f'--out for {args.backend} must end in .{expected}, got {args.out}')
    return args


def main() -> None:
    args = parse_args()
    if not Path(args.onnx).is_file():
        raise DeployedModelError(f'no such model file: {args.onnx}')
    out = args.out or str(Path(args.onnx).with_suffix(SUFFIXES[args.backend]))
    other = Path(out).with_suffix('.xml' if args.backend == 'ncnn' else '.param')
    if is_model_of_other_pair(other):  # its .bin and .json would be replaced by this pair's
        raise DeployedModelError(
            f'{out} would write {weights_path(out).name} and {sidecar_path(out).name}, which '
            f'belong to {other}; give --out another name (say {Path(out).stem}.{args.backend}'
            f'{Path(out).suffix})')
    shape = input_shape(args.onnx)  # refuses a file that is not an ONNX model
    description = read_onnx_metadata(args.onnx).get(METADATA_KEY)
    if description is not None:
        parse_document(description, args.onnx)  # refuses an incomplete one before converting
    for path in (out, weights_path(out), sidecar_path(out)):
        output_file(str(path))
    if args.backend == 'ncnn':
        weights = onnx_to_ncnn(args.onnx, out, shape)
    else:
        weights = onnx_to_openvino(args.onnx, out)
    if description is None:
        print(f'wrote {out} and {weights}\nwarning: {args.onnx} carries no description, so '
              'neither does the result: python -m shufflenet_det_runtime will refuse it; export '
              'the model with tools/deployment/pytorch2onnx.py')
        return
    sidecar = write_sidecar(out, json.loads(description))
    print(f'wrote {out}, {weights} and {sidecar}')


if __name__ == '__main__':
    sys.exit(exit_status(main, stop_on_sigterm=True))
