"""The wire between the judge and the student's process: framing and the value codec.

Imported by both sides: by the judge as ``autograder.grading.child.wire`` and by the
student's process as the top-level module ``wire`` (the child folder is run as scripts).
It imports nothing but the standard library; torch and numpy are handed in.

Format (both directions): 4-byte big-endian length, a JSON header, then the binary blobs
the header announces, each with an 8-byte length. Tensors travel as raw bytes with dtype
and shape; nothing is ever pickled.
"""

from __future__ import annotations

import array
import json
import os
import re
import socket
import struct
import time

MAX_HEADER = 4 << 20
MAX_BLOBS_BYTES = 256 << 20


class ProtocolError(Exception):
    """The other side sent something that is not a well-formed message."""


# ---------------------------------------------------------------- framing

def _recv_exact(sock: socket.socket, n: int, deadline: float | None = None) -> bytes:
    chunks, got = [], 0
    while got < n:
        if deadline is not None:  # a whole message, not each recv, must beat the deadline
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("message not complete before the deadline")
            sock.settimeout(left)
        chunk = sock.recv(min(n - got, 1 << 20))
        if not chunk:
            raise EOFError("connection closed")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def send_msg(sock: socket.socket, header: dict, blobs: list[bytes] = ()) -> None:
    header = dict(header, nblobs=len(blobs))
    data = json.dumps(header).encode()
    parts = [struct.pack("!I", len(data)), data]
    for blob in blobs:
        parts += [struct.pack("!Q", len(blob)), blob]
    sock.sendall(b"".join(parts))


def recv_msg(sock: socket.socket, max_blobs: int = MAX_BLOBS_BYTES,
             deadline: float | None = None) -> tuple[dict, list[bytes]]:
    (size,) = struct.unpack("!I", _recv_exact(sock, 4, deadline))
    if size > MAX_HEADER:
        raise ProtocolError(f"header of {size} bytes is too large")
    try:
        header = json.loads(_recv_exact(sock, size, deadline))
    except ValueError as exc:
        raise ProtocolError(f"header is not JSON: {exc}") from None
    if not isinstance(header, dict) or not isinstance(header.get("nblobs"), int):
        raise ProtocolError("header is not a message")
    blobs, total = [], 0
    for _ in range(header["nblobs"]):
        (n,) = struct.unpack("!Q", _recv_exact(sock, 8, deadline))
        total += n
        if total > max_blobs:
            raise ProtocolError(f"more than {max_blobs} bytes of data")
        blobs.append(_recv_exact(sock, n, deadline))
    return header, blobs


# ---------------------------------------------------------------- values

_NUMPY_DTYPES = {"float16", "float32", "float64", "int8", "int16", "int32", "int64",
                 "uint8", "bool", "complex64", "complex128"}


class Codec:
    """Turns values into JSON plus blobs and back. Handles name objects kept by the child."""

    def __init__(self, torch_module=None, numpy_module=None, keep=None, lookup=None):
        self.torch, self.np = torch_module, numpy_module
        self.keep, self.lookup = keep, lookup

    def encode(self, value, blobs: list[bytes], depth: int = 0):
        torch, np = self.torch, self.np
        if depth > 20:
            return {"t": "object", "type": "nested too deep", "id": None}
        if value is None or isinstance(value, (bool, int, float, str)):
            if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**62:
                value = float(value)
            return {"t": "py", "v": value}
        if torch is not None and isinstance(value, torch.Tensor):
            dtype = str(value.dtype).replace("torch.", "")
            data = value.detach()
            if dtype not in _NUMPY_DTYPES:
                data, wire = data.to(torch.float64), "float64"
            else:
                wire = dtype
            data = data.cpu()
            # A permuted layout (a transposed view, channels-last) travels as its dense
            # base and the permutation, so the other side gets the same layout back.
            order = sorted(range(data.dim()), key=lambda d: -data.stride(d))
            perm = None
            if order != list(range(data.dim())) and data.permute(order).is_contiguous():
                data = data.permute(order)
                perm = [order.index(d) for d in range(len(order))]
            array_ = data.contiguous().numpy()
            blobs.append(array_.tobytes())
            enc = {"t": "tensor", "dtype": dtype, "wire": wire, "shape": list(value.shape),
                   "device": str(value.device), "i": len(blobs) - 1,
                   "requires_grad": bool(value.requires_grad)}
            if perm is not None:
                enc["perm"] = perm
            return enc
        if np is not None and isinstance(value, np.ndarray) and str(value.dtype) in _NUMPY_DTYPES:
            blobs.append(np.ascontiguousarray(value).tobytes())
            return {"t": "ndarray", "dtype": str(value.dtype), "shape": list(value.shape),
                    "i": len(blobs) - 1}
        if np is not None and isinstance(value, np.generic) and not isinstance(value, np.ndarray):
            return self.encode(value.item(), blobs, depth + 1)  # numpy scalars
        if isinstance(value, (tuple, list)):
            # Subclasses (torch.Size, namedtuples) travel as plain tuples and lists.
            return {"t": "tuple" if isinstance(value, tuple) else "list",
                    "items": [self.encode(v, blobs, depth + 1) for v in value]}
        if isinstance(value, dict) and all(isinstance(k, str) for k in value):
            return {"t": "dict", "items": {k: self.encode(v, blobs, depth + 1)
                                           for k, v in value.items()}}
        if isinstance(value, Handle):
            return {"t": "handle", "id": value.id, "type": value.type_name}
        handle = self.keep(value) if self.keep else None
        return {"t": "object", "type": type(value).__name__, "id": handle}

    def decode(self, enc, blobs: list[bytes]):
        torch, np = self.torch, self.np
        kind = enc.get("t") if isinstance(enc, dict) else None
        if kind == "py":
            return enc["v"]
        if kind in ("tensor", "ndarray"):
            wire = enc.get("wire", enc["dtype"])
            if wire not in _NUMPY_DTYPES:
                raise ProtocolError(f"unknown dtype {wire!r}")
            shape = [int(s) for s in enc["shape"]]
            perm = enc.get("perm") if kind == "tensor" else None
            if perm is not None:
                if sorted(perm) != list(range(len(shape))):
                    raise ProtocolError("perm is not a permutation of the dimensions")
                base = [0] * len(shape)
                for d, p in enumerate(perm):
                    base[p] = shape[d]
            flat = np.frombuffer(blobs[enc["i"]], dtype=wire)
            if flat.size != _prod(shape):
                raise ProtocolError("data does not match its shape")
            arr = flat.reshape(base if perm is not None else shape).copy()
            if kind == "ndarray":
                return arr
            tensor = torch.from_numpy(arr)
            if perm is not None:
                tensor = tensor.permute([int(p) for p in perm])
            if enc["dtype"] != wire:
                dtype = getattr(torch, str(enc["dtype"]), None)
                if not isinstance(dtype, torch.dtype):
                    raise ProtocolError("unknown dtype")
                tensor = tensor.to(dtype)
            device = enc.get("device", "cpu")
            if not isinstance(device, str) or not re.fullmatch(r"cpu|cuda(:\d{1,2})?", device):
                raise ProtocolError("unknown device")
            return tensor.to(device) if device != "cpu" else tensor
        if kind in ("tuple", "list"):
            items = [self.decode(v, blobs) for v in enc["items"]]
            return tuple(items) if kind == "tuple" else items
        if kind == "dict":
            return {str(k): self.decode(v, blobs) for k, v in enc["items"].items()}
        if kind == "handle":
            if self.lookup:
                return self.lookup(enc["id"])
            return Handle(enc["id"], str(enc.get("type", "object")))
        if kind == "object":
            return Handle(enc.get("id"), str(enc.get("type", "object")))
        raise ProtocolError(f"cannot decode {str(enc)[:80]}")


class Handle:
    """An object that stayed in the child: only its number and type name travel."""

    def __init__(self, id_, type_name: str):
        self.id, self.type_name = id_, type_name

    def __repr__(self) -> str:
        return f"<{self.type_name} kept by the student's process>"


def _prod(shape) -> int:
    out = 1
    for s in shape:
        out *= s
    return out


def shareable(torch, value) -> bool:
    """A tensor argument that can travel in shared memory (see ``shared_tensor``)."""
    return (isinstance(value, torch.Tensor) and value.device.type == "cpu"
            and str(value.dtype).replace("torch.", "") in _NUMPY_DTYPES and value.numel() > 0)


def shared_tensor(torch, fd: int, enc: dict):
    """The tensor of an argument on memory shared with the judge (a memfd it made): what
    the student's code writes into it, the judge reads itself after the call."""
    import mmap

    if enc.get("t") != "tensor" or enc.get("wire", enc["dtype"]) != enc["dtype"]:
        raise ProtocolError("a shared argument is not a plain tensor")
    size = os.fstat(fd).st_size
    memory = mmap.mmap(fd, size)
    flat = torch.frombuffer(memory, dtype=getattr(torch, enc["dtype"]))
    shape = [int(s) for s in enc["shape"]]
    if flat.numel() != _prod(shape):
        raise ProtocolError("shared data does not match its shape")
    perm = enc.get("perm")
    if perm is None:
        return flat.view(shape)
    if sorted(perm) != list(range(len(shape))):
        raise ProtocolError("perm is not a permutation of the dimensions")
    base = [0] * len(shape)  # the dense layout the judge wrote: a permutation of shape
    for d, p in enumerate(perm):
        base[p] = shape[d]
    return flat.view(base).permute([int(p) for p in perm])


def recv_with_fds(sock: socket.socket) -> tuple[dict, list[int]]:
    data, ancdata, _flags, _addr = sock.recvmsg(1 << 16, socket.CMSG_SPACE(4 * 4),
                                                 socket.MSG_CMSG_CLOEXEC)
    if not data:
        raise EOFError
    fds = array.array("i")
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
    return json.loads(data), list(fds)


def send_with_fds(sock: socket.socket, msg: dict, fds: list[int]) -> None:
    sock.sendmsg([json.dumps(msg).encode()],
                 [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])
