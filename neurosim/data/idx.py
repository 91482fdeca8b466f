"""Reader for the IDX format of (Fashion-)MNIST, raw or gzip-compressed.

IDX layout: two zero bytes, a type code byte, a dimension-count byte, one big-endian uint32 per
dimension, then the data in big-endian C order. The whole payload is turned into an array by one
``np.frombuffer`` call; every way a file can be malformed becomes a :class:`DataError` that names the
file and what was expected, so a damaged download never surfaces as a numpy or gzip traceback.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

from neurosim.errors import DataError

GZIP_MAGIC = b"\x1f\x8b"

# IDX type code -> big-endian dtype of the payload, as the format defines them.
IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one IDX file into a native-endian, writable, C-contiguous array of its own dtype and shape.

    Compression is detected from the gzip magic bytes, not the file name, because renamed or
    hand-decompressed copies of the data sets are common.
    """
    path = Path(path)
    data = _read_bytes(path)
    return parse_idx(data, source=str(path))


def parse_idx(data: bytes, *, source: str = "<bytes>") -> np.ndarray:
    """Decode the bytes of an uncompressed IDX file; ``source`` names it in error messages."""
    if len(data) < 4:
        raise DataError(f"{source}: not an IDX file: expected a 4-byte header, got {len(data)} bytes")
    zero0, zero1, type_code, ndim = data[0], data[1], data[2], data[3]
    if zero0 != 0 or zero1 != 0:
        raise DataError(f"{source}: not an IDX file: expected magic bytes 00 00 <type> <ndim>, "
                        f"got {data[:4].hex(' ')}")
    if type_code not in IDX_TYPES:
        known = ", ".join(f"0x{code:02X}" for code in IDX_TYPES)
        raise DataError(f"{source}: unknown IDX type code 0x{type_code:02X}; expected one of {known}")
    if ndim == 0:
        raise DataError(f"{source}: IDX header declares 0 dimensions; expected at least 1")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise DataError(f"{source}: truncated IDX header: expected {header_len} bytes for {ndim} "
                        f"dimensions, got {len(data)}")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_TYPES[type_code]
    expected = math.prod(shape) * dtype.itemsize  # Python ints: no overflow for absurd headers
    actual = len(data) - header_len
    if actual != expected:
        problem = "truncated" if actual < expected else "too long"
        raise DataError(f"{source}: IDX data {problem}: shape {shape} of {dtype.name} needs "
                        f"{expected} data bytes, the file has {actual}")
    array = np.frombuffer(data, dtype=dtype, offset=header_len).reshape(shape)
    # One copy to native byte order: callers get a normal writable array, not a read-only view.
    return array.astype(dtype.newbyteorder("="), order="C", copy=True)


def _read_bytes(path: Path) -> bytes:
    """The file's uncompressed contents; OS and gzip failures become DataError."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read IDX file: {exc.strerror or exc}") from None
    if not raw.startswith(GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: damaged gzip data ({exc or type(exc).__name__}); "
                        "expected a complete gzip-compressed IDX file, delete it and fetch it again") from None
