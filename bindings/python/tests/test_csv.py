"""CSV in and out from Python: a GBK spreadsheet with a bad row, progress,
rejected rows, hostile input, and an export of what the session sees."""

from __future__ import annotations

from ctypes import byref, c_void_p
from pathlib import Path

import pytest

import custodian
from custodian import _lib

HEADER = "编号,姓名,单位,手机,身份证号\r\n"


def spreadsheet() -> str:
    return (
        HEADER
        + "KH001,王五,星辰科技,13812345678,110101199003078515\r\n"
        + "KH002,李四,,not-a-mobile,\r\n"
        + '"KH003","张三","某某公司，北京",13912345678,\r\n'
    )


def test_a_gbk_file_imports_with_progress_and_re_imports_as_present(admin: custodian.Session, tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_bytes(spreadsheet().encode("gbk"))
    seen: list[tuple[int, int]] = []
    report = admin.import_csv(path, progress=lambda rows, done: seen.append((rows, done)))
    assert [r.slot for r in report.rows] == [2, 3, 4]
    assert [r.verified for r in report.rows] == [True, False, True]
    assert any("mobile_format" in p for p in report.rows[1].problems)
    assert not any("not-a-mobile" in p for p in report.rows[1].problems)
    assert seen[-1] == (3, path.stat().st_size)
    third = admin.get(report.rows[2].customer or 0)
    assert third["organisation"].text == "某某公司，北京"
    again = admin.import_csv(path.read_bytes(), encoding="gbk")
    assert again.rows == [] and [m.outcome for m in again.matched] == ["present"] * 3


def test_rejected_rows_and_hostile_files(store: custodian.Store) -> None:
    with store.session("admin", "service", mfa=True) as admin:
        report = admin.import_csv(spreadsheet().encode(), reject_invalid=True)
        assert len(report.rows) == 2 and [r.slot for r in report.rejected] == [3]
        assert report.rejected[0].customer is None and "mobile_format" in report.rejected[0].problems[0]
        with pytest.raises(custodian.Invalid) as unknown:
            admin.import_csv(b"name,shoe_size\r\nx,1\r\n")
        assert unknown.value.rule == "csv_unknown_column"
        with pytest.raises(custodian.Invalid) as empty:
            admin.import_csv(b"")
        assert empty.value.rule == "csv_empty"
        with pytest.raises(custodian.Invalid) as encoding:
            admin.import_csv(b"\x81\x20name\r\n")
        assert encoding.value.rule == "csv_encoding"
        with pytest.raises(custodian.Invalid):
            admin.import_csv(b"name\r\n", encoding="latin-1")
        with pytest.raises(TypeError):
            admin.import_csv(42)  # type: ignore[arg-type]
        with pytest.raises(ZeroDivisionError):
            admin.import_csv(b"name\r\nx\r\n", progress=lambda rows, done: [][0] if False else 1 // 0)


def test_an_export_shows_what_the_session_sees(admin: custodian.Session, store: custodian.Store, tmp_path: Path) -> None:
    admin.import_csv(spreadsheet().encode())
    admin.create({"name": "赵六", "notes": "=cmd|' /C calc'!A0"})
    with store.session("clerk", "service") as clerk:
        data = clerk.export_csv(columns=["name", "id_number", "notes"])
        assert isinstance(data, bytes)
        text = data.decode()
        assert text.startswith("name,id_number,notes\r\n王五,1101**********8515,\r\n")
        assert "'=cmd" in text and "110101199003078515" not in text
    written = admin.export_csv(tmp_path / "out.csv", encoding="gbk", chinese_headers=True)
    assert written == 4
    decoded = (tmp_path / "out.csv").read_bytes().decode("gb18030")
    assert decoded.startswith("编号,类型,姓名")
    with pytest.raises(custodian.Error):
        admin.export_csv(tmp_path / "out.csv")  # refuses to overwrite
    with pytest.raises(custodian.Invalid):
        admin.export_csv(columns=["name", "name"])
    assert admin.export_csv(columns=["name"], kind="organisation") == b"name\r\n"



# Rows 2-3 good; 4 an invalid mobile; 5 repeats row 2's 编号; 6 repeats row 3's mobile.
PROBLEMS = (
    "编号,姓名,单位,类别,职务,手机,邮箱,备注\r\n"
    "KH001,王五,星辰科技,零售,经理,13812345678,w@example.com,\r\n"
    "KH002,李四,星辰科技,零售,,13912345678,,\r\n"
    "KH003,张三,,,,not-a-mobile,,\r\n"
    "KH001,赵六,,,,13712345678,,\r\n"
    "KH004,钱七,,,,13912345678,,\r\n"
)


def customers(session: custodian.Session) -> int:
    return next(session.list(page_size=1), custodian.Page([], 0)).total


def test_a_problems_only_report_lists_the_rows_to_look_at_and_counts_the_rest(
    admin: custodian.Session, tmp_path: Path
) -> None:
    report = admin.import_csv(PROBLEMS.encode(), problems_only=True)
    # The invalid row and the one stored without its repeated code stay unverified.
    assert report.counts == custodian.ImportCounts(created=5, verified=3)
    assert [r.slot for r in report.rows] == [4, 5, 6]
    assert [r.verified for r in report.rows] == [False, False, True]
    rules = ["(mobile_format)", "(duplicate_code)", "(duplicate_mobile)"]
    assert [rule in row.problems[0] for rule, row in zip(rules, report.rows)] == [True] * 3
    assert "row 3 (customer" in report.rows[2].problems[0] and "13912345678" not in report.rows[2].problems[0]
    assert report.matched == [] and report.rejected == []
    # Again, from a file: every row matched, only the conflict (row 5, stored without its code) listed.
    path = tmp_path / "problems.csv"
    path.write_bytes(PROBLEMS.encode())
    again = admin.import_csv(path, encoding="utf-8", problems_only=True)
    assert again.counts == custodian.ImportCounts(already_present=4, conflicts=1)
    assert again.rows == [] and [(m.slot, m.outcome) for m in again.matched] == [(5, "conflict")]
    assert customers(admin) == 5
    # Rejected rows are always listed; the rows that went well only counted.
    bad = "编号,姓名,手机\r\nKH010,钱七,13700000010\r\nKH011,孙八,12345\r\n".encode()
    rejected = admin.import_csv(bad, reject_invalid=True, problems_only=True)
    assert rejected.counts == custodian.ImportCounts(created=1, verified=1, rejected=1)
    assert rejected.rows == [] and [r.slot for r in rejected.rejected] == [3]
    with pytest.raises(custodian.Invalid):
        admin.import_csv(PROBLEMS.encode(), encoding="latin-1", problems_only=True)
    with pytest.raises(TypeError):
        admin.import_csv(PROBLEMS.encode(), encoding=8, problems_only=True)  # type: ignore[arg-type]
    assert customers(admin) == 6


def test_without_problems_only_the_report_is_full_and_counted_the_same(admin: custodian.Session) -> None:
    report = admin.import_csv(PROBLEMS.encode())
    assert len(report.rows) == 5 and report.counts == custodian.ImportCounts(created=5, verified=3)
    again = admin.import_csv(PROBLEMS.encode())
    assert [m.outcome for m in again.matched] == ["present", "present", "present", "conflict", "present"]
    assert again.counts == custodian.ImportCounts(already_present=4, conflicts=1)


def test_the_options_json_refuses_an_unknown_key_and_imports_nothing(admin: custodian.Session) -> None:
    data = PROBLEMS.encode()
    out = c_void_p()
    for options in [b'{"problems_only": true, "shoe_size": 42}', b'{"problems_only": "yes"}', b"[true]"]:
        status = _lib.lib.cust_import_csv_with(admin.handle, data, len(data), options, _lib.PROGRESS_SINK(0), None, byref(out))
        assert status == custodian.STATUS["INVALID"] and not out.value
        assert "invalid import options JSON" in _lib.last_error()
    assert customers(admin) == 0
    # NULL options are the defaults: the full report.
    assert _lib.lib.cust_import_csv_with(admin.handle, data, len(data), None, _lib.PROGRESS_SINK(0), None, byref(out)) == 0
    try:
        assert _lib.lib.cust_import_report_len(out) == 5
    finally:
        _lib.lib.cust_import_report_free(out)
