import pytest
import torch

from shufflenet_det.models.backbones import ShuffleNetV2
from shufflenet_det.benchmarking import ReferenceShuffleNetV2
from tests.reference_shufflenet import MegviiShuffleNetV2, randomize_bn
from tests.test_tools.tool_runner import run_tool

def convert(*args):
    return run_tool('tools/model_converters/shufflenet_v2_to_mmdet.py', *args, check=False)


@pytest.mark.parametrize('kind, width, extra_dw', [
    ('torchvision', 1.0, False), ('megvii', 0.5, False), ('torchvision', 0.5, True)])
def test_converted_checkpoint_loads_and_matches(tmp_path, kind, width, extra_dw):
    torch.manual_seed(0)
    if kind == 'torchvision':
        ref = randomize_bn(ReferenceShuffleNetV2(width)).eval()
        torch.save(ref.state_dict(), tmp_path / 'src.pth')
        features = ref.features
    else:
        ref = randomize_bn(MegviiShuffleNetV2(width)).eval()
        torch.save(ref.state_dict_as_published(), tmp_path / 'src.pth')
        features = ref.forward_features
    args = ['--extra-dw'] if extra_dw else []
    result = convert(tmp_path / 'src.pth', tmp_path / 'out/dst.pth', *args)
    assert result.returncode == 0, result.stderr
    assert f'{kind} layout, widen_factor={width}' in result.stdout
    saved = torch.load(tmp_path / 'out/dst.pth', weights_only=True)
    assert saved['meta']['source_layout'] == kind
    assert not (tmp_path / 'out/dst.pth.part').exists()
    backbone = ShuffleNetV2(widen_factor=width, extra_dw=extra_dw, init_cfg=dict(
        type='Pretrained', checkpoint=str(tmp_path / 'out/dst.pth')))
    backbone.init_weights()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert (backbone.eval()(x)[0] - features(x)).abs().max() < 1e-5


def test_converter_refuses_bad_input_without_writing(tmp_path):
    (tmp_path / 'junk.pth').write_bytes(b'not a checkpoint')
    result = convert(tmp_path / 'junk.pth', tmp_path / 'dst.pth')
    assert result.returncode != 0 and 'error: cannot read checkpoint' in result.stderr
    assert not (tmp_path / 'dst.pth').exists()
