r"""Fine-tune a detector on a folder of labelled photos, in one command: read the data (the YOLO
layout, Pascal VOC XML or COCO json), check and convert it, write an ordinary MMDetection config
into the work dir, train from COCO weights (classes matched by name) within a time budget,
evaluate the best checkpoint on the val split and export it for the standalone runtime.

The work dir gets the config (rerun it with tools/train.py and tools/test.py), annotations/
(the converted COCO json), MMEngine's checkpoints and logs, best_coco_bbox_mAP_iter_N.pth,
metrics.json (mAP, AP50, AP per class, minutes) and model.onnx (plus model_int8.onnx,
model.ncnn.param/.bin/.json or model.xml/.bin/.json with --export).

Examples:
    python tools/finetune.py data/raccoon --work-dir work_dirs/raccoon --from nanodet_m.ckpt
    python tools/finetune.py data/pets --work-dir work_dirs/pets --from nanodet_m.ckpt \
        --classes cat,dog --minutes 20 --export onnx,int8,ncnn
    python tools/finetune.py data/raccoon --work-dir work_dirs/raccoon --resume
"""
import argparse
import io
import json
import math
import shutil
import sys
import time
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence

import torch
from mmengine.config import Config, DictAction
from mmengine.logging import print_log
from mmengine.runner import Runner, load_checkpoint

import shufflenet_det  # noqa: F401  (registers modules and the safe checkpoint loader)
from shufflenet_det.apis.finetune_config import LEARNING_RATE, Schedule, finetune_config
from shufflenet_det.apis.onnx_export import export_described_onnx
from shufflenet_det.apis.starting_weights import (StartingPoint, check_start_arguments,
                                                  starting_point)
from shufflenet_det.apis.training_plan import (MAX_EVALUATIONS, PROBE_ITERATIONS,
                                               measure_speed, plan_schedule)
from shufflenet_det.datasets import DatasetError
from shufflenet_det.datasets.coco_conversion import ConvertedDataset, convert_to_coco, write_coco
from shufflenet_det.datasets.conversion_report import counted
from shufflenet_det.deployment import DeployedDetector
from shufflenet_det.deployment.int8_quantization import (CalibrationImages,
                                                         calibration_batches, quantize_int8)
from shufflenet_det.deployment.model_description import write_sidecar
from shufflenet_det.deployment.ncnn_export import onnx_to_ncnn
from shufflenet_det.deployment.openvino_export import onnx_to_openvino
from shufflenet_det.engine import ProgressBarHook, atomic_write
from shufflenet_det.errors import ConfigError, UserError
from shufflenet_det.utils import build_runner, find_resumable_checkpoint, stop_data_workers
from shufflenet_det.utils.cli import exit_status
from shufflenet_det.utils.run_config import build_detector, input_size
from shufflenet_det_runtime.model_info import METADATA_KEY
from shufflenet_det_runtime.network_loading import load_network
from shufflenet_det_runtime.onnx_metadata import read_onnx_metadata

REPO = Path(__file__).resolve().parents[1]
EXPORTS = ('onnx', 'int8', 'ncnn', 'openvino')
DEFAULT_MINUTES = 10.0
DEFAULT_BATCH_SIZE = 16
CALIBRATION_IMAGES = 100


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The tool's arguments, parsed from ``argv`` (default: the command line)."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('data', nargs='?', help='the dataset folder (not needed with --resume)')
    parser.add_argument('--work-dir', required=True, help='the run\'s folder (new, or empty)')
    parser.add_argument('--from', dest='start',
                        help="where training starts: NanoDet's .ckpt/.pth (converted on the "
                        "fly), a checkpoint of this project, or 'scratch'")
    parser.add_argument('--config', help='the detector config (default: the one matching '
                        '--from; NanoDet-m at 320 from scratch)')
    parser.add_argument('--classes', help='the classes to train, comma-separated, in this '
                        'order (default: all the data has)')
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument('--minutes', type=float,
                        help=f'time budget of the training (default {DEFAULT_MINUTES:g}); '
                        'evaluation and export come after it')
    budget.add_argument('--iters', type=int, help='train this many iterations instead')
    parser.add_argument('--batch-size', type=int, help=f'default {DEFAULT_BATCH_SIZE}')
    parser.add_argument('--lr', type=float,
                        help=f'AdamW\'s peak learning rate (default {LEARNING_RATE:g})')
    parser.add_argument('--export', default='onnx',
                        help=f'what to export, comma-separated, of {",".join(EXPORTS)} '
                        '(default onnx; int8, ncnn and openvino include onnx)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of the written config, key=value (e.g. '
                        'custom_hooks.1.momentum=0.99999)')
    parser.add_argument('--resume', action='store_true',
                        help='continue the run in --work-dir from its latest checkpoint')
    args = parser.parse_args(argv)
    args.export = [name.strip().lower() for name in args.export.split(',') if name.strip()]
    unknown = sorted(set(args.export) - set(EXPORTS))
    if unknown:
        parser.error(f'--export: unknown {unknown}; choose from {",".join(EXPORTS)}')
    if args.minutes is not None and not 0 < args.minutes < math.inf:
        parser.error('--minutes must be a positive number')
    if args.iters is not None and args.iters < 1:
        parser.error('--iters must be at least 1')
    if args.batch_size is not None and args.batch_size < 1:
        parser.error('--batch-size must be at least 1')
    if args.lr is not None and not 0 < args.lr < math.inf:
        parser.error('--lr must be a positive number')
    if not args.resume and args.data is None:
        parser.error('give the dataset folder (or --resume a run)')
    if args.resume:
        unused = [flag for flag, value in (
            ('DATA', args.data), ('--from', args.start), ('--config', args.config),
            ('--classes', args.classes), ('--minutes', args.minutes), ('--iters', args.iters),
            ('--batch-size', args.batch_size), ('--lr', args.lr),
            ('--cfg-options', args.cfg_options)) if value is not None]
        if unused:
            print(f'warning: --resume continues the run as {args.work_dir} has it: '
                  f'{", ".join(unused)} not used', file=sys.stderr)
    args.batch_size = args.batch_size or DEFAULT_BATCH_SIZE
    args.lr = args.lr or LEARNING_RATE
    return args


def check_work_dir(work_dir: Path) -> None:
    """Refuse a work dir that holds files: a run is continued only with ``--resume``."""
    if work_dir.exists() and not work_dir.is_dir():
        raise ConfigError(f'--work-dir {work_dir} is a file, not a folder')
    if work_dir.exists() and any(work_dir.iterdir()):
        raise ConfigError(f'{work_dir} already holds files (an earlier run?); continue it with '
                          '--resume, or give another --work-dir')


def read_data(data: str, classes: Optional[str]) -> ConvertedDataset:
    """Convert the dataset and print what was read; refuse one that cannot train or be
    evaluated (a split without boxes)."""
    names = [name.strip() for name in classes.split(',')] if classes else None
    dataset = convert_to_coco(data, names)
    for line in dataset.report.summary(dataset.classes):
        print(line)
    for split, coco in (('train', dataset.train), ('val', dataset.val)):
        if not coco['annotations']:
            raise DatasetError(f'{data}: the {split} split has '
                               f'{counted(len(coco["images"]), "image")} and 0 boxes; the run '
                               f'needs labelled {split} images (add images, or give a split)')
    return dataset


def write_start(work_dir: Path, start: StartingPoint) -> Optional[str]:
    """The checkpoint the run loads: NanoDet's converted weights are written into the work
    dir first."""
    if start.checkpoint is None:
        return None
    if not start.converted:
        return str(Path(start.source).resolve())
    path = work_dir / 'starting_weights.pth'
    buffer = io.BytesIO()
    torch.save(start.checkpoint, buffer)
    atomic_write(buffer.getvalue(), str(path))
    return str(path)


def new_run(args: argparse.Namespace, work_dir: Path, started: float) -> Path:
    """Check everything, then write the work dir (which :func:`check_work_dir` passed):
    annotations, weights, the config; the run is planned to end ``--minutes`` after ``started``
    (``time.perf_counter()``)."""
    check_start_arguments(args.start, args.config)  # before a large dataset is read
    dataset = read_data(args.data, args.classes)
    start = starting_point(args.start, args.config, REPO / 'configs')
    print(f'starting from {start.source}, detector {start.config_name}')
    work_dir.mkdir(parents=True, exist_ok=True)
    annotations = work_dir / 'annotations'
    write_coco(dataset, str(annotations))
    load_from = write_start(work_dir, start)
    data_root = str(Path(args.data).resolve())
    batch_size = min(args.batch_size, len(dataset.train['images']))
    val_images = len(dataset.val['images'])

    def config(schedule: Schedule) -> Config:
        cfg = finetune_config(start.config, data_root, annotations.resolve(), dataset.classes,
                              work_dir.resolve(), load_from, schedule, args.lr)
        cfg.merge_from_dict(args.cfg_options or {})
        return cfg

    if args.iters:
        evaluations = min(MAX_EVALUATIONS, args.iters)
        schedule = Schedule(args.iters, -(-args.iters // evaluations), batch_size)
    else:
        minutes = args.minutes or DEFAULT_MINUTES
        print('timing a few training iterations to plan the run ...')
        iteration_seconds, image_seconds, setup_seconds = measure_speed(config(
            Schedule(PROBE_ITERATIONS, PROBE_ITERATIONS, batch_size)))
        # the time limit counts from the first iteration: the run's start comes off first
        spent = time.perf_counter() - started
        seconds = minutes * 60 - spent - setup_seconds
        if seconds <= 0:
            raise ConfigError(f'--minutes {minutes:g} is spent before training starts: reading '
                              f'the data and timing the run took {spent:.0f} s, starting it '
                              f'takes {setup_seconds:.0f} s more; give it more minutes')
        schedule = plan_schedule(seconds, iteration_seconds, image_seconds, val_images,
                                 batch_size)
        print(f'{setup_seconds:.0f} s to start, {iteration_seconds:.2f} s an iteration of '
              f'{batch_size} images, {image_seconds * val_images:.1f} s an evaluation: '
              f'{schedule.iterations} iterations '
              f'({schedule.iterations * batch_size / len(dataset.train["images"]):.0f} epochs), '
              f'evaluated every {schedule.val_interval}')
    path = work_dir / f'{work_dir.resolve().name}.py'
    config(schedule).dump(str(path))
    print(f'wrote {path}: rerun it with tools/train.py, evaluate with tools/test.py')
    return path


def discard_new_run(work_dir: Path, created: bool) -> None:
    """Remove what a new run wrote, so that the same command runs again: ``work_dir`` itself
    when the run ``created`` it, else all it holds (:func:`check_work_dir` passed it empty).

    Args:
        work_dir (Path): The run's work dir.
        created (bool): Whether the run made the dir.
    """
    if created:
        shutil.rmtree(work_dir, ignore_errors=True)
        return
    for path in work_dir.iterdir():
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()


def resumed_run(work_dir: Path) -> Path:
    """The config of the run in ``work_dir``, to continue."""
    configs = sorted(work_dir.glob('*.py')) if work_dir.is_dir() else []
    if len(configs) != 1:
        raise ConfigError(f'--resume: {work_dir} holds {len(configs)} .py configs, not the one a '
                          'run of tools/finetune.py writes')
    written_in = Path(Config.fromfile(str(configs[0])).work_dir)
    if written_in.resolve() != work_dir.resolve():
        raise ConfigError(f'--resume: the run in {work_dir} was written in {written_in}, which '
                          'its config and checkpoints name: a copied or moved run cannot go on; '
                          'resume it where it was written, or start a new run')
    return configs[0]


def best_checkpoint(work_dir: Path) -> Path:
    """The checkpoint MMEngine kept as the best by COCO's bbox mAP (else the latest)."""
    found = sorted(work_dir.glob('best_coco_bbox_mAP_*.pth'), key=lambda p: p.stat().st_mtime)
    if found:
        return found[-1]
    latest = find_resumable_checkpoint(str(work_dir))
    if latest is None:
        raise ConfigError(f'{work_dir} holds no checkpoint to evaluate')
    return Path(latest)


@contextmanager
def runner_of(cfg: Config, config: Path) -> Iterator[Runner]:
    """The runner of ``cfg``, read from ``config``; the file stays as written (MMEngine's
    runner dumps the config it runs, with any change made here, into the work dir). Its data
    loaders' workers stop when the ``with`` block ends (:func:`stop_data_workers`)."""
    text = config.read_text()
    runner = build_runner(cfg)
    config.write_text(text)
    try:
        yield runner
    finally:
        for hook in runner.hooks:
            if isinstance(hook, ProgressBarHook):
                hook.close()  # a run stopped midway: the bar ends before what is said of it
        stop_data_workers(runner)


def train(config: Path, resume: bool) -> None:
    """Train (or continue) the run of ``config``."""
    cfg = Config.fromfile(str(config))
    if resume:
        checkpoint = find_resumable_checkpoint(cfg.work_dir)
        if checkpoint is None:
            raise ConfigError(f'--resume: {cfg.work_dir} holds no checkpoint to continue from '
                              '(the run stopped before its first); remove the folder and start '
                              'again')
        cfg.resume, cfg.load_from = True, checkpoint
    with runner_of(cfg, config) as runner:
        runner.train()


def evaluate(config: Path, checkpoint: Path) -> Dict[str, float]:
    """COCO's metrics of ``checkpoint`` on the val split, per class too, as tools/test.py
    computes them; its detections are written to ``val_detections.bbox.json``."""
    cfg = Config.fromfile(str(config))
    cfg.load_from = str(checkpoint)
    cfg.test_evaluator.outfile_prefix = str(Path(cfg.work_dir) / 'val_detections')
    cfg.custom_hooks = [hook for hook in cfg.get('custom_hooks', [])
                        if hook['type'] in ('EMAHook', 'ClassTransferHook')]
    with runner_of(cfg, config) as runner:
        return runner.test()


def metrics_record(metrics: Dict[str, float], classes: List[str], checkpoint: Path,
                   minutes: Dict[str, float]) -> dict:
    """What metrics.json holds; the AP of a class without a box in the val split is null
    (COCO's evaluator gives NaN, which is no JSON)."""
    per_class = {name: metrics.get(f'coco/{name}_precision') for name in classes}
    unscored = [name for name, value in per_class.items() if value is None or math.isnan(value)]
    if unscored:
        print(f'warning: no AP for {", ".join(unscored)}: no box of it in the val split',
              file=sys.stderr)
    return dict(bbox_mAP=metrics['coco/bbox_mAP'], bbox_mAP_50=metrics['coco/bbox_mAP_50'],
                bbox_mAP_75=metrics['coco/bbox_mAP_75'],
                AP_per_class={name: None if name in unscored else value
                              for name, value in per_class.items()},
                checkpoint=checkpoint.name, minutes=minutes)


def export(config: Path, checkpoint: Path, work_dir: Path, formats: List[str]) -> List[Path]:
    """Export the checkpoint as ``model.onnx`` and whatever else ``formats`` asks."""
    cfg, model = build_detector(str(config))
    loaded = load_checkpoint(model, str(checkpoint), map_location='cpu', strict=True)
    classes = list(loaded['meta']['dataset_meta']['classes'])
    size = input_size(cfg)
    onnx_path = work_dir / 'model.onnx'
    with torch.no_grad():
        export_described_onnx(cfg, model.eval(), str(onnx_path), size, classes, str(checkpoint))
    written = [onnx_path]
    if 'int8' in formats:
        int8_path = work_dir / 'model_int8.onnx'
        fp32 = load_network(str(onnx_path), 'onnxruntime')
        _, batches = calibration_batches(cfg, DeployedDetector(fp32, model), CALIBRATION_IMAGES,
                                         seed=0)
        quantize_int8(str(onnx_path), str(int8_path), CalibrationImages(fp32.input_name, batches))
        written.append(int8_path)
    description = json.loads(read_onnx_metadata(str(onnx_path))[METADATA_KEY])
    if 'ncnn' in formats:
        param = work_dir / 'model.ncnn.param'
        onnx_to_ncnn(str(onnx_path), str(param), (1, 3, *size))
        written += [param, write_sidecar(str(param), description)]
    if 'openvino' in formats:
        xml = work_dir / 'model.xml'
        onnx_to_openvino(str(onnx_path), str(xml))
        written += [xml, write_sidecar(str(xml), description)]
    return written


def raised_at(error: BaseException) -> str:
    """Where ``error`` was raised: the innermost frame's folder, file and line, e.g.
    ``optim/adamw.py:54``, so that one line still points at the code."""
    frame = traceback.extract_tb(error.__traceback__)[-1]
    return f'{Path(*Path(frame.filename).parts[-2:])}:{frame.lineno}'


def train_new_run(args: argparse.Namespace, work_dir: Path, started: float) -> Path:
    """Check the data and the weights, write the run into ``work_dir`` and train it. A run
    that stops before its first checkpoint takes back what it wrote, so that the same command
    runs again.

    Args:
        args (argparse.Namespace): The command's arguments.
        work_dir (Path): The run's work dir, missing or empty.
        started (float): ``time.perf_counter()`` when the command started (``--minutes``
            counts from it).

    Returns:
        Path: The run's config file.
    """
    check_work_dir(work_dir)  # from here on, all the dir holds is this run's
    created = not work_dir.exists()
    try:
        config = new_run(args, work_dir, started)
        train(config, resume=False)
    except KeyboardInterrupt:
        if (work_dir / 'last_checkpoint').exists():
            raise KeyboardInterrupt(f'stopped (Ctrl-C); continue the run with --resume '
                                    f'--work-dir {work_dir}') from None
        discard_new_run(work_dir, created)
        raise KeyboardInterrupt(f'stopped (Ctrl-C) before the first checkpoint; what the run '
                                f'wrote into {work_dir} is removed') from None
    except Exception as error:  # a config the runner refuses, say: a --cfg-options value
        if (work_dir / 'last_checkpoint').exists():
            raise  # a checkpoint was saved: --resume continues from it
        discard_new_run(work_dir, created)
        if isinstance(error, UserError):
            raise
        message = ' '.join(str(error).split()) or 'no message'
        raise ConfigError(f'the run stopped before its first checkpoint ({type(error).__name__} '
                          f'at {raised_at(error)}: {message}); what it wrote into {work_dir} is '
                          'removed: fix the cause (a --cfg-options value, the --config?) and run '
                          'the command again') from error
    return config


def main() -> None:
    args = parse_args()
    # Weights fine-tuned from an inference export (BatchNorms folded) carry denormal floats, on
    # which CPU arithmetic is slow: flushed to zero, an iteration of NanoDet-m took 1.04 s
    # instead of 1.74 s (docs/fine_tuning.md).
    torch.set_flush_denormal(True)
    work_dir = Path(args.work_dir)
    started = time.perf_counter()
    if args.resume:
        config = resumed_run(work_dir)
        train(config, resume=True)
    else:
        config = train_new_run(args, work_dir, started)
    minutes = dict(training=(time.perf_counter() - started) / 60)  # reading and planning too
    checkpoint = best_checkpoint(work_dir)
    started = time.perf_counter()
    metrics = evaluate(config, checkpoint)
    minutes['evaluation'] = (time.perf_counter() - started) / 60
    classes = list(Config.fromfile(str(config)).test_dataloader.dataset.metainfo.classes)
    started = time.perf_counter()
    exported = export(config, checkpoint, work_dir, args.export)
    minutes['export'] = (time.perf_counter() - started) / 60
    record = metrics_record(metrics, classes, checkpoint, minutes)
    atomic_write(json.dumps(record, indent=2, allow_nan=False).encode(),
                 str(work_dir / 'metrics.json'))
    print_log(f'fine-tuned in {minutes["training"]:.1f} min (evaluation '
              f'{minutes["evaluation"]:.1f}, export {minutes["export"]:.1f}): bbox mAP '
              f'{record["bbox_mAP"]:.3f}, AP50 {record["bbox_mAP_50"]:.3f} on the val split, '
              f'{checkpoint.name}', logger='current')
    print('wrote ' + ', '.join(str(path) for path in [work_dir / 'metrics.json', *exported]))


if __name__ == '__main__':
    sys.exit(exit_status(main))
