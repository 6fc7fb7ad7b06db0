"""Evaluate exported networks with a config's own test dataloader, evaluator and decoding."""
from mmengine.config import Config

from shufflenet_det.utils import build_runner, check_annotation_files, check_dataset_config
from .deployed_detector import DeployedDetector
from shufflenet_det_runtime.network import Network


class DeployedTester:
    """The config's test runner, with exported networks predicting in place of PyTorch.

    The data checks of ``tools/test.py`` run first. Nothing is loaded into the PyTorch model
    the runner builds: only its data preprocessor and its head's decoding are used. The config's
    custom hooks are left out, since training hooks (EMA, class transfer) have no weights of a
    deployed model to change.

    Args:
        cfg (Config): The run's config, from ``load_run_config``.
    """

    def __init__(self, cfg: Config) -> None:
        sections = ('test_dataloader', 'test_evaluator')
        check_annotation_files(cfg, sections)
        check_dataset_config(cfg, sections)
        cfg.load_from = None
        cfg.resume = False
        cfg.custom_hooks = []
        self.runner = build_runner(cfg)
        self.detector = self.runner.model

    def test(self, network: Network) -> dict:
        """Run the test loop with ``network`` predicting; the metrics are logged as
        ``tools/test.py`` logs them.

        Args:
            network (Network): The exported network in its runtime.

        Returns:
            dict: The evaluator's metrics, e.g. ``coco/bbox_mAP``.
        """
        self.runner.model = DeployedDetector(network, self.detector)
        return self.runner.test()
