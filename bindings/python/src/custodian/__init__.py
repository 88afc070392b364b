"""custodian: the customer-information vault, from Python.

A thin, typed layer over the library's C ABI (``libcustodian.so``, bundled
into the package). Every access goes through a session, is checked against
role and purpose, and is written to the store's tamper-evident audit log.

    >>> import custodian
    >>> with custodian.Store.open("custodian-demo", key) as store:   # doctest: +SKIP
    ...     with store.session("clerk-01", "service") as clerk:
    ...         customer = clerk.get(1)
    ...         customer["mobile"].text, customer["mobile"].shown
    ('138****5678', <Shown.MASKED: 2>)
"""

from ._lib import STATUS, lib as _lib_handle
from ._model import FIELDS, Checkpoint, Customer, ImportCounts, ImportReport, ImportRow, MatchedRow, Page, Record, RecordPage
from ._model import MergeReport, Shown, StatisticsTable, StatusChange, Value
from ._store import Session, Store
from .errors import (
    AlreadyExists,
    AuditBroken,
    BackupError,
    Busy,
    Corrupt,
    Denied,
    DuplicateCode,
    Error,
    Invalid,
    LegalHold,
    NotAStore,
    NotFound,
    RecordNotFound,
    StoreOpen,
    VersionConflict,
    WrongKey,
)


def library_version() -> str:
    """The version of the bundled C library."""
    version: bytes = _lib_handle.cust_version()
    return version.decode("utf-8")


def status_text(status: int) -> str:
    """The library's text for a status number."""
    text: bytes = _lib_handle.cust_status_str(status)
    return text.decode("utf-8")


__all__ = [
    "FIELDS",
    "STATUS",
    "AlreadyExists",
    "AuditBroken",
    "BackupError",
    "Busy",
    "Checkpoint",
    "Corrupt",
    "Customer",
    "Denied",
    "DuplicateCode",
    "Error",
    "ImportCounts",
    "ImportReport",
    "ImportRow",
    "Invalid",
    "LegalHold",
    "MatchedRow",
    "MergeReport",
    "NotAStore",
    "NotFound",
    "Page",
    "Record",
    "RecordNotFound",
    "RecordPage",
    "Session",
    "Shown",
    "StatisticsTable",
    "Store",
    "StatusChange",
    "StoreOpen",
    "Value",
    "VersionConflict",
    "WrongKey",
    "library_version",
    "status_text",
]
