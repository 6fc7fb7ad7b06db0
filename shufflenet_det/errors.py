"""The errors a user fixes: a config, a file or a flag. The library raises them with one line
saying what is wrong and how to fix it; the tools print that line as ``error: ...`` and exit
with status 2, without a traceback."""


class UserError(Exception):
    """Base class of the errors whose message tells the user what to fix."""


class ConfigError(UserError, ValueError):
    """A config or a command-line setting that cannot work (a launcher, a missing key)."""


class ModelConfigError(ConfigError):
    """A model config that cannot work: an unknown argument, a value a module does not take,
    or mismatched channels."""


class DeployedModelError(UserError, ValueError):
    """An exported model that cannot be run: a missing or unreadable file, a runtime that is not
    installed, or inputs larger than the size it was exported for."""
