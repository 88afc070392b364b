"""The build step of the custodian Python package: builds the Rust library
with cargo and bundles ``libcustodian.so`` into the package.

``CUSTODIAN_CARGO_PROFILE`` (``release`` by default, or ``debug``) and
``CARGO_TARGET_DIR`` choose which build to bundle, so the tests can reuse
the library cargo already built; nothing of this is needed to import the
installed package.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

HERE = Path(__file__).resolve().parent
CRATE = HERE.parent.parent
LIBRARY = "libcustodian.so"


class BuildWithLibrary(build_py):
    """Runs cargo, then copies the shared library into the built package."""

    def run(self) -> None:
        super().run()
        profile = os.environ.get("CUSTODIAN_CARGO_PROFILE", "release")
        target = Path(os.environ.get("CARGO_TARGET_DIR", CRATE / "target"))
        if not (CRATE / "Cargo.toml").exists():
            raise SystemExit(f"the custodian crate is not at {CRATE}: build the package from the repository")
        command = ["cargo", "build", "--lib", "--locked", "--manifest-path", str(CRATE / "Cargo.toml")]
        if profile == "release":
            command.append("--release")
        subprocess.run(command, check=True, env={**os.environ, "CARGO_TARGET_DIR": str(target)})
        built = target / ("release" if profile == "release" else "debug") / LIBRARY
        destination = Path(self.build_lib) / "custodian" / LIBRARY
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(built, destination)


class BinaryDistribution(Distribution):
    """The wheel holds a native library: tag it for this platform."""

    def has_ext_modules(self) -> bool:
        return True


setup(cmdclass={"build_py": BuildWithLibrary}, distclass=BinaryDistribution)
