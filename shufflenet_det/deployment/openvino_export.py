"""Convert an exported ONNX network to OpenVINO's IR."""
from pathlib import Path

from shufflenet_det.errors import DeployedModelError


def onnx_to_openvino(onnx_path: str, xml_path: str) -> str:
    """Write the OpenVINO IR (``.xml`` and ``.bin``) of an ONNX network, weights in float32.

    OpenVINO also runs the ``.onnx`` itself; the IR loads faster and needs no ONNX reader.

    Args:
        onnx_path (str): The ``.onnx`` file.
        xml_path (str): The ``.xml`` file to write; the weights go beside it, ``.bin``.

    Returns:
        str: The ``.bin`` path.
    """
    try:
        import openvino
    except ImportError as error:
        raise DeployedModelError(
            f'openvino is not installed ({error}); pip install openvino') from error
    openvino.save_model(openvino.convert_model(onnx_path), xml_path, compress_to_fp16=False)
    return str(Path(xml_path).with_suffix('.bin'))
