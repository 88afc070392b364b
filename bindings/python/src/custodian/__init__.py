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
from ._model import CustomerShare, Disclosure, OpenedPackage, PackagedCustomer, PackageManifest, Recipient
from ._model import Revocation, Share, SharePage, VerifiedPackage
from ._store import Session, ShareSession, Store
from ._store import generate_recipient_keypair, open_package, recipient_public_key, verify_package
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
    PackageRejected,
    RecipientNotFound,
    RecordNotFound,
    ShareNotFound,
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
    "CustomerShare",
    "Denied",
    "Disclosure",
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
    "OpenedPackage",
    "PackageManifest",
    "PackageRejected",
    "PackagedCustomer",
    "Page",
    "Recipient",
    "RecipientNotFound",
    "Record",
    "RecordNotFound",
    "RecordPage",
    "Revocation",
    "Session",
    "Share",
    "ShareNotFound",
    "SharePage",
    "ShareSession",
    "Shown",
    "StatisticsTable",
    "StatusChange",
    "Store",
    "StoreOpen",
    "Value",
    "VerifiedPackage",
    "VersionConflict",
    "WrongKey",
    "generate_recipient_keypair",
    "library_version",
    "open_package",
    "recipient_public_key",
    "status_text",
    "verify_package",
]
