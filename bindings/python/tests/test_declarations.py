"""The ctypes declarations cannot drift from the C header, and every C
function is reached from the Pythonic layer."""

from __future__ import annotations

import re
from pathlib import Path

import gen_declarations  # from tools/, see conftest.py

import custodian
from custodian import _declarations, errors

from conftest import HEADER

PACKAGE = Path(custodian.__file__).resolve().parent

#: Functions deliberately reached only from the low-level layer, with why.
LOW_LEVEL_ONLY: dict[str, str] = {
    "cust_import_csv": "Session.import_csv calls cust_import_csv_with, which takes every option (problems_only too)",
    "cust_import_csv_file": "Session.import_csv calls cust_import_csv_file_with, which takes every option",
}


def test_the_declarations_are_what_the_header_generates() -> None:
    generated = gen_declarations.render(HEADER.read_text(encoding="utf-8"))
    checked_in = (PACKAGE / "_declarations.py").read_text(encoding="utf-8")
    assert generated == checked_in, "include/custodian.h changed: run bindings/python/tools/gen_declarations.py"


def test_every_function_of_the_header_is_declared() -> None:
    code = gen_declarations._strip_comments(HEADER.read_text(encoding="utf-8"))
    names = set(re.findall(r"\b(cust_\w+)\s*\(", code))
    assert names == set(_declarations.FUNCTIONS)
    assert len(_declarations.FUNCTIONS) >= 90


def test_a_function_added_to_the_header_is_caught() -> None:
    header = HEADER.read_text(encoding="utf-8") + "\ncust_status cust_new_thing(const struct cust_session *session, int64_t id);\n"
    functions, _ = gen_declarations.parse(header)
    assert functions["cust_new_thing"] == ("c_uint32", ["c_void_p", "c_int64"])
    assert gen_declarations.render(header) != (PACKAGE / "_declarations.py").read_text(encoding="utf-8")


def test_every_function_is_reached_from_the_pythonic_layer() -> None:
    sources = "".join(
        p.read_text(encoding="utf-8") for p in PACKAGE.glob("*.py") if p.name != "_declarations.py"
    )
    missing = [
        n
        for n in _declarations.FUNCTIONS
        if n not in LOW_LEVEL_ONLY and not re.search(rf'"{n}"|\.{n}\b', sources)
    ]
    assert missing == [], f"C functions no Python method reaches: {missing}"


def test_every_status_has_its_exception_class_and_text() -> None:
    for name, status in _declarations.CUST_STATUS.items():
        assert custodian.status_text(status), name
        error = errors.error_for(status, name.lower(), "message")
        assert isinstance(error, custodian.Error)
    assert isinstance(errors.error_for(30, "denied", "x"), custodian.Denied)
    assert isinstance(errors.error_for(84, "backup_chain", "x"), custodian.BackupError)
    assert custodian.library_version()


def test_the_readme_example_runs(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    readme = (HEADER.parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Python") :]
    example = section[section.index("```python") + len("```python") : section.index("```", section.index("```python") + 9)]
    monkeypatch.chdir(tmp_path)
    exec(compile(example, "README.md (Python)", "exec"), {})
    assert (tmp_path / "python-demo.cbk").exists()
