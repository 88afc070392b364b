"""Sessions work from several threads (the GIL is released during library
calls), library-owned results are freed, and secrets handed in are wiped."""

from __future__ import annotations

import threading

import custodian

from conftest import person


def rss_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def test_sessions_work_from_several_threads(store: custodian.Store) -> None:
    failures: list[BaseException] = []

    def work(n: int) -> None:
        try:
            with store.session("admin", "service", mfa=True) as s:
                for i in range(20):
                    made = s.create(person(n * 100 + i))
                    assert s.get(made.id).id == made.id
        except BaseException as e:  # noqa: BLE001 - reported below
            failures.append(e)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    with store.session("admin", "service", mfa=True) as s:
        assert next(s.list(page_size=1)).total == 80
    assert store.verify_audit() > 160


def test_one_session_is_shared_between_threads(admin: custodian.Session) -> None:
    made = admin.create(person(1))
    errors: list[BaseException] = []

    def read() -> None:
        try:
            for _ in range(50):
                assert admin.get(made.id).id == made.id
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=read) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_100000_library_results_are_freed(admin: custodian.Session) -> None:
    admin.create_json({"fields": {"name": "王五"}})  # warm up
    for i in range(100):
        admin.create(person(i))
    # 1,000 pages of 100 customers: 100,000 customer handles and JSON strings
    # made and freed by the library, plus 1,000 lists.
    def pages(n: int) -> None:
        for _ in range(n):
            page = next(admin.list(page_size=100))
            assert len(page) == 100
    pages(50)
    before = rss_kib()
    pages(1000)
    grown = rss_kib() - before
    assert grown < 8 * 1024, f"RSS grew by {grown} KiB over 100,000 results"


def test_key_bytes_and_passphrases_handed_in_are_wiped(tmp_path) -> None:  # type: ignore[no-untyped-def]
    key = bytearray(range(32))
    custodian.Store.create(tmp_path / "k", key).close()
    assert key == bytearray(32), "the caller's bytearray is wiped after the call"
    secret = bytearray(b"a passphrase to wipe")
    custodian.Store.create(tmp_path / "p", passphrase=secret, kdf_iterations=100_000).close()
    assert secret == bytearray(len(secret))
    from custodian import _lib

    held = _lib.key_secret(bytes(range(32)))
    with held:
        assert held.buffer.raw[:32] == bytes(range(32))
    assert held.buffer.raw == bytes(len(held.buffer.raw)), "the binding's own buffer is wiped"


def test_the_gil_is_released_during_a_library_call(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import time

    secret = "a slow passphrase 2026"
    custodian.Store.create(tmp_path / "slow", passphrase=secret, kdf_iterations=1_000_000).close()
    opened: list[float] = []

    def open_slowly() -> None:
        start = time.perf_counter()
        custodian.Store.open(tmp_path / "slow", passphrase=secret).close()  # PBKDF2, 1,000,000 rounds
        opened.append(time.perf_counter() - start)

    thread = threading.Thread(target=open_slowly)
    spins = 0
    thread.start()
    while thread.is_alive():
        spins += 1
    thread.join()
    # While the library derived the key, this thread kept running Python.
    assert opened and opened[0] > 0.05
    # (Holding the GIL, as ctypes.PyDLL does, leaves about 11,000 turns; released, about 400,000.)
    assert spins > 100_000, f"only {spins} loop turns in {opened[0]:.3f} s: the GIL was held"
