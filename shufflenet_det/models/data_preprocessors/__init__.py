from .batch_det_data_preprocessor import BatchDetDataPreprocessor

__all__ = ['BatchDetDataPreprocessor']
