"""The package's modules import in one direction: no two files import each other."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / 'shufflenet_det'


def module_file(name: str):
    """The file of a ``shufflenet_det`` module or package, if it is one."""
    path = PACKAGE.parent.joinpath(*name.split('.'))
    for candidate in (path.with_suffix('.py'), path / '__init__.py'):
        if candidate.is_file():
            return candidate
    return None


def imported_files(path: Path) -> set:
    """The package files ``path`` imports (at any depth of its code)."""
    package = '.'.join(path.relative_to(PACKAGE.parent).parts[:-1])  # where '.' points
    files = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                base = '.'.join(package.split('.')[:len(package.split('.')) - node.level + 1] +
                                ([base] if base else []))
            names = [base] + [f'{base}.{alias.name}' for alias in node.names]
        else:
            continue
        files.update(f for f in map(module_file, names) if f is not None and f != path)
    return files


def test_no_two_files_import_each_other():
    graph = {path: imported_files(path) for path in PACKAGE.rglob('*.py')}
    pairs = sorted({tuple(sorted((str(a.relative_to(PACKAGE)), str(b.relative_to(PACKAGE)))))
                    for a, targets in graph.items() for b in targets if a in graph.get(b, ())})
    assert pairs == []


def test_the_check_sees_relative_imports():
    backbone = PACKAGE / 'models/backbones/shufflenet_v2.py'
    assert PACKAGE / 'models/backbones/shufflenet_v2_checkpoint.py' in imported_files(backbone)
