"""CSV in and out from Python: a GBK spreadsheet with a bad row, progress,
rejected rows, hostile input, and an export of what the session sees."""

from __future__ import annotations

from pathlib import Path

import pytest

import custodian

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
