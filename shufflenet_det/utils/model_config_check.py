"""Check a detector config's wiring when it is built, before a forward pass can fail on it."""
import copy
import difflib
import inspect
from typing import Any, Iterator, Optional, Set, Tuple

import torch
from mmengine.registry import DefaultScope, Registry

from mmdet.registry import MODELS

from shufflenet_det.errors import UserError

# Keys every registry build pops before calling the class.
BUILD_KEYS = {'type', '_scope_'}


class ModelConfigError(UserError, ValueError):
    """A model config that cannot work: an unknown argument or mismatched channels."""


def check_model_config(model_cfg: dict, default_scope: str = 'mmdet',
                       input_size: int = 64) -> None:
    """Check the arguments and the channel wiring of a detector config.

    Every dict whose ``type`` is a model registered in MMDetection's scope (MMDetection's and
    this package's modules) may only use arguments its class accepts; when one seems not to,
    the detector is built once to confirm it (a class may take keys out of a nested config, as
    ``DETRHead`` does with ``loss_cls.bg_cls_weight``). The backbone is then built alone and run
    on an ``input_size`` x ``input_size`` dummy image to see the channels it really produces;
    the neck's ``in_channels`` must match them, and the heads' ``in_channels`` must match what
    the neck (or, without one, the backbone) produces. The global random state and default
    scope are left as they were.

    Args:
        model_cfg (dict): The ``model`` field of a config.
        default_scope (str): The config's ``default_scope``. Default: 'mmdet'.
        input_size (int): Side of the dummy image. Default: 64.

    Raises:
        ModelConfigError: With a message that names the bad argument and the closest valid
            ones, or the channels the backbone (or neck) actually produces.
    """
    with DefaultScope.overwrite_default_scope(default_scope), \
            torch.random.fork_rng(devices=[]):
        _check_arguments(model_cfg)
        _check_channels(model_cfg, input_size)


def _check_arguments(model_cfg: dict) -> None:
    """Raise for the first argument that a class seems not to accept and the build rejects."""
    unknown = list(_unknown_arguments(model_cfg, 'model'))
    if not unknown:
        return
    try:
        MODELS.build(copy.deepcopy(model_cfg))
    except Exception as err:
        for key, message in unknown:
            if repr(key) in str(err):
                raise ModelConfigError(message) from err


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


def _run(cfg: dict, path: str, inputs: Any) -> Optional[Tuple[torch.Tensor, ...]]:
    """Build a module config alone and run it on ``inputs`` (eval mode, no grad).

    Returns None when the module is not one of MMDetection's (or this package's) or cannot run
    on a CPU here: the check then cannot tell, and the real run reports whatever is wrong.
    """
    if _registered_class(cfg.get('type')) is None:
        return None
    try:
        module = MODELS.build(copy.deepcopy(cfg))
    except Exception as err:  # the detector build would fail the same way: say where
        raise ModelConfigError(f'{_describe(cfg)} ({path}) cannot be built: {err}') from err
    try:
        with torch.no_grad():
            outputs = module.eval()(inputs)
    except Exception:
        return None
    return tuple(outputs) if isinstance(outputs, (list, tuple)) else (outputs, )


def _check_channels(model_cfg: dict, input_size: int) -> None:
    """Compare the neck's and heads' ``in_channels`` with what their inputs really have."""
    backbone_cfg = model_cfg.get('backbone')
    if not isinstance(backbone_cfg, dict):
        return
    features = _run(backbone_cfg, 'model.backbone', torch.zeros(1, 3, input_size, input_size))
    if features is None:
        return
    produced = [int(f.shape[1]) for f in features]
    source = f'the backbone: {_describe(backbone_cfg)}'
    neck_cfg = model_cfg.get('neck')
    if isinstance(neck_cfg, dict):
        expected = neck_cfg.get('in_channels')
        if isinstance(expected, (list, tuple)) and list(expected) != produced:
            raise ModelConfigError(
                f'neck {_type_name(neck_cfg)} (model.neck) in_channels {list(expected)} do '
                f'not match {source} produces {produced}; set model.neck.in_channels='
                f'{produced} or change the backbone.')
        features = _run(neck_cfg, 'model.neck', features)
        if features is None:
            return
        produced = [int(f.shape[1]) for f in features]
        source = f'the neck: {_describe(neck_cfg)}'
    elif neck_cfg is not None:  # a list of necks in sequence: not checked
        return
    for key in ('rpn_head', 'bbox_head'):
        head_cfg = model_cfg.get(key)
        expected = head_cfg.get('in_channels') if isinstance(head_cfg, dict) else None
        if isinstance(expected, int) and any(c != expected for c in produced):
            hint = (f'; set model.{key}.in_channels={produced[0]}.'
                    if len(set(produced)) == 1 else '.')
            raise ModelConfigError(
                f'head {_type_name(head_cfg)} (model.{key}) in_channels {expected} does not '
                f'match {source} produces {produced}{hint}')
