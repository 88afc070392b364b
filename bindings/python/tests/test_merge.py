"""Merging a duplicate into its survivor from Python: values chosen per
field, records and consents moved, the duplicate gone, and the refusals."""

from __future__ import annotations

from typing import Iterator

import pytest

import custodian


@pytest.fixture
def compliance(store: custodian.Store) -> Iterator[custodian.Session]:
    with store.session("admin", "compliance", mfa=True) as s:
        yield s


def pair(admin: custodian.Session) -> tuple[custodian.Customer, custodian.Customer]:
    """A survivor without e-mail and its duplicate with one."""
    keep = admin.create({"external_code": "KH-A", "name": "王五", "mobile": "13900000001", "tags": "vip"})
    dup = admin.create(
        {
            "external_code": "KH-B",
            "name": "王 五",
            "mobile": "13900000002",
            "email": "wangwu@example.com",
            "tags": "老客户,vip",
        }
    )
    return keep, dup


def test_a_merge_moves_values_records_and_consents(store: custodian.Store, admin: custodian.Session) -> None:
    keep, dup = pair(admin)
    sold = admin.add_transaction(
        dup.id, reference="SO-9", currency="CNY", total_minor=1000, method="cash", items=[("茶", 2, 500)]
    )
    admin.record_consent(keep.id, "marketing", "phone", False, source="counter", policy_version="v1")
    admin.record_consent(dup.id, "marketing", "phone", True, source="counter", policy_version="v1")
    admin.record_consent(dup.id, "marketing", "sms", True, source="counter", policy_version="v1")

    report = admin.merge(keep.id, keep.version, dup.id, dup.version, reference="ticket-77", take={"mobile": "merged"})
    assert isinstance(report, custodian.MergeReport)
    survivor = report.survivor
    assert isinstance(survivor, custodian.Customer)
    assert (survivor.id, survivor.version) == (keep.id, keep.version + 1)
    assert survivor.text("external_code") == "KH-A" and survivor.text("name") == "王五"
    assert survivor.text("mobile") == "13900000002"
    assert survivor.text("email") == "wangwu@example.com"
    assert survivor.text("tags") == "vip,老客户"
    assert report.merged == dup.id
    assert sorted(report.fields_changed) == ["email", "mobile", "tags"]
    assert report.records_moved == [sold.id]
    assert report.consents_moved == 2
    assert report.withdrawals_kept == [("marketing", "phone")]
    assert report.hold_carried is False and report.restriction_carried is False

    with pytest.raises(custodian.NotFound):
        admin.get(dup.id)
    with pytest.raises(custodian.NotFound):
        admin.get_by_code("KH-B")
    assert [c.id for c in admin.find_by_mobile("13900000002")] == [keep.id]
    assert admin.get_record(sold.id).customer == keep.id
    phone = [c for c in admin.consents(keep.id) if c["channel"] == "phone"]
    assert phone[-1]["granted"] is False

    with store.session("auditor", "compliance") as auditor:
        entries = auditor.audit(customer=dup.id)
    merge = next(e for e in entries if e["action"] == "customer.merge")
    assert merge["destruction"]["method"] == "merge"
    assert merge["destruction"]["reason"] == "merge:ticket-77"
    assert any(e["action"] == "customer.create" and e["customers"] == [keep.id] for e in entries)


def test_the_caller_chooses_per_field(admin: custodian.Session) -> None:
    keep, dup = pair(admin)
    report = admin.merge(
        keep.id,
        keep.version,
        dup.id,
        dup.version,
        reference="ticket-1",
        take={"email": "survivor", "tags": "survivor", "external_code": "merged"},
    )
    assert report.survivor.shown("email") == custodian.Shown.ABSENT
    assert report.survivor.text("tags") == "vip"
    assert admin.get_by_code("KH-B").id == keep.id
    assert report.fields_changed == ["external_code"]
    assert report.survivor.text("mobile") == "13900000001", "the survivor's own value by default"


def test_refused_merges_change_nothing(store: custodian.Store, admin: custodian.Session) -> None:
    keep, dup = pair(admin)
    args = (keep.id, keep.version, dup.id, dup.version)
    with pytest.raises(custodian.Invalid) as same:
        admin.merge(keep.id, keep.version, keep.id, keep.version, reference="t")
    assert same.value.rule == "merge_self"
    with pytest.raises(custodian.VersionConflict):
        admin.merge(keep.id, keep.version + 1, dup.id, dup.version, reference="t")
    with pytest.raises(custodian.NotFound):
        admin.merge(keep.id, keep.version, 424242, 1, reference="t")
    with pytest.raises(custodian.Invalid) as empty:
        admin.merge(*args, reference="")
    assert empty.value.rule == "reference"
    with pytest.raises(custodian.Invalid) as read_only:
        admin.merge(*args, reference="t", take={"status": "merged"})
    assert read_only.value.rule == "read_only"
    with pytest.raises(custodian.Invalid) as side:
        admin.merge(*args, reference="t", take={"mobile": "both"})
    assert side.value.rule == "merge_side"
    with pytest.raises(custodian.Invalid):
        admin.merge(*args, reference="t", take={"no_such_field": "merged"})
    with pytest.raises(TypeError):
        admin.merge(*args, reference=7)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        admin.merge(*args, reference="t", carry_holds="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        admin.merge(*args, reference="t\0")
    with store.session("clerk", "service") as clerk:
        with pytest.raises(custodian.Denied):
            clerk.merge(*args, reference="t")
    assert admin.get(dup.id).version == dup.version
    assert admin.get(keep.id).version == keep.version


def test_a_hold_refuses_the_merge_unless_carried(admin: custodian.Session, compliance: custodian.Session) -> None:
    keep, dup = pair(admin)
    compliance.place_hold(dup.id, "case-9")
    with pytest.raises(custodian.LegalHold) as held:
        compliance.merge(keep.id, keep.version, dup.id, dup.version, reference="t-3")
    assert "case-9" in held.value.message
    assert compliance.get(dup.id).version == dup.version
    report = compliance.merge(keep.id, keep.version, dup.id, dup.version, reference="t-3", carry_holds=True)
    assert report.hold_carried is True
    with pytest.raises(custodian.LegalHold):
        compliance.erase(keep.id, "dsr-1")
