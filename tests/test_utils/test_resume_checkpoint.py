"""Which checkpoint ``find_resumable_checkpoint`` picks: the recorded one when it loads, else
the newest loadable training checkpoint, else none."""
import logging
import os

import pytest
import torch
from mmengine.logging import MMLogger

from shufflenet_det.utils import find_resumable_checkpoint


@pytest.fixture
def messages(request):
    """(level name, message) of what is logged through a fresh current MMEngine logger."""
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = MMLogger.get_instance(f'test_resume_{request.node.name}', log_level='INFO')
    logger.addHandler(handler)
    yield lambda: [(r.levelname, r.getMessage()) for r in records]
    logger.removeHandler(handler)


def save(path, iteration: int, runner_checkpoint: bool = True) -> str:
    """A small checkpoint saved "at" time ``iteration`` (its mtime)."""
    state = {'weight': torch.full((2, ), float(iteration))}
    torch.save(dict(meta=dict(iter=iteration), state_dict=state, message_hub={})
               if runner_checkpoint else state, path)
    os.utime(path, (iteration, iteration))
    return str(path)


def test_last_checkpoint_is_trusted_when_it_loads(tmp_path, messages):
    save(tmp_path / 'iter_1.pth', 1)
    named = save(tmp_path / 'iter_2.pth', 2)
    save(tmp_path / 'iter_3.pth', 3)  # newer, but not the recorded one
    (tmp_path / 'last_checkpoint').write_text(named)
    assert find_resumable_checkpoint(str(tmp_path)) == named
    assert [level for level, _ in messages()] == ['INFO']


@pytest.mark.parametrize('record', ['empty', 'missing', 'truncated'])
def test_falls_back_to_newest_loadable_checkpoint(tmp_path, messages, record):
    newest_ok = save(tmp_path / 'iter_2.pth', 2)
    save(tmp_path / 'iter_1.pth', 1)
    save(tmp_path / 'best_coco_bbox_mAP_iter_3.pth', 3)  # no optimizer state: not resumable
    save(tmp_path / 'weights.pth', 4, runner_checkpoint=False)  # a bare state dict
    broken = save(tmp_path / 'iter_5.pth', 5)
    os.truncate(broken, 100)
    (tmp_path / '.iter_6.pth.tmp').write_bytes(b'half')
    named = dict(empty='', missing=str(tmp_path / 'gone/iter_9.pth'), truncated=broken)[record]
    (tmp_path / 'last_checkpoint').write_text(named)
    assert find_resumable_checkpoint(str(tmp_path)) == newest_ok
    warnings = [m for level, m in messages() if level == 'WARNING']
    assert warnings[0].startswith(f'{tmp_path}/last_checkpoint names a checkpoint that '
                                  'cannot be resumed from')
    assert warnings[1].startswith(f'Skipping {tmp_path}/iter_5.pth: cannot read checkpoint')
    assert warnings[2] == f'Skipping {tmp_path}/weights.pth: {tmp_path}/weights.pth is not a ' \
        'training checkpoint (no meta/state_dict/message_hub)'
    assert warnings[3] == f'Resuming from {newest_ok}, the newest loadable checkpoint.'


def test_no_last_checkpoint(tmp_path, messages):
    assert find_resumable_checkpoint(str(tmp_path)) is None
    assert messages() == [('INFO', f'No checkpoint to resume from in {tmp_path}: training '
                           'starts from scratch.')]
    newest = save(tmp_path / 'epoch_2.pth', 2)
    save(tmp_path / 'epoch_1.pth', 1)
    assert find_resumable_checkpoint(str(tmp_path)) == newest
    assert messages()[1] == ('WARNING', f'{tmp_path}/last_checkpoint not found. Looking for '
                             'the newest loadable checkpoint instead.')


def test_nothing_loadable_starts_from_scratch(tmp_path):
    (tmp_path / 'iter_1.pth').write_bytes(b'PK\x03\x04 not really')
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_1.pth'))
    assert find_resumable_checkpoint(str(tmp_path)) is None


def test_remote_checkpoints_are_left_to_mmengine(tmp_path):
    (tmp_path / 'last_checkpoint').write_text('s3://bucket/work/iter_4.pth\n')
    assert find_resumable_checkpoint(str(tmp_path)) == 's3://bucket/work/iter_4.pth'


def test_a_checkpoint_saved_with_meta_none_is_not_resumed_from(tmp_path):
    resumable = save(tmp_path / 'epoch_1.pth', 1)
    by_hand = str(tmp_path / 'epoch_2.pth')
    torch.save(dict(meta=None, state_dict=dict(weight=torch.ones(1)), message_hub={}), by_hand)
    os.utime(by_hand, (2, 2))
    (tmp_path / 'last_checkpoint').write_text(by_hand)
    assert find_resumable_checkpoint(str(tmp_path)) == resumable
