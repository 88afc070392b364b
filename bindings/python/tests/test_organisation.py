"""Organisation customers from Python: the unified social credit code
(统一社会信用代码, found however it is typed), the registered address, a
landline read back in its normal form, and contact persons as JSON, each
refused with its own rule and never echoed."""

from __future__ import annotations

import json

import pytest

import custodian
from custodian import Shown

#: 91350100M000100Y4 and its GB 32100 check character.
CODE = "91350100M000100Y43"

CONTACTS = [{"name": "李四", "title": "采购经理", "mobile": "+86 138 1234 5678", "email": "LiSi@Example.com"}]


def company(**extra: str) -> dict[str, str]:
    """An organisation customer's fields."""
    fields = {"organisation": "星辰科技有限公司"}
    fields.update(extra)
    return fields


def test_the_field_codes_are_appended_after_version() -> None:
    assert custodian.FIELDS["version"] == 19
    assert [custodian.FIELDS[f] for f in ("credit_code", "registered_address", "landline", "contacts")] == [20, 21, 22, 23]


def test_an_organisation_keeps_its_code_address_landline_and_contacts(admin: custodian.Session) -> None:
    made = admin.create(
        company(
            external_code="ORG001",
            credit_code=CODE.lower(),
            registered_address="福建省福州市鼓楼区五四路1号",
            landline="(010) 6234 5678 转 801",
            contacts=json.dumps(CONTACTS, ensure_ascii=False),
        ),
        kind="organisation",
    )
    assert made["kind"].text == "organisation"
    assert made["credit_code"].text == CODE and made["credit_code"].shown is Shown.PLAIN
    assert made.text("registered_address") == "福建省福州市鼓楼区五四路1号"
    assert made.text("landline") == "010-62345678-801"
    # Each part normalised like the customer's own field; compact JSON back.
    assert json.loads(made.text("contacts")) == [
        {"name": "李四", "title": "采购经理", "mobile": "13812345678", "email": "lisi@example.com"}
    ]
    assert made.as_dict()["credit_code"] == CODE
    again = admin.get(made.id)
    assert again.text("landline") == "010-62345678-801" and again.text("credit_code") == CODE

    for spelling in [CODE, CODE.lower(), "913501 00M000100Y43", "91-350100-M000100Y43", "  9135 0100 m000 100y 43 "]:
        assert [c.id for c in admin.find_by_credit_code(spelling)] == [made.id], spelling
    assert admin.find_by_credit_code("91110108MA01ABCD1E") == []
    with pytest.raises(custodian.Invalid) as wrong:
        admin.find_by_credit_code("91350100M000100Y44")
    assert wrong.value.rule == "credit_code_check" and wrong.value.field == "credit_code"

    # An update normalises a new landline; clearing the contacts leaves the field absent.
    changed = admin.update(made.id, {"landline": "+86 571 8765 4321", "contacts": None}, version=made.version)
    assert changed.text("landline") == "0571-87654321"
    assert changed["contacts"].shown is Shown.ABSENT


REFUSED = [
    ("credit_code", "91350100M000100Y44", "credit_code", "credit_code_check"),
    ("credit_code", "91350100M000100Y4", "credit_code", "credit_code_length"),
    ("credit_code", "01350100M000100Y43", "credit_code", "credit_code_format"),
    ("landline", "62345678", "landline", "landline_area_code"),
    ("landline", "010-0234567", "landline", "landline_number"),
    ("landline", "010-62345678 转 1234567", "landline", "landline_extension"),
    ("contacts", '[{"name": "王五", "mobile": "12345"}]', "contacts[1].mobile", "mobile_format"),
    ("contacts", '[{"name": "王五"}, {"name": "赵六", "email": "no-at-sign"}]', "contacts[2].email", "email_syntax"),
    ("contacts", "[]", "contacts", "contacts_count"),
    ("contacts", "not json", "contacts", "contacts_json"),
]


@pytest.mark.parametrize("name,value,field,rule", REFUSED)
def test_bad_values_are_refused_with_their_field_and_rule(
    admin: custodian.Session, name: str, value: str, field: str, rule: str
) -> None:
    with pytest.raises(custodian.Invalid) as refused:
        admin.create(company(**{name: value}), kind="organisation")
    assert (refused.value.field, refused.value.rule) == (field, rule)
    assert value not in refused.value.message
    assert next(admin.list(page_size=1), custodian.Page([], 0)).total == 0, "nothing was stored"


def test_a_second_record_of_one_organisation_is_a_duplicate_by_its_code(admin: custodian.Session) -> None:
    first = admin.create(company(credit_code=CODE), kind="organisation")
    with pytest.raises(custodian.Invalid) as refused:
        admin.create_checked({"organisation": "星辰科技", "credit_code": CODE.lower()}, check="refuse", kind="organisation")
    assert refused.value.rule == "possible_duplicate" and CODE not in refused.value.message
    second, pairs = admin.create_checked({"organisation": "星辰科技", "credit_code": CODE}, kind="organisation")
    assert [(p["first"], p["second"], p["reasons"]) for p in pairs] == [(first.id, second.id, ["same_credit_code"])]
