r"""Speed and memory of the standalone runtime (``shufflenet_det_runtime``) as a deployed
detector sees them: real images, batch 1, one process per measurement.

Speed: every MODEL (a described ``.onnx``, its INT8 ``.onnx``, an OpenVINO ``.xml``, an ncnn
``.param``) at every ``--threads`` count is a contender. Each round runs every contender once,
each in a process of its own, the order rotated from round to round, so that machine noise
hits all alike. In its process a contender runs the first ``--warmup`` images of ``--images``
untimed, then takes every image as the command takes a folder's: it decodes the file (JPEG
decoding, reported apart) and times the image's three steps right after, as ``Detector`` runs
them: preprocessing (resize, pad), the network, post-processing (decoding, NMS). End to end is
their sum per image. A contender's figure is the median over rounds of its per-round medians;
the spread is the range over rounds. ``--peer-ncnn`` adds NanoDet-m's own ncnn model as a
contender, its network alone (normalising with ncnn as NanoDet's demos do, with the first
model's mean and std, on the first model's preprocessed images).

Memory (``--soak-frames N``): ``python -m shufflenet_det_runtime`` with the first model on a
video of N frames made from the images (``--json`` and a drawn ``--out`` video, as a camera
deployment writes), its resident set (RSS) sampled from /proc; reports the peak and the
growth from the end of the warm-up (the first tenth of the run) to the end. Linux only.

It imports only the runtime, numpy and OpenCV: it runs wherever the runtime does.

Example:
    python tools/analysis_tools/runtime_benchmark.py nanodet.onnx nanodet_int8.onnx \
        nanodet.xml nanodet.ncnn.param --images data/coco/val2017 --threads 1 2 \
        --peer-ncnn nanodet-m.param --soak-frames 1000 --markdown runtime_benchmark.md
"""
import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from shufflenet_det_runtime import Detector, RuntimeUserError, SourceError
from shufflenet_det_runtime.ncnn_network import NcnnNetwork
from shufflenet_det_runtime.sources import IMAGE_SUFFIXES, read_image

STEPS = ('decode', 'preprocess', 'network', 'postprocess', 'end_to_end')
PEER = "NanoDet-m's own ncnn model, network alone"


def milliseconds(start: float) -> float:
    return (time.perf_counter() - start) * 1e3


def image_paths(folder: str) -> List[str]:
    """The image files under ``folder``, in sorted order."""
    return [str(path) for path in sorted(Path(folder).rglob('*'))
            if path.suffix.lower() in IMAGE_SUFFIXES]


def read_images(folder: str) -> List[np.ndarray]:
    """The readable images under ``folder``, in sorted order."""
    images = [image for image in map(read_image, image_paths(folder)) if image is not None]
    if not images:
        raise SourceError(f'no readable images in {folder}')
    return images


def time_steps(detector: Detector, paths: List[str]) -> Dict[str, List[float]]:
    """Per file: its decoding (unreadable files included), then, for an image, its
    preprocessing, network, post-processing and the sum of these three, in ms. Each image is
    decoded just before its steps, as the command decodes a folder's: in the cache, not read
    back from memory."""
    times: Dict[str, List[float]] = {step: [] for step in STEPS}
    for path in paths:
        start = time.perf_counter()
        image = read_image(path)
        times['decode'].append(milliseconds(start))
        if image is None:
            continue
        start = time.perf_counter()
        prepared = detector.prepare(image)
        times['preprocess'].append(milliseconds(start))
        start = time.perf_counter()
        outputs = detector.infer(prepared)
        times['network'].append(milliseconds(start))
        start = time.perf_counter()
        detector.decode(outputs, prepared)
        times['postprocess'].append(milliseconds(start))
        times['end_to_end'].append(sum(times[step][-1] for step in STEPS[1:4]))
    return times


def worker(spec: dict) -> dict:
    """One contender in this process: ``spec`` names the model, threads, images and warm-up
    (and ``peer``: an ncnn model timed as the network alone)."""
    cv2.setNumThreads(spec['threads'])
    detector = Detector(spec['model'], spec['threads'])
    paths = image_paths(spec['images'])
    for image in map(read_image, paths[:spec['warmup']]):
        if image is not None:
            detector(image)
    if not spec.get('peer'):
        return time_steps(detector, paths)
    images = read_images(spec['images'])
    description = detector.info.document['input']
    peer = NcnnNetwork(spec['peer'], spec['threads'], (description['mean'], description['std']))
    blobs = [detector.prepare(image).blob.copy() for image in images]
    for blob in blobs[:spec['warmup']]:
        peer(blob)
    network = []
    for blob in blobs:
        start = time.perf_counter()
        peer(blob)
        network.append(milliseconds(start))
    return dict(network=network)


def run_worker(spec: dict) -> dict:
    result = subprocess.run([sys.executable, __file__, '--worker', json.dumps(spec)],
                            capture_output=True, text=True)
    if result.returncode:
        last_line = (result.stderr.strip().splitlines() or ['no message'])[-1]
        raise RuntimeUserError(f'{spec["name"]} failed: {last_line}')
    return json.loads(result.stdout.strip().splitlines()[-1])


def time_contenders(args: argparse.Namespace) -> List[dict]:
    """Every contender once per round, each in a process of its own, the order rotated."""
    specs = [dict(name=f'{Path(model).name}, {threads} thread{"s" * (threads > 1)}',
                  model=model, threads=threads, images=args.images, warmup=args.warmup)
             for threads in args.threads for model in args.models]
    if args.peer_ncnn:
        specs += [dict(name=f'{PEER}, {threads} thread{"s" * (threads > 1)}',
                       model=args.models[0], peer=args.peer_ncnn, threads=threads,
                       images=args.images, warmup=args.warmup) for threads in args.threads]
    per_round: Dict[str, List[dict]] = {spec['name']: [] for spec in specs}
    for round_index in range(args.rounds):
        shift = round_index % len(specs)
        for spec in specs[shift:] + specs[:shift]:
            print(f'round {round_index + 1}/{args.rounds}: {spec["name"]}', flush=True)
            times = run_worker(spec)
            per_round[spec['name']].append({step: median(values)
                                            for step, values in times.items()})
    rows = []
    for spec in specs:
        rounds = per_round[spec['name']]
        row = dict(name=spec['name'], model=Path(spec['model']).name, threads=spec['threads'],
                   peer=bool(spec.get('peer')), rounds=len(rounds))
        for step in rounds[0]:
            values = [r[step] for r in rounds]
            row[f'{step}_ms'] = median(values)
            row[f'{step}_range_ms'] = [min(values), max(values)]
        if not row['peer']:
            row['pre_post_share'] = ((row['preprocess_ms'] + row['postprocess_ms'])
                                     / row['end_to_end_ms'])
        rows.append(row)
    for row in rows:  # against the peer's network at the same thread count
        peer = next((r for r in rows if r['peer'] and r['threads'] == row['threads']), None)
        if peer and not row['peer']:
            row['speedup_vs_peer'] = peer['network_ms'] / row['end_to_end_ms']
    return rows


def make_video(images: Sequence[np.ndarray], frames: int, path: str) -> None:
    """A 640x480, 25 fps video of ``frames`` frames, the images in turn."""
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), 25, (640, 480))
    pictures = [cv2.resize(image, (640, 480)) for image in images[:50]]
    for index in range(frames):
        writer.write(pictures[index % len(pictures)])
    writer.release()


def resident_mib(pid: int) -> Optional[Tuple[float, float]]:
    """The resident set of process ``pid`` and its peak so far (``VmRSS``, ``VmHWM``), in
    MiB; None once it has exited."""
    try:
        status = Path(f'/proc/{pid}/status').read_text()
    except OSError:
        return None
    fields = dict(line.split(':', 1) for line in status.splitlines() if ':' in line)
    if 'VmRSS' not in fields:  # a zombie: exited, not yet reaped
        return None
    return tuple(int(fields[key].split()[0]) / 1024 for key in ('VmRSS', 'VmHWM'))


def soak(args: argparse.Namespace, images: List[np.ndarray], workdir: str) -> dict:
    """RSS of the command on a ``--soak-frames`` video of ``images``: peak, and growth after
    warm-up."""
    video = f'{workdir}/soak.mp4'
    make_video(images, args.soak_frames, video)
    command = [sys.executable, '-m', 'shufflenet_det_runtime', args.models[0], video,
               '--json', f'{workdir}/soak.json', '--out', f'{workdir}/soak_out',
               '--threads', str(args.threads[0])]
    print(f'soak: {args.soak_frames} frames, {" ".join(command[1:])}', flush=True)
    samples, peak = [], 0.0
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    while process.poll() is None:
        memory = resident_mib(process.pid)
        if memory is not None:
            samples.append(memory[0])
            peak = memory[1]
        time.sleep(args.soak_interval)
    _, stderr = process.communicate()
    if process.returncode or len(samples) < 20:
        last_line = (stderr.strip().splitlines() or ['no message'])[-1]
        raise RuntimeUserError(f'the soak run failed or was too short to sample '
                               f'({len(samples)} samples): {last_line}')
    warm = len(samples) // 10
    baseline = max(samples[warm:2 * warm])  # the tenth after the warm-up
    end = max(samples[-warm:])
    detections = len(json.loads(Path(f'{workdir}/soak.json').read_text()))
    return dict(frames=args.soak_frames, model=Path(args.models[0]).name,
                threads=args.threads[0], samples=len(samples), peak_mib=max(peak, *samples),
                after_warmup_mib=baseline, end_mib=end, growth=end / baseline - 1,
                detections=detections)


def markdown(rows: List[dict], memory: Optional[dict], args: argparse.Namespace) -> str:
    """The results as Markdown tables."""
    lines = [f'{args.image_count} images of {args.images}, {args.rounds} rounds, '
             f'{args.warmup} warm-up images per process; ms, median over rounds of per-round '
             'medians (range over rounds)', '',
             '| contender | JPEG decode | preprocess | network | post-process | end to end | '
             'pre + post share | vs peer network |', '|---|---|---|---|---|---|---|---|']

    def cell(row: dict, step: str) -> str:
        if f'{step}_ms' not in row:
            return ''
        low, high = row[f'{step}_range_ms']
        return f'{row[f"{step}_ms"]:.2f} ({low:.2f}-{high:.2f})'

    for row in rows:
        share = f'{100 * row["pre_post_share"]:.1f}%' if 'pre_post_share' in row else ''
        peer = f'{row["speedup_vs_peer"]:.2f}x' if 'speedup_vs_peer' in row else ''
        lines.append(f'| {row["name"]} | ' + ' | '.join(cell(row, step) for step in STEPS)
                     + f' | {share} | {peer} |')
    if memory:
        lines += ['', f'Memory: {memory["frames"]} frames of a 640x480 video, '
                  f'{memory["model"]}, {memory["threads"]} thread(s), {memory["samples"]} '
                  f'samples: peak RSS {memory["peak_mib"]:.1f} MiB, '
                  f'{memory["after_warmup_mib"]:.1f} MiB after warm-up, '
                  f'{memory["end_mib"]:.1f} MiB at the end ({100 * memory["growth"]:+.1f}%), '
                  f'{memory["detections"]} detections written']
    return '\n'.join(lines)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The tool's arguments, parsed from ``argv`` (default: the command line)."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('models', nargs='+', metavar='MODEL',
                        help='described exports: .onnx, OpenVINO .xml, ncnn .param')
    parser.add_argument('--images', required=True, help='a folder of real images')
    parser.add_argument('--threads', type=int, nargs='+', default=[1, 2])
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=10,
                        help='images run untimed in each process first')
    parser.add_argument('--peer-ncnn', metavar='PARAM',
                        help="NanoDet-m's own ncnn .param, timed as the network alone")
    parser.add_argument('--soak-frames', type=int, default=0, metavar='N',
                        help='measure the RSS of the command over a video of N frames')
    parser.add_argument('--soak-interval', type=float, default=0.05,
                        help='seconds between RSS samples')
    parser.add_argument('--json', help='write the results as JSON here')
    parser.add_argument('--markdown', help='write the results as Markdown here')
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.warmup < 0 or min(args.threads) < 1:
        parser.error('--rounds and --threads must be at least 1, --warmup at least 0')
    return args


def main() -> None:
    if sys.argv[1:2] == ['--worker']:  # one contender, in its own process
        print(json.dumps(worker(json.loads(sys.argv[2]))))
        return
    args = parse_args()
    images = read_images(args.images)
    args.image_count = len(images)
    for model in args.models:  # a missing or undescribed model stops it before any timing
        Detector(model)
    if args.peer_ncnn:
        NcnnNetwork(args.peer_ncnn)
    rows = time_contenders(args)
    with tempfile.TemporaryDirectory() as workdir:
        memory = soak(args, images, workdir) if args.soak_frames else None
    table = markdown(rows, memory, args)
    print(table)
    if args.json:
        Path(args.json).write_text(json.dumps(dict(
            images=args.images, image_count=args.image_count, rounds=args.rounds,
            warmup=args.warmup, rows=rows, memory=memory), indent=1))
    if args.markdown:
        Path(args.markdown).write_text(table + '\n')


if __name__ == '__main__':
    try:
        main()
    except RuntimeUserError as error:
        sys.exit(f'error: {error}')
