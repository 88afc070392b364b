"""Bad input from Python never crashes the process and never changes the
store: each is a clear TypeError / ValueError or a custodian.Invalid."""

from __future__ import annotations

from typing import Any, Callable

import pytest

import custodian

from conftest import person


def total(session: custodian.Session) -> int:
    return next(session.list(page_size=1), custodian.Page([], 0)).total


BAD_TEXT: list[tuple[Any, type[BaseException]]] = [
    (None, TypeError),
    (42, TypeError),
    (b"\xff\xfe not utf-8", TypeError),
    ("lone \udc80 surrogate", ValueError),
    ("embedded \0 nul", ValueError),
]


@pytest.mark.parametrize("value,error", BAD_TEXT)
def test_a_bad_text_argument_is_refused_before_the_library_sees_it(
    admin: custodian.Session, value: Any, error: type[BaseException]
) -> None:
    before = total(admin)
    calls: list[Callable[[], Any]] = [
        lambda: admin.get_by_code(value),
        lambda: admin.search(value),
        lambda: admin.find_by_mobile(value),
        lambda: admin.register_principal(value, "x"),
        lambda: admin.erase(1, value),
    ]
    if value is not None:  # None clears a field in an update: it is not a bad value there
        calls.append(lambda: admin.create({"name": value}))
    for call in calls:
        with pytest.raises(error):
            call()
    assert total(admin) == before


def test_huge_and_wrong_typed_values_are_refused_with_the_field_named(admin: custodian.Session) -> None:
    before = total(admin)
    with pytest.raises(custodian.Invalid) as huge:
        admin.create({"name": "王" * 200_000})
    assert huge.value.field == "name" and huge.value.rule
    with pytest.raises(ValueError):
        admin.create({"name": "x" * (17 * 1024 * 1024)})
    with pytest.raises(custodian.Invalid) as unknown:
        admin.create({"no_such_field": "x", "name": "y"})
    assert unknown.value.field == "no_such_field"
    with pytest.raises(TypeError):
        admin.create(["name", "王五"])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        admin.create({42: "x"})  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        admin.get("1")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        admin.get(2**64)
    with pytest.raises(TypeError):
        admin.import_khzl("not bytes")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        next(admin.list(page_size=0))
    with pytest.raises(TypeError):
        custodian.Store.open("x", "a str key")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        custodian.Store.open("x", passphrase=b"\xff\xfe")
    assert total(admin) == before
    created = admin.create(person(1))
    with pytest.raises(custodian.Invalid):
        admin.update(created.id, {"mobile": "12"}, version=created.version)
    assert admin.get(created.id).version == created.version, "a refused update changes nothing"


def test_a_wrong_kind_or_custom_attribute_is_reported(admin: custodian.Session) -> None:
    with pytest.raises(ValueError):
        admin.create({"name": "x"}, kind="robot")
    with pytest.raises(custodian.Error) as unknown:
        admin.create({"custom.loyalty_no": "A-1", "name": "王五"})
    assert "loyalty_no" in unknown.value.message
