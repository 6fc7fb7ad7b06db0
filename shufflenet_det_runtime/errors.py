"""The errors a user of the runtime fixes: a model file, an input or a flag. Each carries one
line saying what is wrong; the command prints it as ``error: ...`` and exits with status 2."""


class RuntimeUserError(Exception):
    """Base class of the runtime's errors whose message tells the user what to fix."""


class ModelError(RuntimeUserError, ValueError):
    """A model that cannot be run: a missing, unreadable or mismatched file, no metadata, or a
    runtime that is not installed."""


class SourceError(RuntimeUserError, ValueError):
    """An input that cannot be read: no such image, folder or video, or a camera that does not
    open."""


class OutputError(RuntimeUserError, OSError):
    """An output that cannot be written: a folder that is a file, a path that would overwrite
    an input, a full disk, an OpenCV without the writer a file needs."""
