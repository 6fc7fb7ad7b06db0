r"""CPU speed of the backbone and the detectors, measured side by side in one run.

Times, interleaved round by round so that machine noise hits every contender alike:

- backbones: a plain-PyTorch ShuffleNetV2 in torchvision's layout (the reference,
  ``shufflenet_det.benchmarking.ReferenceShuffleNetV2``), this project's ``ShuffleNetV2`` as
  trained, the same after ``optimize_for_inference`` (BN folded, channels-last; ``--compile``
  adds torch.compile), and the backbone exported to ONNX as ``export_onnx`` exports it
  (channels aligned for ONNX Runtime's fast kernels) and, for comparison, without the
  alignment, both run by ONNX Runtime, and the aligned export quantized to static INT8;
- detectors (``--configs``): end to end (uint8 image tensor in, boxes out: normalisation,
  network, decoding, NMS) as trained, on the fast path and with the network in ONNX Runtime,
  and the fast network forward alone; the report gives the share of the fast end-to-end time
  spent outside the network;
- deployed networks (``--runtimes``, batch 1): each detector's network in PyTorch eager and on
  the fast path, in ONNX Runtime FP32 (also exported without channel alignment) and static
  INT8, in OpenVINO and in ncnn (converted by pnnx), and, with ``--nanodet-ncnn DIR``,
  NanoDet-m's own ncnn export run by the same ncnn package: the peer to beat. Runtimes that
  are not installed are left out, with a note.

Every group is timed once per ``--threads`` count.

Each entry reports median and interquartile range, the ratio to its reference, achieved
GFLOP/s (2 x multiply-adds of the network / time) and that rate as a fraction of this
machine's float32 matrix-multiply peak, measured in the same run.

Examples:
    python tools/analysis_tools/benchmark.py \
        --configs configs/nanodet_shufflenetv2_lightpan_320_coco.py --json b.json --markdown b.md
    python tools/analysis_tools/benchmark.py --widths --configs \
        configs/nanodet_shufflenetv2_lightpan_320_coco.py --sizes 320 416 --threads 1 2 \
        --runtimes --nanodet-ncnn path/to/nanodet_m_ncnn --runtime-plot r.png
"""
import argparse
import copy
import importlib.util
import json
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

import torch
import torch.nn as nn
from mmengine.analysis import get_model_complexity_info

import shufflenet_det  # noqa: F401
from shufflenet_det.apis import optimize_for_inference
from shufflenet_det.apis.onnx_export import export_onnx
from shufflenet_det.benchmarking import (ReferenceShuffleNetV2, matmul_peak_gflops,
                                         median_and_iqr, time_interleaved)
from shufflenet_det.benchmarking.complexity import complexity, end_to_end_batch
from shufflenet_det.deployment import DeployedDetector
from shufflenet_det.deployment.channel_alignment import align_branch_channels
from shufflenet_det.deployment.int8_quantization import CalibrationImages, quantize_int8
from shufflenet_det.deployment.ncnn_export import onnx_to_ncnn
from shufflenet_det.models.backbones import ShuffleNetV2
from shufflenet_det.utils.cli import exit_status
from shufflenet_det.utils.run_config import build_detector
from shufflenet_det_runtime.ncnn_network import NcnnNetwork
from shufflenet_det_runtime.network import Network
from shufflenet_det_runtime.network_loading import load_network
from shufflenet_det_runtime.onnx_runtime_network import onnx_runtime_session

UNALIGNED = '{}, channels not aligned'  # a row for the export without align_branch_channels


def export_backbone(backbone: nn.Module, size: int, workdir: str,
                    align_channels: bool = True) -> str:
    """``backbone`` exported to ONNX (dynamic batch), with ``align_channels`` its channels
    aligned as ``export_onnx`` aligns them; returns the file."""
    path = f'{workdir}/backbone_{size}x{size}_{align_channels}.onnx'
    if align_channels:
        backbone = align_branch_channels(copy.deepcopy(backbone))
    torch.onnx.export(backbone, (torch.rand(2, 3, size, size), ), path, input_names=['image'],
                      dynamo=True,
                      dynamic_shapes={'x': {0: torch.export.Dim('batch', min=1, max=1024)}})
    return path


def quantized(onnx_path: str, size: int) -> str:
    """``onnx_path`` quantized to static INT8 beside it. Latency does not depend on what the
    ranges are calibrated on: random images do."""
    int8_path = onnx_path.replace('.onnx', '_int8.onnx')
    rng = np.random.default_rng(0)
    images = (rng.integers(0, 256, (1, 3, size, size)).astype(np.float32) for _ in range(4))
    quantize_int8(onnx_path, int8_path, CalibrationImages('image', images))
    return int8_path


def multiply_adds(model: nn.Module, x: torch.Tensor) -> float:
    return get_model_complexity_info(model, inputs=(x, ), show_table=False,
                                     show_arch=False)['flops']


def summarize(group: str, times: Dict[str, List[float]], reference: str, macs: float,
              peak: float, **fields) -> List[dict]:
    rows = []
    ref_median, _ = median_and_iqr(times[reference])
    for name, values in times.items():
        median, iqr = median_and_iqr(values)
        rate = 2 * macs / median / 1e9 if macs else None
        rows.append(dict(group=group, name=name, **fields, median_ms=median * 1e3,
                         iqr_ms=iqr * 1e3, speedup_vs_reference=ref_median / median,
                         reference=reference, gflops_per_s=rate,
                         peak_fraction=rate / peak if rate else None))
    return rows


@torch.no_grad()
def bench_backbones(width: float, sizes: List[int], batches: List[int], args,
                    peak: float) -> List[dict]:
    rows = []
    reference = ReferenceShuffleNetV2(width, num_classes=None).eval()
    ours = ShuffleNetV2(widen_factor=width, out_indices=(3, ))
    ours.init_weights()
    ours.eval()
    fast = optimize_for_inference(copy.deepcopy(ours), compile=args.compile)
    for size in sizes:
        aligned, unaligned = (export_backbone(ours, size, args.workdir, align)
                              for align in (True, False))
        sessions = {name: onnx_runtime_session(path, args.threads) for name, path in (
            ('ShuffleNetV2 in ONNX Runtime', aligned),
            (UNALIGNED.format('ShuffleNetV2 in ONNX Runtime'), unaligned),
            ('ShuffleNetV2 in ONNX Runtime INT8', quantized(aligned, size)))}
        for batch in batches:
            x = torch.rand(batch, 3, size, size)
            x_numpy = x.numpy()
            macs = multiply_adds(reference, x)
            print(f'backbone {width}x {size}x{size} batch {batch} ...', flush=True)
            contenders = {
                'reference (torchvision layout)': lambda: reference(x),
                'ShuffleNetV2': lambda: ours(x),
                'ShuffleNetV2 fast path': lambda: fast(x),
            }
            for name, session in sessions.items():
                contenders[name] = lambda s=session: s.run(None, {'image': x_numpy})
            times = time_interleaved(contenders, args.repeats, args.warmup)
            rows += summarize('backbone', times, 'reference (torchvision layout)', macs, peak,
                              width=width, size=size, batch=batch)
    return rows


NANODET_NCNN = "NanoDet-m's own ncnn model"


def runtime_networks(model: nn.Module, onnx_path: str, size: int,
                     args) -> Dict[str, Network]:
    """The exported network in every installed runtime: ONNX Runtime FP32 (also exported
    without channel alignment) and INT8, OpenVINO, ncnn; a missing runtime is left out with a
    note."""
    unaligned_path = onnx_path.replace('.onnx', '_unaligned.onnx')
    export_onnx(model, unaligned_path, (size, size), align_channels=False)
    networks = {'ONNX Runtime FP32': load_network(onnx_path, threads=args.threads),
                UNALIGNED.format('ONNX Runtime FP32'): load_network(unaligned_path,
                                                                    threads=args.threads)}
    networks['ONNX Runtime INT8'] = load_network(quantized(onnx_path, size),
                                                 threads=args.threads)
    if importlib.util.find_spec('openvino'):
        networks['OpenVINO FP32'] = load_network(onnx_path, 'openvino', args.threads)
    else:
        print('note: openvino is not installed; no OpenVINO row', flush=True)
    if importlib.util.find_spec('ncnn') and importlib.util.find_spec('pnnx'):
        param = onnx_path.replace('.onnx', '.ncnn.param')
        onnx_to_ncnn(onnx_path, param, (1, 3, size, size))
        networks['ncnn FP32'] = load_network(param, threads=args.threads)
    else:
        print('note: ncnn or pnnx is not installed; no ncnn rows', flush=True)
    return networks


def nanodet_ncnn(directory: str, size: int, model: nn.Module,
                 threads: int) -> Optional[Network]:
    """NanoDet-m's own ncnn export for ``size`` (``nanodet-m.param`` is 320's), normalising
    with ncnn as NanoDet's demos do; None if there is none for this size."""
    name = 'nanodet-m.param' if size == 320 else f'nanodet-m-{size}.param'
    path = Path(directory) / name
    if not path.exists():
        print(f'note: no {path}; no {NANODET_NCNN} row at {size}', flush=True)
        return None
    preprocessor = model.data_preprocessor
    return NcnnNetwork(str(path), threads, (preprocessor.mean.flatten().tolist(),
                                            preprocessor.std.flatten().tolist()))


@torch.no_grad()
def bench_runtimes(model: nn.Module, fast: nn.Module, name: str, size: int, onnx_path: str,
                   args, peak: float) -> List[dict]:
    """The network alone, batch 1: PyTorch eager and fast path, and every deployed runtime."""
    data = end_to_end_batch((size, size), 1)
    inputs = model.data_preprocessor(data)['inputs']
    fast_inputs = fast.data_preprocessor(data)['inputs']
    image = torch.stack(data['inputs']).float().numpy()
    contenders = {'PyTorch eager': lambda: model._forward(inputs),
                  'PyTorch fast path': lambda: fast._forward(fast_inputs)}
    networks = runtime_networks(model, onnx_path, size, args)
    if args.nanodet_ncnn:
        peer = nanodet_ncnn(args.nanodet_ncnn, size, model, args.threads)
        if peer is not None:
            networks[NANODET_NCNN] = peer
    for runtime, network in networks.items():
        contenders[runtime] = lambda n=network: n(image)
    print(f'{name} network {size}x{size}, {args.threads} threads ...', flush=True)
    times = time_interleaved(contenders, args.repeats, args.warmup)
    macs = complexity(model, (size, size))['flops']
    rows = summarize(f'{name} network', times, 'PyTorch eager', macs, peak, size=size,
                     batch=1)
    if NANODET_NCNN in times:
        peer_ms = median_and_iqr(times[NANODET_NCNN])[0] * 1e3
        for row in rows:
            row['speedup_vs_nanodet_ncnn'] = peer_ms / row['median_ms']
    return rows


@torch.no_grad()
def bench_detector(config: str, args, peak: float) -> List[dict]:
    rows = []
    _, model = build_detector(config)
    fast = optimize_for_inference(copy.deepcopy(model), compile=args.compile)
    name = Path(config).stem
    sizes = list(args.sizes)
    if type(model.neck).__name__ in ('FPN', 'PAFPN') and args.fpn_size not in sizes:
        sizes.append(args.fpn_size)
    for size in sizes:
        onnx_path = f'{args.workdir}/{name}_{size}.onnx'
        export_onnx(model, onnx_path, (size, size))
        onnx_model = DeployedDetector(load_network(onnx_path, threads=args.threads), model)
        for batch in args.batches:
            data = end_to_end_batch((size, size), batch)
            fast_inputs = fast.data_preprocessor(data)['inputs']  # channels-last if it can
            macs = complexity(model, (size, size))['flops'] * batch
            print(f'{name} {size}x{size} batch {batch} ...', flush=True)
            times = time_interleaved({
                'end to end': lambda: model.test_step(data),
                'end to end, fast path': lambda: fast.test_step(data),
                'network only, fast path': lambda: fast._forward(fast_inputs),
                'end to end, ONNX Runtime': lambda: onnx_model.test_step(data),
            }, args.repeats, args.warmup)
            timed = summarize(name, times, 'end to end', macs, peak, size=size, batch=batch)
            fast_e2e, network = timed[1]['median_ms'], timed[2]['median_ms']
            # Everything but the network: normalisation, decoding, NMS, result packing.
            timed[1]['outside_network_share'] = 1 - network / fast_e2e
            rows += timed
        if args.runtimes and size in args.sizes:
            rows += bench_runtimes(model, fast, name, size, onnx_path, args, peak)
    return rows


def plot_runtimes(rows: List[dict], path: str) -> None:
    """Network latency of every contender, one bar group per detector, size and threads."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    runtime_rows = [r for r in rows if r['group'].endswith(' network')]
    settings = sorted({(r['group'], r['size'], r['threads']) for r in runtime_rows})
    names = list(dict.fromkeys(r['name'] for r in runtime_rows))
    fig, ax = plt.subplots(figsize=(max(8, 1.6 * len(settings) * len(names) / 3), 5))
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        values = [next((r['median_ms'] for r in runtime_rows if r['name'] == name and
                        (r['group'], r['size'], r['threads']) == setting), 0)
                  for setting in settings]
        ax.bar([s + i * width for s in range(len(settings))], values, width, label=name)
    ax.set_xticks([s + 0.4 - width / 2 for s in range(len(settings))])
    ax.set_xticklabels([f'{g[:-8]}\n{size}x{size}, {t} thread{"s" * (t > 1)}'
                        for g, size, t in settings], fontsize=8)
    ax.set(ylabel='network latency, batch 1 (ms, median)',
           title='The same network in each runtime (lower is faster)')
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def plot_scaling(rows: List[dict], path: str) -> None:
    """Fast-path end-to-end latency of each detector against input size and batch size."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    most_threads = max(r['threads'] for r in rows)
    fast = [r for r in rows if r['name'] == 'end to end, fast path' and
            r['threads'] == most_threads]
    groups = sorted({r['group'] for r in fast})
    fig, axes = plt.subplots(len(groups), 2, figsize=(11, 4 * len(groups)), squeeze=False)
    for (by_size, by_batch), group in zip(axes, groups):
        mine = [r for r in fast if r['group'] == group]
        for batch in sorted({r['batch'] for r in mine}):
            points = sorted((r['size'], r['median_ms']) for r in mine if r['batch'] == batch)
            by_size.plot(*zip(*points), marker='o', label=f'batch {batch}')
        for size in sorted({r['size'] for r in mine}):
            points = sorted((r['batch'], r['median_ms'] / r['batch']) for r in mine
                            if r['size'] == size)
            by_batch.plot(*zip(*points), marker='o', label=f'{size}x{size}')
        by_size.set(title=f'{group}: latency per batch, {most_threads} threads',
                    xlabel='input size (pixels a side)', ylabel='ms')
        by_batch.set(title=f'{group}: latency per image', xlabel='batch size', ylabel='ms')
        by_size.legend()
        by_batch.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def markdown(rows: List[dict], peaks: Dict[int, float]) -> str:
    peak_text = ', '.join(f'{peak:.1f} GFLOP/s on {threads} thread{"s" * (threads > 1)}'
                          for threads, peak in peaks.items())
    lines = [f'float32 matmul peak measured in this run: {peak_text}', '',
             '| group | contender | input | batch | threads | median ms | IQR ms | speed-up | '
             'vs NanoDet ncnn | GFLOP/s | % of peak |',
             '|---|---|---|---|---|---|---|---|---|---|---|']
    for r in rows:
        rate = f'{r["gflops_per_s"]:.1f}' if r['gflops_per_s'] else ''
        share = f'{100 * r["peak_fraction"]:.1f}' if r['peak_fraction'] else ''
        peer = (f'{r["speedup_vs_nanodet_ncnn"]:.2f}x' if 'speedup_vs_nanodet_ncnn' in r
                else '')
        lines.append(f'| {r["group"]}{" " + str(r["width"]) + "x" if "width" in r else ""} | '
                     f'{r["name"]} | {r["size"]} | {r["batch"]} | {r["threads"]} | '
                     f'{r["median_ms"]:.2f} | {r["iqr_ms"]:.2f} | '
                     f'{r["speedup_vs_reference"]:.2f}x | {peer} | {rate} | {share} |')
    shares = [f'- {r["group"]} {r["size"]}x{r["size"]} batch {r["batch"]}, '
              f'{r["threads"]} threads: '
              f'{100 * r["outside_network_share"]:.1f}%' for r in rows
              if 'outside_network_share' in r]
    if shares:
        lines += ['', 'Share of the fast end-to-end time spent outside the network '
                  '(normalisation, decoding, NMS):'] + shares
    return '\n'.join(lines)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The tool's arguments, parsed from ``argv`` (default: the command line)."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--widths', type=float, nargs='*', default=[1.0],
                        help='backbone widths to time (none: detectors only)')
    parser.add_argument('--sizes', type=int, nargs='+', default=[320, 416])
    parser.add_argument('--batches', type=int, nargs='+', default=[1, 8])
    parser.add_argument('--configs', nargs='*', default=[], help='detector configs')
    parser.add_argument('--fpn-size', type=int, default=640,
                        help='extra input size for configs with an FPN/PAFPN neck')
    parser.add_argument('--repeats', type=int, default=20)
    parser.add_argument('--warmup', type=int, default=5)
    parser.add_argument('--threads', type=int, nargs='+', default=[torch.get_num_threads()],
                        help='thread counts; everything is timed once per count')
    parser.add_argument('--runtimes', action='store_true',
                        help='also time each config\'s network in ONNX Runtime (FP32, INT8), '
                        'OpenVINO and ncnn, batch 1')
    parser.add_argument('--nanodet-ncnn', metavar='DIR',
                        help="with --runtimes: NanoDet-m's own ncnn export (nanodet-m.param "
                        'for 320, nanodet-m-416.param) as a contender')
    parser.add_argument('--compile', action='store_true', help='torch.compile the fast path')
    parser.add_argument('--json', help='write the results as JSON here')
    parser.add_argument('--markdown', help='write the results as a Markdown table here')
    parser.add_argument('--scaling-plot',
                        help='plot the detectors\' latency against input and batch size (at '
                        'the largest thread count) to this PNG')
    parser.add_argument('--runtime-plot', help='with --runtimes: plot the network latency in '
                        'each runtime to this PNG')
    args = parser.parse_args(argv)
    if args.repeats < 2:
        parser.error('--repeats must be at least 2 (a spread needs two samples)')
    if args.scaling_plot and not args.configs:
        parser.error('--scaling-plot needs --configs')
    if (args.runtime_plot or args.nanodet_ncnn) and not (args.runtimes and args.configs):
        parser.error('--runtime-plot and --nanodet-ncnn need --runtimes and --configs')
    return args


def main() -> None:
    args = parse_args()

    rows, peaks = [], {}
    thread_counts = args.threads
    with tempfile.TemporaryDirectory() as workdir:  # the exported ONNX files
        args.workdir = workdir
        for threads in thread_counts:
            args.threads = threads
            torch.set_num_threads(threads)
            peak = peaks[threads] = matmul_peak_gflops()
            print(f'threads: {threads}, float32 matmul peak: {peak:.1f} GFLOP/s', flush=True)
            timed = []
            for width in args.widths:
                timed += bench_backbones(width, args.sizes, args.batches, args, peak)
            for config in args.configs:
                timed += bench_detector(config, args, peak)
            rows += [dict(row, threads=threads) for row in timed]

    table = markdown(rows, peaks)
    print(table)
    if args.json:
        Path(args.json).write_text(json.dumps(
            dict(threads=thread_counts, matmul_peak_gflops=peaks, compile=args.compile,
                 rows=rows), indent=1))
    if args.markdown:
        Path(args.markdown).write_text(table + '\n')
    if args.scaling_plot:
        plot_scaling(rows, args.scaling_plot)
    if args.runtime_plot:
        plot_runtimes(rows, args.runtime_plot)


if __name__ == '__main__':
    sys.exit(exit_status(main))
