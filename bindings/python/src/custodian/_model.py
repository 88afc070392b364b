"""Light value objects: customers as a session sees them, pages, checkpoints
and import reports. They hold copies; no library handle outlives a call."""

from __future__ import annotations

import ctypes
import enum
import json
from ctypes import byref, c_bool, c_int64, c_size_t, c_uint32, c_uint64, c_void_p
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any, Iterator, NamedTuple, Optional

from . import _lib
from ._lib import FIELD, SHOWN, lib

#: The fields of the catalogue, by name (``"name"``, ``"mobile"``...), and their C codes.
FIELDS: dict[str, int] = {name.lower(): code for name, code in FIELD.items()}


class Shown(enum.Enum):
    """How a field's value reaches this session."""

    ABSENT = SHOWN["ABSENT"]
    """The customer has no value (or the session may not know of it)."""
    PLAIN = SHOWN["PLAIN"]
    """The value itself."""
    MASKED = SHOWN["MASKED"]
    """A masked rendering (``138****5678``)."""
    WITHHELD = SHOWN["WITHHELD"]
    """There is a value, and this session may not see it."""


class Value(NamedTuple):
    """One field as the session sees it: ``text`` is the value, its masked
    rendering, or ``""`` when absent or withheld."""

    text: str
    shown: Shown

    def __str__(self) -> str:
        return self.text

    def __bool__(self) -> bool:
        return self.shown in (Shown.PLAIN, Shown.MASKED)


_ABSENT = Value("", Shown.ABSENT)


class _Owned:
    """A library handle freed when the last object using it goes."""

    __slots__ = ("pointer", "free")

    def __init__(self, pointer: c_void_p, free: Any) -> None:
        self.pointer = pointer
        self.free = free

    def __del__(self) -> None:
        if self.pointer:
            self.free(self.pointer)
            self.pointer = c_void_p()


class Customer:
    """A customer as one session saw it when it was read. It holds the
    library's record of that read (freed with the object) and copies a
    field's value out only when asked for it."""

    __slots__ = ("id", "version", "_owner", "_pointer", "_values")

    id: int
    version: int

    def __init__(self, owner: _Owned, pointer: Any) -> None:
        self._owner = owner  # keeps the record (or the page holding it) alive
        self._pointer = pointer
        self.id = lib.cust_customer_id(pointer)
        self.version = lib.cust_customer_version(pointer)
        self._values: Optional[dict[str, Value]] = None

    def __repr__(self) -> str:
        return f"Customer(id={self.id}, version={self.version})"

    def __getitem__(self, name: str) -> Value:
        """The field ``name`` (``customer["mobile"].text``); a field without a
        value is ``Value("", Shown.ABSENT)``. Custom attributes
        (``custom.<name>``) are read like catalogue fields."""
        if not isinstance(name, str):
            raise TypeError(f"field name must be a str, not {type(name).__name__}")
        code = FIELDS.get(name)
        if code is None:
            return self.values.get(name, _ABSENT)
        shown = c_uint32(0)
        pointer = self._pointer
        text = _lib.copy_out(lambda buf, n, needed: lib.cust_customer_field(pointer, code, buf, n, needed, byref(shown)))
        return Value(text, Shown(shown.value))

    @property
    def values(self) -> dict[str, Value]:
        """Every field the customer has (custom attributes too), as the session sees it, by name."""
        if self._values is None:
            data = json.loads(_lib.take_string("cust_customer_to_json", self._pointer))
            masked, withheld = set(data.get("masked", [])), data.get("withheld", [])
            values = {
                name: Value(text, Shown.MASKED if name in masked else Shown.PLAIN)
                for name, text in data.get("fields", {}).items()
            }
            for name in withheld:
                values[name] = Value("", Shown.WITHHELD)
            self._values = values
        return self._values

    def text(self, name: str) -> str:
        """The field's text (``""`` when absent or withheld)."""
        return self[name].text

    def shown(self, name: str) -> Shown:
        """How the field is shown to the session."""
        return self[name].shown

    def as_dict(self) -> dict[str, str]:
        """The fields the session sees (plain or masked), by name."""
        return {k: v.text for k, v in self.values.items() if v}


class Page(list):  # type: ignore[type-arg]
    """One page of customers; ``total`` is how many the whole listing holds."""

    total: int

    def __init__(self, customers: list[Customer], total: int) -> None:
        super().__init__(customers)
        self.total = total


def take_customer(function: str, *args: Any) -> Customer:
    """Calls a function that returns one customer handle; the customer owns it."""
    out = c_void_p()
    _lib.call(function, *args, byref(out))
    return Customer(_Owned(out, lib.cust_customer_free), out)


def take_page(function: str, *args: Any) -> Page:
    """Calls a function that returns a list handle; its customers share it."""
    out = c_void_p()
    _lib.call(function, *args, byref(out))
    owner = _Owned(out, lib.cust_list_free)  # the page's customers are borrowed from the list
    customers = []
    for index in range(lib.cust_list_len(out)):
        borrowed = c_void_p()
        _lib.check(lib.cust_list_get(out, index, byref(borrowed)))
        customers.append(Customer(owner, borrowed))
    return Page(customers, lib.cust_list_total(out))


@dataclass(frozen=True)
class MergeReport:
    """What a merge did: the ``survivor`` as the session sees it after the
    merge, the ``merged``-away customer's id (now destroyed), the survivor's
    fields whose value changed (names only), the attached records moved to
    it, how many consent records moved, the ``(purpose, channel)`` pairs
    where a withdrawal was kept over a later grant, and whether a legal hold
    or a restriction of processing moved to (or stayed on) the survivor."""

    survivor: Customer
    merged: int
    fields_changed: list[str]
    records_moved: list[int]
    consents_moved: int
    withdrawals_kept: list[tuple[str, str]]
    hold_carried: bool
    restriction_carried: bool

    @classmethod
    def from_json(cls, survivor: Customer, data: dict[str, Any]) -> "MergeReport":
        """The report from ``cust_customer_merge``'s JSON and the survivor's handle."""
        return cls(
            survivor=survivor,
            merged=int(data["merged"]),
            fields_changed=[str(f) for f in data["fields_changed"]],
            records_moved=[int(r) for r in data["records_moved"]],
            consents_moved=int(data["consents_moved"]),
            withdrawals_kept=[(str(w["purpose"]), str(w["channel"])) for w in data["withdrawals_kept"]],
            hold_carried=bool(data["hold_carried"]),
            restriction_carried=bool(data["restriction_carried"]),
        )


@dataclass(frozen=True)
class StatisticsTable:
    """Counts of customers along one dimension (``rows``) or a
    cross-tab of two (``columns``; ``None`` for one column labelled
    ``count``), from ``Session.statistics``. Labels are sorted;
    ``cells[row][column]``, the totals and ``total`` are counts, ``None``
    where suppressed: below ``threshold``, or able to reveal a suppressed
    count by subtraction. ``suppressed_primary`` entries fell below the
    threshold, ``suppressed_secondary`` were withheld to protect them. Zero
    counts are shown; no customer and no value appears."""

    rows: str
    columns: Optional[str]
    threshold: int
    row_labels: list[str]
    column_labels: list[str]
    cells: list[list[Optional[int]]]
    row_totals: list[Optional[int]]
    column_totals: list[Optional[int]]
    total: Optional[int]
    suppressed_primary: int
    suppressed_secondary: int

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "StatisticsTable":
        """The table from ``cust_statistics``'s JSON."""

        def counts(values: list[Any]) -> list[Optional[int]]:
            return [None if v is None else int(v) for v in values]

        columns = data["columns"]
        return cls(
            rows=str(data["rows"]),
            columns=None if columns is None else str(columns),
            threshold=int(data["threshold"]),
            row_labels=[str(label) for label in data["row_labels"]],
            column_labels=[str(label) for label in data["column_labels"]],
            cells=[counts(row) for row in data["cells"]],
            row_totals=counts(data["row_totals"]),
            column_totals=counts(data["column_totals"]),
            total=None if data["total"] is None else int(data["total"]),
            suppressed_primary=int(data["suppressed_primary"]),
            suppressed_secondary=int(data["suppressed_secondary"]),
        )


@dataclass(frozen=True)
class StatusChange:
    """One status change of a record: when (Unix ms), by which principal,
    from which status (``None`` when the record was created) to which."""

    at: int
    by: str
    from_status: Optional[str]
    to: str


class Record:
    """A transaction or service record as one session saw it when it was
    read. ``kind`` is ``"transaction"`` or ``"service"``; fields go by their
    names (``record["transaction.total"].text``)."""

    __slots__ = ("id", "customer", "kind", "version", "overdue", "_owner", "_pointer", "_values")

    id: int
    customer: int
    kind: str
    version: int
    overdue: bool

    def __init__(self, owner: _Owned, pointer: Any) -> None:
        self._owner = owner  # keeps the record (or the page holding it) alive
        self._pointer = pointer
        self.id = lib.cust_record_id(pointer)
        self.customer = lib.cust_record_customer(pointer)
        kind: bytes = lib.cust_record_kind(pointer)
        self.kind = kind.decode("utf-8")
        self.version = lib.cust_record_version(pointer)
        self.overdue = bool(lib.cust_record_overdue(pointer))
        self._values: Optional[dict[str, Value]] = None

    def __repr__(self) -> str:
        return f"Record(id={self.id}, kind={self.kind!r}, customer={self.customer}, version={self.version})"

    def __getitem__(self, name: str) -> Value:
        """The field ``name`` (``"transaction.total"``, ``"service.status"``)
        as the session sees it; ``Value("", Shown.ABSENT)`` when the record
        has none. A name that is not a record field raises ``Invalid``."""
        encoded = _lib.text(name, "field")
        shown = c_uint32(0)
        pointer = self._pointer
        text = _lib.copy_out(lambda buf, n, needed: lib.cust_record_field(pointer, encoded, buf, n, needed, byref(shown)))
        return Value(text, Shown(shown.value))

    @property
    def values(self) -> dict[str, Value]:
        """Every field the record has, as the session sees it, by name (withheld ones too)."""
        if self._values is None:
            data = json.loads(_lib.take_string("cust_record_to_json", self._pointer))
            masked, withheld = set(data.get("masked", [])), data.get("withheld", [])
            values = {
                name: Value(text, Shown.MASKED if name in masked else Shown.PLAIN)
                for name, text in data.get("fields", {}).items()
            }
            for name in withheld:
                values[name] = Value("", Shown.WITHHELD)
            self._values = values
        return self._values

    @property
    def history(self) -> list[StatusChange]:
        """The status changes, oldest first (empty when the session may not see the status)."""
        changes = json.loads(_lib.take_string("cust_record_history_json", self._pointer))
        return [StatusChange(int(c["at"]), str(c["by"]), c.get("from"), str(c["to"])) for c in changes]

    def text(self, name: str) -> str:
        """The field's text (``""`` when absent or withheld)."""
        return self[name].text

    def shown(self, name: str) -> Shown:
        """How the field is shown to the session."""
        return self[name].shown

    def as_dict(self) -> dict[str, str]:
        """The fields the session sees (plain or masked), by name."""
        return {k: v.text for k, v in self.values.items() if v}


class RecordPage(list):  # type: ignore[type-arg]
    """One page of records; ``next`` is the id to continue from (``before``
    of a timeline, ``after`` of a deadline query), ``None`` on the last page."""

    next: Optional[int]

    def __init__(self, records: list[Record], next: Optional[int]) -> None:
        super().__init__(records)
        self.next = next


def take_record(function: str, *args: Any) -> Record:
    """Calls a function that returns one record handle; the record owns it."""
    out = c_void_p()
    _lib.call(function, *args, byref(out))
    return Record(_Owned(out, lib.cust_record_free), out)


def take_record_page(function: str, *args: Any) -> RecordPage:
    """Calls a function that returns a record list; its records share it."""
    out = c_void_p()
    _lib.call(function, *args, byref(out))
    owner = _Owned(out, lib.cust_record_list_free)
    records = []
    for index in range(lib.cust_record_list_len(out)):
        borrowed = c_void_p()
        _lib.check(lib.cust_record_list_get(out, index, byref(borrowed)))
        records.append(Record(owner, borrowed))
    next_id = lib.cust_record_list_next(out)
    return RecordPage(records, next_id or None)


@dataclass(frozen=True)
class Checkpoint:
    """A signed audit checkpoint: keep its text outside the store, and verify
    the store against it later (``store.verify_audit(checkpoint)``)."""

    text: str

    @classmethod
    def parse(cls, text: str) -> "Checkpoint":
        """A checkpoint from its text (the library checks it when it is used)."""
        encoded = _lib.text(text, "checkpoint")
        assert encoded is not None
        if not text.startswith("custodian audit checkpoint"):
            raise ValueError("not the text of a custodian audit checkpoint")
        return cls(text)

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class ImportRow:
    """One record of an imported file: its 1-based slot, the customer it
    became (``None`` if rejected), whether it was stored verified, and its
    problems (field and rule; never the value)."""

    slot: int
    customer: Optional[int]
    verified: bool
    problems: list[str]


@dataclass(frozen=True)
class MatchedRow:
    """A record matched to an existing customer by external code:
    ``outcome`` is ``"present"``, ``"conflict"`` or ``"updated"``; ``fields``
    the differing or updated fields."""

    slot: int
    customer: int
    outcome: str
    fields: list[str]


@dataclass(frozen=True)
class ImportCounts:
    """How many rows of an import went which way (``cust_import_counts``).
    Complete even when the report lists only the problems
    (``problems_only``)."""

    #: Rows that became new customers (verified and unverified).
    created: int = 0
    #: New customers whose values all passed validation.
    verified: int = 0
    #: Rows matched by 编号 and skipped as already present.
    already_present: int = 0
    #: Matched rows that differ and were not imported.
    conflicts: int = 0
    #: Matched rows that updated their customer.
    updated: int = 0
    #: Rows left out because their values failed validation.
    rejected: int = 0


class _CountsOut(ctypes.Structure):
    """``cust_import_counts`` as C lays it out."""

    _fields_ = [
        ("created", c_uint64),
        ("verified", c_uint64),
        ("already_present", c_uint64),
        ("conflicts", c_uint64),
        ("updated", c_uint64),
        ("rejected", c_uint64),
    ]


@dataclass(frozen=True)
class ImportReport:
    """What an import did, row by row (with ``problems_only``, only the rows
    with something to report: unverified rows and duplicate notes in
    ``rows``, conflicts and updates in ``matched``); ``counts`` counts every
    row."""

    rows: list[ImportRow]
    matched: list[MatchedRow]
    #: Rows left out because their values failed validation (``reject_invalid``).
    rejected: list[ImportRow] = dataclass_field(default_factory=list)
    #: Every row counted by outcome, whatever the lists hold.
    counts: ImportCounts = dataclass_field(default_factory=ImportCounts)

    @property
    def imported(self) -> list[int]:
        """The customers the import created."""
        return [r.customer for r in self.rows if r.customer is not None]


_MATCH_NAMES = {value: name.lower() for name, value in _lib.MATCH.items()}


def take_import_report(function: str, *args: Any) -> ImportReport:
    """Calls an import function, copies its report and frees it."""
    out = c_void_p()
    _lib.call(function, *args, byref(out))
    try:
        rows = []
        for index in range(lib.cust_import_report_len(out)):
            slot, customer, verified, problems = c_size_t(), c_int64(), c_bool(), c_size_t()
            _lib.check(lib.cust_import_report_row(out, index, byref(slot), byref(customer), byref(verified), byref(problems)))
            def problem(p: int) -> str:
                return _lib.copy_out(lambda buf, n, needed: int(lib.cust_import_report_problem(out, index, p, buf, n, needed)))

            texts = [problem(p) for p in range(problems.value)]
            rows.append(ImportRow(slot.value, customer.value or None, verified.value, texts))
        matched = []
        for index in range(lib.cust_import_report_matched_len(out)):
            slot, customer, outcome = c_size_t(), c_int64(), c_uint32()

            def fill(buf: Any, n: int, needed: Any) -> int:
                return int(lib.cust_import_report_matched(out, index, byref(slot), byref(customer), byref(outcome), buf, n, needed))

            fields = _lib.copy_out(fill)
            matched.append(
                MatchedRow(slot.value, customer.value, _MATCH_NAMES[outcome.value], [f for f in fields.split(",") if f])
            )
        rejected = []
        for index in range(lib.cust_import_report_rejected_len(out)):
            slot, problems = c_size_t(), c_size_t()
            _lib.check(lib.cust_import_report_rejected(out, index, byref(slot), byref(problems)))

            def rejected_problem(p: int) -> str:
                return _lib.copy_out(
                    lambda buf, n, needed: int(lib.cust_import_report_rejected_problem(out, index, p, buf, n, needed))
                )

            rejected.append(ImportRow(slot.value, None, False, [rejected_problem(p) for p in range(problems.value)]))
        raw = _CountsOut()
        _lib.check(lib.cust_import_report_counts(out, byref(raw)))
        counts = ImportCounts(
            int(raw.created),
            int(raw.verified),
            int(raw.already_present),
            int(raw.conflicts),
            int(raw.updated),
            int(raw.rejected),
        )
        return ImportReport(rows, matched, rejected, counts)
    finally:
        lib.cust_import_report_free(out)


# -- sharing with third parties -------------------------------------------------


@dataclass(frozen=True)
class Revocation:
    """When (Unix ms) and by which principal a recipient or share was revoked, and why."""

    at: int
    by: str
    reason: str

    @classmethod
    def from_json(cls, data: Optional[dict[str, Any]]) -> Optional["Revocation"]:
        """The revocation from its JSON, ``None`` for none."""
        if data is None:
            return None
        return cls(int(data["at"]), str(data["by"]), str(data["reason"]))


@dataclass(frozen=True)
class Recipient:
    """A registered recipient of shared data: an external party under an
    agreement (``agreement`` in effect from ``agreement_from`` until
    ``agreement_until``, Unix ms, the end exclusive), with the X25519
    ``public_key`` (hex) its packages are sealed to. ``revoked`` is set once
    it was revoked: every share to it ended then."""

    id: str
    name: str
    agreement: str
    agreement_from: int
    agreement_until: int
    public_key: str
    registered_at: int
    registered_by: str
    revoked: Optional[Revocation] = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Recipient":
        """The recipient from the library's JSON."""
        return cls(
            id=str(data["id"]),
            name=str(data["name"]),
            agreement=str(data["agreement"]),
            agreement_from=int(data["agreement_from"]),
            agreement_until=int(data["agreement_until"]),
            public_key=str(data["public_key"]),
            registered_at=int(data["registered_at"]),
            registered_by=str(data["registered_by"]),
            revoked=Revocation.from_json(data.get("revoked")),
        )


@dataclass(frozen=True)
class Share:
    """A share grant: ``fields`` (by name) of the customers it covers, to
    ``recipient`` for ``purpose`` until ``expires_at`` (Unix ms), under
    ``agreement``. It covers the listed ``customers`` (ids), or with
    ``filter`` every customer whose classification attributes match (one of
    the two is ``None``); consent decides who of them is inside."""

    id: int
    recipient: str
    purpose: str
    fields: list[str]
    customers: Optional[list[int]]
    filter: Optional[dict[str, str]]
    expires_at: int
    agreement: str
    created_at: int
    created_by: str
    revoked: Optional[Revocation] = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Share":
        """The share from the library's JSON (``customers`` is
        ``{"listed": [...]}`` or ``{"matching": {...}}`` there)."""
        covered: dict[str, Any] = data["customers"]
        listed = covered.get("listed")
        matching = covered.get("matching")
        return cls(
            id=int(data["id"]),
            recipient=str(data["recipient"]),
            purpose=str(data["purpose"]),
            fields=[str(f) for f in data["fields"]],
            customers=None if listed is None else [int(c) for c in listed],
            filter=None if matching is None else {str(k): str(v) for k, v in matching.items()},
            expires_at=int(data["expires_at"]),
            agreement=str(data["agreement"]),
            created_at=int(data["created_at"]),
            created_by=str(data["created_by"]),
            revoked=Revocation.from_json(data.get("revoked")),
        )


@dataclass(frozen=True)
class Disclosure:
    """One disclosure of a customer's data to a recipient, from the audit
    log: when (Unix ms), the entry's sequence number, the recipient, the
    share, how (``share.get``, ``share.list`` or ``share.package``) and the
    fields disclosed (names only)."""

    at: int
    seq: int
    recipient: str
    share: int
    action: str
    fields: list[str]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Disclosure":
        """The disclosure from the library's JSON."""
        return cls(
            at=int(data["at"]),
            seq=int(data["seq"]),
            recipient=str(data["recipient"]),
            share=int(data["share"]),
            action=str(data["action"]),
            fields=[str(f) for f in data["fields"]],
        )


@dataclass(frozen=True)
class CustomerShare:
    """A share a customer is or was in (for their access report): whether
    they are inside it now, and every disclosure made through it, oldest first."""

    share: Share
    inside_now: bool
    disclosures: list[Disclosure]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "CustomerShare":
        """The entry from the library's JSON."""
        return cls(
            share=Share.from_json(data["share"]),
            inside_now=bool(data["inside_now"]),
            disclosures=[Disclosure.from_json(d) for d in data["disclosures"]],
        )


@dataclass(frozen=True)
class PackageManifest:
    """What a share package says about itself, readable without the key:
    the share, recipient and the public key it is sealed to (hex), the
    sender's ephemeral key, purpose, agreement, the fields granted, how many
    customers it holds, when it was made and when the share ends (Unix ms:
    the recipient may keep the data no longer)."""

    format: str
    share: int
    recipient: str
    recipient_key: str
    ephemeral_key: str
    purpose: str
    agreement: str
    fields: list[str]
    count: int
    created_at: int
    expires_at: int

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "PackageManifest":
        """The manifest from the library's JSON (a ``sha256`` beside it is ignored)."""
        return cls(
            format=str(data["format"]),
            share=int(data["share"]),
            recipient=str(data["recipient"]),
            recipient_key=str(data["recipient_key"]),
            ephemeral_key=str(data["ephemeral_key"]),
            purpose=str(data["purpose"]),
            agreement=str(data["agreement"]),
            fields=[str(f) for f in data["fields"]],
            count=int(data["count"]),
            created_at=int(data["created_at"]),
            expires_at=int(data["expires_at"]),
        )


@dataclass(frozen=True)
class VerifiedPackage:
    """A package checked without its key: its manifest and its SHA-256
    (hex; the audit entry of its making names it)."""

    manifest: PackageManifest
    sha256: str


@dataclass(frozen=True)
class PackagedCustomer:
    """One customer in an opened package: their id in the sender's store,
    the granted values by field name (not shown by ``repr``), and the
    granted fields left out for them (L1 fields without consent covering
    sensitive data)."""

    id: int
    fields: dict[str, str] = dataclass_field(repr=False)
    withheld: list[str] = dataclass_field(default_factory=list)


@dataclass(frozen=True)
class OpenedPackage:
    """A package opened with the recipient's secret: its manifest, SHA-256
    and customers."""

    manifest: PackageManifest
    sha256: str
    customers: list[PackagedCustomer]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "OpenedPackage":
        """The package from ``cust_package_open``'s JSON."""
        return cls(
            manifest=PackageManifest.from_json(data["manifest"]),
            sha256=str(data["sha256"]),
            customers=[
                PackagedCustomer(
                    int(c["id"]),
                    {str(k): str(v) for k, v in c["fields"].items()},
                    [str(w) for w in c.get("withheld", [])],
                )
                for c in data["customers"]
            ],
        )


class SharePage(list):  # type: ignore[type-arg]
    """One page of the customers inside a share (``Customer`` objects with
    the granted fields only); ``next`` is the ``after`` of the next page,
    ``None`` on the last."""

    next: Optional[int]

    def __init__(self, customers: list[Customer], next: Optional[int]) -> None:
        super().__init__(customers)
        self.next = next


def bytes_out(function: str, *args: Any) -> bytes:
    """Calls a function returning library-owned bytes; copies, wipes and frees them."""
    out, length = c_void_p(), c_size_t()
    _lib.call(function, *args, byref(out), byref(length))
    try:
        return ctypes.string_at(out.value, length.value) if out.value else b""
    finally:
        lib.cust_bytes_free(out, length)


def iterate_pages(fetch: Any, page_size: int) -> Iterator[Page]:
    """Pages from ``fetch(offset, limit)`` until the listing is exhausted."""
    offset = 0
    while True:
        page = fetch(offset, page_size)
        if page:
            yield page
        offset += len(page)
        if not page or offset >= page.total:
            return
