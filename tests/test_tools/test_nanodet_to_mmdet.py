"""tools/model_converters/nanodet_to_mmdet.py: NanoDet-m's and NanoDet-Plus's checkpoints,
converted, compute what NanoDet computes (tests/reference_nanodet.py and
tests/reference_nanodet_plus.py are NanoDet's code as oracles), and bad files are refused without
writing anything."""
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint

from mmdet.registry import MODELS
from mmdet.structures import DetDataSample

from tests.reference_nanodet import NanoDetM, legacy_checkpoint, lightning_checkpoint
from tests.reference_nanodet_plus import nanodet_plus_m
from tests.reference_shufflenet import randomize_bn
from tests.test_tools.tool_runner import REPO, run_tool

CONFIGS = {0.5: 'configs/nanodet_shufflenetv2-0.5x_lightpan_320_coco.py',
           1.0: 'configs/nanodet_shufflenetv2_lightpan_320_coco.py',
           1.5: 'configs/nanodet_shufflenetv2-1.5x_lightpan_320_coco.py'}
PLUS_CONFIGS = {1.0: 'configs/nanodet-plus_shufflenetv2_ghostpan_320_coco.py',
                1.5: 'configs/nanodet-plus_shufflenetv2-1.5x_ghostpan_320_coco.py'}
# NanoDet-m's normalisation of BGR images (its configs' pipeline.normalize).
MEAN, STD = torch.tensor([103.53, 116.28, 123.675]), torch.tensor([57.375, 57.12, 58.395])


def convert(*args):
    return run_tool('tools/model_converters/nanodet_to_mmdet.py', *args, check=False)


def random_nanodet_m(width, seed=0, num_classes=80):
    """NanoDet-m with random weights, non-trivial BN statistics and spread class scores."""
    torch.manual_seed(seed)
    model = randomize_bn(NanoDetM(width, num_classes), seed=seed)
    for conv in model.head.gfl_cls:  # scores that differ from place to place: no ties
        torch.nn.init.normal_(conv.weight, std=1.0)
        conv.bias.data[:num_classes] -= 4
    return model.eval()


def random_nanodet_plus(width, seed=0, num_classes=80):
    """NanoDet-Plus with random weights, non-trivial BN and GN affine parameters and statistics,
    and spread class scores."""
    torch.manual_seed(seed)
    model = randomize_bn(nanodet_plus_m(width, num_classes), seed=seed)
    for module in model.modules():
        if isinstance(module, torch.nn.GroupNorm):
            module.weight.data = torch.rand(module.num_channels) + 0.5
            module.bias.data = torch.randn(module.num_channels) * 0.1
    for conv in [*model.head.gfl_cls, model.aux_head.gfl_cls]:
        torch.nn.init.normal_(conv.weight, std=1.0)
        conv.bias.data[:num_classes] -= 4
    return model.eval()


def flat_outputs(cls_scores, bbox_preds):
    """Per-level (N, C, H, W) outputs as NanoDet's (N, points, C + 32)."""
    return torch.cat([torch.cat([c, b], 1).flatten(2) for c, b in zip(cls_scores, bbox_preds)],
                     2).permute(0, 2, 1)


def assert_same_detections(pred, dets, labels):
    """The same boxes, scores and labels in the same score order; boxes of one class with
    the same score (neighbouring priors can tie) may come in either order."""
    assert 20 <= len(pred) == len(dets) <= 100
    torch.testing.assert_close(pred.scores, dets[:, 4], rtol=0, atol=1e-6)
    unmatched = list(range(len(dets)))
    for box, score, label in zip(pred.bboxes, pred.scores, pred.labels):
        match = next((j for j in unmatched if labels[j] == label
                      and abs(dets[j, 4] - score) <= 1e-6
                      and (dets[j, :4] - box).abs().max() <= 1e-4), None)
        assert match is not None, f'no NanoDet detection for {box.tolist()} {score} {label}'
        unmatched.remove(match)


def random_images(num):
    """BGR uint8 images with structure at several scales (noise alone gives flat scores)."""
    coarse = torch.rand(num, 3, 10, 10) * 255
    fine = torch.rand(num, 3, 320, 320) * 64
    return (torch.nn.functional.interpolate(coarse, size=(320, 320), mode='bilinear') * 0.75
            + fine).clamp(0, 255).to(torch.uint8)


def converter_inputs(model):
    """Two 320x320 images, as this project's detector and as NanoDet-m/Plus read them."""
    torch.manual_seed(1)
    images = random_images(2)
    samples = [DetDataSample(metainfo=dict(img_shape=(320, 320), ori_shape=(320, 320),
                                           scale_factor=(1.0, 1.0))) for _ in images]
    data = model.data_preprocessor(dict(inputs=list(images), data_samples=samples))
    return data, (images.float() - MEAN[:, None, None]) / STD[:, None, None]


def build_converted(config, checkpoint):
    cfg = Config.fromfile(str(REPO / config))
    init_default_scope('mmdet')
    model = MODELS.build(cfg.model)
    load_checkpoint(model, str(checkpoint), strict=True)
    return model.eval()


@pytest.mark.parametrize('width', [0.5, 1.0, 1.5])
@pytest.mark.parametrize('file_format', ['ckpt', 'pth'])
def test_converted_nanodet_m_computes_what_nanodet_m_computes(tmp_path, width, file_format):
    reference = random_nanodet_m(width)
    src = tmp_path / f'nanodet_m.{file_format}'
    torch.save(lightning_checkpoint(reference) if file_format == 'ckpt' else
               legacy_checkpoint(reference), src)
    result = convert(src, tmp_path / 'out.pth')
    assert result.returncode == 0, result.stderr
    assert f'NanoDet-m {width}x' in result.stdout and CONFIGS[width] in result.stdout
    assert 'BatchNorms are folded' not in result.stdout  # they have real statistics here
    model = build_converted(CONFIGS[width], tmp_path / 'out.pth')

    data, nanodet_input = converter_inputs(model)
    with torch.no_grad():
        expected = reference(nanodet_input)
        cls_scores, bbox_preds = model._forward(data['inputs'])
        ours = model.predict(data['inputs'], data['data_samples'])
    raw = torch.cat([torch.cat([c, b], 1).flatten(2) for c, b in zip(cls_scores, bbox_preds)],
                    2).permute(0, 2, 1)
    assert (raw - expected).abs().max() < 1e-5

    for detections, (dets, labels) in zip(ours, reference.head.get_bboxes(expected,
                                                                          (320, 320))):
        assert_same_detections(detections.pred_instances, dets, labels)


@pytest.mark.parametrize('width', [1.0, 1.5])
@pytest.mark.parametrize('file_format', ['ckpt', 'pth'])
def test_converted_nanodet_plus_computes_what_nanodet_plus_computes(tmp_path, width,
                                                                     file_format):
    """A .ckpt with raw and EMA weights (the EMA ones are taken), or an inference weights .pth;
    the detection head and, for fine-tuning, the auxiliary branch."""
    reference = random_nanodet_plus(width)
    src = tmp_path / f'nanodet_plus.{file_format}'
    torch.save(lightning_checkpoint(random_nanodet_plus(width, seed=1), reference)
               if file_format == 'ckpt' else legacy_checkpoint(reference), src)
    result = convert(src, tmp_path / 'out.pth')
    assert result.returncode == 0, result.stderr
    assert f'NanoDet-Plus {width}x, GhostPAN' in result.stdout
    assert PLUS_CONFIGS[width] in result.stdout
    model = build_converted(PLUS_CONFIGS[width], tmp_path / 'out.pth')

    data, nanodet_input = converter_inputs(model)
    with torch.no_grad():
        expected = reference(nanodet_input)
        raw = flat_outputs(*model._forward(data['inputs']))
        ours = model.predict(data['inputs'], data['data_samples'])
        features = model.backbone(data['inputs'])
        dual = [torch.cat(pair, 1) for pair in zip(model.neck(features),
                                                    model.aux_neck(features))]
        aux = flat_outputs(*model.aux_head(dual))
        expected_aux = reference.aux_forward(nanodet_input)
    assert (raw - expected).abs().max() < 1e-5
    assert (aux - expected_aux).abs().max() < 1e-5

    for detections, (dets, labels) in zip(ours, reference.head.get_bboxes(expected,
                                                                          (320, 320))):
        assert_same_detections(detections.pred_instances, dets, labels)


def test_ema_weights_by_default_raw_weights_with_no_ema(tmp_path):
    raw, ema = random_nanodet_m(1.0, seed=0), random_nanodet_m(1.0, seed=1)
    torch.save(lightning_checkpoint(raw, ema), tmp_path / 'ema.ckpt')
    for args, expected in (([], ema), (['--no-ema'], raw)):
        result = convert(tmp_path / 'ema.ckpt', tmp_path / 'out.pth', *args)
        assert result.returncode == 0, result.stderr
        assert ('model.*' if args else 'avg_model.*') in result.stdout
        converted = torch.load(tmp_path / 'out.pth', weights_only=True)['state_dict']
        assert torch.equal(converted['bbox_head.out_convs.2.bias'],
                           expected.head.gfl_cls[2].bias)
        assert torch.equal(converted['backbone.layers.1.3.branch2.1.bn.running_var'],
                           expected.backbone.stage3[3].branch2[4].running_var)


def test_meta_names_coco_classes(tmp_path):
    torch.save(legacy_checkpoint(random_nanodet_m(0.5)), tmp_path / 'm.pth')
    assert convert(tmp_path / 'm.pth', tmp_path / 'out.pth').returncode == 0
    meta = torch.load(tmp_path / 'out.pth', weights_only=True)['meta']
    assert len(meta['dataset_meta']['classes']) == 80
    assert meta['dataset_meta']['classes'][:3] == ('person', 'bicycle', 'car')
    assert meta['source'] == 'm.pth' and meta['nanodet_weights'] == 'state_dict'


def refused(tmp_path, checkpoint, *args):
    """Convert ``checkpoint`` over an existing output: it must fail and leave the file."""
    src, dst = tmp_path / 'bad.ckpt', tmp_path / 'out.pth'
    if isinstance(checkpoint, bytes):
        src.write_bytes(checkpoint)
    else:
        torch.save(checkpoint, src)
    dst.write_bytes(b'an earlier conversion')
    result = convert(src, dst, *args)
    assert result.returncode != 0 and 'this ran' not in result.stdout
    assert dst.read_bytes() == b'an earlier conversion'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['bad.ckpt', 'out.pth']
    return result.stderr.strip().splitlines()[-1]


def test_bad_files_are_refused_and_nothing_is_written(tmp_path):
    model = random_nanodet_m(1.0)
    plus = lightning_checkpoint(model)
    plus['state_dict']['model.aux_head.cls_convs.0.conv.weight'] = torch.zeros(1)
    assert "belong to no NanoDet-m module, e.g. ['aux_head.cls_convs.0.conv.weight']" in \
        refused(tmp_path, plus)

    unknown = legacy_checkpoint(model)
    unknown['state_dict']['head.extra.weight'] = torch.zeros(1)
    assert "belong to no NanoDet-m module, e.g. ['head.extra.weight']" in refused(
        tmp_path, unknown)

    missing = legacy_checkpoint(model)
    del missing['state_dict']['head.gfl_cls.2.bias']
    message = refused(tmp_path, missing)
    assert "missing keys ['bbox_head.out_convs.2.bias'] (1 in all)" in message

    # A 0.5x file against the 1.0x config: the shapes differ and the message says which config.
    message = refused(tmp_path, legacy_checkpoint(random_nanodet_m(0.5)), '--config',
                      CONFIGS[1.0])
    assert 'tensors have other shapes' in message and CONFIGS[0.5] in message
    message = refused(tmp_path, legacy_checkpoint(model), '--config',
                      'configs/fcos_shufflenetv2_coco.py')
    assert 'is not a NanoDet-style detector' in message

    assert 'cannot read checkpoint' in refused(tmp_path, b'not a checkpoint')
    message = refused(tmp_path, {'state_dict': CodeOnLoad()})
    assert 'refusing to load' in message and 'nothing from the file was run' in message


class CodeOnLoad:
    """Unpickles as a call to ``print``: a stand-in for a file that runs code."""

    def __reduce__(self):
        return (print, ('this ran',))


def test_classes_of_a_custom_nanodet_model_need_a_matching_config(tmp_path):
    custom = random_nanodet_m(1.0, num_classes=3)
    message = refused(tmp_path, legacy_checkpoint(custom))
    assert '3 classes' in message and 'model.bbox_head.num_classes=3' in message
