"""Convert an exported ONNX network to ncnn with pnnx, ncnn's own converter."""
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Tuple

from shufflenet_det.errors import DeployedModelError


def onnx_to_ncnn(onnx_path: str, param_path: str, input_shape: Tuple[int, ...]) -> str:
    """Write the ncnn model (``.param`` and ``.bin``) of an ONNX network, in float32.

    pnnx writes its intermediate files (``.pnnx.*``, Python and simplified-ONNX copies) into a
    temporary directory beside ``param_path``; only the ncnn pair is kept, each file renamed
    into place (the ``.bin`` first) once pnnx has written both. A failed conversion leaves an
    existing pair as it was.

    Args:
        onnx_path (str): The ``.onnx`` file (with its external ``.data`` file, if any).
        param_path (str): The ``.param`` file to write; the weights go beside it, ``.bin``.
        input_shape (tuple[int, ...]): The input's (N, C, H, W).

    Returns:
        str: The ``.bin`` path.

    Raises:
        DeployedModelError: When pnnx is not installed or fails (with its last lines).
    """
    try:
        import pnnx
    except ImportError as error:
        raise DeployedModelError(f'pnnx is not installed ({error}); pip install pnnx') from error
    bin_path = str(Path(param_path).with_suffix('.bin'))
    source = Path(onnx_path)
    with tempfile.TemporaryDirectory(dir=Path(param_path).resolve().parent,
                                     prefix='.convert-') as workdir:
        for file in (source, source.with_name(source.name + '.data')):
            if file.exists():  # pnnx reads an external data file from beside the graph
                shutil.copy(file, workdir)
        shape = ','.join(str(d) for d in input_shape)
        out = Path(workdir) / 'model'
        result = subprocess.run(
            [pnnx.EXEC_PATH, source.name, f'inputshape=[{shape}]',
             'fp16=0', f'pnnxparam={out}.pnnx.param', f'pnnxbin={out}.pnnx.bin',
             f'pnnxpy={out}_pnnx.py', f'pnnxonnx={out}.pnnx.onnx',
             f'ncnnparam={out}.ncnn.param', f'ncnnbin={out}.ncnn.bin', f'ncnnpy={out}_ncnn.py'],
            capture_output=True, text=True, cwd=workdir)  # external data: relative to cwd
        written = (Path(f'{out}.ncnn.bin'), Path(f'{out}.ncnn.param'))
        if result.returncode or not all(path.exists() for path in written):
            tail = '\n'.join((result.stdout + result.stderr).splitlines()[-5:])
            raise DeployedModelError(f'pnnx could not convert {onnx_path}:\n{tail}')
        os.replace(written[0], bin_path)
        os.replace(written[1], param_path)
    return bin_path
