"""Fault injection for tests: the process dies (SIGKILL) halfway through writing a file.

``kill_during_write('iter_2.pth')`` makes the process write the first half of the bytes of
its first write to ``iter_2.pth`` (or to a temporary ``.iter_2.pth.tmp``) and then SIGKILL
itself, as a kill or power cut in the middle of a checkpoint write would. It works the same
whatever the write path (MMEngine's in-place writes or a write-then-rename).
"""
import builtins
import os
import os.path as osp
import signal


class _DyingFile:
    """A file whose first ``write`` gets half way and then kills the process."""

    def __init__(self, file) -> None:
        self._file = file

    def __enter__(self) -> '_DyingFile':
        return self

    def __exit__(self, *exc) -> None:
        self._file.close()

    def __getattr__(self, name: str):
        return getattr(self._file, name)

    def write(self, data) -> None:
        self._file.write(data[:len(data) // 2])
        self._file.flush()
        os.fsync(self._file.fileno())
        os.kill(os.getpid(), signal.SIGKILL)


def kill_during_write(name: str, occurrence: int = 1) -> None:
    """Die during the ``occurrence``-th write of the file called ``name`` in this process.

    Args:
        name (str): File name (no directory); ``.NAME.tmp`` counts as the same file.
        occurrence (int): Which opening of the file for writing dies. Default: 1.
    """
    real_open = builtins.open
    seen = []

    def open_(file, mode='r', *args, **kwargs):
        f = real_open(file, mode, *args, **kwargs)
        base = osp.basename(str(file)) if isinstance(file, (str, os.PathLike)) else ''
        if 'w' in mode and base in (name, f'.{name}.tmp'):
            seen.append(base)
            if len(seen) == occurrence:
                return _DyingFile(f)
        return f

    builtins.open = open_
