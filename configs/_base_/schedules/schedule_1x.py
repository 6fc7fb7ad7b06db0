# 12 epochs, steps at 8 and 11, tuned for a total batch size of 16.
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=12, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=12, by_epoch=True, milestones=[8, 11], gamma=0.1)
]
# FiniteLossOptimWrapper: OptimWrapper that stops (or, with on_nonfinite='skip', skips the
# update) on a NaN or infinite loss or gradient before the weights change.
optim_wrapper = dict(
    type='FiniteLossOptimWrapper',
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=0.0001))

auto_scale_lr = dict(enable=False, base_batch_size=16)
