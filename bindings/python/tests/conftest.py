"""Shared fixtures: a provisioned store in a temporary directory."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator

import pytest

import custodian

KEY = bytes([7] * 32)
NEW_KEY = bytes([9] * 32)
TOOLS = Path(__file__).resolve().parent.parent / "tools"
HEADER = Path(__file__).resolve().parents[3] / "include" / "custodian.h"
sys.path.insert(0, str(TOOLS))


def provision(store: custodian.Store) -> None:
    """An administrator, a clerk, a marketer and an auditor, as the C test has."""
    store.set_login_policy(3, 600, 100_000)
    store.bootstrap_admin("admin", "Administrator")
    with store.session("admin", "maintenance", mfa=True) as admin:
        for principal, name, role in [
            ("clerk", "李娜", "customer_service"),
            ("marketer", "陈晨", "marketing"),
            ("auditor", "审计员", "auditor"),
        ]:
            admin.register_principal(principal, name)
            admin.grant(principal, role)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[custodian.Store]:
    with custodian.Store.create(tmp_path / "store", KEY) as s:
        provision(s)
        yield s


@pytest.fixture
def admin(store: custodian.Store) -> Iterator[custodian.Session]:
    with store.session("admin", "service", mfa=True) as s:
        yield s


def person(i: int, **extra: str) -> dict[str, str]:
    """A valid individual customer's fields."""
    fields = {
        "external_code": f"KH{i:05}",
        "name": "王五",
        "mobile": f"139{i:08}",
        "email": f"user{i}@example.com",
        "id_number": "",
        "notes": f"第{i}位客户",
    }
    del fields["id_number"]
    fields.update(extra)
    return fields
