"""Stores and sessions: the Pythonic layer over the C ABI. A session is the
only road to customer data; every call is checked and audited inside the
library."""

from __future__ import annotations

import builtins
import ctypes
import json
import os
import threading
from ctypes import byref, c_bool, c_char_p, c_int64, c_uint64, c_void_p
from typing import Any, Callable, Iterator, Mapping, Optional, Sequence, TypeVar, Union

from . import _lib
from ._lib import KIND, lib
from ._model import FIELDS, Checkpoint, Customer, ImportReport, MergeReport, Page, bytes_out, iterate_pages, take_customer
from ._model import Record, RecordPage, StatisticsTable, take_import_report, take_page, take_record, take_record_page
from ._model import CustomerShare, OpenedPackage, PackageManifest, Recipient, Share, SharePage, VerifiedPackage

PathLike = Union[str, "os.PathLike[str]"]
Key = Union[bytes, bytearray, memoryview]

I64 = (-(2**63), 2**63 - 1)
U64 = (0, 2**64 - 1)
U32 = (0, 2**32 - 1)


def _ms(value: Optional[Union[int, float]], name: str) -> int:
    """Unix milliseconds from ``None`` (0), an int of ms, or a float of seconds."""
    if value is None:
        return 0
    if isinstance(value, float):
        return int(value * 1000)
    return _lib.integer(value, name, *I64)


def _required_ms(value: Union[int, float], name: str) -> int:
    """Unix milliseconds from an int of ms or a float of seconds (not ``None``)."""
    if value is None:
        raise TypeError(f"{name} must be an int of Unix ms or a float of seconds, not None")
    return _ms(value, name)


def _one_key(key: Any, passphrase: Any) -> None:
    if (key is None) == (passphrase is None):
        raise TypeError("give exactly one of key (32 bytes) or passphrase")


T = TypeVar("T")


def _keyed(key: Any, passphrase: Any, raw: Callable[[Any, int], T], derived: Callable[[Any], T]) -> T:
    """Calls ``raw(buffer, length)`` with the key bytes or ``derived(buffer)``
    with the passphrase, each in a buffer wiped after the call."""
    _one_key(key, passphrase)
    if key is not None:
        with _lib.key_secret(key) as k:
            return raw(k.buffer, k.length)
    with _lib.passphrase_secret(passphrase) as p:
        return derived(p.buffer)


def _json_text(value: Any, name: str) -> bytes:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    encoded = _lib.text(text, name)
    assert encoded is not None
    return encoded


class _Owner:
    """Owns one C handle: closed by ``close()``, at the end of a ``with``
    block, or when the object goes."""

    _kind = "handle"

    def __init__(self, handle: c_void_p) -> None:
        self._handle: Optional[c_void_p] = handle
        self._lock = threading.Lock()

    def _free(self, handle: c_void_p) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Closes the handle (a store stays open while sessions on it are)."""
        with self._lock:
            if self._handle is not None:
                self._free(self._handle)
                self._handle = None

    def __enter__(self: T) -> T:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_lock", None) is not None:
            self.close()

    @property
    def handle(self) -> c_void_p:
        """The C handle."""
        if self._handle is None:
            raise ValueError(f"the {self._kind} is closed")
        return self._handle


class Store(_Owner):
    """A customer-information store on an embedded SQLite directory.

    Use as a context manager (``with Store.open(path, key) as store:``), or
    call ``close()``. Sessions keep the store alive on the library's side.
    """

    _kind = "store"

    def __init__(self, handle: c_void_p) -> None:
        super().__init__(handle)
        self._sinks: Any = None  # the checkpoint callbacks, kept alive with the store

    def _free(self, handle: c_void_p) -> None:
        lib.cust_store_close(handle)

    # -- opening --------------------------------------------------------------
    @classmethod
    def create(
        cls,
        path: PathLike,
        key: Optional[Key] = None,
        *,
        passphrase: Any = None,
        kdf_iterations: int = 0,
        search: Optional[Mapping[str, Any]] = None,
    ) -> "Store":
        """Creates a store in directory ``path`` under a 32-byte master ``key``
        or a ``passphrase`` (PBKDF2 with ``kdf_iterations``, 0 for the default).

        ``search`` chooses how keyword search works (fixed for the store's
        life): ``{"fields": ["name", "notes"], "index": True, "token_bits": 20}``
        (see ``cust_store_create_with``); omitted keys keep their defaults."""
        where = _lib.text(path, "path")
        iterations = _lib.integer(kdf_iterations, "kdf_iterations", *U32)
        out = c_void_p()
        if search is None:
            _keyed(
                key,
                passphrase,
                lambda k, n: _lib.call("cust_store_create", where, k, n, byref(out)),
                lambda p: _lib.call("cust_store_create_passphrase", where, p, iterations, byref(out)),
            )
        else:
            catalogue = _json_text({"search": dict(search)}, "search")
            _keyed(
                key,
                passphrase,
                lambda k, n: _lib.call("cust_store_create_with", where, k, n, catalogue, byref(out)),
                lambda p: _lib.call("cust_store_create_passphrase_with", where, p, iterations, catalogue, byref(out)),
            )
        return cls(out)

    @classmethod
    def open(cls, path: PathLike, key: Optional[Key] = None, *, passphrase: Any = None) -> "Store":
        """Opens the store in ``path`` with its master key or passphrase
        (``WrongKey`` if it does not open it)."""
        where = _lib.text(path, "path")
        out = c_void_p()
        _keyed(
            key,
            passphrase,
            lambda k, n: _lib.call("cust_store_open", where, k, n, byref(out)),
            lambda p: _lib.call("cust_store_open_passphrase", where, p, byref(out)),
        )
        return cls(out)

    @classmethod
    def create_url(
        cls,
        data_url: str,
        key_store_url: str,
        key: Optional[Key] = None,
        *,
        passphrase: Any = None,
        kdf_iterations: int = 0,
        schema: Optional[str] = None,
    ) -> "Store":
        """Creates a store on a PostgreSQL server: customer data in the database
        of ``data_url``, keys in the database of ``key_store_url`` (libpq
        connection strings), tables in ``schema`` (created if missing; ``None``
        for the connections' default), under a 32-byte master ``key`` or a
        ``passphrase`` (PBKDF2 with ``kdf_iterations``, 0 for the default).
        Raises ``Invalid`` (rule ``feature.postgres``) if the library was
        built without the PostgreSQL backend."""
        data, keys, space = cls._url_arguments(data_url, key_store_url, schema)
        iterations = _lib.integer(kdf_iterations, "kdf_iterations", *U32)
        out = c_void_p()
        _keyed(
            key,
            passphrase,
            lambda k, n: _lib.call("cust_store_create_url", data, keys, space, k, n, byref(out)),
            lambda p: _lib.call("cust_store_create_url_passphrase", data, keys, space, p, iterations, byref(out)),
        )
        return cls(out)

    @classmethod
    def open_url(
        cls,
        data_url: str,
        key_store_url: str,
        key: Optional[Key] = None,
        *,
        passphrase: Any = None,
        schema: Optional[str] = None,
    ) -> "Store":
        """Opens the store on a PostgreSQL server (arguments as for
        :meth:`create_url`)."""
        data, keys, space = cls._url_arguments(data_url, key_store_url, schema)
        out = c_void_p()
        _keyed(
            key,
            passphrase,
            lambda k, n: _lib.call("cust_store_open_url", data, keys, space, k, n, byref(out)),
            lambda p: _lib.call("cust_store_open_url_passphrase", data, keys, space, p, byref(out)),
        )
        return cls(out)

    @staticmethod
    def _url_arguments(
        data_url: str, key_store_url: str, schema: Optional[str]
    ) -> tuple[Optional[bytes], Optional[bytes], Optional[bytes]]:
        return (
            _lib.text(data_url, "data_url"),
            _lib.text(key_store_url, "key_store_url"),
            _lib.text(schema, "schema", optional=True),
        )

    @property
    def last_error(self) -> str:
        """The last error of any call on this store handle."""
        return _lib.copy_out(lambda buf, n, needed: lib.cust_store_last_error(self.handle, buf, n, needed))

    # -- sessions -------------------------------------------------------------
    def session(
        self, principal: str, purpose: str, *, mfa: bool = False, auth_time: Optional[Union[int, float]] = None
    ) -> "Session":
        """Opens a session for registered ``principal`` acting for ``purpose``
        (``service``, ``marketing``, ``analytics``, ``maintenance``,
        ``compliance`` or a custom one). ``mfa``: the host verified a second
        factor; ``auth_time``: when the principal authenticated (Unix ms, or
        seconds as a float)."""
        out = c_void_p()
        _lib.call(
            "cust_session_open",
            self.handle,
            _lib.text(principal, "principal"),
            _lib.text(purpose, "purpose"),
            bool(mfa),
            _ms(auth_time, "auth_time"),
            byref(out),
        )
        return Session(out)

    def marketing_session(
        self, principal: str, channel: str, *, mfa: bool = False, auth_time: Optional[Union[int, float]] = None
    ) -> "Session":
        """A marketing session on ``channel`` (``sms``, ``email``, ``phone``,
        ``post``): it sees only customers who currently consent to it."""
        out = c_void_p()
        _lib.call(
            "cust_session_open_marketing",
            self.handle,
            _lib.text(principal, "principal"),
            _lib.text(channel, "channel"),
            bool(mfa),
            _ms(auth_time, "auth_time"),
            byref(out),
        )
        return Session(out)

    def login(self, principal: str, password: str, purpose: str, *, code: Optional[str] = None) -> "Session":
        """Logs ``principal`` in with its password (and TOTP ``code`` when it
        has one enrolled) and opens a session; failures are ``Denied``."""
        out = c_void_p()
        with _lib.passphrase_secret(password) as p:
            _lib.call(
                "cust_session_login",
                self.handle,
                _lib.text(principal, "principal"),
                p.buffer,
                _lib.text(code, "code", optional=True),
                _lib.text(purpose, "purpose"),
                byref(out),
            )
        return Session(out)

    def bootstrap_admin(self, principal: str, display_name: str) -> None:
        """Registers the store's first administrator (only while none is active)."""
        _lib.call(
            "cust_store_bootstrap_admin",
            self.handle,
            _lib.text(principal, "principal"),
            _lib.text(display_name, "display_name"),
        )

    def set_login_policy(self, max_failures: int, lockout_secs: int, password_iterations: int = 0) -> None:
        """Lockout after ``max_failures`` failed logins for ``lockout_secs``;
        PBKDF2 iterations for new passwords (0: default)."""
        _lib.call(
            "cust_store_set_login_policy",
            self.handle,
            _lib.integer(max_failures, "max_failures", *U32),
            _lib.integer(lockout_secs, "lockout_secs", *U64),
            _lib.integer(password_iterations, "password_iterations", *U32),
        )

    def set_service_hours(self, kind: str, priority: str, hours: int) -> None:
        """Hours before service records of ``kind`` at ``priority`` fall due
        (complaints at normal priority: 48 by default). Only before any
        session is opened."""
        _lib.call(
            "cust_store_set_service_hours",
            self.handle,
            _lib.text(kind, "kind"),
            _lib.text(priority, "priority"),
            _lib.integer(hours, "hours", *U32),
        )

    def set_four_eyes(self, required: bool = True) -> None:
        """Requires that customers be verified by another principal than the
        one who entered or last changed them (``Denied``, rule
        ``verify.four_eyes``). Only before any session is opened."""
        _lib.call("cust_store_set_four_eyes", self.handle, bool(required))

    def set_reopen_days(self, days: int) -> None:
        """Days after closing a service record may be reopened (0: never).
        Only before any session is opened."""
        _lib.call("cust_store_set_reopen_days", self.handle, _lib.integer(days, "days", *U32))

    def set_checkpoints(
        self,
        every_entries: int = 1000,
        every_secs: int = 60,
        on_checkpoint: Optional[Callable[[Checkpoint], None]] = None,
        on_receipt: Optional[Callable[[str], None]] = None,
    ) -> None:
        """When audit checkpoints fall due, and the host's sinks: each signed
        checkpoint and each erasure receipt (text) is handed over as it is
        made, to be kept outside the store. Exceptions in a sink are printed
        and swallowed (they must not unwind into the library)."""

        def wrap(sink: Optional[Callable[[Any], None]], kind: Callable[[str], Any]) -> Any:
            if sink is None:
                return _lib.TEXT_SINK()

            def deliver(_user: Any, text: bytes) -> None:
                try:
                    sink(kind(text.decode("utf-8")))
                except Exception:  # noqa: BLE001 - reported, never unwound into C
                    import traceback

                    traceback.print_exc()

            return _lib.TEXT_SINK(deliver)

        sinks = (wrap(on_checkpoint, Checkpoint), wrap(on_receipt, str))
        _lib.call(
            "cust_store_set_checkpoints",
            self.handle,
            _lib.integer(every_entries, "every_entries", *U64),
            _lib.integer(every_secs, "every_secs", *U64),
            sinks[0],
            sinks[1],
            None,
        )
        self._sinks = sinks

    def share_session(self, share_id: int) -> "ShareSession":
        """Opens the recipient's session on share ``share_id``, for the host
        serving that recipient: it reads the share's granted fields of the
        customers inside it, and nothing else. ``ShareNotFound`` for an
        unknown share; ``Denied`` (rule ``share.revoked``, ``share.expired``,
        ``share.recipient_revoked`` or ``share.agreement_not_in_effect``)
        when it is not in effect, then or on any later call."""
        share = _lib.integer(share_id, "share_id", 1, U64[1])
        out = c_void_p()
        _lib.call("cust_share_session_open", self.handle, share, byref(out))
        return ShareSession(out, share)

    # -- audit ------------------------------------------------------------------
    def verify_audit(self, trusted: Optional[Union[Checkpoint, str]] = None) -> int:
        """Verifies the whole audit chain (against a checkpoint kept outside,
        if given); returns the entries checked. ``AuditBroken`` names the
        first bad entry."""
        entries = c_uint64()
        text = None if trusted is None else _lib.text(str(trusted), "trusted")
        _lib.call("cust_store_verify_audit", self.handle, text, byref(entries))
        return entries.value

    # -- keyword search ------------------------------------------------------------
    def search_settings(self) -> dict[str, Any]:
        """How keyword search works here: ``{"fields": [...], "index": True, "token_bits": 20}``."""
        data: dict[str, Any] = _lib.take_object("cust_store_search_settings", self.handle)
        return data

    def rebuild_search_index(self) -> int:
        """Re-derives the encrypted keyword index from every customer (a store
        does this by itself on open after a change of tokenisation); returns
        how many customers hold tokens. Audited as ``store.rebuild_search_index``."""
        indexed = c_uint64()
        _lib.call("cust_store_rebuild_search_index", self.handle, byref(indexed))
        return indexed.value

    def purge_logs(self) -> None:
        """Empties the write-ahead logs now, so that what committed destructions
        removed leaves the store's files (waits up to the busy timeout for other
        connections' readers). Every destruction does this itself; when readers
        held the logs past the timeout the destruction still stands and the purge
        is owed (:meth:`purge_owed`). Raises while readers still hold them."""
        _lib.call("cust_store_purge_logs", self.handle)

    def purge_owed(self) -> bool:
        """Whether a committed destruction's purge of the logs is still owed."""
        owed = c_bool()
        _lib.call("cust_store_purge_owed", self.handle, byref(owed))
        return owed.value

    def checkpoint(self) -> Checkpoint:
        """A signed checkpoint of the audit log as it is now."""
        return Checkpoint(_lib.take_string("cust_store_checkpoint", self.handle))

    # -- backups and keys ----------------------------------------------------------
    def backup(self, path: PathLike) -> dict[str, Any]:
        """A full backup into the new file ``path`` (sealed); returns its manifest."""
        return _lib.take_object("cust_store_backup", self.handle, _lib.text(path, "path"))

    def backup_increment(self, path: PathLike, parent: PathLike) -> dict[str, Any]:
        """An increment over the backup ``parent`` into the new file ``path``."""
        return _lib.take_object(
            "cust_store_backup_increment", self.handle, _lib.text(path, "path"), _lib.text(parent, "parent")
        )

    def rotate_key(self, key: Optional[Key] = None, *, passphrase: Any = None, kdf_iterations: int = 0) -> None:
        """Rewraps every data key under a new master key or passphrase
        (sessions go on working)."""
        iterations = _lib.integer(kdf_iterations, "kdf_iterations", *U32)
        _keyed(
            key,
            passphrase,
            lambda k, n: _lib.call("cust_store_rotate_key", self.handle, k, n),
            lambda p: _lib.call("cust_store_rotate_key_passphrase", self.handle, p, iterations),
        )

    @staticmethod
    def backup_manifest(path: PathLike) -> dict[str, Any]:
        """What the backup file ``path`` is, read without a key (authenticated
        only by a verification or restore)."""
        return _lib.take_object("cust_backup_manifest_json", _lib.text(path, "path"))

    @staticmethod
    def verify_backup(
        backup: Union[PathLike, Sequence[PathLike]], key: Optional[Key] = None, *, passphrase: Any = None
    ) -> int:
        """Verifies a full backup, or a chain (a full backup and its
        increments, in order); returns how many customers it holds."""
        customers = c_uint64()
        if isinstance(backup, (str, os.PathLike)):
            path = _lib.text(backup, "backup")
            _keyed(
                key,
                passphrase,
                lambda k, n: _lib.call("cust_backup_verify", path, k, n, byref(customers)),
                lambda p: _lib.call("cust_backup_verify_passphrase", path, p, byref(customers)),
            )
            return customers.value
        chain, count = _lib.path_array(backup, "backup")
        _keyed(
            key,
            passphrase,
            lambda k, n: _lib.call("cust_backup_verify_chain", chain, count, k, n, byref(customers)),
            lambda p: _lib.call("cust_backup_verify_chain_passphrase", chain, count, p, byref(customers)),
        )
        return customers.value

    @staticmethod
    def extract_backup(
        chain: Sequence[PathLike], out_dir: PathLike, key: Optional[Key] = None, *, passphrase: Any = None
    ) -> None:
        """Writes the store files as they were at the chain's last link into
        the new directory ``out_dir`` (sealed fields stay sealed)."""
        paths, count = _lib.path_array(chain, "chain")
        where = _lib.text(out_dir, "out_dir")
        _keyed(
            key,
            passphrase,
            lambda k, n: _lib.call("cust_backup_extract", paths, count, k, n, where),
            lambda p: _lib.call("cust_backup_extract_passphrase", paths, count, p, where),
        )

    @staticmethod
    def restore(
        backup: Union[PathLike, Sequence[PathLike]],
        store_dir: PathLike,
        key: Optional[Key] = None,
        *,
        passphrase: Any = None,
        backup_key: Optional[Key] = None,
        checkpoint: Optional[Union[Checkpoint, str]] = None,
        receipts: Optional[Sequence[str]] = None,
        acknowledge_lost_history: bool = False,
    ) -> dict[str, Any]:
        """Restores a full backup, or a chain (full backup and increments in
        order), into ``store_dir`` (closed): into a live store only customer
        records are replaced and every decision made since is kept; into an
        empty directory the host's outside record (``checkpoint`` and
        ``receipts``) or ``acknowledge_lost_history`` is needed.
        ``backup_key``: the key a backup made before a rotation needs.
        Returns the report."""
        _one_key(key, passphrase)
        target = _lib.text(store_dir, "store_dir")
        if not isinstance(backup, (str, os.PathLike)):
            if backup_key is not None or checkpoint is not None or receipts is not None or acknowledge_lost_history:
                raise ValueError("a chain restores into a live store with its key only (restore its full backup alone after a loss)")
            chain, count = _lib.path_array(backup, "backup")
            return _keyed(
                key,
                passphrase,
                lambda k, n: _lib.take_object("cust_store_restore_chain", chain, count, target, k, n),
                lambda p: _lib.take_object("cust_store_restore_chain_passphrase", chain, count, target, p),
            )
        path = _lib.text(backup, "backup")
        after_loss = checkpoint is not None or receipts is not None or acknowledge_lost_history
        if (backup_key is not None or after_loss) and key is None:
            raise ValueError("backup_key and the outside record need raw key bytes, not a passphrase")
        if backup_key is not None:
            if after_loss:
                raise ValueError("give either backup_key or an outside record, not both")
            with _lib.key_secret(backup_key) as old, _lib.key_secret(key) as k:
                return _lib.take_object("cust_store_restore_rotated", path, target, old.buffer, old.length, k.buffer, k.length)
        if after_loss:
            cp = None if checkpoint is None else _lib.text(str(checkpoint), "checkpoint")
            rc = None if receipts is None else _lib.text("".join(receipts), "receipts")
            with _lib.key_secret(key) as k:
                return _lib.take_object(
                    "cust_store_restore_after_loss", path, target, k.buffer, k.length, cp, rc, bool(acknowledge_lost_history)
                )
        return _keyed(
            key,
            passphrase,
            lambda k, n: _lib.take_object("cust_store_restore", path, target, k, n),
            lambda p: _lib.take_object("cust_store_restore_passphrase", path, target, p),
        )


def _input(fields: Mapping[str, Optional[str]], kind: str) -> c_void_p:
    """A ``cust_input`` handle for catalogue fields (the caller frees it)."""
    if not isinstance(fields, Mapping):
        raise TypeError(f"fields must be a mapping of field name to text, not {type(fields).__name__}")
    code = KIND.get(kind.upper()) if isinstance(kind, str) else None
    if code is None:
        raise ValueError(f"kind must be 'individual' or 'organisation', not {kind!r}")
    handle = c_void_p()
    _lib.call("cust_input_new", code, byref(handle))
    try:
        for name, value in fields.items():
            if not isinstance(name, str):
                raise TypeError(f"field names are str, not {type(name).__name__}")
            field = FIELDS.get(name)
            if field is None:
                raise ValueError(f"unknown field {name!r}; known: {', '.join(FIELDS)}")
            _lib.call("cust_input_set", handle, field, _lib.text(value, name, optional=True))
    except BaseException:
        lib.cust_input_free(handle)
        raise
    return handle


def _time(value: Optional[Union[int, float]], name: str) -> Optional[int]:
    """Unix milliseconds from an int of ms or a float of seconds; ``None`` stays unset."""
    return None if value is None else _ms(value, name)


def _record_id(value: Optional[int], name: str) -> int:
    """A record id argument (``None`` is 0, "none")."""
    return 0 if value is None else _lib.integer(value, name, 1, U64[1])


def _patch_json(fields: Mapping[str, Optional[str]]) -> bytes:
    """A record patch (field name -> text, or ``None`` to clear) as JSON."""
    if not isinstance(fields, Mapping):
        raise TypeError(f"fields must be a mapping of field name to text, not {type(fields).__name__}")
    for name, value in fields.items():
        if not isinstance(name, str):
            raise TypeError(f"field names are str, not {type(name).__name__}")
        _lib.text(value, name, optional=True)
    return _json_text(dict(fields), "fields")


def _transaction_input(
    reference: str,
    currency: str,
    total_minor: int,
    method: str,
    items: Sequence[tuple[str, int, int]],
    adjustments: Sequence[tuple[str, int]],
    status: Optional[str],
    at: Optional[Union[int, float]],
    card: Optional[str],
    bank_account: Optional[str],
) -> c_void_p:
    """A ``cust_transaction_input`` handle (the caller frees it)."""
    handle = c_void_p()
    _lib.call(
        "cust_transaction_input_new",
        _lib.text(reference, "reference"),
        _lib.text(currency, "currency"),
        _lib.integer(total_minor, "total_minor", *I64),
        _lib.text(method, "method"),
        byref(handle),
    )
    try:
        for i, (name, quantity, unit_price_minor) in enumerate(items):
            _lib.call(
                "cust_transaction_input_add_item",
                handle,
                _lib.text(name, f"items[{i}]"),
                _lib.integer(quantity, f"items[{i}].quantity", *I64),
                _lib.integer(unit_price_minor, f"items[{i}].unit_price_minor", *I64),
            )
        for i, (label, amount_minor) in enumerate(adjustments):
            _lib.call(
                "cust_transaction_input_add_adjustment",
                handle,
                _lib.text(label, f"adjustments[{i}]"),
                _lib.integer(amount_minor, f"adjustments[{i}].amount_minor", *I64),
            )
        if status is not None:
            _lib.call("cust_transaction_input_set_status", handle, _lib.text(status, "status"))
        time = _time(at, "at")
        if time is not None:
            _lib.call("cust_transaction_input_set_time", handle, time)
        if card is not None and bank_account is not None:
            raise TypeError("give at most one of card or bank_account")
        for value, name, function in [
            (card, "card", "cust_transaction_input_set_card"),
            (bank_account, "bank_account", "cust_transaction_input_set_bank_account"),
        ]:
            if value is not None:
                encoded = _lib.text(value, name)
                assert encoded is not None
                with _lib.Secret(encoded, nul=True) as secret:  # wiped after the call
                    _lib.call(function, handle, secret.buffer)
    except BaseException:
        lib.cust_transaction_input_free(handle)
        raise
    return handle


def _service_input(
    kind: str,
    channel: str,
    subject: str,
    description: Optional[str],
    priority: Optional[str],
    owner: Optional[str],
    opened_at: Optional[Union[int, float]],
    due_at: Optional[Union[int, float]],
) -> c_void_p:
    """A ``cust_service_input`` handle (the caller frees it)."""
    handle = c_void_p()
    _lib.call(
        "cust_service_input_new",
        _lib.text(kind, "kind"),
        _lib.text(channel, "channel"),
        _lib.text(subject, "subject"),
        _lib.text(description, "description", optional=True),
        byref(handle),
    )
    try:
        if priority is not None:
            _lib.call("cust_service_input_set_priority", handle, _lib.text(priority, "priority"))
        if owner is not None:
            _lib.call("cust_service_input_set_owner", handle, _lib.text(owner, "owner"))
        opened, due = _time(opened_at, "opened_at"), _time(due_at, "due_at")
        if opened is not None:
            _lib.call("cust_service_input_set_opened_at", handle, opened)
        if due is not None:
            _lib.call("cust_service_input_set_due_at", handle, due)
    except BaseException:
        lib.cust_service_input_free(handle)
        raise
    return handle


class Session(_Owner):
    """What one principal may do for one purpose. Usable from several
    threads; close it (or use ``with``) when done."""

    _kind = "session"

    def _free(self, handle: c_void_p) -> None:
        lib.cust_session_close(handle)

    @property
    def mfa(self) -> bool:
        """Whether the session was opened with a second factor."""
        out = c_bool()
        _lib.call("cust_session_mfa", self.handle, byref(out))
        return out.value

    @property
    def last_error(self) -> str:
        """The last error of a call on this session."""
        return _lib.copy_out(lambda buf, n, needed: lib.cust_session_last_error(self.handle, buf, n, needed))

    # -- customers --------------------------------------------------------------
    def create(self, fields: Mapping[str, Optional[str]], *, kind: str = "individual") -> Customer:
        """Creates a customer; custom attributes (``custom.<name>``) go through JSON."""
        if isinstance(fields, Mapping) and any(isinstance(k, str) and k not in FIELDS for k in fields):
            return self.create_json({"kind": kind, "fields": dict(fields)})
        handle = _input(fields, kind)
        try:
            return take_customer("cust_customer_create", self.handle, handle)
        finally:
            lib.cust_input_free(handle)

    def create_checked(
        self, fields: Mapping[str, Optional[str]], *, check: str = "warn", kind: str = "individual"
    ) -> tuple[Customer, builtins.list[dict[str, Any]]]:
        """Creates a customer after looking for customers with the same ID
        number, credit code, mobile or e-mail: ``check="refuse"`` raises ``Invalid`` (rule
        ``possible_duplicate``) and creates nothing; ``"warn"`` creates it
        and returns the pairs found; ``"allow"`` returns none."""
        handle = _input(fields, kind)
        pairs = c_void_p()
        try:
            customer = take_customer(
                "cust_customer_create_checked", self.handle, handle, _lib.text(check, "check"), byref(pairs)
            )
        finally:
            lib.cust_input_free(handle)
        try:
            found: builtins.list[dict[str, Any]] = json.loads(ctypes.string_at(pairs.value)) if pairs.value else []
        finally:
            lib.cust_string_free(ctypes.cast(pairs, c_char_p))
        return customer, found

    def data_quality(self) -> dict[str, Any]:
        """Counts by category of the customers this session may see:
        ``customers``, ``unverified``, ``possible_duplicates``,
        ``missing_contact``; and the ``total``. Never a value."""
        result: dict[str, Any] = _lib.take_json("cust_data_quality_json", self.handle)
        return result

    def duplicates(self, limit: int = 1000) -> dict[str, Any]:
        """Possible duplicate customers: ``{"pairs": [{"first", "second",
        "score", "reasons"}], "truncated"}``, highest score first, built only
        from what this session may read."""
        result: dict[str, Any] = _lib.take_json(
            "cust_duplicates_json", self.handle, _lib.integer(limit, "limit", 1, 100_000)
        )
        return result

    def statistics(
        self,
        rows: str,
        columns: Optional[str] = None,
        *,
        filter: Optional[Mapping[str, str]] = None,
        threshold: int = 5,
    ) -> StatisticsTable:
        """Counts customers by ``rows`` or, with ``columns``, cross-tabulates
        two dimensions (each ``kind``, ``category``, ``source``, ``tier``,
        ``status``, ``province``, ``city`` or ``age_band``; only
        ``age_band`` reads sealed data, the birth dates, inside the store).
        ``filter`` counts only customers whose ``kind``, ``category``,
        ``tier`` and ``source`` match those given. Counts from 1 to
        ``threshold - 1`` (``threshold`` at least 2) are suppressed, then
        whatever would reveal them by subtraction; zero counts are shown.
        Customers who restricted processing are not counted. A marketing
        session raises ``Denied`` (rule ``statistics.marketing``); an unknown
        dimension, the same one twice, an unknown filter key or a threshold
        below 2 raise ``Invalid`` with its rule. Audited as
        ``customer.statistics``, naming no customer."""
        _lib.text(rows, "rows")
        query: dict[str, Any] = {"rows": rows}
        if columns is not None:
            _lib.text(columns, "columns")
            query["columns"] = columns
        if filter is not None:
            if not isinstance(filter, Mapping):
                raise TypeError(f"filter must be a mapping, not {type(filter).__name__}")
            chosen: dict[str, str] = {}
            for name, value in filter.items():
                _lib.text(name, "filter key")
                _lib.text(value, f"filter[{name!r}]")
                chosen[name] = value
            query["filter"] = chosen
        query["threshold"] = _lib.integer(threshold, "threshold", *U64)
        data: dict[str, Any] = _lib.take_object("cust_statistics", self.handle, _json_text(query, "query"))
        return StatisticsTable.from_json(data)

    def purchase_totals(self, rows: str, currency: str, *, threshold: int = 5) -> dict[str, Any]:
        """What the customers of each ``rows`` value (a classification
        dimension) paid in ``currency``: ``paid`` and ``partially_refunded``
        transactions at full total, a row of fewer than ``threshold`` buyers
        suppressed (``None``) with secondary suppression as for statistics.
        Returns the JSON object of ``cust_purchase_totals``."""
        _lib.text(rows, "rows")
        _lib.text(currency, "currency")
        query: dict[str, Any] = {"rows": rows, "currency": currency}
        query["threshold"] = _lib.integer(threshold, "threshold", *U64)
        data: dict[str, Any] = _lib.take_object("cust_purchase_totals", self.handle, _json_text(query, "query"))
        return data

    def merge(
        self,
        survivor: int,
        survivor_version: int,
        merged: int,
        merged_version: int,
        *,
        reference: str,
        take: Optional[Mapping[str, str]] = None,
        carry_holds: bool = False,
    ) -> MergeReport:
        """Merges customer ``merged`` into ``survivor``, both at the versions
        last read (else ``VersionConflict``), in one audited transaction.
        ``reference`` (1-64 printable characters) names the request; ``take``
        chooses whose value of a field survives (``{"mobile": "merged",
        "email": "survivor"}``); a field not named keeps the survivor's value,
        or the merged-away customer's where the survivor has none, and tags
        are joined. Records, consents (a withdrawal stays a withdrawal) and a
        restriction move to the survivor; a legal hold raises ``LegalHold``
        unless ``carry_holds``. The merged-away customer is crypto-shredded
        (destruction method ``merge``). Needs the update and erase actions."""
        _lib.text(reference, "reference")
        choices: dict[str, str] = {}
        for name, side in (take or {}).items():
            _lib.text(name, "take field")
            _lib.text(side, f"take[{name!r}]")
            choices[name] = side
        if not isinstance(carry_holds, bool):
            raise TypeError(f"carry_holds must be a bool, not {type(carry_holds).__name__}")
        options = {"reference": reference, "take": choices, "carry_holds": carry_holds}
        report = c_void_p()
        customer = take_customer(
            "cust_customer_merge",
            self.handle,
            _lib.integer(survivor, "survivor", *I64),
            _lib.integer(survivor_version, "survivor_version", *U64),
            _lib.integer(merged, "merged", *I64),
            _lib.integer(merged_version, "merged_version", *U64),
            _json_text(options, "options"),
            byref(report),
        )
        try:
            if not report.value:  # written on every success
                raise RuntimeError("cust_customer_merge succeeded without its report")
            data: dict[str, Any] = json.loads(ctypes.string_at(report.value))
        finally:
            lib.cust_string_free(ctypes.cast(report, c_char_p))
        return MergeReport.from_json(customer, data)

    def create_json(self, document: Union[str, Mapping[str, Any]]) -> Customer:
        """Creates a customer from ``{"kind": ..., "fields": {...}}``."""
        return take_customer("cust_customer_create_json", self.handle, _json_text(document, "document"))

    def get(self, id: int) -> Customer:
        """The customer ``id`` as this session may see it."""
        return take_customer("cust_customer_get", self.handle, _lib.integer(id, "id", *I64))

    def get_by_code(self, code: str) -> Customer:
        """The customer with this external code."""
        return take_customer("cust_customer_get_by_code", self.handle, _lib.text(code, "code"))

    def update(self, id: int, fields: Mapping[str, Optional[str]], *, version: int) -> Customer:
        """Changes fields (``None`` clears one) if the customer is still at ``version``."""
        handle = _input(fields, "individual")
        try:
            return take_customer(
                "cust_customer_update",
                self.handle,
                _lib.integer(id, "id", *I64),
                _lib.integer(version, "version", *U64),
                handle,
            )
        finally:
            lib.cust_input_free(handle)

    def delete(self, id: int) -> None:
        """Deletes the customer with its data key."""
        _lib.call("cust_customer_delete", self.handle, _lib.integer(id, "id", *I64))

    def verify(self, id: int, *, version: int) -> None:
        """Marks an unverified (imported) customer verified at ``version`` (a second person's check)."""
        _lib.call("cust_customer_verify", self.handle, _lib.integer(id, "id", *I64), _lib.integer(version, "version", *U64))

    def _find(self, field: str, value: str) -> list[Customer]:
        return list(take_page("cust_customer_find", self.handle, FIELDS[field], _lib.text(value, field)))

    def find_by_mobile(self, mobile: str) -> list[Customer]:
        """Customers with this mobile number (any accepted format)."""
        return self._find("mobile", mobile)

    def find_by_email(self, email: str) -> list[Customer]:
        """Customers with this e-mail address."""
        return self._find("email", email)

    def find_by_id_number(self, id_number: str) -> list[Customer]:
        """Customers with this identity-card number."""
        return self._find("id_number", id_number)

    def find_by_credit_code(self, code: str) -> list[Customer]:
        """Organisations with this unified social credit code (统一社会信用代码;
        any case, spaces and dashes allowed). A code whose GB 32100 check
        character is wrong raises ``Invalid`` with rule ``credit_code_check``."""
        return self._find("credit_code", code)

    def list(
        self,
        *,
        sort: str = "name",
        descending: bool = False,
        page_size: int = 50,
        offset: int = 0,
        kind: Optional[str] = None,
        category: Optional[str] = None,
        tier: Optional[str] = None,
        source: Optional[str] = None,
    ) -> Iterator[Page]:
        """Every customer (or those of this ``kind``, ``category``, ``tier``
        and ``source``), sorted by ``sort`` (a field name; pinyin order for
        text), page by page."""
        field = FIELDS.get(sort) if isinstance(sort, str) else None
        if field is None:
            raise ValueError(f"cannot sort by {sort!r}; known fields: {', '.join(FIELDS)}")
        size = _lib.integer(page_size, "page_size", 1, 1000)
        start = _lib.integer(offset, "offset", *U64)

        filters = [_lib.text(v, n, optional=True) for v, n in [(kind, "kind"), (category, "category"), (tier, "tier"), (source, "source")]]

        def fetch(at: int, limit: int) -> Page:
            if any(f is not None for f in filters):
                return take_page(
                    "cust_customer_list_filtered", self.handle, field, bool(descending), start + at, limit, *filters
                )
            return take_page("cust_customer_list", self.handle, field, bool(descending), start + at, limit)

        return iterate_pages(fetch, size)

    def search(self, keyword: str, *, page_size: int = 50) -> Iterator[Page]:
        """Customers whose search fields (``Store.search_settings``) the
        session reads in plaintext contain ``keyword`` (compared after NFKC
        and lower-casing), page by page."""
        text = _lib.text(keyword, "keyword")
        size = _lib.integer(page_size, "page_size", 1, 1000)
        return iterate_pages(lambda at, limit: take_page("cust_customer_search", self.handle, text, at, limit), size)

    # -- principals and roles ---------------------------------------------------
    def register_principal(self, principal: str, display_name: str, *, system: bool = False) -> None:
        """Registers a person (or a system) as a principal."""
        _lib.call(
            "cust_principal_register",
            self.handle,
            _lib.text(principal, "principal"),
            _lib.text(display_name, "display_name"),
            bool(system),
        )

    def grant(self, principal: str, role: str, *, expires_at: Optional[Union[int, float]] = None) -> None:
        """Grants a role (built in, or defined) until ``expires_at`` (Unix ms; ``None``: no expiry)."""
        _lib.call(
            "cust_principal_grant",
            self.handle,
            _lib.text(principal, "principal"),
            _lib.text(role, "role"),
            _ms(expires_at, "expires_at"),
        )

    def revoke_role(self, principal: str, role: str) -> None:
        """Removes a grant."""
        _lib.call("cust_principal_revoke_role", self.handle, _lib.text(principal, "principal"), _lib.text(role, "role"))

    def revoke_principal(self, principal: str, reason: str) -> None:
        """Revokes a principal: its open sessions stop working."""
        _lib.call("cust_principal_revoke", self.handle, _lib.text(principal, "principal"), _lib.text(reason, "reason"))

    def set_password(self, principal: str, password: str) -> None:
        """Sets a principal's login password."""
        with _lib.passphrase_secret(password) as p:
            _lib.call("cust_principal_set_password", self.handle, _lib.text(principal, "principal"), p.buffer)

    def enrol_totp(self, principal: str) -> bytes:
        """Enrols a TOTP second factor; returns its secret for the authenticator."""
        return bytes_out("cust_principal_enrol_totp", self.handle, _lib.text(principal, "principal"))

    def unlock(self, principal: str) -> None:
        """Lifts a login lockout."""
        _lib.call("cust_principal_unlock", self.handle, _lib.text(principal, "principal"))

    def define_role(self, definition: Union[str, Mapping[str, Any]]) -> None:
        """Defines (or replaces) a role from its JSON definition."""
        _lib.call("cust_role_define_json", self.handle, _json_text(definition, "definition"))

    def access_review(self, *, stale_after_days: int = 90) -> Any:
        """Every principal, its grants and their last use."""
        return _lib.take_json("cust_access_review_json", self.handle, _lib.integer(stale_after_days, "stale_after_days", *U32))

    # -- consent and audit ------------------------------------------------------
    def record_consent(
        self, customer: int, purpose: str, channel: str, granted: bool, *, source: str, policy_version: str
    ) -> None:
        """Records a consent given (``granted``) or withdrawn."""
        _lib.call(
            "cust_consent_record",
            self.handle,
            _lib.integer(customer, "customer", *I64),
            _lib.text(purpose, "purpose"),
            _lib.text(channel, "channel"),
            bool(granted),
            _lib.text(source, "source"),
            _lib.text(policy_version, "policy_version"),
        )

    def consents(self, customer: int) -> Any:
        """A customer's consent history, oldest first."""
        return _lib.take_json("cust_consent_list_json", self.handle, _lib.integer(customer, "customer", *I64))

    def audit(
        self,
        *,
        customer: Optional[int] = None,
        principal: Optional[str] = None,
        since: Optional[Union[int, float]] = None,
        until: Optional[Union[int, float]] = None,
        limit: int = 0,
    ) -> Any:
        """Audit entries (auditors and administrators), filtered; the query is itself audited."""
        return _lib.take_json(
            "cust_audit_query_json",
            self.handle,
            0 if customer is None else _lib.integer(customer, "customer", 1, I64[1]),
            _lib.text(principal, "principal", optional=True),
            _ms(since, "since"),
            _ms(until, "until"),
            _lib.integer(limit, "limit", *U32),
        )

    # -- import -----------------------------------------------------------------
    def import_khzl(self, data: Union[bytes, bytearray], *, update: bool = False) -> ImportReport:
        """Imports the prototype's saved ``khzl`` file (GBK); with ``update``,
        matched records that differ update their customer."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data must be bytes, not {type(data).__name__}")
        raw = bytes(data)
        function = "cust_import_khzl_update" if update else "cust_import_khzl"
        return take_import_report(function, self.handle, raw, len(raw))

    def import_csv(
        self,
        source: Union[str, "os.PathLike[str]", bytes, bytearray],
        *,
        encoding: Optional[str] = None,
        reject_invalid: bool = False,
        update: bool = False,
        problems_only: bool = False,
        progress: Optional[Callable[[int, int], None]] = None,
    ) -> ImportReport:
        """Imports a CSV file (a path, streamed) or CSV bytes, in one
        transaction. ``encoding``: ``None``/``"auto"``, ``"utf-8"`` or
        ``"gbk"``. Columns by their Chinese (编号, 姓名, ...) or field names;
        an unknown column, a malformed row or undecodable bytes raise
        ``Invalid`` and import nothing. Rows failing validation are kept
        unverified, or with ``reject_invalid`` left out
        (``report.rejected``); rows whose 编号 exists are matched (with
        ``update``, applied). With ``problems_only`` the report lists only
        the rows with something to report (unverified rows and duplicate
        notes, conflicts and updates, rejected rows); ``report.counts``
        counts every row either way. ``progress(rows, bytes)`` is called
        every thousand rows and at the end; it must not call the store."""
        sink = _lib.PROGRESS_SINK(0)
        failure: list[BaseException] = []
        if progress is not None:
            callback = progress

            def deliver(_user: Any, rows: int, done: int) -> None:
                if failure:
                    return
                try:
                    callback(int(rows), int(done))
                except BaseException as e:  # raised again once the call returns
                    failure.append(e)

            sink = _lib.PROGRESS_SINK(deliver)
        options: dict[str, Any] = {
            "reject_invalid": bool(reject_invalid),
            "update_existing": bool(update),
            "problems_only": bool(problems_only),
        }
        if encoding is not None:
            _lib.text(encoding, "encoding")  # its type here; its name is the library's to check
            options["encoding"] = encoding
        flags = (json.dumps(options).encode("utf-8"), sink, None)
        if isinstance(source, (bytes, bytearray, memoryview)):
            raw = bytes(source)
            report = take_import_report("cust_import_csv_with", self.handle, raw, len(raw), *flags)
        elif isinstance(source, (str, os.PathLike)):
            path = _lib.text(os.fspath(source), "path")
            report = take_import_report("cust_import_csv_file_with", self.handle, path, *flags)
        else:
            raise TypeError(f"source must be a path or bytes, not {type(source).__name__}")
        if failure:
            raise failure[0]
        return report

    def export_csv(
        self,
        path: Optional[Union[str, "os.PathLike[str]"]] = None,
        *,
        columns: Optional[Sequence[str]] = None,
        encoding: Optional[str] = None,
        chinese_headers: bool = False,
        kind: Optional[str] = None,
        category: Optional[str] = None,
        tier: Optional[str] = None,
        source: Optional[str] = None,
    ) -> Union[bytes, int]:
        """The customers this session may see as CSV: the bytes, or with
        ``path`` written to that new file (the number of rows returned).
        ``columns`` are field names (default: every writable built-in
        field); ``encoding`` ``"utf-8"`` (default), ``"utf-8-bom"`` or
        ``"gbk"``; the filters match classification attributes. Masked values
        are exported masked, withheld ones empty; formula cells are
        neutralised. Audited, naming every customer exported."""
        if columns is not None and (isinstance(columns, str) or not all(isinstance(c, str) for c in columns)):
            raise TypeError("columns is a sequence of field names")
        args = (
            _lib.text(",".join(columns), "columns") if columns is not None else None,
            _lib.text(encoding, "encoding", optional=True),
            bool(chinese_headers),
            _lib.text(kind, "kind", optional=True),
            _lib.text(category, "category", optional=True),
            _lib.text(tier, "tier", optional=True),
            _lib.text(source, "source", optional=True),
        )
        if path is not None:
            rows = c_uint64()
            _lib.call("cust_export_csv_file", self.handle, _lib.text(os.fspath(path), "path"), *args, byref(rows))
            return int(rows.value)
        return bytes_out("cust_export_csv", self.handle, *args, None)

    # -- sharing with third parties ---------------------------------------------
    def register_recipient(
        self,
        id: str,
        name: str,
        *,
        agreement: str,
        agreement_from: Union[int, float],
        agreement_until: Union[int, float],
        public_key: Union[bytes, bytearray, str],
    ) -> Recipient:
        """Registers a recipient of shared data: an external party receiving
        customers' information under ``agreement`` (its reference), in effect
        from ``agreement_from`` until ``agreement_until`` (Unix ms, or float
        seconds; the end exclusive), with the X25519 ``public_key`` (32 bytes
        or 64 hex digits; see ``generate_recipient_keypair``) its packages
        are sealed to. ``id`` (``[a-z][a-z0-9_]{0,31}``, not a built-in
        purpose nor ``third_parties``) is what sharing consents name as their
        purpose. Needs the manage action; ``AlreadyExists`` for an id in use."""
        if isinstance(public_key, (bytes, bytearray)):
            key_hex = bytes(public_key).hex()
        elif isinstance(public_key, str):
            key_hex = public_key
        else:
            raise TypeError(f"public_key must be bytes or a hex str, not {type(public_key).__name__}")
        document = {
            "id": id,
            "name": name,
            "agreement": agreement,
            "agreement_from": _required_ms(agreement_from, "agreement_from"),
            "agreement_until": _required_ms(agreement_until, "agreement_until"),
            "public_key": key_hex,
        }
        for key in ("id", "name", "agreement", "public_key"):
            _lib.text(document[key], key)
        data = _lib.take_object("cust_recipient_register", self.handle, _json_text(document, "recipient"))
        return Recipient.from_json(data)

    def revoke_recipient(self, id: str, reason: str) -> Recipient:
        """Revokes recipient ``id`` for ``reason``: every share to it ends at
        once. ``RecipientNotFound`` for an unknown id."""
        data = _lib.take_object("cust_recipient_revoke", self.handle, _lib.text(id, "id"), _lib.text(reason, "reason"))
        return Recipient.from_json(data)

    def recipients(self) -> builtins.list[Recipient]:
        """Every registered recipient, revoked ones included, by id."""
        return [Recipient.from_json(r) for r in _lib.take_json("cust_recipients_json", self.handle)]

    def create_share(
        self,
        recipient: str,
        purpose: str,
        fields: Sequence[str],
        *,
        customers: Optional[Sequence[int]] = None,
        filter: Optional[Mapping[str, str]] = None,
        expires_at: Union[int, float],
        agreement: str,
    ) -> Share:
        """Grants a share: ``fields`` (1 to 32 field names, never "all") of
        the listed ``customers`` (ids) or, with ``filter``, of every customer
        whose ``kind``, ``category``, ``tier`` and ``source`` match (exactly
        one of the two), to ``recipient`` for ``purpose`` (a custom purpose,
        ``service`` or ``analytics``) until ``expires_at`` (Unix ms or float
        seconds, no later than the agreement's end), under ``agreement`` (the
        recipient's). A customer is inside only while their consent to
        sharing stands: ``record_consent(customer, recipient or
        "third_parties", "third_party", True, ...)``, and for L1 fields
        channel ``third_party_sensitive`` too. Needs the manage action."""
        if (customers is None) == (filter is None):
            raise TypeError("give exactly one of customers (a sequence of ids) or filter (a mapping)")
        _lib.text(recipient, "recipient")
        _lib.text(purpose, "purpose")
        if isinstance(fields, str) or not all(isinstance(f, str) for f in fields):
            raise TypeError("fields is a sequence of field names")
        document: dict[str, Any] = {"recipient": recipient, "purpose": purpose, "fields": builtins.list(fields)}
        for name in fields:
            _lib.text(name, "fields")
        if customers is not None:
            if isinstance(customers, (str, bytes)):
                raise TypeError("customers is a sequence of customer ids")
            document["customers"] = [_lib.integer(c, "customers", *I64) for c in customers]
        if filter is not None:
            if not isinstance(filter, Mapping):
                raise TypeError(f"filter must be a mapping, not {type(filter).__name__}")
            chosen: dict[str, str] = {}
            for key, value in filter.items():
                _lib.text(key, "filter key")
                _lib.text(value, f"filter[{key!r}]")
                chosen[key] = value
            document["filter"] = chosen
        document["expires_at"] = _required_ms(expires_at, "expires_at")
        _lib.text(agreement, "agreement")
        document["agreement"] = agreement
        # The share's id comes with its JSON: no separate id output wanted (NULL).
        data = _lib.take_object("cust_share_create", self.handle, _json_text(document, "share"), None)
        return Share.from_json(data)

    def revoke_share(self, share_id: int, reason: str) -> Share:
        """Revokes share ``share_id`` for ``reason``: its recipient sees
        nothing through it from the next call on. ``ShareNotFound`` for an
        unknown share."""
        data = _lib.take_object(
            "cust_share_revoke", self.handle, _lib.integer(share_id, "share_id", *U64), _lib.text(reason, "reason")
        )
        return Share.from_json(data)

    def shares(self) -> builtins.list[Share]:
        """Every share granted, revoked and expired ones included, by id."""
        return [Share.from_json(s) for s in _lib.take_json("cust_shares_json", self.handle)]

    def customer_shares(self, customer: int) -> builtins.list[CustomerShare]:
        """Every share ``customer`` is or was in, with whether they are
        inside it now and every disclosure made through it (for their access
        report). Needs the audit action."""
        entries = _lib.take_json("cust_customer_shares_json", self.handle, _lib.integer(customer, "customer", *I64))
        return [CustomerShare.from_json(e) for e in entries]

    # -- data-subject requests and retention ------------------------------------
    def export(self, id: int) -> Any:
        """Everything held about a customer, for handing to them."""
        return _lib.take_json("cust_customer_export_json", self.handle, _lib.integer(id, "id", *I64))

    def rectify(self, id: int, fields: Mapping[str, Optional[str]], *, version: int, request: str) -> Customer:
        """Corrects a customer's data at their request (audited as a rectification)."""
        handle = _input(fields, "individual")
        try:
            return take_customer(
                "cust_customer_rectify",
                self.handle,
                _lib.integer(id, "id", *I64),
                _lib.integer(version, "version", *U64),
                handle,
                _lib.text(request, "request"),
            )
        finally:
            lib.cust_input_free(handle)

    def restrict(self, id: int, reason: str) -> None:
        """Restricts processing of a customer."""
        _lib.call("cust_customer_restrict", self.handle, _lib.integer(id, "id", *I64), _lib.text(reason, "reason"))

    def lift_restriction(self, id: int) -> None:
        """Lifts a restriction of processing."""
        _lib.call("cust_customer_lift_restriction", self.handle, _lib.integer(id, "id", *I64))

    def place_hold(self, id: int, reason: str) -> None:
        """Places a legal hold (no erasure while it stands)."""
        _lib.call("cust_customer_place_hold", self.handle, _lib.integer(id, "id", *I64), _lib.text(reason, "reason"))

    def lift_hold(self, id: int) -> None:
        """Lifts a legal hold."""
        _lib.call("cust_customer_lift_hold", self.handle, _lib.integer(id, "id", *I64))

    def erase(self, id: int, reason: str) -> None:
        """Erases a customer (crypto-shred), with a destruction record."""
        _lib.call("cust_customer_erase", self.handle, _lib.integer(id, "id", *I64), _lib.text(reason, "reason"))

    def define_retention(self, policy: Union[str, Mapping[str, Any]]) -> None:
        """Defines (or replaces) a retention policy."""
        _lib.call("cust_retention_define_json", self.handle, _json_text(policy, "policy"))

    def sweep(self) -> Any:
        """Destroys every customer a retention policy says is due; returns the report."""
        return _lib.take_json("cust_retention_sweep_json", self.handle)


    # -- attached records ---------------------------------------------------------
    def add_transaction(
        self,
        customer: int,
        *,
        reference: str,
        currency: str,
        total_minor: int,
        method: str,
        items: Sequence[tuple[str, int, int]] = (),
        adjustments: Sequence[tuple[str, int]] = (),
        status: Optional[str] = None,
        at: Optional[Union[int, float]] = None,
        card: Optional[str] = None,
        bank_account: Optional[str] = None,
    ) -> Record:
        """Records a transaction of ``customer``: ``items`` as ``(name,
        quantity, unit_price_minor)``, ``adjustments`` as ``(label,
        amount_minor)``, amounts in the currency's minor unit (fen). The
        total must equal items plus adjustments (``Invalid``, rule
        ``total_mismatch``); a ``card`` must pass its check digit. ``method``:
        ``cash``, ``bank_card``, ``bank_transfer``, ``wechat_pay``,
        ``alipay``, ``other``; ``status`` defaults to ``paid``."""
        handle = _transaction_input(
            reference, currency, total_minor, method, items, adjustments, status, at, card, bank_account
        )
        try:
            return take_record("cust_transaction_add", self.handle, _lib.integer(customer, "customer", *I64), handle)
        finally:
            lib.cust_transaction_input_free(handle)

    def add_transactions(self, customer: int, transactions: Sequence[Mapping[str, Any]]) -> builtins.list[int]:
        """Records many transactions of ``customer`` in one call, all or
        none: each mapping holds the keyword arguments of
        :meth:`add_transaction` (``reference``, ``currency``, ``total_minor``,
        ``method``, and optionally ``items``, ``adjustments``, ``status``,
        ``at``, ``card``, ``bank_account``). A rejected one raises
        ``InBatch`` naming its position. Returns the new ids in order."""
        allowed = {
            "reference", "currency", "total_minor", "method", "items", "adjustments",
            "status", "at", "card", "bank_account",
        }
        handles: list[c_void_p] = []
        try:
            for i, spec in enumerate(transactions):
                unknown = set(spec) - allowed
                if unknown:
                    raise TypeError(f"transactions[{i}]: unknown keys {sorted(unknown)}")
                handles.append(
                    _transaction_input(
                        spec["reference"],
                        spec["currency"],
                        spec["total_minor"],
                        spec["method"],
                        spec.get("items", ()),
                        spec.get("adjustments", ()),
                        spec.get("status"),
                        spec.get("at"),
                        spec.get("card"),
                        spec.get("bank_account"),
                    )
                )
            array = (c_void_p * max(len(handles), 1))(*handles)
            ids = (c_uint64 * max(len(handles), 1))()
            _lib.call(
                "cust_transaction_add_many",
                self.handle,
                _lib.integer(customer, "customer", *I64),
                array,
                len(handles),
                ids,
            )
            return [int(ids[i]) for i in range(len(handles))]
        finally:
            for handle in handles:
                lib.cust_transaction_input_free(handle)

    def set_transaction_status(self, id: int, status: str, *, version: int) -> Record:
        """Moves transaction ``id`` to ``status`` (``pending`` → ``paid`` |
        ``cancelled``, ``paid`` → ``partially_refunded`` | ``refunded``,
        ``partially_refunded`` → ``refunded``) if it is still at ``version``."""
        return take_record(
            "cust_transaction_set_status",
            self.handle,
            _record_id(id, "id"),
            _lib.integer(version, "version", *U64),
            _lib.text(status, "status"),
        )

    def open_service(
        self,
        customer: int,
        *,
        kind: str,
        channel: str,
        subject: str,
        description: Optional[str] = None,
        priority: Optional[str] = None,
        owner: Optional[str] = None,
        opened_at: Optional[Union[int, float]] = None,
        due_at: Optional[Union[int, float]] = None,
    ) -> Record:
        """Opens a service record for ``customer``: ``kind`` (``consultation``,
        ``complaint``, ``feedback``, ``repair``, ``other``), ``channel``
        (``phone``, ``email``, ``web``, ``wechat``, ``in_person``, ``letter``,
        ``other``), ``priority`` (``low``, ``normal``, ``high``, ``urgent``).
        Due by the service-level policy unless ``due_at`` is given (times as
        Unix ms, or float seconds)."""
        handle = _service_input(kind, channel, subject, description, priority, owner, opened_at, due_at)
        try:
            return take_record("cust_service_open", self.handle, _lib.integer(customer, "customer", *I64), handle)
        finally:
            lib.cust_service_input_free(handle)

    def assign_service(self, id: int, owner: str, *, version: int) -> Record:
        """Assigns service record ``id`` to principal ``owner``."""
        return take_record(
            "cust_service_assign",
            self.handle,
            _record_id(id, "id"),
            _lib.integer(version, "version", *U64),
            _lib.text(owner, "owner"),
        )

    def transition_service(self, id: int, to: str, *, version: int, resolution: Optional[str] = None) -> Record:
        """Moves service record ``id`` to status ``to`` (``open``,
        ``in_progress``, ``resolved``, ``closed``, ``reopened``); resolving or
        closing needs a ``resolution`` (now or before)."""
        return take_record(
            "cust_service_transition",
            self.handle,
            _record_id(id, "id"),
            _lib.integer(version, "version", *U64),
            _lib.text(to, "to"),
            _lib.text(resolution, "resolution", optional=True),
        )

    def update_record(self, id: int, fields: Mapping[str, Optional[str]], *, version: int) -> Record:
        """Changes descriptive values of record ``id`` (``None`` clears one):
        ``{"service.priority": "high"}``."""
        return take_record(
            "cust_record_update_json",
            self.handle,
            _record_id(id, "id"),
            _lib.integer(version, "version", *U64),
            _patch_json(fields),
        )

    def rectify_record(self, id: int, fields: Mapping[str, Optional[str]], *, version: int, request: str) -> Record:
        """Rectifies record ``id`` at the customer's request ``request``."""
        return take_record(
            "cust_record_rectify_json",
            self.handle,
            _record_id(id, "id"),
            _lib.integer(version, "version", *U64),
            _patch_json(fields),
            _lib.text(request, "request"),
        )

    def delete_record(self, id: int) -> None:
        """Deletes record ``id`` with its history."""
        _lib.call("cust_record_delete", self.handle, _record_id(id, "id"))

    def get_record(self, id: int) -> Record:
        """Record ``id`` as this session may see it (``RecordNotFound`` if there is none)."""
        return take_record("cust_record_get", self.handle, _record_id(id, "id"))

    def timeline(self, customer: int, *, limit: int = 50, before: Optional[int] = None) -> RecordPage:
        """A page of the customer's transactions and service records, newest
        first; pass ``page.next`` as ``before`` for the next page."""
        return take_record_page(
            "cust_customer_timeline",
            self.handle,
            _lib.integer(customer, "customer", *I64),
            _lib.integer(limit, "limit", *U32),
            _record_id(before, "before"),
        )

    def service_due(
        self,
        *,
        within_hours: Optional[int] = None,
        owner: Optional[str] = None,
        limit: int = 100,
        after: Optional[int] = None,
    ) -> RecordPage:
        """Pending service records by deadline, most urgent first: the
        overdue ones, or with ``within_hours`` those due within that many
        hours; only ``owner``'s if given; pass ``page.next`` as ``after``."""
        hours = 0 if within_hours is None else _lib.integer(within_hours, "within_hours", 1, U32[1])
        return take_record_page(
            "cust_service_due",
            self.handle,
            hours,
            _lib.text(owner, "owner", optional=True),
            _lib.integer(limit, "limit", *U32),
            _record_id(after, "after"),
        )


class ShareSession(_Owner):
    """A recipient's session on one share (``Store.share_session``): it
    reads the granted fields of the customers inside the share, and can do
    nothing else. Every call is audited under ``recipient:<id>``. Use as a
    context manager, or call ``close()``."""

    _kind = "share session"

    def __init__(self, handle: c_void_p, share_id: int) -> None:
        super().__init__(handle)
        self.share_id = share_id

    def _free(self, handle: c_void_p) -> None:
        lib.cust_share_session_close(handle)

    @property
    def recipient(self) -> str:
        """The recipient's id."""
        return _lib.copy_out(lambda buf, n, needed: lib.cust_share_session_recipient(self.handle, buf, n, needed))

    @property
    def last_error(self) -> str:
        """The last error of a call on this share session."""
        return _lib.copy_out(lambda buf, n, needed: lib.cust_share_session_last_error(self.handle, buf, n, needed))

    def get(self, id: int) -> Customer:
        """Customer ``id`` with the granted fields only (every other field
        ``Shown.WITHHELD``; L1 ones too unless the customer's consent names
        sensitive data); ``NotFound`` for a customer outside the share."""
        return take_customer("cust_share_get", self.handle, _lib.integer(id, "id", *I64))

    def customers(self, after: Optional[int] = None, limit: int = 100) -> SharePage:
        """Up to ``limit`` (1 to 1000) customers inside the share with ids
        above ``after``, in id order; pass ``page.next`` as ``after`` for the
        next page."""
        start = 0 if after is None else _lib.integer(after, "after", 1, I64[1])
        next_id = c_int64()
        page = take_page("cust_share_customers", self.handle, start, _lib.integer(limit, "limit", *U32), byref(next_id))
        return SharePage(builtins.list(page), next_id.value or None)

    def package(self) -> bytes:
        """Every customer inside the share, minimised to the granted fields
        and sealed to the recipient's public key: the package's bytes."""
        return bytes_out("cust_share_package", self.handle)


def _package_bytes(package: Any) -> bytes:
    if not isinstance(package, (bytes, bytearray, memoryview)):
        raise TypeError(f"package must be bytes, not {type(package).__name__}")
    return bytes(package)


def verify_package(package: Union[bytes, bytearray, memoryview]) -> VerifiedPackage:
    """Checks a share package without its key (format, manifest, and the
    SHA-256 over everything): its manifest and hash. ``PackageRejected`` for
    a truncated, altered or foreign file."""
    raw = _package_bytes(package)
    data = _lib.take_object("cust_package_verify", raw, len(raw))
    return VerifiedPackage(PackageManifest.from_json(data), str(data["sha256"]))


def open_package(package: Union[bytes, bytearray, memoryview], secret: Key) -> OpenedPackage:
    """Opens a share package with the recipient's 32-byte X25519 ``secret``
    (passed through a buffer wiped after the call; a ``bytearray`` is wiped
    too). ``PackageRejected`` if it is sealed to another key, altered,
    truncated or not a package."""
    raw = _package_bytes(package)
    with _lib.key_secret(secret) as s:
        data = _lib.take_object("cust_package_open", raw, len(raw), s.buffer, s.length)
    return OpenedPackage.from_json(data)


def generate_recipient_keypair() -> tuple[bytes, bytes]:
    """A new recipient key pair from the operating system's generator:
    ``(secret, public_key)``, 32 bytes each. The secret stays with the
    recipient; register the public key with the sender."""
    secret = ctypes.create_string_buffer(32)
    public = ctypes.create_string_buffer(32)
    try:
        _lib.call("cust_recipient_keypair", secret, 32, public, 32)
        return secret.raw, public.raw
    finally:
        lib.cust_memzero(secret, 32)


def recipient_public_key(secret: Key) -> bytes:
    """The public key of a 32-byte recipient secret."""
    public = ctypes.create_string_buffer(32)
    with _lib.key_secret(secret) as s:
        _lib.call("cust_recipient_public_key", s.buffer, s.length, public, 32)
    return public.raw
