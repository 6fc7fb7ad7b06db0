"""The package's floors hold: imports run down the floors that docs/layout.md gives, so no
package folder imports one above it, no two folders import each other and no files import each
other in a circle."""
import ast
import re
import sys
from pathlib import Path
from typing import Dict, List, Set

REPO = Path(__file__).parents[1]
PACKAGE = REPO / 'shufflenet_det'
LAYOUT_PAGE = REPO / 'docs/layout.md'
# One heading per floor, lowest first: ### Floor 1: `shufflenet_det/errors.py`
FLOOR_HEADING = re.compile(r'^### Floor (\d+): `shufflenet_det/([\w.]+?)/?`', re.MULTILINE)

Graph = Dict[str, Set[str]]


def module_file(name: str):
    """The file of a ``shufflenet_det`` module or package, if it is one."""
    if name.split('.')[0] != PACKAGE.name:
        return None
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


def file_graph() -> Graph:
    """Each package file (relative path) and the package files it imports. The package's own
    ``__init__.py`` is its face (it imports the folders that register modules), left out."""
    face = PACKAGE / '__init__.py'
    return {str(path.relative_to(PACKAGE)): {str(f.relative_to(PACKAGE))
                                             for f in imported_files(path) if f != face}
            for path in PACKAGE.rglob('*.py') if path != face}


def folder_of(file: str) -> str:
    """The package folder a file lives in (a file at the top is a folder of its own)."""
    return file.split('/')[0]


def folder_graph(files: Graph) -> Graph:
    """Which package folders import which others."""
    folders: Graph = {}
    for file, targets in files.items():
        folders.setdefault(folder_of(file), set()).update(
            folder_of(t) for t in targets if folder_of(t) != folder_of(file))
    return folders


def circles(graph: Graph) -> List[List[str]]:
    """The strongly connected groups of more than one node (Tarjan's algorithm)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    found: List[List[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while not group or group[-1] != node:
                group.append(stack.pop())
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def layout_floors(text: str) -> Dict[str, int]:
    """Each package folder's floor, as the layout page's headings give them."""
    return {folder: int(floor) for floor, folder in FLOOR_HEADING.findall(text)}


def imports_up_or_across(folders: Graph, floors: Dict[str, int]) -> List[str]:
    """Imports from a folder to one on its own floor or above, as ``a -> b`` lines."""
    return [f'{a} (floor {floors[a]}) -> {b} (floor {floors[b]})'
            for a, targets in sorted(folders.items()) for b in sorted(targets)
            if floors[b] >= floors[a]]


def test_no_files_import_each_other_in_a_circle():
    assert circles(file_graph()) == []


def test_no_package_folders_import_each_other_in_a_circle():
    assert circles(folder_graph(file_graph())) == []


def test_the_layout_page_gives_every_package_folder_one_floor():
    named = FLOOR_HEADING.findall(LAYOUT_PAGE.read_text())
    folders = sorted({folder_of(file) for file in file_graph()})
    assert sorted(folder for _, folder in named) == folders


def test_every_import_goes_down_the_floors_of_the_layout_page():
    floors = layout_floors(LAYOUT_PAGE.read_text())
    assert imports_up_or_across(folder_graph(file_graph()), floors) == []


def test_the_checks_see_relative_imports_circles_and_imports_upward():
    backbone = PACKAGE / 'models/backbones/shufflenet_v2.py'
    assert PACKAGE / 'models/backbones/shufflenet_v2_checkpoint.py' in imported_files(backbone)
    files = {'utils/a.py': {'benchmarking/b.py'}, 'benchmarking/b.py': {'models/c.py'},
             'models/c.py': {'utils/d.py'}, 'utils/d.py': set()}
    assert circles(files) == []  # no circle of files ...
    assert circles(folder_graph(files)) == [['benchmarking', 'models', 'utils']]  # ... of folders
    floors = layout_floors('### Floor 1: `shufflenet_det/utils/`\n'
                           '### Floor 2: `shufflenet_det/models/`\n'
                           '### Floor 3: `shufflenet_det/benchmarking/`\n')
    assert imports_up_or_across(folder_graph(files), floors) == [
        'utils (floor 1) -> benchmarking (floor 3)']


RUNTIME = REPO / 'shufflenet_det_runtime'
# What the runtime may import besides the standard library: its own modules, numpy, OpenCV,
# tqdm and the inference runtimes (each imported only when a model file needs it).
RUNTIME_IMPORTS = {'shufflenet_det_runtime', 'numpy', 'cv2', 'tqdm', 'onnxruntime', 'openvino',
                   'ncnn'}


def top_level_imports(path: Path) -> Set[str]:
    """The top-level names of the absolute imports in ``path`` (relative ones are its own)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split('.')[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names.add(node.module.split('.')[0])
    return names


def test_the_runtime_imports_nothing_of_the_training_house():
    # nor does its benchmark, which runs on the device
    for path in [*RUNTIME.glob('*.py'), REPO / 'tools/analysis_tools/runtime_benchmark.py']:
        outside = top_level_imports(path) - RUNTIME_IMPORTS - set(sys.stdlib_module_names)
        assert not outside, f'{path.name} imports {sorted(outside)}'
