"""The table of configs in docs/detectors.md: parameters, FLOPs at each config's input size
and CPU latency per image (end to end: normalisation, network, decoding and NMS; untrained
weights).

Example:
    python tools/analysis_tools/config_table.py configs/*.py --threads 2
"""
import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

import torch

import shufflenet_det  # noqa: F401
from shufflenet_det.utils.cli import exit_status
from shufflenet_det.benchmarking.complexity import complexity, end_to_end_latency
from shufflenet_det.utils.run_config import build_detector, input_size


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The tool's arguments, parsed from ``argv`` (default: the command line)."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('configs', nargs='+', help='config files')
    parser.add_argument('--threads', type=int, default=torch.get_num_threads(),
                        help='torch CPU threads (default: all)')
    parser.add_argument('--repeats', type=int, default=20, help='timed runs per config')
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)

    rows = []
    for config in args.configs:
        cfg, model = build_detector(config)
        size = input_size(cfg)
        info = complexity(model, size)
        median, iqr = end_to_end_latency(model, size, repeats=args.repeats)
        rows.append(f'| `{Path(config).name}` | {size[0]}x{size[1]} | '
                    f'{info["params"] / 1e6:.2f} | {info["flops"] / 1e9:.2f} | '
                    f'{median * 1e3:.1f} ± {iqr * 1e3 / 2:.1f} |')
        print(f'{Path(config).name}: done', flush=True)
    print(f'\nCPU threads: {args.threads}, batch 1, median ± half the interquartile range of '
          f'{args.repeats} runs\n')
    print('| config | input | params (M) | FLOPs (G multiply-adds) | latency (ms) |')
    print('|---|---|---|---|---|')
    print('\n'.join(rows))


if __name__ == '__main__':
    sys.exit(exit_status(main))
