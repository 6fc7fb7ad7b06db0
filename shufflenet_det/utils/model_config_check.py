"""Check a detector config's arguments and wiring on its one real build, before a forward pass
can fail on them."""
import contextlib
import difflib
import inspect
import re
from typing import Any, Iterator, List, Optional, Set, Tuple

import torch
from mmengine.registry import DefaultScope, Registry
from torch import nn

from mmdet.registry import MODELS

from shufflenet_det.errors import ModelConfigError

# Keys every registry build pops before calling the class.
BUILD_KEYS = {'type', '_scope_'}


def build_checked_model(model_cfg: dict, default_scope: str = 'mmdet') -> nn.Module:
    """Build a model config once, explaining a failed build and checking the wiring.

    Args:
        model_cfg (dict): The ``model`` field of a config.
        default_scope (str): The config's ``default_scope``. Default: 'mmdet'.

    Returns:
        nn.Module: The model, not yet initialised (``init_weights``).

    Raises:
        ModelConfigError: See :func:`explain_build_errors` and :func:`check_model_wiring`.
    """
    with DefaultScope.overwrite_default_scope(default_scope), explain_build_errors(model_cfg):
        model = MODELS.build(model_cfg)
    check_model_wiring(model, model_cfg)
    return model


@contextlib.contextmanager
def explain_build_errors(model_cfg: dict) -> Iterator[None]:
    """Wrap the build of a model (or of a runner, which builds it): when it fails on an
    argument that a registered class does not seem to accept, raise a :class:`ModelConfigError`
    that names the argument and the closest valid ones. Other errors pass unchanged.

    The suggestions are only made for an argument the error names, as a class may take keys
    out of a nested config (``DETRHead`` takes ``loss_cls.bg_cls_weight``).

    Args:
        model_cfg (dict): The ``model`` field of the config being built.
    """
    try:
        yield
    except Exception as err:
        for key, message in _unknown_arguments(model_cfg, 'model'):
            if repr(key) in str(err):
                raise ModelConfigError(message) from err
        unregistered = re.match(r"'?(\S+ is not in the .+? registry)", str(err))
        if isinstance(err, KeyError) and unregistered:  # MMEngine's message for a bad type
            raise ModelConfigError(f'{unregistered.group(1)}: a misspelt type, or a module '
                                   'that registers it missing from custom_imports') from err
        raise


def check_model_wiring(model: nn.Module, model_cfg: dict) -> None:
    """Compare the neck's and heads' ``in_channels`` with the channels their inputs have.

    The backbone's channels are its ``out_channels``; a backbone without them is run once on a
    64x64 dummy image (eval mode, no gradient). A neck's are its ``out_channels`` repeated
    ``num_outs`` times (as MMDetection's ``FPN`` and ``PAFPN`` and this package's necks store
    them), or its list of ``out_channels``, one per level; a list of necks, or one without these
    attributes, is not compared with the heads. A head's ``in_channels`` is one number for every
    level, or a list of one per level.

    Args:
        model (nn.Module): The built detector, possibly wrapped (DDP, ``DetTTAModel``).
        model_cfg (dict): The config it was built from, for the messages.

    Raises:
        ModelConfigError: Naming the channels the backbone (or neck) actually produces.
    """
    while not hasattr(model, 'backbone') and isinstance(getattr(model, 'module', None),
                                                        nn.Module):
        model, model_cfg = model.module, model_cfg.get('module', model_cfg)
    if not isinstance(getattr(model, 'backbone', None), nn.Module):
        return
    produced = _backbone_channels(model.backbone)
    if produced is None:
        return
    source = f"the backbone: {_describe(model_cfg['backbone'])}"
    neck = getattr(model, 'neck', None)
    if neck is not None:
        neck_cfg = model_cfg['neck']
        if not isinstance(neck_cfg, dict):  # a list of necks in sequence: not checked
            return
        expected = getattr(neck, 'in_channels', None)
        if isinstance(expected, (list, tuple)) and list(expected) != produced:
            raise ModelConfigError(
                f'neck {_type_name(neck_cfg)} (model.neck) in_channels {list(expected)} do '
                f'not match {source} produces {produced}; set model.neck.in_channels='
                f'{produced} or change the backbone.')
        produced = _neck_channels(neck)
        if produced is None:
            return
        source = f'the neck: {_describe(neck_cfg)}'
    for key in ('rpn_head', 'bbox_head'):
        expected = getattr(getattr(model, key, None), 'in_channels', None)
        if isinstance(expected, (list, tuple)) and list(expected) != produced:  # per level
            raise ModelConfigError(
                f'head {_type_name(model_cfg[key])} (model.{key}) in_channels {list(expected)} '
                f'do not match {source} produces {produced}; set model.{key}.in_channels='
                f'{produced}.')
        if isinstance(expected, int) and any(c != expected for c in produced):
            hint = (f'; set model.{key}.in_channels={produced[0]}.'
                    if len(set(produced)) == 1 else '.')
            raise ModelConfigError(
                f'head {_type_name(model_cfg[key])} (model.{key}) in_channels {expected} does '
                f'not match {source} produces {produced}{hint}')


def _backbone_channels(backbone: nn.Module) -> Optional[List[int]]:
    """The channels of each feature map a backbone returns, or None when it cannot tell."""
    channels = getattr(backbone, 'out_channels', None)
    if isinstance(channels, (list, tuple)) and all(isinstance(c, int) for c in channels):
        return list(channels)
    parameter = next(backbone.parameters(), None)
    device = parameter.device if parameter is not None else 'cpu'
    was_training = backbone.training
    backbone.eval()  # not chained: MMDetection's ResNet.train returns None
    try:
        with torch.no_grad():
            features = backbone(torch.zeros(1, 3, 64, 64, device=device))
    except Exception:  # the real run reports whatever is wrong
        return None
    finally:
        backbone.train(was_training)
    features = features if isinstance(features, (list, tuple)) else (features, )
    return [int(f.shape[1]) for f in features]


def _neck_channels(neck: nn.Module) -> Optional[List[int]]:
    """The channels of each feature map a neck returns, or None when it does not store them."""
    channels, count = getattr(neck, 'out_channels', None), getattr(neck, 'num_outs', None)
    if isinstance(channels, int) and isinstance(count, int):
        return [channels] * count
    if isinstance(channels, (list, tuple)) and all(isinstance(c, int) for c in channels):
        return list(channels)  # one per level (YOLOv8PAFPN)
    return None


def _registered_class(type_: Any) -> Optional[type]:
    """The class a ``type`` names in MMDetection's model registry, if it is one."""
    if not isinstance(type_, str):
        return None
    scope, name = Registry.split_scope_key(type_)
    if scope not in (None, MODELS.scope):
        return None
    MODELS.import_from_location()
    cls = MODELS.module_dict.get(name)
    return cls if inspect.isclass(cls) else None


def _accepted_arguments(cls: type) -> Set[str]:
    """The keyword arguments of ``cls.__init__``, and of the ``__init__`` up the MRO as long as
    each takes ``**kwargs`` (presumably to pass them on)."""
    accepted = set()
    for klass in cls.__mro__:
        if klass in (torch.nn.Module, object):
            break
        init = vars(klass).get('__init__')
        if init is None:
            continue
        params = inspect.signature(init).parameters.values()
        accepted |= {
            p.name for p in params
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != 'self'
        }
        if all(p.kind != p.VAR_KEYWORD for p in params):
            break
    return accepted


def _unknown_arguments(cfg: Any, path: str) -> Iterator[Tuple[str, str]]:
    """Walk a config tree; yield each argument a registered model class does not seem to
    accept, with a message that names the closest valid ones."""
    if isinstance(cfg, (list, tuple)):
        for i, item in enumerate(cfg):
            yield from _unknown_arguments(item, f'{path}[{i}]')
        return
    if not isinstance(cfg, dict):
        return
    cls = _registered_class(cfg.get('type'))
    if cls is not None:
        accepted = _accepted_arguments(cls)
        for key in [key for key in cfg if key not in accepted and key not in BUILD_KEYS]:
            close = difflib.get_close_matches(key, accepted, n=3)
            hint = (f"did you mean {' or '.join(map(repr, close))}?" if close else
                    f"valid arguments are {', '.join(sorted(accepted))}." if accepted else
                    'it takes none.')
            yield key, f"{cls.__name__} ({path}) got an unknown argument '{key}'; {hint}"
    for key, value in cfg.items():
        yield from _unknown_arguments(value, f'{path}.{key}')


def _type_name(cfg: dict) -> str:
    """The type name of a module config, without its scope."""
    return Registry.split_scope_key(cfg['type'])[1]


def _describe(cfg: dict) -> str:
    """``Type(arg=value, ...)`` for the plain (non-config) arguments of a module config."""
    args = ', '.join(f'{key}={value!r}' for key, value in cfg.items()
                     if key not in BUILD_KEYS and value is not None and not isinstance(value, dict)
                     and not (isinstance(value, (list, tuple)) and value
                              and isinstance(value[0], dict)))
    return f'{_type_name(cfg)}({args})'
