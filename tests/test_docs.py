"""README.md and docs/**/*.md hold together: every relative link and image reaches a file
(and a heading, for ``#anchor``), every page of docs/ is reachable from the README, and every
``python tools/....py ARGS`` (or ``python -m shufflenet_det_runtime ARGS``) command they show
names a tool whose ``parse_args`` accepts ARGS.
The last tests feed the checker made-up pages with a fault of each kind, to show it reports it.
"""
import contextlib
import functools
import importlib.util
import io
import re
import shlex
import sys
from pathlib import Path
from types import ModuleType
from typing import Dict, Iterator, List, NamedTuple, Optional, Tuple
from urllib.parse import unquote

import pytest

REPO = Path(__file__).parents[1]
PAGES = [REPO / 'README.md', *sorted((REPO / 'docs').rglob('*.md'))]

FENCE = re.compile(r'^[ \t]*(`{3,}|~{3,})')
CODE_SPAN = re.compile(r'(?<!`)(`+)(?!`)((?:(?!\n[ \t]*\n).)+?)(?<!`)\1(?!`)', re.S)
LINK = re.compile(r'!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]'  # [text] or ![alt], one level of [] inside
                  r'\(\s*<?([^\s()<>]*(?:\([^\s()]*\)[^\s()<>]*)*)>?(?:\s+"[^"]*")?\s*\)')
ATX_HEADING = re.compile(r'^ {0,3}#{1,6}(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$')
SETEXT_UNDERLINE = re.compile(r'^ {0,3}(?:=+|-+)[ \t]*$')
HTML_ANCHOR = re.compile(r'<a\s+(?:name|id)="([^"]+)"')
URL_SCHEME = re.compile(r'^[A-Za-z][A-Za-z0-9+.-]*:')
SUBSTITUTION = re.compile(r'\$\([^()]*\)|\$\{[^{}]*\}|\$[A-Za-z_]\w*|`[^`]*`'
                          r'|<[A-Za-z_][\w./-]*>')
PLACEHOLDER = 'SUBSTITUTED'  # what a substitution or a <placeholder> stands for: one argument
ENV_ASSIGNMENT = re.compile(r'^[A-Za-z_]\w*=')
PYTHON = re.compile(r'^(?:.*/)?python[0-9.]*$')
PYTHON_TOOL = re.compile(r'python[0-9.]*\s+(tools/\S+\.py|-m\s+shufflenet_det_runtime\b)')
RUNTIME_MAIN = 'shufflenet_det_runtime/__main__.py'  # what python -m shufflenet_det_runtime runs
REDIRECTIONS = ('<', '>', '>>', '>&', '<&', '&>')


# Reading Markdown ------------------------------------------------------------------------------

def split_fences(text: str) -> Tuple[str, List[Tuple[int, List[str]]]]:
    """Split a page into its prose and its fenced code blocks.

    Args:
        text (str): The Markdown page.

    Returns:
        tuple[str, list]: The page with every fenced block's lines blanked (line numbers kept),
        and each block as (line number of its first line, its lines).
    """
    prose, blocks, fence = [], [], None
    for number, line in enumerate(text.split('\n'), 1):
        match = FENCE.match(line)
        if fence is None and match:
            fence = match.group(1)
            blocks.append((number + 1, []))
        elif fence is not None and match and match.group(1).startswith(fence) \
                and not line.strip().strip(fence[0]):
            fence = None
        elif fence is not None:
            blocks[-1][1].append(line)
        else:
            prose.append(line)
            continue
        prose.append('')
    return '\n'.join(prose), blocks


def line_of(text: str, offset: int) -> int:
    return text.count('\n', 0, offset) + 1


def blank(match: re.Match) -> str:
    """A match replaced by spaces, its line breaks kept."""
    return re.sub(r'[^\n]', ' ', match.group(0))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text lowercased, punctuation other than '-' and '_'
    dropped, spaces to '-'."""
    text = re.sub(r'!?\[([^\]]*)\]\([^)]*\)', r'\1', heading)  # a link: its text
    text = re.sub(r'<[^>]+>|`', '', text)  # HTML tags, code span backticks
    return re.sub(r'[^\w\- ]', '', text.strip().lower()).replace(' ', '-')


@functools.lru_cache(maxsize=None)
def anchors(page: Path) -> frozenset:
    """The ``#anchor`` names a page has: its headings' slugs, a repeated one with -1, -2 … as
    GitHub numbers them, and ``<a name=...>``/``<a id=...>`` tags."""
    prose, _ = split_fences(page.read_text())
    names, seen = set(HTML_ANCHOR.findall(prose)), {}
    lines = prose.split('\n')
    for previous, line in zip([''] + lines, lines):
        atx = ATX_HEADING.match(line)
        if atx:
            heading = atx.group(1) or ''
        elif SETEXT_UNDERLINE.match(line) and previous.strip() and \
                not previous.lstrip().startswith(('|', '-', '*', '>')):
            heading = previous
        else:
            continue
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        names.add(base if count == 0 else f'{base}-{count}')
    return frozenset(names)


class Link(NamedTuple):
    line: int
    target: str


def relative_links(text: str) -> List[Link]:
    """The links and images of a page that point into the repository (no ``scheme:``),
    outside code blocks and code spans."""
    prose, _ = split_fences(text)
    prose = CODE_SPAN.sub(blank, prose)
    return [Link(line_of(prose, m.start()), m.group(1)) for m in LINK.finditer(prose)
            if not URL_SCHEME.match(m.group(1))]


def resolve(page: Path, target: str) -> Tuple[Path, str]:
    """The file a link of ``page`` names and its anchor ('' for none)."""
    path, _, anchor = target.partition('#')
    return (page.parent / unquote(path) if path else page), anchor


def link_problems(page: Path) -> List[str]:
    """What is wrong with the relative links of a page, one line each."""
    problems = []
    for link in relative_links(page.read_text()):
        path, anchor = resolve(page, link.target)
        if not path.exists():
            problems.append(f'line {link.line}: ({link.target}): no such file {path}')
        elif anchor and path.suffix == '.md' and anchor not in anchors(path.resolve()):
            problems.append(f'line {link.line}: ({link.target}): {path.name} has no heading '
                            f'#{anchor}')
    return problems


def unreachable(readme: Path, pages: List[Path]) -> List[Path]:
    """The pages that no chain of relative links from ``readme`` reaches."""
    reached, todo = {readme.resolve()}, [readme.resolve()]
    while todo:
        page = todo.pop()
        for link in relative_links(page.read_text()):
            path = resolve(page, link.target)[0].resolve()
            if path.suffix == '.md' and path.is_file() and path not in reached:
                reached.add(path)
                todo.append(path)
    return [page for page in pages if page.resolve() not in reached]


# Finding tool commands -------------------------------------------------------------------------

class Command(NamedTuple):
    line: int
    text: str  # as the page shows it, continuation lines joined
    tool: str  # tools/....py
    args: Optional[List[str]]  # None: the line does not split as a shell line


def strip_comment(line: str) -> str:
    """A shell line without its trailing ``# comment`` (a '#' that starts an unquoted word)."""
    quote = None
    for i, char in enumerate(line):
        if quote:
            quote = None if char == quote else quote
        elif char in '\'"':
            quote = char
        elif char == '#' and (i == 0 or line[i - 1].isspace()):
            return line[:i]
    return line


def simple_commands(line: str) -> Iterator[List[str]]:
    """The words of each simple command of a shell line: split at ``;``, ``&&``, ``|`` …,
    redirections dropped, each substitution (``$(...)``, ``$VAR``) or ``<placeholder>`` one
    word."""
    lexer = shlex.shlex(SUBSTITUTION.sub(PLACEHOLDER, strip_comment(line)), posix=True,
                        punctuation_chars=True)
    lexer.whitespace_split, lexer.commenters = True, ''
    words: List[str] = []
    skip_next = False
    for token in lexer:
        if skip_next:
            skip_next = False
        elif token in REDIRECTIONS:
            skip_next = True  # its file
            if words and words[-1].isdigit():
                words.pop()  # the 2 of 2>&1
        elif token and set(token) <= set('();<>|&'):
            yield words
            words = []
        else:
            words.append(token)
    yield words


def tool_command(words: List[str]) -> Optional[Tuple[str, List[str]]]:
    """(tool, args) if the words run ``[VAR=value ...] python tools/....py ARGS`` or
    ``python -m shufflenet_det_runtime ARGS``."""
    while words and ENV_ASSIGNMENT.match(words[0]):
        words = words[1:]
    if len(words) >= 2 and PYTHON.match(words[0]) and re.fullmatch(r'tools/\S+\.py', words[1]):
        return words[1], words[2:]
    if len(words) >= 3 and PYTHON.match(words[0]) and words[1:3] == ['-m',
                                                                    'shufflenet_det_runtime']:
        return RUNTIME_MAIN, words[3:]
    return None


def shell_lines(text: str) -> Iterator[Tuple[int, str]]:
    """(line number, line) of the shell lines a page shows: the lines of its fenced blocks,
    joined where they end in a backslash, and its inline code spans."""
    prose, blocks = split_fences(text)
    for first, lines in blocks:
        joined, start = '', first
        for number, line in enumerate(lines, first):
            if not joined:
                start = number
            if line.rstrip().endswith('\\'):
                joined += line.rstrip()[:-1] + ' '
            else:
                yield start, joined + line
                joined = ''
        if joined:
            yield start, joined
    for match in CODE_SPAN.finditer(prose):
        yield line_of(prose, match.start()), ' '.join(match.group(2).split('\n')).strip()


def tool_commands(text: str) -> List[Command]:
    """Every ``python tools/....py ARGS`` command a Markdown page shows."""
    commands = []
    for line, shell in shell_lines(text):
        tool = PYTHON_TOOL.search(shell)
        if not tool:
            continue
        try:
            found = [tool_command(words) for words in simple_commands(shell)]
        except ValueError:  # an unclosed quote
            found = [(tool.group(1), None)]
        commands += [Command(line, ' '.join(shell.split()), *f) for f in found if f]
    return commands


# Checking a command against its tool -----------------------------------------------------------

@functools.lru_cache(maxsize=None)
def load_tool(tool: str) -> ModuleType:
    """Import a tool's module once, under a name of its own (nothing of it runs)."""
    if tool == RUNTIME_MAIN:  # a package's __main__: its relative imports need the package
        return importlib.import_module('shufflenet_det_runtime.__main__')
    name = 'docs_checked_' + re.sub(r'\W', '_', tool)
    spec = importlib.util.spec_from_file_location(name, REPO / tool)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def command_problem(command: Command) -> Optional[str]:
    """Why the command would not start (None if its tool accepts its arguments)."""
    if not (REPO / command.tool).is_file():
        return f'{command.tool}: no such tool'
    if command.args is None:
        return 'a shell cannot split this line (an unclosed quote)'
    messages = io.StringIO()
    try:
        with contextlib.redirect_stderr(messages), contextlib.redirect_stdout(io.StringIO()):
            load_tool(command.tool).parse_args(command.args)
    except SystemExit as error:
        if error.code:  # --help exits with 0
            return (messages.getvalue().strip() or str(error.code)).splitlines()[-1]
    return None


# The README and docs/ --------------------------------------------------------------------------

def page_id(page: Path) -> str:
    return str(page.relative_to(REPO))


COMMANDS = [(page, command) for page in PAGES for command in tool_commands(page.read_text())]


@pytest.mark.parametrize('page', PAGES, ids=page_id)
def test_relative_links_reach_a_file_and_heading(page):
    problems = link_problems(page)
    assert not problems, f'{page_id(page)}:\n' + '\n'.join(problems)


def test_every_docs_page_is_reachable_from_the_readme():
    orphans = unreachable(REPO / 'README.md', PAGES)
    assert not orphans, 'no chain of links from README.md reaches ' + ', '.join(
        map(page_id, orphans))


def test_the_readme_is_a_front_door():
    """What it is, the two commands, the table and links: the depth lives in docs/."""
    lines = len((REPO / 'README.md').read_text().splitlines())
    assert lines <= 250, f'README.md has {lines} lines; move the depth to a docs/ page'


def test_the_docs_show_tool_commands():
    assert len(COMMANDS) > 10  # the finder finds them: the tests below check something


@pytest.mark.parametrize('page, command', COMMANDS,
                         ids=[f'{page_id(p)}:{c.line}:{c.tool}' for p, c in COMMANDS])
def test_a_documented_command_is_accepted_by_its_tool(page, command):
    problem = command_problem(command)
    assert problem is None, f'{page_id(page)}:{command.line}: {command.text}\n{problem}'


# The checker reports what it should ------------------------------------------------------------

def write_pages(root: Path, pages: Dict[str, str]) -> None:
    for name, text in pages.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def test_slugs_follow_github():
    assert slug('INT8: what was tried') == 'int8-what-was-tried'
    assert slug('`tools/test.py` --tta, and [TTA](x.md)') == 'toolstestpy---tta-and-tta'
    assert slug('Fine_tuning  (NanoDet-m)') == 'fine_tuning--nanodet-m'


def test_broken_links_and_anchors_are_reported(tmp_path):
    write_pages(tmp_path, {
        'README.md': '# Title\n## Usage\n## Usage\n\n'
                     '[ok](#usage-1) [ok](docs/a.md#setup) ![ok](docs/a.md)\n'
                     '[gone](docs/missing.md) [no anchor](#usage-2) [elsewhere](docs/a.md#nope)\n'
                     '`[in code](nowhere.md)` [web](https://example.com/x.md)\n'
                     '```\n[in a block](nowhere.md)\n```\n',
        'docs/a.md': 'Setup\n=====\n[back](../README.md#title)\n'})
    problems = link_problems(tmp_path / 'README.md')
    assert len(problems) == 3, problems
    assert 'line 6: (docs/missing.md): no such file' in problems[0]
    assert problems[1] == 'line 6: (#usage-2): README.md has no heading #usage-2'
    assert problems[2] == 'line 6: (docs/a.md#nope): a.md has no heading #nope'
    assert link_problems(tmp_path / 'docs/a.md') == []


def test_an_unlinked_page_is_reported(tmp_path):
    write_pages(tmp_path, {'README.md': '[a](docs/a.md)', 'docs/a.md': '[b](b.md)',
                           'docs/b.md': '', 'docs/orphan.md': '[a](a.md)'})
    pages = sorted((tmp_path / 'docs').glob('*.md'))
    assert unreachable(tmp_path / 'README.md', pages) == [tmp_path / 'docs/orphan.md']


def test_commands_are_found_as_a_shell_reads_them():
    page = ('Run `python tools/train.py CONFIG\n--resume` or:\n'
            '```bash\n'
            'CUDA_VISIBLE_DEVICES=0 .venv/bin/python tools/test.py CONFIG \\\n'
            '    $(cat work_dirs/x/last_checkpoint) --out "a b.pkl"  # a comment\n'
            'python tools/image_demo.py $IMG <config> 2>&1 | tee log.txt && make demo\n'
            'bash tools/dist_train.sh CONFIG 2\n'
            '```\n')
    assert [(c.line, c.tool, c.args) for c in tool_commands(page)] == [
        (4, 'tools/test.py', ['CONFIG', PLACEHOLDER, '--out', 'a b.pkl']),
        (6, 'tools/image_demo.py', [PLACEHOLDER, PLACEHOLDER]),
        (1, 'tools/train.py', ['CONFIG', '--resume'])]


def test_an_unknown_tool_or_flag_is_reported():
    unknown_tool, unknown_flag, good = tool_commands(
        '```\npython tools/no_such_tool.py CONFIG\n'
        'python tools/train.py CONFIG --no-such-flag\n'
        'python tools/train.py CONFIG --work-dir work_dirs/run1 --resume\n```\n')
    assert command_problem(unknown_tool) == 'tools/no_such_tool.py: no such tool'
    assert 'unrecognized arguments: --no-such-flag' in command_problem(unknown_flag)
    assert command_problem(good) is None
