"""Run ``python -m shufflenet_det_runtime`` (or a tool that uses only the runtime) as on a
machine without PyTorch: in a process in which importing torch, torchvision, mmcv, mmengine,
mmdet or shufflenet_det raises."""
import json
import subprocess
import sys
from contextlib import redirect_stdout
from io import StringIO
from pathlib import Path
from typing import Dict, List, Optional

from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from tests.test_tools.tool_runner import REPO

BLOCKED = ('torch', 'torchvision', 'mmcv', 'mmengine', 'mmdet', 'shufflenet_det')
BLOCKER = f'''
import runpy, sys

class TrainingHouseBlocker:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {BLOCKED!r}:
            raise ImportError(name + ' must not be imported by the runtime')

sys.meta_path.insert(0, TrainingHouseBlocker())
'''
BOOTSTRAP = BLOCKER + ("runpy.run_module('shufflenet_det_runtime', run_name='__main__', "
                       'alter_sys=True)')
SCRIPT_BOOTSTRAP = BLOCKER + "sys.argv.pop(0); runpy.run_path(sys.argv[0], run_name='__main__')"


def run_runtime(*args, check: bool = True, env: Optional[Dict[str, str]] = None,
                timeout: float = 900, script: Optional[str] = None,
                cwd: Path = REPO) -> subprocess.CompletedProcess:
    """``python -m shufflenet_det_runtime ARGS...`` (or ``python SCRIPT ARGS...``) from
    ``cwd`` (default: the repository root), the training house's packages blocked; with
    ``check``, assert it succeeded."""
    bootstrap = [SCRIPT_BOOTSTRAP, script] if script else [BOOTSTRAP]
    result = subprocess.run([sys.executable, '-c', *bootstrap, *map(str, args)],
                            capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout)
    if check:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def runtime_map(detections: str, ann_file: str) -> float:
    """bbox mAP of the runtime's ``--json`` detections of a COCO folder, by pycocotools: each
    ``file_name`` is an image of ``ann_file``, each ``class`` a category name."""
    truth = json.loads(Path(ann_file).read_text())
    image_ids = {image['file_name']: image['id'] for image in truth['images']}
    category_ids = {cat['name']: cat['id'] for cat in truth['categories']}
    return results_map([dict(image_id=image_ids[d['file_name']],
                             category_id=category_ids[d['class']], bbox=d['bbox'],
                             score=d['score'])
                        for d in json.loads(Path(detections).read_text())], ann_file)


def results_map(results: List[dict], ann_file: str) -> float:
    """bbox mAP of detections in COCO's results format (what ``CocoMetric`` writes to
    ``outfile_prefix.bbox.json``), by pycocotools, unrounded."""
    with redirect_stdout(StringIO()):  # pycocotools prints as it goes
        truth = COCO(ann_file)
        evaluation = COCOeval(truth, truth.loadRes(results), 'bbox')
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return float(evaluation.stats[0])
