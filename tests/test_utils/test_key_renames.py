"""The one table-driven renamer behind every checkpoint layout."""
import torch

from shufflenet_det.utils.key_renames import prefixed, rename_keys, rename_rules

RULES = rename_rules([(r'fc\..*', None), (r'conv1\.0\.(\w+)', r'conv1.conv.\1'),
                      (r'conv1\.(\d)\.(\w+)', r'other.\1.\2')])


def test_first_full_match_wins_dropped_and_unmatched_keys_are_told_apart():
    weights = {key: torch.zeros(1) for key in
               ('fc.weight', 'conv1.0.weight', 'conv1.1.running_var', 'xconv1.0.weight',
                'conv1.0.weight.extra')}
    renamed, unmatched = rename_keys(weights, RULES)
    assert sorted(renamed) == ['conv1.conv.weight', 'other.1.running_var']
    assert unmatched == ['xconv1.0.weight', 'conv1.0.weight.extra']  # full matches only


def test_prefixed_tables_rename_under_a_prefix():
    rules = prefixed(RULES, 'backbone.', 'model.backbone.')
    renamed, unmatched = rename_keys(
        {'backbone.conv1.0.bias': torch.ones(1), 'backbone.fc.bias': torch.ones(1),
         'conv1.0.bias': torch.ones(1)}, rules)
    assert list(renamed) == ['model.backbone.conv1.conv.bias'] and unmatched == ['conv1.0.bias']
