"""The library's failures as exceptions: one base class, ``custodian.Error``,
carrying the C status and the library's message, and a subclass for each
case a caller catches."""

from __future__ import annotations

import re
from typing import Optional

_RULE = re.compile(r"\(rule ([\w.\-]+)\)")
_DENIED_RULE = re.compile(r"denied by rule ([\w.\-]+)")
_FIELD = re.compile(r"(?:field|argument) '([^']+)'")


class Error(Exception):
    """A call the library refused or could not complete.

    ``status`` is the C status number (``cust_status``), ``code`` its name
    (``"denied"``, ``"invalid"``...), ``rule`` the stable identifier of the
    rule that refused it when the library names one, ``field`` the field or
    argument it concerns when there is one, and ``message`` the library's
    message (which never holds a personal value).
    """

    status: int
    code: str
    rule: Optional[str]
    field: Optional[str]
    message: str

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        match = _RULE.search(message)
        if match is None and status == 30:
            match = _DENIED_RULE.search(message)
        self.rule = next((g for g in match.groups() if g), None) if match else None
        field = _FIELD.search(message)
        self.field = field.group(1) if field else None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, code={self.code!r}, message={self.message!r})"


class Invalid(Error):
    """A value failed validation (field and rule say which), or an argument
    was out of its documented range."""


class NotFound(Error):
    """No such customer (by id or external code)."""


class RecordNotFound(NotFound):
    """No such transaction or service record."""


class ShareNotFound(NotFound):
    """No such share."""


class RecipientNotFound(NotFound):
    """No recipient is registered under this id."""


class DuplicateCode(Error):
    """Another customer already uses this external code."""


class VersionConflict(Error):
    """The record changed since it was read (a lost update refused)."""


class LegalHold(Error):
    """The customer is under a legal hold."""


class Denied(Error):
    """The policy refused the call (``rule`` says which rule)."""


class WrongKey(Error):
    """The master key or passphrase does not open this store."""


class AlreadyExists(Error):
    """A store, backup or directory already exists there."""


class NotAStore(Error):
    """No store there."""


class StoreOpen(Error):
    """The store is open in this process (close it before restoring into it)."""


class Busy(Error):
    """The store stayed locked past the busy timeout."""


class Corrupt(Error):
    """The store's files are damaged."""


class BackupError(Error):
    """A backup file or chain was refused: not a backup, truncated, altered,
    foreign, a broken chain, or a key that does not open it."""


class PackageRejected(Error):
    """A share package was refused: not a package, truncated, altered, or
    sealed to another key (the message says which)."""


class AuditBroken(Error):
    """The audit chain failed verification (the message names the first bad entry)."""


_CLASSES: dict[int, type[Error]] = {
    10: Invalid,
    11: Invalid,
    12: Invalid,
    20: NotFound,
    21: NotFound,
    22: DuplicateCode,
    23: VersionConflict,
    24: LegalHold,
    25: RecordNotFound,
    26: ShareNotFound,
    27: RecipientNotFound,
    30: Denied,
    40: WrongKey,
    50: AlreadyExists,
    51: NotAStore,
    53: Corrupt,
    54: StoreOpen,
    60: Busy,
    80: BackupError,
    81: BackupError,
    82: BackupError,
    83: BackupError,
    84: BackupError,
    85: BackupError,
    86: PackageRejected,
    101: Invalid,
    103: Invalid,
    105: AuditBroken,
}


def error_for(status: int, code: str, message: str) -> Error:
    """The exception for a failed call."""
    return _CLASSES.get(status, Error)(status, code, message)
