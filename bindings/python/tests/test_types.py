"""The package's type hints hold: mypy --strict finds nothing."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "custodian"


def test_the_package_type_checks_strictly() -> None:
    if importlib.util.find_spec("mypy") is None:
        assert "CI" not in os.environ, "mypy is required in CI (.ci/run installs it)"
        pytest.skip("mypy is not installed; `pip install mypy` to type-check the package")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(PACKAGE)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
