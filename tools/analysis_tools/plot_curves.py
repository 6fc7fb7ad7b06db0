"""Plot a training run's losses and validation mAP over iterations into one PNG.

Example:
    python tools/analysis_tools/plot_curves.py work_dirs/fcos_shufflenetv2_coco --out curves.png
The argument is a work dir (its newest run is used), a run dir, or a vis_data/scalars.json file.
"""
import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

from shufflenet_det.errors import ConfigError
from shufflenet_det.utils.cli import exit_status
from shufflenet_det.utils.training_log import find_scalars, read_scalars


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The tool's arguments, parsed from ``argv`` (default: the command line)."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('run', type=Path, help='work dir, run dir or scalars.json')
    parser.add_argument('--out', default='curves.png', help='PNG to write')
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    scalars = find_scalars(args.run)
    losses, metrics = read_scalars(scalars)
    if not losses:
        raise ConfigError(f'{scalars} holds no training losses')
    fig, (ax_loss, ax_map) = plt.subplots(1, 2, figsize=(12, 4.5))
    for name, points in sorted(losses.items()):
        ax_loss.plot(*zip(*points), label=name, linewidth=1.5 if name == 'loss' else 0.8)
    ax_loss.set(title='training loss', xlabel='iteration', ylabel='loss')
    ax_loss.legend()
    for name, points in sorted(metrics.items()):
        ax_map.plot(*zip(*points), marker='o', label=name)
    ax_map.set(title='validation', xlabel='iteration', ylabel='mAP', ylim=(0, 1))
    if metrics:
        ax_map.legend()
    else:
        ax_map.text(0.5, 0.5, 'no validation in this run', ha='center', transform=ax_map.transAxes)
    fig.suptitle(str(scalars.parent.parent.name))
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=100)
    print(f'wrote {args.out} from {scalars}')


if __name__ == '__main__':
    sys.exit(exit_status(main))
