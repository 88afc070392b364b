"""The low-level layer: loads the bundled ``libcustodian.so`` and declares
every C function from the generated ``_declarations`` table.

ctypes releases the GIL for every call into a ``CDLL``, so library calls
from several threads run in parallel.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
from ctypes import POINTER, c_bool, c_char_p, c_int64, c_size_t, c_uint32, c_uint64, c_void_p
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from . import _declarations
from .errors import error_for

TEXT_SINK = ctypes.CFUNCTYPE(None, c_void_p, c_char_p)
PROGRESS_SINK = ctypes.CFUNCTYPE(None, c_void_p, c_uint64, c_uint64)

_TYPES: dict[str, Any] = {
    "None": None,
    "c_bool": c_bool,
    "c_size_t": c_size_t,
    "c_int64": c_int64,
    "c_uint64": c_uint64,
    "c_uint32": c_uint32,
    "c_void_p": c_void_p,
    "c_char_p": c_char_p,
    "TEXT_SINK": TEXT_SINK,
    "PROGRESS_SINK": PROGRESS_SINK,
    "POINTER(c_void_p)": POINTER(c_void_p),
    "POINTER(c_char_p)": POINTER(c_char_p),
    "POINTER(c_size_t)": POINTER(c_size_t),
    "POINTER(c_int64)": POINTER(c_int64),
    "POINTER(c_uint64)": POINTER(c_uint64),
    "POINTER(c_uint32)": POINTER(c_uint32),
    "POINTER(c_bool)": POINTER(c_bool),
}

LIBRARY_NAME = {"darwin": "libcustodian.dylib", "win32": "custodian.dll"}.get(sys.platform, "libcustodian.so")


def _library_path() -> Path:
    """The library bundled into the package; ``CUSTODIAN_LIBRARY`` overrides
    it for running the tests from a source tree (never needed after install)."""
    override = os.environ.get("CUSTODIAN_LIBRARY")
    if override:
        return Path(override)
    bundled = Path(__file__).resolve().parent / LIBRARY_NAME
    if not bundled.exists():
        raise ImportError(
            f"{bundled} is missing: install the package with `pip install bindings/python` (which builds and "
            "bundles the library), or set CUSTODIAN_LIBRARY to a built libcustodian.so"
        )
    return bundled


def _load() -> ctypes.CDLL:
    lib = ctypes.CDLL(str(_library_path()))
    for name, (result, arguments) in _declarations.FUNCTIONS.items():
        function = getattr(lib, name)
        function.restype = _TYPES[result]
        function.argtypes = [_TYPES[a] for a in arguments]
    return lib


lib = _load()

STATUS = _declarations.CUST_STATUS
STATUS_NAMES = {value: name for name, value in STATUS.items()}
FIELD = _declarations.CUST_FIELD
KIND = _declarations.CUST_KIND
SHOWN = _declarations.CUST_SHOWN
MATCH = _declarations.CUST_MATCH

#: The longest text argument accepted before the library's own checks (the
#: library refuses long values by field; this guards the process).
MAX_TEXT_BYTES = 16 * 1024 * 1024


def text(value: Any, name: str, *, optional: bool = False) -> Optional[bytes]:
    """UTF-8 bytes for a text argument, refusing what C cannot take."""
    if value is None:
        if optional:
            return None
        raise TypeError(f"{name} must be a str, not None")
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    try:
        encoded = value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(f"{name} is not valid text (a lone surrogate at index {e.start})") from None
    if b"\0" in encoded:
        raise ValueError(f"{name} contains a NUL character at byte {encoded.index(0)}")
    if len(encoded) > MAX_TEXT_BYTES:
        raise ValueError(f"{name} is {len(encoded)} bytes; at most {MAX_TEXT_BYTES} are accepted")
    return encoded


def integer(value: Any, name: str, low: int, high: int) -> int:
    """An integer argument in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value}")
    return value


def last_error() -> str:
    """This thread's last error message."""
    needed = c_size_t(0)
    lib.cust_last_error(None, 0, ctypes.byref(needed))
    buf = ctypes.create_string_buffer(max(needed.value, 1))
    lib.cust_last_error(buf, len(buf), None)
    return buf.value.decode("utf-8", "replace")


def check(status: int) -> None:
    """Raises the exception for a failed call's status."""
    if status != 0:
        raise error_for(status, STATUS_NAMES.get(status, "internal").lower(), last_error())


def call(name: str, *args: Any) -> None:
    """Calls a status-returning C function, raising on failure."""
    check(getattr(lib, name)(*args))


def take_string(name: str, *args: Any) -> str:
    """Calls a function whose last argument receives a library-owned string,
    and returns it (freed by the library)."""
    out = c_void_p()
    call(name, *args, ctypes.byref(out))
    try:
        return ctypes.string_at(out.value).decode("utf-8") if out.value else ""
    finally:
        lib.cust_string_free(ctypes.cast(out, c_char_p))


def take_json(name: str, *args: Any) -> Any:
    """As ``take_string``, parsed as JSON."""
    return json.loads(take_string(name, *args))


def take_object(name: str, *args: Any) -> dict[str, Any]:
    """As ``take_json``, for functions that return a JSON object."""
    value = take_json(name, *args)
    if not isinstance(value, dict):
        raise TypeError(f"{name} returned {type(value).__name__}, not a JSON object")
    return value


def copy_out(fill: Callable[[Any, int, Any], int]) -> str:
    """Copies text a function writes with ``snprintf`` semantics: asks for the
    size, then fills a buffer of it."""
    needed = c_size_t(0)
    status = fill(None, 0, ctypes.byref(needed))
    if status not in (0, STATUS["BUFFER_TOO_SMALL"]):
        check(status)
    buf = ctypes.create_string_buffer(max(needed.value, 1))
    check(fill(buf, len(buf), None))
    return buf.value.decode("utf-8")


class Secret:
    """Key bytes or a passphrase in a ctypes buffer the binding controls,
    wiped (``cust_memzero``) when the call is done."""

    def __init__(self, data: bytes | bytearray | memoryview, *, nul: bool = False) -> None:
        raw = bytes(data)
        self.length = len(raw)
        self.buffer = ctypes.create_string_buffer(raw, self.length + 1) if nul else ctypes.create_string_buffer(raw, max(self.length, 1))
        if isinstance(data, bytearray):
            data[:] = bytes(len(data))  # the caller's mutable copy is wiped too

    def __enter__(self) -> "Secret":
        return self

    def __exit__(self, *_: Any) -> None:
        lib.cust_memzero(self.buffer, len(self.buffer))


def key_secret(key: Any) -> Secret:
    """A raw master key (32 bytes) as a wiped-after-use buffer."""
    if not isinstance(key, (bytes, bytearray, memoryview)):
        raise TypeError(f"key must be bytes, not {type(key).__name__}")
    return Secret(key)


def passphrase_secret(passphrase: Any) -> Secret:
    """A passphrase as a NUL-terminated, wiped-after-use buffer."""
    if isinstance(passphrase, (bytes, bytearray)):
        raw = bytes(passphrase)
        if b"\0" in raw:
            raise ValueError("passphrase contains a NUL byte")
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ValueError(f"passphrase is not UTF-8 (byte {e.start})") from None
        secret = Secret(raw, nul=True)
        if isinstance(passphrase, bytearray):
            passphrase[:] = bytes(len(passphrase))
        return secret
    encoded = text(passphrase, "passphrase")
    assert encoded is not None
    return Secret(encoded, nul=True)


def path_array(paths: Sequence[Any], name: str) -> tuple[Any, int]:
    """A C array of NUL-terminated paths."""
    if isinstance(paths, (str, bytes, os.PathLike)):
        raise TypeError(f"{name} must be a sequence of paths")
    encoded = [text(p, f"{name}[{i}]") for i, p in enumerate(paths)]
    array = (c_char_p * max(len(encoded), 1))(*encoded)
    return array, len(encoded)
