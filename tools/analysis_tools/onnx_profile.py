"""Where an ONNX model's time goes in ONNX Runtime: milliseconds per run by operator type and,
with --nodes, the slowest nodes, from ONNX Runtime's own profiler (for example to see why an
INT8 model is not faster).

Example:
    python tools/analysis_tools/onnx_profile.py nanodet.onnx nanodet_int8.onnx --threads 1
    python tools/analysis_tools/onnx_profile.py nanodet_int8.onnx --nodes 10   # slowest nodes
"""
import argparse
import collections
import json
import os
import sys
import tempfile
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from shufflenet_det_runtime.onnx_runtime_network import onnx_runtime_session
from shufflenet_det.utils.cli import exit_status


def profile(path: str, threads: int,
            runs: int) -> Tuple[collections.Counter, collections.Counter, Dict[str, str]]:
    """Total kernel microseconds over ``runs`` runs on a random image, by operator type and by
    node, and each node's operator type and output shape."""
    with tempfile.TemporaryDirectory() as workdir:
        session = onnx_runtime_session(path, threads, os.path.join(workdir, 'profile'))
        graph_input = session.get_inputs()[0]
        shape = [1 if not isinstance(d, int) else d for d in graph_input.shape]
        image = np.random.default_rng(0).integers(0, 256, shape).astype(np.float32)
        for _ in range(runs):
            session.run(None, {graph_input.name: image})
        with open(session.end_profiling()) as file:
            events = json.load(file)
    by_op, by_node, described = collections.Counter(), collections.Counter(), {}
    for event in events:
        if event.get('cat') == 'Node' and event['name'].endswith('_kernel_time'):
            node, details = event['name'][:-len('_kernel_time')], event['args']
            by_op[details['op_name']] += event['dur']
            by_node[node] += event['dur']
            shapes = ' '.join('x'.join(map(str, dims)) for output in
                              details.get('output_type_shape', []) for dims in output.values())
            described[node] = f"{details['op_name']} -> {shapes}"
    return by_op, by_node, described


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The tool's arguments, parsed from ``argv`` (default: the command line)."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('models', nargs='+', help='.onnx files')
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--runs', type=int, default=50)
    parser.add_argument('--top', type=int, default=12, help='operator types to list')
    parser.add_argument('--nodes', type=int, default=0,
                        help='also list this many slowest nodes, with their output shapes')
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    for path in args.models:
        by_op, by_node, described = profile(path, args.threads, args.runs)
        print(f'{path}: {sum(by_op.values()) / args.runs / 1e3:.2f} ms of kernels per run '
              f'({args.threads} threads, {args.runs} runs)')
        for op, micros in by_op.most_common(args.top):
            print(f'  {op:24s} {micros / args.runs / 1e3:6.2f} ms')
        if args.nodes:
            print('  slowest nodes:')
        for node, micros in by_node.most_common(args.nodes):
            print(f'  {micros / args.runs:8.1f} us  {node}  {described[node]}')


if __name__ == '__main__':
    sys.exit(exit_status(main))
