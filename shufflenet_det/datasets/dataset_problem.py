"""What the dataset checks report: a problem they survive, or an error that stops the run."""
from dataclasses import dataclass

from shufflenet_det.errors import UserError

# Whole-image problems the dataset cannot repair: `tools/misc/check_dataset.py` exits 1 on them.
FATAL_KINDS = ('missing_image', 'unreadable_image', 'size_mismatch')


class DatasetError(UserError, ValueError):
    """A COCO file, or a dataset config meeting it, that cannot work as written."""


@dataclass(frozen=True)
class DatasetProblem:
    """One problem found in a dataset.

    Args:
        kind (str): What is wrong, e.g. ``'missing_image'`` or ``'zero_size_box'``.
        where (str): The image file or annotation it concerns.
        message (str): What was found and what the dataset does about it.
    """
    kind: str
    where: str
    message: str

    @property
    def fatal(self) -> bool:
        """Whether the problem is about a whole image (see ``FATAL_KINDS``)."""
        return self.kind in FATAL_KINDS

    def __str__(self) -> str:
        return f'{self.kind}: {self.where}: {self.message}'
