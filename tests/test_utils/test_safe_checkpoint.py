"""Checkpoints load on torch >= 2.6 without unpickling arbitrary code."""
import functools
import http.server
import os
import threading
import time

import mmcv
import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.logging import HistoryBuffer
from mmengine.registry import init_default_scope
from mmengine.model import BaseModel
from mmengine.runner import CheckpointLoader, Runner, load_checkpoint

from mmdet.registry import MODELS

from shufflenet_det.models.backbones import ShuffleNetV2
from shufflenet_det.utils import CheckpointError, safe_torch_load
from tests.malicious_pickles import Payload
from tests.test_tools.tool_runner import run_tool


class AttributeWalk:
    """Unpickling this would call getattr on HistoryBuffer for something beyond statistics."""

    def __reduce__(self):
        return getattr, (HistoryBuffer, '__init__')


class ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, labels=None, mode='tensor'):
        out = self.linear(inputs)
        if mode == 'loss':
            return dict(loss=((out.squeeze(1) - labels)**2).mean())
        return out


def train_toy_runner(work_dir):
    """A real MMEngine run that writes full training checkpoints (meta, message_hub, ...)."""
    data = [dict(inputs=torch.rand(2), labels=torch.rand(())) for _ in range(8)]
    runner = Runner(
        model=ToyModel(), work_dir=str(work_dir),
        train_dataloader=dict(dataset=data, sampler=dict(type='DefaultSampler', shuffle=False),
                              batch_size=4, collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=False, max_iters=2, val_interval=10),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False)),
        default_scope='mmengine')
    runner.train()
    return work_dir / 'iter_2.pth'


def test_full_mmengine_checkpoint_loads(tmp_path):
    path = train_toy_runner(tmp_path)
    with pytest.raises(Exception):  # what plain torch >= 2.6 does with such a file
        torch.load(path)
    checkpoint = safe_torch_load(str(path))
    assert {'meta', 'state_dict', 'message_hub', 'optimizer'} <= set(checkpoint)
    buffer = checkpoint['message_hub']['log_scalars']['train/loss']
    assert isinstance(buffer, HistoryBuffer) and len(buffer.data[0]) == 2
    # MMEngine's own loader (used by load_from, --resume and init_cfg) goes through it too.
    assert CheckpointLoader.load_checkpoint(str(path))['meta']['iter'] == 2
    load_checkpoint(ToyModel(), str(path), strict=True)


def test_plain_state_dict_loads(tmp_path):
    torch.save(ShuffleNetV2(widen_factor=0.5).state_dict(), tmp_path / 'plain.pth')
    state = safe_torch_load(str(tmp_path / 'plain.pth'))
    assert 'conv1.conv.weight' in state


@pytest.mark.parametrize('entry', ['safe_torch_load', 'mmengine', 'init_cfg'])
def test_code_running_pickle_is_refused(tmp_path, entry):
    marker = tmp_path / 'payload_ran'
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {'conv1.conv.weight': Payload(marker)}}, path)
    with pytest.raises(CheckpointError, match=r'refusing to load .*system'):
        if entry == 'safe_torch_load':
            safe_torch_load(str(path))
        elif entry == 'mmengine':
            load_checkpoint(ToyModel(), str(path))
        else:
            ShuffleNetV2(init_cfg=dict(type='Pretrained', checkpoint=str(path))).init_weights()
    assert not marker.exists()


def test_getattr_is_limited_to_history_buffer_statistics(tmp_path):
    torch.save({'meta': AttributeWalk()}, tmp_path / 'walk.pth')
    with pytest.raises(CheckpointError, match="getattr\\(HistoryBuffer, '__init__'\\)"):
        safe_torch_load(str(tmp_path / 'walk.pth'))


def statistics_swapping_buffer():
    """A HistoryBuffer whose pickle would replace the 'mean' of every buffer by np.dtype."""
    buffer = HistoryBuffer([1.0], [1], max_length=3)
    state = dict(vars(buffer), statistics_methods={'mean': np.dtype})
    buffer.__getstate__ = lambda: state
    return buffer


def test_loaded_history_buffer_cannot_change_other_buffers(tmp_path):
    torch.save({'message_hub': statistics_swapping_buffer()}, tmp_path / 'swap.pth')
    loaded = safe_torch_load(str(tmp_path / 'swap.pth'))['message_hub']
    assert type(loaded) is HistoryBuffer and loaded.max_length == 3
    assert HistoryBuffer._statistics_methods['mean'] is HistoryBuffer.mean
    assert HistoryBuffer([2.0, 4.0], [1, 1]).mean() == 3.0


def test_checkpoints_from_urls_are_loaded_safely(tmp_path, monkeypatch):
    """http(s) checkpoints (and schemes MMEngine resolves to URLs) go through the same checks."""
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    serve = tmp_path / 'serve'
    serve.mkdir()
    torch.save({'state_dict': {'w': torch.ones(2)}}, serve / 'good.pth')
    torch.save({'state_dict': {'w': Payload(tmp_path / 'payload_ran')}}, serve / 'evil.pth')
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(serve))
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f'http://127.0.0.1:{server.server_address[1]}'
    try:
        good = CheckpointLoader.load_checkpoint(f'{url}/good.pth')
        assert torch.equal(good['state_dict']['w'], torch.ones(2))
        with pytest.raises(CheckpointError, match='refusing to load'):
            CheckpointLoader.load_checkpoint(f'{url}/evil.pth')
    finally:
        server.shutdown()
    assert not (tmp_path / 'payload_ran').exists()


def load_url_in_rank(rank: int, url: str, init_file: str, torch_home: str) -> None:
    """One of two gloo processes loading a checkpoint URL through MMEngine."""
    os.environ['TORCH_HOME'] = torch_home
    torch.distributed.init_process_group('gloo', init_method=f'file://{init_file}', rank=rank,
                                         world_size=2)
    try:
        assert torch.equal(CheckpointLoader.load_checkpoint(url)['w'], torch.ones(2))
    finally:
        torch.distributed.destroy_process_group()


def test_a_url_is_downloaded_once_in_a_distributed_run(tmp_path):
    serve = tmp_path / 'serve'
    serve.mkdir()
    torch.save({'w': torch.ones(2)}, serve / 'weights.pth')
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            time.sleep(1)  # a slow download: ranks that do not wait would all ask for it
            super().do_GET()

    server = http.server.ThreadingHTTPServer(
        ('127.0.0.1', 0), functools.partial(Handler, directory=str(serve)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        torch.multiprocessing.spawn(
            load_url_in_rank, nprocs=2,
            args=(f'http://127.0.0.1:{server.server_address[1]}/weights.pth',
                  str(tmp_path / 'init'), str(tmp_path / 'torch_home')))
    finally:
        server.shutdown()
    assert requests == ['/weights.pth']


def test_missing_file_is_named(tmp_path):
    with pytest.raises(CheckpointError, match='not found'):
        safe_torch_load(str(tmp_path / 'nope.pth'))


@pytest.mark.parametrize('content', [b'hello, no checkpoint', b"_base_ = './a.py'\n",
                                     b'\x80\x02}q\x00.'])
def test_a_file_that_is_no_checkpoint_is_said_to_be_none(tmp_path, content):
    """Text (a config, a note) and stray pickle bytes, which the unpickler fails on in
    several ways (KeyError, IndexError, ...), are all refused as no checkpoint."""
    (tmp_path / 'weights.pth').write_bytes(content)
    with pytest.raises(CheckpointError, match='not a PyTorch checkpoint'):
        safe_torch_load(str(tmp_path / 'weights.pth'))


# ``meta`` as scripts that save a checkpoint by hand write it, and what MMEngine's loader gives.
HAND_WRITTEN_META = {
    'meta None': (dict(meta=None), {}),
    'meta a list': (dict(meta=[3]), {}),
    'dataset_meta None': (dict(meta=dict(epoch=3, dataset_meta=None)), dict(meta=dict(epoch=3))),
    'classes None': (dict(meta=dict(dataset_meta=dict(classes=None, palette='random'))),
                     dict(meta=dict(dataset_meta=dict(palette='random')))),
    'classes a string': (dict(meta=dict(dataset_meta=dict(classes='car'))),
                         dict(meta=dict(dataset_meta=dict()))),
    'classes a tuple': (dict(meta=dict(dataset_meta=dict(classes=('car', )))),
                        dict(meta=dict(dataset_meta=dict(classes=('car', ))))),
}


@pytest.mark.parametrize('saved, loaded', HAND_WRITTEN_META.values(),
                         ids=HAND_WRITTEN_META.keys())
def test_meta_naming_nothing_is_dropped_when_mmengine_loads(tmp_path, saved, loaded):
    state_dict = dict(weight=torch.ones(1))
    torch.save(dict(state_dict=state_dict, **saved), tmp_path / 'by_hand.pth')
    checkpoint = CheckpointLoader.load_checkpoint(str(tmp_path / 'by_hand.pth'))
    assert checkpoint == dict(state_dict=state_dict, **loaded)


@pytest.mark.parametrize('meta', [None, dict(dataset_meta=None)])
def test_image_demo_runs_a_checkpoint_saved_with_meta_none(tmp_path, meta):
    """MMDetection's DetInferencer reads ``meta`` as a dict of dicts."""
    config = 'configs/nanodet_shufflenetv2_lightpan_shapes.py'
    init_default_scope('mmdet')
    model = MODELS.build(Config.fromfile(config).model)
    torch.save(dict(state_dict=model.state_dict(), meta=meta), tmp_path / 'by_hand.pth')
    mmcv.imwrite(np.zeros((64, 64, 3), np.uint8), str(tmp_path / 'image.jpg'))
    result = run_tool('tools/image_demo.py', tmp_path / 'image.jpg', config, '--weights',
                      tmp_path / 'by_hand.pth', check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f'{tmp_path / "image.jpg"}: ' in result.stdout


def test_a_legacy_format_checkpoint_loads_with_mmap_asked(tmp_path):
    path = tmp_path / 'legacy.pth'  # torch's format before 1.6, which cannot be mapped
    torch.save({'state_dict': {'w': torch.ones(2)}}, path, _use_new_zipfile_serialization=False)
    assert torch.equal(safe_torch_load(str(path), mmap=True)['state_dict']['w'], torch.ones(2))
