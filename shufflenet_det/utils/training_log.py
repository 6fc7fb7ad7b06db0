"""What MMEngine's LocalVisBackend logged of a training run (``vis_data/scalars.json``)."""
import json
from pathlib import Path
from typing import Dict, List, Tuple

from shufflenet_det.errors import ConfigError

Series = Dict[str, List[Tuple[int, float]]]


def find_scalars(path: Path) -> Path:
    """The ``scalars.json`` of a run: ``path`` itself, or the newest one below it.

    Args:
        path (Path): A work dir, a run dir or a ``scalars.json`` file.

    Returns:
        Path: The file.

    Raises:
        ConfigError: When there is none.
    """
    if path.is_file():
        return path
    found = sorted(path.glob('**/vis_data/scalars.json'), key=lambda p: p.stat().st_mtime)
    if not found:
        raise ConfigError(f'no vis_data/scalars.json under {path}; is it a work dir?')
    return found[-1]


def read_scalars(scalars: Path) -> Tuple[Series, Series]:
    """Training losses and validation metrics, each keyed by name, against iteration.

    Args:
        scalars (Path): MMEngine's ``vis_data/scalars.json`` of a run.

    Returns:
        tuple: ``(losses, metrics)``, each ``{name: [(iteration, value), ...]}``; a validation
        metric is placed at the iteration it followed.
    """
    losses: Series = {}
    metrics: Series = {}
    last_iter = 0
    for line in scalars.read_text().splitlines():
        record = json.loads(line)
        if 'iter' in record or 'loss' in record:  # a training log record
            last_iter = int(record.get('iter', record['step']))
            for key, value in record.items():
                if key.startswith('loss'):
                    losses.setdefault(key, []).append((last_iter, value))
        else:  # validation: plotted at the iteration it followed
            for key, value in record.items():
                if key.endswith('mAP') or key.endswith('mAP_50'):
                    metrics.setdefault(key, []).append((last_iter, value))
    return losses, metrics


def read_iteration_times(scalars: Path) -> List[float]:
    """Seconds per training iteration as MMEngine logged them (averaged over each logging
    interval), in order.

    Args:
        scalars (Path): MMEngine's ``vis_data/scalars.json`` of a run.

    Returns:
        list[float]: One value per logged training record.
    """
    records = [json.loads(line) for line in scalars.read_text().splitlines()]
    return [r['time'] for r in records if ('iter' in r or 'loss' in r) and 'time' in r]
