"""BNRecalibrationHook: a network whose BatchNorms are folded (an inference export) keeps what it
computes in eval mode, and computes about the same in training mode once recalibrated."""
import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn

from shufflenet_det.engine import recalibrate_batchnorm


class ConvBNNet(BaseModel):
    """Two conv-BN layers whose BatchNorms are folded: weight 1, mean 0, variance 1 - eps."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(),
                                    nn.Conv2d(8, 4, 1), nn.BatchNorm2d(4))
        for bn in (self.layers[1], self.layers[4]):
            bn.running_var.fill_(1 - bn.eps)
            nn.init.normal_(bn.bias, std=0.5)
        nn.init.normal_(self.layers[0].weight, mean=0.5, std=2.0)  # large, off-centre outputs

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.layers(torch.stack(inputs))
        return dict(loss=out.pow(2).mean()) if mode == 'loss' else out


def batches(seed=0, num=4):
    gen = torch.Generator().manual_seed(seed)
    return [dict(inputs=list(torch.rand(6, 3, 12, 12, generator=gen) * 3 + 1)) for _ in range(num)]


def run(model, batch, train):
    model.train(train)
    with torch.no_grad():
        return model(batch['inputs'])


def test_eval_output_is_kept_and_training_mode_agrees_with_it():
    torch.manual_seed(0)
    model = ConvBNNet()
    for bn in (model.layers[1], model.layers[4]):
        bn.momentum = 0.0  # training-mode passes compare, they do not update the statistics
    data = batches()
    before = [run(model, b, train=False) for b in data]
    first = model.layers[0](torch.stack([x for b in data for x in b['inputs']]))
    trained_mode_gap = (run(model, data[0], train=True) - before[0]).abs().mean()

    assert recalibrate_batchnorm(model, data) == (2, 4)
    for batch, expected in zip(data, before):
        torch.testing.assert_close(run(model, batch, train=False), expected, rtol=1e-4,
                                   atol=1e-4)
    bn = model.layers[1]
    torch.testing.assert_close(bn.running_mean, first.mean((0, 2, 3)), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(bn.running_var, first.var((0, 2, 3), unbiased=False), rtol=1e-4,
                               atol=1e-4)
    gap = (run(model, data[0], train=True) - before[0]).abs().mean()
    assert gap < 0.1 * trained_mode_gap, (gap, trained_mode_gap)


def build_runner(tmp_path, name, load_from=None):
    return Runner(
        model=ConvBNNet(), work_dir=str(tmp_path / name),
        experiment_name=f'{tmp_path.name}_{name}',  # unique: one logger each
        train_dataloader=dict(dataset=[dict(inputs=x) for b in batches() for x in b['inputs']],
                              batch_size=6, sampler=dict(type='InfiniteSampler', shuffle=False)),
        train_cfg=dict(by_epoch=False, max_iters=1),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.0)),
        custom_hooks=[dict(type='BNRecalibrationHook', num_batches=4)],
        load_from=load_from, default_scope='mmdet')


def test_the_hook_recalibrates_a_loaded_checkpoint_and_not_a_run_from_scratch(tmp_path):
    torch.manual_seed(0)
    torch.save(dict(state_dict=ConvBNNet().state_dict()), tmp_path / 'folded.pth')
    data = torch.stack([x for b in batches() for x in b['inputs']])

    fine_tune = build_runner(tmp_path, 'fine_tune', str(tmp_path / 'folded.pth'))
    fine_tune.train()
    log = (tmp_path / 'fine_tune' / fine_tune.timestamp / f'{fine_tune.timestamp}.log')
    assert 'BNRecalibrationHook: the statistics of 2 BatchNorm layers re-estimated on 4 ' \
        'training batches' in log.read_text()
    bn = fine_tune.model.layers[1]
    measured = fine_tune.model.layers[0](data).mean((0, 2, 3))
    torch.testing.assert_close(bn.running_mean, measured, rtol=0.02, atol=0.1)

    scratch = build_runner(tmp_path, 'scratch')
    scratch.train()  # one training step only moves the statistics by BN's momentum, 0.1
    assert not torch.allclose(scratch.model.layers[1].running_mean,
                              scratch.model.layers[0](data).mean((0, 2, 3)), rtol=0.02,
                              atol=0.1)
