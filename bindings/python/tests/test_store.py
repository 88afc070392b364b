"""The Pythonic layer end to end: stores, sessions, customers, principals,
consent, audit, import, data-subject requests, retention, backups, keys."""

from __future__ import annotations

import hashlib
import hmac
import struct
import time
from pathlib import Path

import pytest

import custodian
from custodian import Shown

from conftest import KEY, NEW_KEY, person, provision


def totp(secret: bytes, at: float) -> str:
    """RFC 6238 (SHA-1, 6 digits, 30 s), for logging in with an enrolled second factor."""
    mac = hmac.new(secret, struct.pack(">Q", int(at) // 30), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    return f"{(struct.unpack('>I', mac[offset:offset + 4])[0] & 0x7FFFFFFF) % 1_000_000:06d}"


def test_stores_open_as_context_managers_with_a_key_or_a_passphrase(tmp_path: Path) -> None:
    with pytest.raises(custodian.NotAStore):
        custodian.Store.open(tmp_path / "nowhere", KEY)
    with custodian.Store.create(tmp_path / "a", KEY) as store:
        provision(store)
    with pytest.raises(custodian.AlreadyExists):
        custodian.Store.create(tmp_path / "a", KEY)
    with pytest.raises(custodian.WrongKey) as wrong:
        custodian.Store.open(tmp_path / "a", NEW_KEY)
    assert wrong.value.status == 40 and wrong.value.code == "wrong_key"
    with custodian.Store.open(tmp_path / "a", KEY) as store:
        assert store.verify_audit() > 0
    with custodian.Store.create(tmp_path / "p", passphrase="a passphrase 2026", kdf_iterations=100_000) as store:
        store.bootstrap_admin("admin", "Admin")
    with custodian.Store.open(tmp_path / "p", passphrase="a passphrase 2026") as store:
        with store.session("admin", "service") as s:
            assert not s.mfa
    with pytest.raises(custodian.Invalid):
        custodian.Store.create(tmp_path / "q", passphrase="a passphrase 2026", kdf_iterations=99_999)
    with pytest.raises(TypeError):
        custodian.Store.open(tmp_path / "a", KEY, passphrase="both")
    with pytest.raises(custodian.Invalid) as short:
        custodian.Store.open(tmp_path / "a", b"short")
    assert short.value.rule == "key_length"


def test_customers_are_created_read_updated_listed_searched_and_deleted(store: custodian.Store, admin: custodian.Session) -> None:
    created = [admin.create(person(i)) for i in range(12)]
    first = created[0]
    assert first["name"].text == "王五" and first["name"].shown is Shown.PLAIN
    assert first["tags"].shown is Shown.ABSENT and not first["tags"]
    assert admin.get_by_code("KH00000").id == first.id
    updated = admin.update(first.id, {"notes": "VIP", "email": None}, version=first.version)
    assert updated.version == first.version + 1 and updated["notes"].text == "VIP" and not updated["email"]
    with pytest.raises(custodian.VersionConflict):
        admin.update(first.id, {"notes": "late"}, version=first.version)
    assert [c.id for c in admin.find_by_mobile("139 0000 0003")] == [created[3].id]
    assert [c.id for c in admin.find_by_email("user4@example.com")] == [created[4].id]
    assert admin.find_by_id_number("110101199003078515") == []
    pages = list(admin.list(sort="external_code", page_size=5))
    assert [len(p) for p in pages] == [5, 5, 2] and pages[0].total == 12
    assert [c["external_code"].text for c in pages[0]] == [f"KH{i:05}" for i in range(5)]
    backwards = next(admin.list(sort="external_code", descending=True, page_size=3))
    assert backwards[0]["external_code"].text == "KH00011"
    assert sum(len(p) for p in admin.search("第1", page_size=2)) == 3  # 第1, 第10, 第11
    again = admin.get(first.id)
    assert again.version == updated.version and again.as_dict()["notes"] == "VIP" and "email" not in again.values
    org = admin.create({"organisation": "星辰科技有限公司", "category": "批发"}, kind="organisation")
    assert org["kind"].text == "organisation"
    assert [c.id for p in admin.list(kind="organisation") for c in p] == [org.id]
    assert [c.id for p in admin.list(category="批发", kind="organisation") for c in p] == [org.id]
    assert next(admin.list(kind="individual")).total == 12
    assert list(admin.list(tier="C")) == []
    with pytest.raises(custodian.Invalid) as tier:
        next(admin.list(tier="no such tier"))
    assert tier.value.field == "tier" and tier.value.rule == "choice"
    json_made = admin.create_json({"fields": {"name": "赵六", "mobile": "13700000001"}})
    assert json_made["mobile"].text == "13700000001"
    admin.delete(json_made.id)
    with pytest.raises(custodian.NotFound):
        admin.get(json_made.id)
    with pytest.raises(custodian.DuplicateCode):
        admin.create(person(1))
    with pytest.raises(ValueError):
        list(admin.list(sort="shoe_size"))


def test_a_clerk_sees_masked_and_withheld_fields_and_a_marketer_only_consenting_customers(
    store: custodian.Store, admin: custodian.Session
) -> None:
    c = admin.create(person(1, id_number="110101199003078515"))
    with store.session("clerk", "service") as clerk:
        seen = clerk.get(c.id)
        assert seen["id_number"].shown in (Shown.MASKED, Shown.WITHHELD)
        assert seen["id_number"].text != "110101199003078515"
        with pytest.raises(custodian.Denied) as denied:
            clerk.erase(c.id, "not allowed")
        assert denied.value.rule and denied.value.status == 30
        assert "denied" in clerk.last_error
    with store.marketing_session("marketer", "sms") as marketer:
        with pytest.raises(custodian.Denied):
            marketer.get(c.id)
    with store.session("clerk", "service") as clerk:
        clerk.record_consent(c.id, "marketing", "sms", True, source="web_form", policy_version="v1")
        assert clerk.consents(c.id)[-1]["granted"] is True
    with store.marketing_session("marketer", "sms", auth_time=time.time()) as marketer:
        assert marketer.get(c.id).id == c.id


def test_principals_roles_logins_and_the_access_review(store: custodian.Store, admin: custodian.Session) -> None:
    admin.register_principal("temp", "临时工")
    admin.define_role(
        {
            "name": "reader",
            "description": "reads for service",
            "rules": [{"id": "read", "actions": ["read"], "purposes": ["service"], "levels": ["L2", "L3"], "fields": [], "effect": "allow", "requires_mfa": False, "max_auth_age_secs": None}],
            "without_mfa": "mask",
        }
    )
    admin.grant("temp", "reader", expires_at=int(time.time() * 1000) + 3_600_000)
    admin.grant("temp", "customer_service")
    admin.revoke_role("temp", "reader")
    admin.set_password("temp", "correct horse battery")
    with store.login("temp", "correct horse battery", "service") as s:
        assert s.mfa is False
    with pytest.raises(custodian.Denied) as failed:
        store.login("temp", "wrong password 1", "service")
    assert failed.value.rule == "login.failed"
    secret = admin.enrol_totp("temp")
    assert len(secret) >= 20
    with store.login("temp", "correct horse battery", "service", code=totp(secret, time.time())) as s:
        assert s.mfa is True
    for _ in range(3):
        with pytest.raises(custodian.Denied):
            store.login("temp", "wrong again", "service", code="000000")
    with pytest.raises(custodian.Denied) as locked:
        store.login("temp", "correct horse battery", "service", code=totp(secret, time.time()))
    assert locked.value.rule == "login.locked"
    admin.unlock("temp")
    # A code is accepted once: the next step's code (within the window) logs in again.
    store.login("temp", "correct horse battery", "service", code=totp(secret, time.time() + 30)).close()
    review = admin.access_review(stale_after_days=30)
    assert any(p["id"] == "temp" for p in review["principals"])
    admin.revoke_principal("temp", "contract ended")
    with pytest.raises(custodian.Denied):
        store.session("temp", "service")


def test_audit_queries_verification_and_checkpoints(tmp_path: Path) -> None:
    kept: list[custodian.Checkpoint] = []
    receipts: list[str] = []
    store = custodian.Store.create(tmp_path / "audited", KEY)
    store.set_checkpoints(every_entries=2, every_secs=60, on_checkpoint=kept.append, on_receipt=receipts.append)
    provision(store)
    admin = store.session("admin", "service", mfa=True)
    with pytest.raises(custodian.Invalid) as late:
        store.set_checkpoints(every_entries=2)
    assert late.value.rule == "store_shared"
    c = admin.create(person(1))
    admin.get(c.id)
    assert kept and isinstance(kept[-1], custodian.Checkpoint)
    cp = store.checkpoint()
    again = custodian.Checkpoint.parse(str(cp))
    assert again == cp and store.verify_audit(again) >= 3
    with pytest.raises(ValueError):
        custodian.Checkpoint.parse("not a checkpoint")
    with store.session("auditor", "compliance") as auditor:
        entries = auditor.audit(customer=c.id)
        assert [e["action"] for e in entries][:2] == ["customer.create", "customer.get"]
        assert auditor.audit(principal="admin", limit=1) and auditor.audit(since=time.time() + 3600) == []
        with pytest.raises(custodian.Invalid) as window:
            auditor.audit(since=2000, until=1000)
        assert window.value.rule == "time_window" and window.value.status == 103
    with store.session("admin", "compliance", mfa=True) as dpo:
        dpo.erase(c.id, "dsr-1")
    assert receipts and receipts[-1].startswith("custodian erasure receipt v1")
    admin.close()
    store.close()


def khzl_file() -> bytearray:
    """The prototype's saved file: 220-byte GBK records, an empty slot, a bad mobile."""
    data = bytearray(3 * 220)
    def put(record: int, offset: int, value: bytes) -> None:
        data[record * 220 + offset:record * 220 + offset + len(value)] = value
    put(0, 0, b"KH01"); put(0, 10, "王五".encode("gbk")); put(0, 95, b"13800000001")
    put(1, 0, b"-1")
    put(2, 0, b"KH02"); put(2, 10, "李四".encode("gbk")); put(2, 95, b"12345")
    return data


def test_the_legacy_khzl_file_imports_with_its_report(admin: custodian.Session) -> None:
    data = khzl_file()
    with pytest.raises(custodian.Invalid):
        admin.import_khzl(bytes(data[:-7]))
    report = admin.import_khzl(bytes(data))
    assert [(r.slot, r.verified, len(r.problems)) for r in report.rows] == [(1, True, 0), (3, False, 1)]
    assert "mobile" in report.rows[1].problems[0] and "12345" not in report.rows[1].problems[0]
    assert len(report.imported) == 2 and report.matched == []
    assert report.counts == custodian.ImportCounts(created=2, verified=1)
    again = admin.import_khzl(bytes(data))
    assert again.rows == [] and [m.outcome for m in again.matched] == ["present", "present"]
    data[10:14] = "张三".encode("gbk")
    conflict = admin.import_khzl(bytes(data))
    assert conflict.matched[0].outcome == "conflict" and conflict.matched[0].fields == ["name"]
    updated = admin.import_khzl(bytes(data), update=True)
    assert updated.matched[0].outcome == "updated"
    assert updated.counts == custodian.ImportCounts(already_present=1, updated=1)
    unverified = admin.get(report.rows[1].customer)
    admin.update(unverified.id, {"mobile": "13800000002"}, version=unverified.version)
    admin.verify(unverified.id, version=unverified.version + 1)


def test_data_subject_requests_holds_and_retention(store: custodian.Store) -> None:
    with store.session("admin", "compliance", mfa=True) as dpo:
        c = dpo.create(person(1))
        exported = dpo.export(c.id)
        assert "access_history" in exported
        fixed = dpo.rectify(c.id, {"email": "right@example.com"}, version=c.version, request="dsr-2")
        assert fixed["email"].text == "right@example.com"
        dpo.restrict(c.id, "objection")
        with store.session("clerk", "service") as clerk, pytest.raises(custodian.Denied) as restricted:
            clerk.get(c.id)
        assert restricted.value.rule == "subject.restricted"
        dpo.lift_restriction(c.id)
        dpo.place_hold(c.id, "case-9")
        with pytest.raises(custodian.LegalHold):
            dpo.erase(c.id, "dsr-3")
        dpo.lift_hold(c.id)
        dpo.define_retention({"id": "old", "rule": {"rule": "inactive_for", "days": 3650}, "method": "crypto_shred"})
        assert dpo.sweep()["destroyed"] == []
        dpo.erase(c.id, "dsr-3")
        with pytest.raises(custodian.NotFound):
            dpo.get(c.id)


def test_backups_increments_restores_and_key_rotation(tmp_path: Path) -> None:
    live = tmp_path / "live"
    full, inc, extracted = tmp_path / "full.cbk", tmp_path / "inc.cbk", tmp_path / "extracted"
    with custodian.Store.create(live, KEY) as store:
        provision(store)
        with store.session("admin", "compliance", mfa=True) as a:
            keep = a.create(person(1))
            gone = a.create(person(2))
            manifest = store.backup(full)
            assert manifest["kind"] == "full" and manifest["key_generation"] == 1
            with pytest.raises(custodian.AlreadyExists):
                store.backup(full)
            a.erase(gone.id, "dsr-4")
            late = a.create(person(3))
            store.rotate_key(NEW_KEY)
            assert a.get(keep.id).id == keep.id  # sessions go on across a rotation
            increment = store.backup_increment(inc, full)
            assert increment["kind"] == "increment" and increment["parent"] == manifest["backup_id"]
            assert increment["key_generation"] == 2
    assert custodian.Store.backup_manifest(inc) == increment
    assert custodian.Store.verify_backup(full, KEY) == 2
    assert custodian.Store.verify_backup([full, inc], NEW_KEY) == 2
    with pytest.raises(custodian.BackupError) as wrong:
        custodian.Store.verify_backup(full, NEW_KEY)
    assert wrong.value.code == "backup_key"
    with pytest.raises(custodian.BackupError) as chain:
        custodian.Store.verify_backup([inc, full], NEW_KEY)
    assert chain.value.code == "backup_chain"
    cut = tmp_path / "cut.cbk"
    cut.write_bytes(full.read_bytes()[:300])
    with pytest.raises(custodian.BackupError) as truncated:
        custodian.Store.verify_backup(cut, KEY)
    assert truncated.value.code == "backup_truncated"
    custodian.Store.extract_backup([full, inc], extracted, NEW_KEY)
    assert (extracted / "customers.db").exists()
    # The full backup alone, made under the old key: the erasure stands, the late customer goes.
    report = custodian.Store.restore(full, live, NEW_KEY, backup_key=KEY)
    assert report["removed_by_ledger"] == 1 and report["removed"] == [late.id]
    # The chain: the state at the increment.
    report = custodian.Store.restore([full, inc], live, NEW_KEY)
    assert report["restored"] == 2
    with custodian.Store.open(live, NEW_KEY) as store, store.session("admin", "service", mfa=True) as a:
        assert a.get(late.id).id == late.id
        with pytest.raises(custodian.NotFound):
            a.get(gone.id)
        with pytest.raises(custodian.StoreOpen):
            custodian.Store.restore(full, live, NEW_KEY, backup_key=KEY)
        cp = store.checkpoint()
    # Total loss: refused without the outside record, accepted with an acknowledgement.
    lost = tmp_path / "lost"
    with pytest.raises(custodian.Invalid) as refused:
        custodian.Store.restore(full, lost, KEY)
    assert refused.value.rule == "outside_record_required"
    with pytest.raises(custodian.Invalid):
        custodian.Store.restore(full, lost, KEY, checkpoint="not a checkpoint")
    report = custodian.Store.restore(full, lost, KEY, acknowledge_lost_history=True)
    assert report["keys_restored"] is True and report["unknown_through"] is None
    report = custodian.Store.restore(full, tmp_path / "lost2", KEY, checkpoint=cp, receipts=[])
    assert report["unknown_through"] is not None
    with pytest.raises(ValueError):
        custodian.Store.restore([full, inc], live, NEW_KEY, acknowledge_lost_history=True)


def test_passphrase_backups_and_rotation(tmp_path: Path) -> None:
    path, full, inc, out = tmp_path / "p", tmp_path / "full.cbk", tmp_path / "inc.cbk", tmp_path / "out"
    secret = "passphrase store 2026"
    with custodian.Store.create(path, passphrase=secret, kdf_iterations=100_000) as store:
        store.bootstrap_admin("admin", "Admin")
        with store.session("admin", "service") as a:
            a.create(person(1))
        store.backup(full)
        store.backup_increment(inc, full)
        with pytest.raises(custodian.StoreOpen):
            custodian.Store.restore(full, path, passphrase=secret)
        with pytest.raises(custodian.StoreOpen):
            custodian.Store.restore([full, inc], path, passphrase=secret)
    assert custodian.Store.verify_backup(full, passphrase=secret) == 1
    assert custodian.Store.verify_backup([full, inc], passphrase=bytearray(secret.encode())) == 1
    custodian.Store.extract_backup([full, inc], out, passphrase=secret)
    assert custodian.Store.restore([full, inc], path, passphrase=secret)["restored"] == 1
    assert custodian.Store.restore(full, path, passphrase=secret)["restored"] == 1
    with custodian.Store.open(path, passphrase=secret) as store:
        store.rotate_key(passphrase="the next passphrase 2027", kdf_iterations=100_000)
    with pytest.raises(custodian.WrongKey):
        custodian.Store.open(path, passphrase=secret)
    custodian.Store.open(path, passphrase="the next passphrase 2027").close()


def test_an_erasure_that_a_reader_keeps_from_emptying_the_logs_stands_and_owes_the_purge(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "s"
    # The reader must be another process: POSIX locks taken by this
    # process's own sqlite3 module would not hold back the library's
    # checkpoint.
    hold = (
        "import sqlite3, sys\n"
        "c = sqlite3.connect(sys.argv[1] + '/keys.db', isolation_level=None)\n"
        "c.execute('ATTACH DATABASE ? AS data', (sys.argv[1] + '/customers.db',))\n"
        "c.execute('BEGIN')\n"
        "c.execute('SELECT count(*) FROM data_keys').fetchone()\n"
        "c.execute('SELECT count(*) FROM data.customers').fetchone()\n"
        "print('reading', flush=True)\n"
        "sys.stdin.readline()\n"
        "c.execute('COMMIT')\n"
    )
    with custodian.Store.create(path, KEY) as store:
        provision(store)
        with store.session("admin", "service", mfa=True) as admin, store.session(
            "admin", "compliance", mfa=True
        ) as dpo:
            dpo.erase(admin.create(person(1)).id, "dsr-free")
            assert not store.purge_owed(), "nothing held the logs"
            store.purge_logs()
            gone = admin.create(person(2)).id
            reader = subprocess.Popen(
                [sys.executable, "-c", hold, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
            )
            try:
                assert reader.stdout is not None and reader.stdin is not None
                assert reader.stdout.readline().strip() == "reading"
                dpo.erase(gone, "dsr-held")  # waits out the 5 s busy timeout, then stands
                assert store.purge_owed(), "the erasure stands; the purge is owed"
                with pytest.raises(custodian.NotFound):
                    dpo.get(gone)
                reader.stdin.write("done\n")
                reader.stdin.flush()
                assert reader.wait(timeout=30) == 0
            finally:
                if reader.poll() is None:
                    reader.kill()
            store.purge_logs()
            assert not store.purge_owed()


def test_a_store_on_postgresql_when_the_environment_names_a_server(tmp_path: Path) -> None:
    import os
    import uuid

    data = os.environ.get("CUSTODIAN_TEST_DATABASE_URL")
    keys = os.environ.get("CUSTODIAN_TEST_KEY_STORE_URL")
    with pytest.raises(ValueError):
        custodian.Store.create_url("dbname=d\0", "dbname=k", KEY)
    with pytest.raises(TypeError):
        custodian.Store.open_url(None, "dbname=k", KEY)  # type: ignore[arg-type]
    if not data or not keys:
        # Built without the backend (invalid argument) or no server there (storage).
        with pytest.raises(custodian.Error) as refused:
            custodian.Store.open_url(
                "host=127.0.0.1 port=1 dbname=d connect_timeout=2", "host=127.0.0.1 port=1 dbname=k connect_timeout=2", KEY
            )
        assert refused.value.status in (103, 61)
        print("postgres: CUSTODIAN_TEST_DATABASE_URL is not set; only the refusals were checked")
        return
    schema = "py_" + uuid.uuid4().hex[:16]
    with pytest.raises(custodian.NotAStore):
        custodian.Store.open_url(data, keys, KEY, schema=schema)
    with pytest.raises(custodian.Invalid) as bad:
        custodian.Store.create_url(data, keys, KEY, schema="no such schema")
    assert bad.value.rule == "postgres_schema_name"
    with custodian.Store.create_url(data, keys, KEY, schema=schema) as store:
        with pytest.raises(custodian.AlreadyExists):
            custodian.Store.create_url(data, keys, KEY, schema=schema)
        provision(store)
        with store.session("admin", "service", mfa=True) as admin, store.session(
            "admin", "compliance", mfa=True
        ) as dpo:
            kept = admin.create(person(1)).id
            gone = admin.create(person(2)).id
            dpo.erase(gone, "dsr-pg")
            with pytest.raises(custodian.NotFound):
                dpo.get(gone)
        assert not store.purge_owed()
        assert store.verify_audit() >= 5
    with pytest.raises(custodian.WrongKey):
        custodian.Store.open_url(data, keys, NEW_KEY, schema=schema)
    with custodian.Store.open_url(data, keys, KEY, schema=schema) as store:
        with store.session("admin", "service", mfa=True) as admin:
            assert admin.get(kept)["name"].text == "王五"

    # A passphrase store in a schema of its own.
    with pytest.raises(custodian.Invalid):
        custodian.Store.create_url(data, keys, passphrase="short", kdf_iterations=100_000, schema=schema + "_p")
    with custodian.Store.create_url(
        data, keys, passphrase="a long passphrase 2026", kdf_iterations=100_000, schema=schema + "_p"
    ) as store:
        store.bootstrap_admin("admin", "Admin")
    with pytest.raises(custodian.WrongKey):
        custodian.Store.open_url(data, keys, passphrase="another long passphrase", schema=schema + "_p")
    with custodian.Store.open_url(data, keys, passphrase="a long passphrase 2026", schema=schema + "_p") as store:
        assert store.verify_audit() >= 1
