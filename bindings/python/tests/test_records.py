"""Attached records from Python: transactions and after-sales service
records, what each role sees of them, status changes, patches, the
timeline and the deadline queries."""

from __future__ import annotations

import time
from typing import Iterator

import pytest

import custodian
from custodian import Shown

from pathlib import Path

from conftest import KEY, person, provision

HOUR = 3_600_000


@pytest.fixture
def clerk(store: custodian.Store) -> Iterator[custodian.Session]:
    with store.session("clerk", "service") as s:
        yield s


@pytest.fixture
def plain_admin(store: custodian.Store) -> Iterator[custodian.Session]:
    with store.session("admin", "service", mfa=False) as s:
        yield s


def now_ms() -> int:
    return int(time.time() * 1000)


def order(admin: custodian.Session, customer: int, **extra: object) -> custodian.Record:
    fields: dict[str, object] = {
        "reference": "SO-2026-0001",
        "currency": "CNY",
        "total_minor": 29_000,
        "method": "bank_card",
        "items": [("龙井茶 250g", 2, 8_800), ("茶具", 1, 12_000)],
        "adjustments": [("会员折扣", -600)],
        "card": "4111 1111 1111 1111",
    }
    fields.update(extra)
    return admin.add_transaction(customer, **fields)  # type: ignore[arg-type]


def test_a_transaction_is_recorded_and_each_role_sees_what_it_may(
    admin: custodian.Session, clerk: custodian.Session, plain_admin: custodian.Session
) -> None:
    cid = admin.create(person(1)).id
    sale = order(admin, cid, at=now_ms() - 60_000)
    assert sale.kind == "transaction" and sale.customer == cid and sale.version == 1 and not sale.overdue
    assert sale["transaction.total"] == ("290.00 CNY", Shown.PLAIN)
    assert sale.text("transaction.reference") == "SO-2026-0001"
    assert sale.text("transaction.status") == "paid"
    assert "龙井茶" in sale.text("transaction.items")
    assert sale["transaction.payment_details"] == ("card:4111111111111111", Shown.PLAIN)
    assert sale.shown("service.subject") is Shown.ABSENT
    assert [(c.from_status, c.to, c.by) for c in sale.history] == [(None, "paid", "admin")]
    assert sale.as_dict()["transaction.payment_method"] == "bank_card"
    with pytest.raises(custodian.Invalid) as unknown:
        sale["no.such.field"]
    assert unknown.value.status == 11
    with pytest.raises(custodian.Invalid):
        sale["name"]  # a customer field, not a record's

    seen = clerk.get_record(sale.id)
    assert seen.text("transaction.total") == "290.00 CNY"
    assert seen.shown("transaction.payment_details") is Shown.WITHHELD
    assert seen.values["transaction.payment_details"] == ("", Shown.WITHHELD)
    assert "1111" not in str(seen.as_dict())
    masked = plain_admin.get_record(sale.id)
    assert masked["transaction.payment_details"] == ("**** **** **** 1111", Shown.MASKED)


def test_bad_transactions_are_refused_with_their_rule_and_no_secret(admin: custodian.Session) -> None:
    cid = admin.create(person(2)).id
    with pytest.raises(custodian.Invalid) as luhn:
        order(admin, cid, card="4111 1111 1111 1112")
    assert luhn.value.rule == "card_luhn" and "1112" not in luhn.value.message and "4111" not in str(luhn.value)
    with pytest.raises(custodian.Invalid) as total:
        order(admin, cid, total_minor=30_000)
    assert total.value.rule == "total_mismatch"
    with pytest.raises(custodian.Invalid) as method:
        order(admin, cid, method="cheque")
    assert method.value.rule == "payment_method"
    with pytest.raises(custodian.Invalid) as status:
        order(admin, cid, status="lost")
    assert status.value.rule == "transaction_status"
    with pytest.raises(custodian.Invalid) as mismatch:
        order(admin, cid, method="cash")
    assert mismatch.value.rule == "payment_details_mismatch"
    with pytest.raises(custodian.NotFound):
        order(admin, 424242)
    with pytest.raises(TypeError):
        order(admin, cid, bank_account="6222020200112233")  # both a card and an account
    with pytest.raises(ValueError):
        order(admin, cid, reference="SO\0")
    transfer = admin.add_transaction(
        cid,
        reference="SO-2",
        currency="CNY",
        total_minor=5_000,
        method="bank_transfer",
        items=[("茶叶", 1, 5_000)],
        bank_account="6222020200112233",
        status="pending",
    )
    assert transfer.text("transaction.status") == "pending"


def test_transaction_statuses_move_forward_only(admin: custodian.Session) -> None:
    sale = order(admin, admin.create(person(3)).id)
    with pytest.raises(custodian.Invalid) as back:
        admin.set_transaction_status(sale.id, "pending", version=1)
    assert back.value.rule == "transition_invalid"
    with pytest.raises(custodian.VersionConflict):
        admin.set_transaction_status(sale.id, "refunded", version=7)
    part = admin.set_transaction_status(sale.id, "partially_refunded", version=1)
    assert part.version == 2 and part.text("transaction.status") == "partially_refunded"
    assert [c.to for c in part.history] == ["paid", "partially_refunded"]
    with pytest.raises(custodian.RecordNotFound) as missing:
        admin.set_transaction_status(999_999, "refunded", version=1)
    assert missing.value.status == 25 and isinstance(missing.value, custodian.NotFound)


def test_service_records_open_move_and_fall_due(admin: custodian.Session, clerk: custodian.Session) -> None:
    cid = admin.create(person(4)).id
    now = now_ms()
    complaint = admin.open_service(
        cid,
        kind="complaint",
        channel="phone",
        subject="茶具破损",
        description="收到的茶具有裂纹",
        priority="high",
        owner="clerk",
        opened_at=now - 10 * HOUR,
        due_at=now - HOUR,
    )
    assert complaint.kind == "service" and complaint.overdue
    assert complaint.text("service.owner") == "clerk" and complaint.text("service.priority") == "high"
    with pytest.raises(custodian.Invalid) as early:
        clerk.open_service(cid, kind="consultation", channel="web", subject="保修期多久", opened_at=now - HOUR, due_at=now - 2 * HOUR)
    assert early.value.rule == "due_before_opening"
    with pytest.raises(custodian.Invalid):
        clerk.open_service(cid, kind="rant", channel="web", subject="x")
    with pytest.raises(custodian.Invalid):
        clerk.open_service(cid, kind="consultation", channel="pigeon", subject="x")
    question = clerk.open_service(
        cid, kind="consultation", channel="web", subject="保修期多久", opened_at=(now - HOUR) / 1000, due_at=now + 48 * HOUR
    )
    assert not question.overdue and question.shown("service.description") is Shown.ABSENT

    overdue = clerk.service_due()
    assert [r.id for r in overdue] == [complaint.id] and overdue.next is None and overdue[0].overdue
    assert clerk.service_due(owner="clerk")[0].id == complaint.id
    assert list(clerk.service_due(owner="admin")) == []
    assert [r.id for r in clerk.service_due(within_hours=72)] == [question.id]
    full = clerk.service_due(within_hours=72, limit=1)
    assert full.next == question.id and list(clerk.service_due(within_hours=72, after=full.next)) == []
    with pytest.raises(custodian.Invalid):
        clerk.service_due(limit=0)
    with pytest.raises(ValueError):
        clerk.service_due(within_hours=0)

    with pytest.raises(custodian.Invalid) as unresolved:
        clerk.transition_service(complaint.id, "resolved", version=1)
    assert unresolved.value.rule == "resolution_required"
    with pytest.raises(custodian.Invalid) as jump:
        clerk.transition_service(complaint.id, "reopened", version=1)
    assert jump.value.rule == "transition_invalid"
    working = clerk.transition_service(complaint.id, "in_progress", version=1)
    assert working.version == 2
    with pytest.raises(custodian.Invalid) as ghost:
        clerk.assign_service(complaint.id, "ghost", version=2)
    assert ghost.value.rule == "owner_unknown"
    assert clerk.assign_service(complaint.id, "admin", version=2).text("service.owner") == "admin"
    resolved = clerk.transition_service(complaint.id, "resolved", version=3, resolution="换货一套")
    assert not resolved.overdue and resolved.text("service.resolution") == "换货一套"
    assert [(c.from_status, c.to) for c in resolved.history] == [
        (None, "open"),
        ("open", "in_progress"),
        ("in_progress", "resolved"),
    ]
    assert list(clerk.service_due()) == []


def test_records_are_patched_rectified_paged_and_deleted(admin: custodian.Session, clerk: custodian.Session) -> None:
    cid = admin.create(person(5)).id
    sale = order(admin, cid)
    first = clerk.open_service(cid, kind="feedback", channel="email", subject="包装很好", description="谢谢")
    second = clerk.open_service(cid, kind="repair", channel="in_person", subject="茶壶盖松")

    patched = clerk.update_record(first.id, {"service.priority": "urgent", "service.description": None}, version=1)
    assert patched.version == 2 and patched.text("service.priority") == "urgent"
    assert patched.shown("service.description") is Shown.ABSENT
    rectified = clerk.rectify_record(first.id, {"service.subject": "包装非常好"}, version=2, request="DSR-2026-7")
    assert rectified.text("service.subject") == "包装非常好"
    with pytest.raises(custodian.Invalid) as empty:
        clerk.update_record(first.id, {}, version=3)
    assert empty.value.rule == "empty_patch"
    with pytest.raises(custodian.Invalid) as kind:
        clerk.update_record(first.id, {"transaction.reference": "x"}, version=3)
    assert kind.value.rule == "record_field_kind"
    with pytest.raises(custodian.Invalid) as unknown:
        clerk.update_record(first.id, {"service.nope": "x"}, version=3)
    assert unknown.value.status == 11
    with pytest.raises(custodian.VersionConflict):
        clerk.update_record(first.id, {"service.priority": "low"}, version=1)
    with pytest.raises(custodian.Denied):
        clerk.update_record(sale.id, {"transaction.payment_details": "5555555555554444"}, version=1)
    with pytest.raises(TypeError):
        clerk.update_record(first.id, ["service.priority"], version=3)  # type: ignore[arg-type]

    page = clerk.timeline(cid, limit=2)
    assert len(page) == 2 and page.next is not None
    rest = clerk.timeline(cid, limit=2, before=page.next)
    assert len(rest) == 1 and rest.next is None
    everything = clerk.timeline(cid)
    assert {r.id for r in everything} == {sale.id, first.id, second.id}
    assert all(r.customer == cid for r in everything)
    with pytest.raises(custodian.NotFound):
        clerk.timeline(424242)
    with pytest.raises(custodian.Invalid):
        clerk.timeline(cid, limit=0)

    with pytest.raises(custodian.Denied):
        clerk.delete_record(second.id)
    admin.delete_record(second.id)
    with pytest.raises(custodian.RecordNotFound):
        admin.get_record(second.id)
    with pytest.raises(custodian.RecordNotFound):
        admin.delete_record(second.id)
    with pytest.raises(ValueError):
        admin.get_record(0)
    assert {r.id for r in clerk.timeline(cid)} == {sale.id, first.id}


def test_records_outlive_their_page_and_session(store: custodian.Store) -> None:
    with store.session("admin", "service", mfa=True) as admin:
        cid = admin.create(person(6)).id
        order(admin, cid)
        record = admin.timeline(cid)[0]
    # The page is gone and the session closed; the record keeps its copy.
    assert record.text("transaction.total") == "290.00 CNY" and repr(record).startswith("Record(")


def test_a_batch_of_transactions_is_all_or_nothing(admin: custodian.Session) -> None:
    cid = admin.create(person(7)).id
    tea = {"reference": "SO-B", "currency": "CNY", "total_minor": 1_000, "method": "cash", "items": [("茶", 2, 500)]}
    none = dict(tea, items=[("茶", 0, 500)])
    with pytest.raises(custodian.Invalid) as refused:
        admin.add_transactions(cid, [tea, none, tea])
    assert refused.value.status == 12 and refused.value.rule == "quantity_not_positive"
    assert "input 1" in refused.value.message
    assert list(admin.timeline(cid)) == []
    with pytest.raises(custodian.Invalid) as empty:
        admin.add_transactions(cid, [])
    assert empty.value.rule == "batch_size"
    with pytest.raises(TypeError):
        admin.add_transactions(cid, [dict(tea, colour="red")])
    ids = admin.add_transactions(cid, [tea, tea, tea])
    assert len(ids) == 3 and ids == sorted(ids)
    assert [r.id for r in admin.timeline(cid)] == sorted(ids, reverse=True)


def test_the_service_level_policy_is_set_before_any_session(tmp_path: Path) -> None:
    with custodian.Store.create(tmp_path / "levels", KEY) as store:
        provision(store)
        with pytest.raises(custodian.Invalid):
            store.set_service_hours("rant", "normal", 6)
        store.set_service_hours("complaint", "normal", 6)
        store.set_reopen_days(0)
        with store.session("admin", "service", mfa=True) as admin:
            with pytest.raises(custodian.Invalid) as shared:
                store.set_service_hours("complaint", "normal", 7)
            assert shared.value.rule == "store_shared"
            cid = admin.create(person(8)).id
            opened_at = now_ms() - HOUR
            record = admin.open_service(cid, kind="complaint", channel="phone", subject="物流投诉", opened_at=opened_at)
            assert record.text("service.due_at") == str(opened_at + 6 * HOUR)
            closed = admin.transition_service(record.id, "closed", resolution="已处理", version=1)
            with pytest.raises(custodian.Invalid) as never:
                admin.transition_service(closed.id, "reopened", version=closed.version)
            assert never.value.rule == "reopen_expired"
