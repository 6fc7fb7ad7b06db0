from .stretched_random_affine import StretchedRandomAffine

__all__ = ['StretchedRandomAffine']
