"""The snapshot format: a JSON header describing the state, followed by the raw numpy arrays.

    b"VMEMLAB\\x01" | header length (8 bytes, little endian) | header (UTF-8 JSON) | array bytes

The header holds every scalar (floats round-trip exactly through JSON's repr) and, in place of each
array, {"__array__": i}; array i is described in header["arrays"] (dtype, shape, offset). No pickle:
restoring runs no code from the bytes, it only rebuilds arrays and numbers.
"""

import json

import numpy as np

from hostsim.engine.errors import EngineError

MAGIC = b"VMEMLAB\x01"
_ARRAY = "__array__"


def pack(state) -> bytes:
    arrays: list[np.ndarray] = []

    def encode(value):
        if isinstance(value, np.ndarray):
            arrays.append(np.ascontiguousarray(value))
            return {_ARRAY: len(arrays) - 1}
        if isinstance(value, dict):
            return {str(key): encode(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [encode(item) for item in value]
        if isinstance(value, np.integer):
            return int(value)
        if isinstance(value, np.floating):
            return float(value)
        return value

    encoded = encode(state)
    offset = 0
    described = []
    for array in arrays:
        described.append({"dtype": array.dtype.str, "shape": list(array.shape), "offset": offset})
        offset += array.nbytes
    header = json.dumps({"state": encoded, "arrays": described}, separators=(",", ":")).encode()
    return b"".join(
        [
            MAGIC,
            len(header).to_bytes(8, "little"),
            header,
            *(a.reshape(-1).view(np.uint8).data for a in arrays),  # memoryviews: no copy
        ]
    )


def unpack(data: bytes):
    try:
        if data[: len(MAGIC)] != MAGIC:
            raise ValueError("bad magic")
        length = int.from_bytes(data[len(MAGIC) : len(MAGIC) + 8], "little")
        start = len(MAGIC) + 8
        header = json.loads(bytes(data[start : start + length]))
        base = start + length
        arrays = []
        for spec in header["arrays"]:
            dtype = np.dtype(spec["dtype"])
            if dtype.hasobject:
                raise ValueError("object arrays are not allowed")
            count = int(np.prod(spec["shape"], dtype=np.int64))
            flat = np.frombuffer(data, dtype=dtype, count=count, offset=base + spec["offset"])
            arrays.append(flat.reshape(spec["shape"]).copy())
    except (ValueError, KeyError, TypeError, json.JSONDecodeError) as exc:
        raise EngineError(f"Not a vmemlab engine snapshot: {exc}") from exc

    def decode(value):
        if isinstance(value, dict):
            if set(value) == {_ARRAY}:
                return arrays[value[_ARRAY]]
            return {key: decode(item) for key, item in value.items()}
        if isinstance(value, list):
            return [decode(item) for item in value]
        return value

    return decode(header["state"])
