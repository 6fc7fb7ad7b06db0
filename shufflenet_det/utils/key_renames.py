"""One renamer for every checkpoint layout: a table of (pattern, replacement) rules."""
import re
from typing import Dict, Iterable, List, Optional, Pattern, Sequence, Tuple

import torch

StateDict = Dict[str, torch.Tensor]
# A compiled key pattern (matched in full) and its replacement (\1 for a group); None drops
# the key.
RenameRule = Tuple[Pattern, Optional[str]]


def rename_rules(pairs: Iterable[Tuple[str, Optional[str]]]) -> List[RenameRule]:
    """Compile ``(pattern, replacement)`` pairs into a rename table.

    Args:
        pairs (Iterable[tuple[str, str | None]]): Regular expressions that must match a whole
            key, and what the key becomes (``\\1`` for groups), or None to drop it.

    Returns:
        list: The table, for :func:`rename_keys`.
    """
    return [(re.compile(pattern), replacement) for pattern, replacement in pairs]


def prefixed(rules: Sequence[RenameRule], source: str, target: str) -> List[RenameRule]:
    """The same table for keys under a prefix: ``source`` + key becomes ``target`` + new key.

    Args:
        rules (Sequence): A rename table.
        source (str): Prefix of the keys in the file, such as ``'backbone.'``.
        target (str): Prefix of the renamed keys.

    Returns:
        list: The prefixed table.
    """
    return [(re.compile(re.escape(source) + pattern.pattern),
             None if replacement is None else target + replacement)
            for pattern, replacement in rules]


def rename_keys(state_dict: StateDict,
                rules: Sequence[RenameRule]) -> Tuple[StateDict, List[str]]:
    """Rename every key by the first rule whose pattern matches it in full.

    Args:
        state_dict (dict): Weights in a source layout.
        rules (Sequence): The layout's table (:func:`rename_rules`).

    Returns:
        tuple[dict, list[str]]: The renamed weights (without the dropped ones), and the keys no
        rule matched, left out of them; the caller decides whether those are an error.
    """
    renamed: StateDict = {}
    unmatched: List[str] = []
    for key, value in state_dict.items():
        for pattern, replacement in rules:
            match = pattern.fullmatch(key)
            if match:
                if replacement is not None:
                    renamed[match.expand(replacement)] = value
                break
        else:
            unmatched.append(key)
    return renamed, unmatched
