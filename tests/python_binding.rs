//! The Python binding (`bindings/python`) from `cargo test`: its pytest
//! suite runs against the shared library cargo built for this run, and the
//! package builds into a wheel that installs into a fresh virtual
//! environment and imports with no environment variable set.
//!
//! Python 3 (with `venv`) and pytest missing is a failure when `CI` is set
//! (`.ci/run` installs them), and a loudly skipped check otherwise. The
//! interpreter is `python3`, or `CUSTODIAN_PYTHON` when set.

#[path = "support/c_build.rs"]
mod c_build;

use std::path::Path;
use std::process::Command;

use c_build::{artifact_dir, root, run};

fn python() -> String {
    std::env::var("CUSTODIAN_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Whether `python -c <probe>` succeeds; refuses to skip under CI.
fn available(probe: &str, what: &str) -> bool {
    let ok = Command::new(python()).args(["-c", probe]).output().is_ok_and(|o| o.status.success());
    if !ok {
        assert!(std::env::var_os("CI").is_none(), "{what} is required in CI (.ci/run installs it)");
        eprintln!("SKIPPED: {what} is not available to {}; install it to run the Python binding's tests", python());
    }
    ok
}

#[test]
fn the_python_tests_pass() {
    if !available("import pytest", "Python 3 with pytest") {
        return;
    }
    let library = artifact_dir().join("libcustodian.so");
    let package = root().join("bindings/python");
    let out = run(
        Command::new(python())
            .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"])
            .current_dir(&package)
            .env("CUSTODIAN_LIBRARY", &library)
            .env("PYTHONPATH", package.join("src"))
            .env("PYTHONDONTWRITEBYTECODE", "1"),
        "pytest bindings/python/tests",
    );
    assert!(out.contains(" passed") && (std::env::var_os("CI").is_none() || !out.contains("skipped")), "{out}");
}

#[test]
fn the_package_builds_a_wheel_that_imports_without_any_environment() {
    if !available("import venv, ensurepip, setuptools, wheel", "Python 3 with venv, setuptools and wheel") {
        return;
    }
    // The library is built once for the tests; the wheel bundles that build.
    let library_dir = artifact_dir();
    let target = library_dir.parent().expect("target/c-abi/<profile>");
    let profile = library_dir.file_name().and_then(|n| n.to_str()).expect("profile");
    let dir = tempfile::tempdir().unwrap();
    let wheels = dir.path().join("wheels");
    run(
        Command::new(python())
            .args(["-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w"])
            .arg(&wheels)
            .arg(root().join("bindings/python"))
            .env("CARGO_TARGET_DIR", target)
            .env("CUSTODIAN_CARGO_PROFILE", profile)
            .env("PIP_DISABLE_PIP_VERSION_CHECK", "1"),
        "pip wheel bindings/python",
    );
    let wheel = std::fs::read_dir(&wheels)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .expect("a wheel");
    let name = wheel.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("custodian-0.1.0-") && !name.ends_with("-none-any.whl"), "platform wheel: {name}");

    let venv = dir.path().join("venv");
    run(Command::new(python()).args(["-m", "venv"]).arg(&venv), "python -m venv");
    let venv_python = venv.join("bin/python");
    run(
        Command::new(&venv_python).args(["-m", "pip", "install", "--quiet", "--no-deps", "--no-index"]).arg(&wheel),
        "pip install the wheel",
    );
    // A fresh process in an empty directory, with no variable pointing at the library.
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let script = r#"
import custodian, pathlib
key = bytes(range(32))
with custodian.Store.create("store", key) as store:
    store.bootstrap_admin("admin", "Administrator")
    with store.session("admin", "service", mfa=True) as admin:
        made = admin.create({"name": "王五", "mobile": "13812345678"})
        assert admin.get(made.id)["mobile"].text == "13812345678"
assert pathlib.Path(custodian.__file__).parent.joinpath("py.typed").exists()
print("installed wheel works:", custodian.library_version())
"#;
    let out = run(
        Command::new(&venv_python)
            .args(["-c", script])
            .current_dir(&work)
            .env_remove("CUSTODIAN_LIBRARY")
            .env_remove("PYTHONPATH")
            .env_remove("LD_LIBRARY_PATH"),
        "the installed package",
    );
    assert!(out.contains("installed wheel works"), "{out}");
    clean_build_leftovers(&root().join("bindings/python"));
}

/// setuptools leaves `build/` and the egg-info in the source tree.
fn clean_build_leftovers(package: &Path) {
    let _ = std::fs::remove_dir_all(package.join("build"));
    let _ = std::fs::remove_dir_all(package.join("src/custodian.egg-info"));
}
