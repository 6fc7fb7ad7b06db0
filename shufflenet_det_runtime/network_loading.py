"""Open an exported network in the runtime its file (or ``backend``) names."""
from pathlib import Path
from typing import Optional

from .errors import ModelError
from .ncnn_network import NcnnNetwork
from .network import Network
from .onnx_runtime_network import OnnxRuntimeNetwork
from .openvino_network import OpenVinoNetwork

#: The runtimes each kind of exported file runs in, the default first.
RUNTIMES_BY_SUFFIX = {
    '.onnx': ('onnxruntime', 'openvino'),
    '.xml': ('openvino', ),
    '.param': ('ncnn', ),
}
NETWORKS = dict(onnxruntime=OnnxRuntimeNetwork, openvino=OpenVinoNetwork, ncnn=NcnnNetwork)
BACKENDS = tuple(NETWORKS)


def backend_of(path: str, backend: Optional[str] = None) -> str:
    """The runtime that runs ``path``: ``backend`` if it can, else the file type's default.

    Raises:
        ModelError: For a file no runtime here reads, or a runtime that cannot read it.
    """
    suffix = Path(path).suffix
    runtimes = RUNTIMES_BY_SUFFIX.get(suffix)
    if runtimes is None:
        raise ModelError(f'{path} is not an exported model: .onnx (ONNX Runtime or '
                         'OpenVINO), .xml (OpenVINO IR) or .param (ncnn)')
    if backend is not None and backend not in runtimes:
        raise ModelError(f'{backend} does not run {suffix} files; {suffix} runs in '
                         f'{" or ".join(runtimes)}')
    return backend or runtimes[0]


def load_network(path: str, backend: Optional[str] = None, threads: int = 0) -> Network:
    """The exported network in ``path``, opened in its runtime.

    Args:
        path (str): An ``.onnx``, OpenVINO ``.xml`` or ncnn ``.param`` file.
        backend (str, optional): ``onnxruntime``, ``openvino`` or ``ncnn``; default: by the
            file's suffix (``.onnx`` runs in ONNX Runtime).
        threads (int): Runtime threads; 0 lets the runtime choose. Default: 0.

    Returns:
        Network: The network.

    Raises:
        ModelError: For a missing file, a runtime that cannot read it or is not
            installed, or a file the runtime rejects.
    """
    if not Path(path).is_file():
        raise ModelError(f'no such model file: {path}')
    backend = backend_of(path, backend)
    try:
        return NETWORKS[backend](path, threads)
    except ImportError as error:
        raise ModelError(  # each runtime's PyPI package has the runtime's name
            f'{backend} is not installed ({error}); pip install {backend}') from error
    except ModelError:
        raise
    except Exception as error:  # the runtimes' load errors share no base class but Exception
        detail = (str(error).strip().splitlines() or [type(error).__name__])[-1]
        raise ModelError(f'{backend} cannot load {path}: {detail}') from error
