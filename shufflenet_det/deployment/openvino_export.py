"""Convert an exported ONNX network to OpenVINO's IR."""
import os
import tempfile
from pathlib import Path

from shufflenet_det.errors import DeployedModelError


def onnx_to_openvino(onnx_path: str, xml_path: str) -> str:
    """Write the OpenVINO IR (``.xml`` and ``.bin``) of an ONNX network, weights in float32.

    OpenVINO also runs the ``.onnx`` itself; the IR loads faster and needs no ONNX reader. The
    pair is written into a temporary directory beside ``xml_path`` and each file renamed into
    place (the ``.bin`` first) once both are complete. A failed conversion leaves an existing
    pair as it was.

    Args:
        onnx_path (str): The ``.onnx`` file.
        xml_path (str): The ``.xml`` file to write; the weights go beside it, ``.bin``.

    Returns:
        str: The ``.bin`` path.

    Raises:
        DeployedModelError: When OpenVINO is not installed or cannot convert the network (with
            the last lines of its report).
    """
    try:
        import openvino
        from openvino.frontend import (GeneralFailure, NotImplementedFailure,
                                       OpConversionFailure, OpValidationFailure)
    except ImportError as error:
        raise DeployedModelError(
            f'openvino is not installed ({error}); pip install openvino') from error
    bin_path = str(Path(xml_path).with_suffix('.bin'))
    with tempfile.TemporaryDirectory(dir=Path(xml_path).resolve().parent,
                                     prefix='.convert-') as workdir:
        written = Path(workdir) / 'model.xml'  # the IR finds its weights by the .xml's name
        try:
            network = openvino.convert_model(onnx_path)
        except (GeneralFailure, NotImplementedFailure, OpConversionFailure,
                OpValidationFailure) as error:
            tail = '\n'.join(str(error).strip().splitlines()[-3:])
            raise DeployedModelError(f'OpenVINO could not convert {onnx_path}:\n{tail}') from error
        openvino.save_model(network, str(written), compress_to_fp16=False)
        os.replace(written.with_suffix('.bin'), bin_path)
        os.replace(written, xml_path)
    return bin_path
