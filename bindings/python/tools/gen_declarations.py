"""Generates ``src/custodian/_declarations.py`` from ``include/custodian.h``.

The ctypes layer is never written by hand: every function's result and
argument types, and every enum's values, come from the C header. Run this
after the header changes (``python3 bindings/python/tools/gen_declarations.py``);
``tests/test_declarations.py`` fails while the checked-in file differs from
what this script would write.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PACKAGE = HERE.parent
HEADER = PACKAGE.parent.parent / "include" / "custodian.h"
OUTPUT = PACKAGE / "src" / "custodian" / "_declarations.py"

# C types as the header spells them (const and struct dropped, spaces
# normalised) -> the name of the ctypes type ``_lib.py`` resolves.
SCALARS = {
    "void": "None",
    "bool": "c_bool",
    "size_t": "c_size_t",
    "int64_t": "c_int64",
    "uint64_t": "c_uint64",
    "uint32_t": "c_uint32",
    "cust_status": "c_uint32",
    "cust_text_sink": "TEXT_SINK",
    "cust_progress_sink": "PROGRESS_SINK",
}
POINTERS = {
    "char *": "c_char_p",  # NUL-terminated text, or a caller's buffer
    "char **": "POINTER(c_void_p)",  # a library-owned string to free
    "uint8_t *": "c_void_p",  # bytes in, or a buffer to wipe
    "uint8_t **": "POINTER(c_void_p)",  # library-owned bytes to free
    "void *": "c_void_p",
    "size_t *": "POINTER(c_size_t)",
    "int64_t *": "POINTER(c_int64)",
    "uint64_t *": "POINTER(c_uint64)",
    "uint32_t *": "POINTER(c_uint32)",
    "bool *": "POINTER(c_bool)",
}


def _strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def _ctype(decl: str) -> str:
    """The ctypes name of one C type (an argument without its name, or a result)."""
    if re.fullmatch(r"\s*const\s+char\s*\*\s*const\s*\*\s*", decl):
        return "POINTER(c_char_p)"  # an array of paths
    decl = " ".join(decl.replace("const", " ").replace("struct", " ").split())
    decl = re.sub(r"\s*\*", " *", decl).replace("* *", "**").strip()
    if decl in SCALARS:
        return SCALARS[decl]
    base, _, stars = decl.partition(" ")
    if base.startswith("cust_") and stars in ("*", "**"):
        return "c_void_p" if stars == "*" else "POINTER(c_void_p)"
    key = f"{base} {stars}"
    if key in POINTERS:
        return POINTERS[key]
    raise ValueError(f"no ctypes mapping for C type {decl!r}")


def _argument_type(argument: str) -> str:
    argument = " ".join(argument.split())
    match = re.match(r"(.*?)(\w+)$", argument)
    if argument == "void":
        return ""
    if not match:
        raise ValueError(f"cannot read argument {argument!r}")
    return _ctype(match.group(1))


def parse(header: str) -> tuple[dict[str, tuple[str, list[str]]], dict[str, dict[str, int]]]:
    """The header's functions (name -> (result, arguments)) and enums (name -> members)."""
    text = _strip_comments(header)
    functions: dict[str, tuple[str, list[str]]] = {}
    for match in re.finditer(r"([A-Za-z_][\w \*]*?)\b(cust_\w+)\s*\(([^;{]*?)\)\s*;", text, flags=re.S):
        result, name, arguments = match.groups()
        if result.strip().startswith("typedef"):
            continue
        args = [_argument_type(a) for a in arguments.split(",")] if arguments.strip() != "void" else []
        functions[name] = (_ctype(result), [a for a in args if a])
    enums: dict[str, dict[str, int]] = {}
    for match in re.finditer(r"enum\s+(cust_\w+)[^{;]*\{(.*?)\}", text, flags=re.S):
        name, body = match.groups()
        prefix = name.upper() + "_"
        members = {}
        for member in re.finditer(r"(\w+)\s*=\s*(\d+)", body):
            members[member.group(1).removeprefix(prefix)] = int(member.group(2))
        enums[name] = members
    return functions, enums


def render(header: str) -> str:
    """The text of ``_declarations.py`` for ``header``."""
    functions, enums = parse(header)
    lines = [
        '"""The C API as ctypes sees it: generated from include/custodian.h by',
        "tools/gen_declarations.py. Do not edit; regenerate.",
        '"""',
        "",
        "# name -> (result type, argument types), as names of ctypes types.",
        "FUNCTIONS: dict[str, tuple[str, list[str]]] = {",
    ]
    for name in sorted(functions):
        result, args = functions[name]
        rendered = ", ".join(f'"{a}"' for a in args)
        lines.append(f'    "{name}": ("{result}", [{rendered}]),')
    lines.append("}")
    for name in sorted(enums):
        lines.append("")
        lines.append(f"# enum {name}")
        lines.append(f"{name.upper()}: dict[str, int] = {{")
        for member, value in enums[name].items():
            lines.append(f'    "{member}": {value},')
        lines.append("}")
    return "\n".join(lines) + "\n"


def main() -> int:
    OUTPUT.write_text(render(HEADER.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
