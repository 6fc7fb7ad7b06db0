"""Where an ONNX model's time goes in ONNX Runtime: milliseconds per run by operator type, from
ONNX Runtime's own profiler (for example to see why an INT8 model is not faster).

Example:
    python tools/analysis_tools/onnx_profile.py nanodet.onnx nanodet_int8.onnx --threads 1
"""
import argparse
import collections
import json
import os
import sys
import tempfile

import numpy as np

from shufflenet_det.benchmarking import onnx_runtime_session
from shufflenet_det.utils.cli import exit_status


def profile(path: str, threads: int, runs: int) -> collections.Counter:
    """Total kernel microseconds per operator type over ``runs`` runs on a random image."""
    with tempfile.TemporaryDirectory() as workdir:
        session = onnx_runtime_session(path, threads, os.path.join(workdir, 'profile'))
        graph_input = session.get_inputs()[0]
        shape = [1 if not isinstance(d, int) else d for d in graph_input.shape]
        image = np.random.default_rng(0).integers(0, 256, shape).astype(np.float32)
        for _ in range(runs):
            session.run(None, {graph_input.name: image})
        with open(session.end_profiling()) as file:
            events = json.load(file)
    totals: collections.Counter = collections.Counter()
    for event in events:
        if event.get('cat') == 'Node' and event['name'].endswith('_kernel_time'):
            totals[event['args']['op_name']] += event['dur']
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('models', nargs='+', help='.onnx files')
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--runs', type=int, default=50)
    parser.add_argument('--top', type=int, default=12, help='operator types to list')
    args = parser.parse_args()
    for path in args.models:
        totals = profile(path, args.threads, args.runs)
        print(f'{path}: {sum(totals.values()) / args.runs / 1e3:.2f} ms of kernels per run '
              f'({args.threads} threads, {args.runs} runs)')
        for op, micros in totals.most_common(args.top):
            print(f'  {op:24s} {micros / args.runs / 1e3:6.2f} ms')


if __name__ == '__main__':
    sys.exit(exit_status(main))
