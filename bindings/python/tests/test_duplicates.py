"""Possible duplicates from Python: the store-wide report and a create that
refuses or warns."""

from __future__ import annotations

from pathlib import Path

import pytest

import custodian
from conftest import KEY, provision


def test_duplicates_are_reported_and_a_create_can_refuse(admin: custodian.Session) -> None:
    first = admin.create({"name": "王五", "organisation": "星辰科技（北京）", "mobile": "13812345678"})
    second = admin.create({"name": "王 五", "organisation": "星辰科技(北京)", "mobile": "13812345678"})
    report = admin.duplicates()
    assert report["truncated"] is False
    pair = report["pairs"][0]
    assert (pair["first"], pair["second"]) == (first.id, second.id)
    assert pair["reasons"] == ["same_mobile", "same_name_and_organisation"] and pair["score"] == 85
    with pytest.raises(custodian.Invalid) as refused:
        admin.create_checked({"name": "王小五", "mobile": "138-1234-5678"}, check="refuse")
    assert refused.value.rule == "possible_duplicate" and "13812345678" not in refused.value.message
    created, pairs = admin.create_checked({"name": "王小五", "mobile": "138-1234-5678"}, check="warn")
    assert {p["second"] for p in pairs} == {created.id} and len(pairs) == 2
    _, none = admin.create_checked({"name": "赵六"}, check="refuse")
    assert none == []
    with pytest.raises(custodian.Invalid):
        admin.create_checked({"name": "赵六"}, check="maybe")
    with pytest.raises(ValueError):
        admin.duplicates(0)
    quality = admin.data_quality()
    assert quality["total"]["customers"] == 4 and quality["total"]["possible_duplicates"] == 3
    assert quality["by_category"]["(none)"]["missing_contact"] == 1


def test_four_eyes_verification(tmp_path: Path) -> None:
    with custodian.Store.create(tmp_path / "four-eyes", KEY) as store:
        provision(store)
        store.set_four_eyes(True)
        with store.session("clerk", "service") as clerk, store.session("admin", "service", mfa=True) as admin:
            with pytest.raises(custodian.Invalid) as shared:
                store.set_four_eyes(False)
            assert shared.value.rule == "store_shared"
            made = clerk.create({"name": "王五", "mobile": "13812345678"})
            with pytest.raises(custodian.Denied) as refused:
                clerk.verify(made.id, version=1)
            assert refused.value.rule == "verify.four_eyes"
            admin.verify(made.id, version=1)
