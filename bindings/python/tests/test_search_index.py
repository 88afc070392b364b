"""The encrypted keyword index from Python: a store created with search
settings, read back, searched through the index and rebuilt; refused
settings carry their rule."""

from __future__ import annotations

from pathlib import Path

import pytest

import custodian

KEY = bytes([7] * 32)


def first_page(session: custodian.Session, keyword: str) -> custodian.Page:
    return next(iter(session.search(keyword)))


def test_search_settings_are_chosen_at_creation_and_the_index_answers(tmp_path: Path) -> None:
    with custodian.Store.create(tmp_path / "s", KEY, search={"fields": ["name", "notes"], "token_bits": 24}) as store:
        assert store.search_settings() == {"fields": ["name", "notes"], "index": True, "token_bits": 24}
        store.bootstrap_admin("admin", "Administrator")
        with store.session("admin", "service", mfa=True) as admin:
            ids = [
                admin.create({"name": "赵六", "notes": notes, "title": "发票专员"}).id
                for notes in ["需要增值税发票", "普通咨询", "电子发票，VIP"]
            ]
            found = first_page(admin, "发票")
            assert [c.id for c in found] == [ids[0], ids[2]] and found.total == 2
            assert [c.id for c in first_page(admin, "ｖｉｐ")] == [ids[2]]
            assert list(admin.search("专员")) == []  # the title is not a search field here
            assert store.rebuild_search_index() == 3
            assert first_page(admin, "发票").total == 2
            assert any(e["action"] == "store.rebuild_search_index" for e in admin.audit())


def test_the_index_can_be_left_off_with_a_passphrase(tmp_path: Path) -> None:
    with custodian.Store.create(
        tmp_path / "p", passphrase="a long passphrase 2026", kdf_iterations=100_000, search={"index": False}
    ) as store:
        settings = store.search_settings()
        assert settings["index"] is False and "notes" in settings["fields"] and settings["token_bits"] == 20


@pytest.mark.parametrize(
    ("search", "rule"),
    [({"fields": ["id_number"]}, "catalogue.search_field"), ({"token_bits": 8}, "catalogue.search_token_bits")],
)
def test_refused_settings_name_their_rule(tmp_path: Path, search: dict[str, object], rule: str) -> None:
    with pytest.raises(custodian.Invalid) as refused:
        custodian.Store.create(tmp_path / "r", KEY, search=search)
    assert refused.value.rule == rule
    assert not (tmp_path / "r" / "customers.db").exists()


def test_unknown_keys_are_refused(tmp_path: Path) -> None:
    with pytest.raises(custodian.Invalid) as unknown:
        custodian.Store.create(tmp_path / "u", KEY, search={"colour": "red"})
    assert "invalid catalogue JSON" in unknown.value.message
