"""What the command-line tools share: how an error the user fixes, Ctrl-C or SIGTERM ends a run,
and an output file checked before the work."""
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Callable, Optional

from shufflenet_det.errors import ConfigError, UserError
from shufflenet_det_runtime import RuntimeUserError


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``), raised where the tool is, so that its temporary files go as they go
    on Ctrl-C."""


def raise_terminated(signum: int, frame: Optional[FrameType]) -> None:
    """A SIGTERM handler: raise :class:`Terminated`."""
    raise Terminated('stopped (SIGTERM)')


def exit_status(main: Callable[[], None], stop_on_sigterm: bool = False) -> int:
    """Run a tool's ``main``; a :class:`UserError` (or the runtime's
    :class:`~shufflenet_det_runtime.RuntimeUserError`, for an exported model) is printed as one
    line, ``error: ...``, without a traceback; so is a Ctrl-C (``stopped (Ctrl-C)``, or the
    message the tool gave its ``KeyboardInterrupt``).

    Use it as ``sys.exit(exit_status(main))`` under ``if __name__ == '__main__':``.

    Args:
        main (Callable): The tool's entry point.
        stop_on_sigterm (bool): Stop on SIGTERM as on Ctrl-C, for the tools that write
            through temporary files (exports, quantization, conversions). Default: False.

    Returns:
        int: 0, 2 after one of those errors, 130 after Ctrl-C, 143 after SIGTERM.
    """
    if stop_on_sigterm:
        signal.signal(signal.SIGTERM, raise_terminated)
    try:
        main()
    except (UserError, RuntimeUserError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    except KeyboardInterrupt as error:  # its message, if any, says what became of the work
        print(str(error) or 'stopped (Ctrl-C)', file=sys.stderr)
        return 143 if isinstance(error, Terminated) else 130
    return 0


def output_file(path: str, flag: str = '--out') -> str:
    """Refuse a file ``path`` that is a folder, and make its folder; called right before the
    work that writes it, once the other checks passed.

    Args:
        path (str): The file the tool will write.
        flag (str): The argument that named it, for the message. Default: ``--out``.

    Returns:
        str: ``path``.

    Raises:
        ConfigError: When ``path`` is a folder, or its folder cannot be made.
    """
    if Path(path).is_dir():
        raise ConfigError(f'{flag} {path} is a folder; give a file name')
    try:
        Path(path).resolve().parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:  # a parent that is a file, no permission
        raise ConfigError(f'{flag} {path}: its folder cannot be made ({error.strerror})') \
            from error
    return path
