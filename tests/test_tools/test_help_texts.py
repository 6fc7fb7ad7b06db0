"""Every tool's ``--help`` shows its module docstring as written: examples that continue over
lines keep their trailing backslashes, so they can be pasted into a shell."""
import ast

import pytest

from tests.test_tools.tool_runner import REPO, run_tool

TOOLS = sorted((REPO / 'tools').rglob('*.py'))


@pytest.mark.parametrize('tool', TOOLS, ids=lambda p: str(p.relative_to(REPO / 'tools')))
def test_the_docstring_is_the_source_text(tool):
    source = tool.read_text()
    docstring = ast.get_docstring(ast.parse(source), clean=False)
    assert docstring, 'a tool says what it does in its module docstring (its --help)'
    assert docstring in source  # a plain literal would join `\`-continued lines


def test_help_keeps_a_continued_example_as_a_shell_command():
    help_text = run_tool('tools/deployment/pytorch2onnx.py', '--help').stdout
    assert ('    python tools/deployment/pytorch2onnx.py '
            'configs/nanodet_shufflenetv2_lightpan_320_coco.py \\\n'
            '        --weights work_dirs/nanodet/epoch_280.pth --out nanodet.onnx\n') in help_text
