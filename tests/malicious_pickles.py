"""A pickle that runs code when loaded, for the tests of the safe checkpoint loader."""
import os


class Payload:
    """Unpickling this would create the file named ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f'touch {self.marker}', )
