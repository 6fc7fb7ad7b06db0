"""Read an ONNX file's ``metadata_props`` without the ``onnx`` package.

An ONNX file is a protobuf ``ModelProto``; its ``metadata_props`` (field 14) are
``StringStringEntryProto`` messages (``key`` field 1, ``value`` field 2). Only the top level is
walked; the graph and its weights are skipped by their length, so any runtime (ONNX Runtime or
OpenVINO) can run the file while the metadata is read here.
"""
from typing import Dict, Iterator, Tuple

from .errors import ModelError

METADATA_PROPS = 14
VARINT, FIXED64, LENGTH_DELIMITED, FIXED32 = 0, 1, 2, 5


def _varint(data: bytes, pos: int) -> Tuple[int, int]:
    """The varint at ``pos`` and the position after it."""
    value, shift = 0, 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _fields(data: bytes) -> Iterator[Tuple[int, bytes]]:
    """The (field number, bytes) of each length-delimited field of a message; other wire types
    are skipped."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if wire_type == VARINT:
            _, pos = _varint(data, pos)
        elif wire_type == FIXED64:
            pos += 8
        elif wire_type == FIXED32:
            pos += 4
        elif wire_type == LENGTH_DELIMITED:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise ValueError('a field runs past the end of the file')
            yield number, data[pos:pos + length]
            pos += length
        else:
            raise ValueError(f'unknown protobuf wire type {wire_type}')


def read_onnx_metadata(path: str) -> Dict[str, str]:
    """The ``metadata_props`` of an ONNX file, as a dict.

    Args:
        path (str): The ``.onnx`` file.

    Returns:
        dict[str, str]: Each key's value; empty when the file has none.

    Raises:
        ModelError: When the file is not a readable ONNX model.
    """
    with open(path, 'rb') as file:
        data = file.read()
    try:
        metadata = {}
        for number, entry in _fields(data):
            if number == METADATA_PROPS:
                parts = dict(_fields(entry))
                metadata[parts.get(1, b'').decode()] = parts.get(2, b'').decode()
        return metadata
    except (IndexError, ValueError) as error:  # UnicodeDecodeError is a ValueError
        raise ModelError(f'{path} is not a readable ONNX model ({error})') from error
