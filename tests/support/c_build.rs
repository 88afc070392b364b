//! Building and running C programs against the library from the tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The libraries the static library needs, as the README's link line says.
pub const STATIC_LINK_LIBS: [&str; 6] = ["-lpthread", "-ldl", "-lm", "-lrt", "-lutil", "-lgcc_s"];

/// Warnings are errors, in strict C99.
pub const C_FLAGS: [&str; 5] = ["-std=c99", "-Wall", "-Wextra", "-Wpedantic", "-Werror"];

/// The crate's root directory.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The directory holding this run's `libcustodian.a` and `libcustodian.so`.
///
/// `cargo test` builds the library only as an rlib for the tests, so the C
/// libraries are built here, once per test binary, from the same sources and
/// profile: `cargo build --lib` into a target directory of their own (the
/// outer `cargo test` holds the lock on its own one while tests run).
pub fn artifact_dir() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().expect("test executable path");
            let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps/<test>");
            let profile = profile_dir.file_name().and_then(|n| n.to_str()).unwrap_or("debug");
            let target = profile_dir.parent().expect("target directory").join("c-abi");
            let mut cargo = Command::new(env!("CARGO"));
            cargo.current_dir(root()).args(["build", "--lib", "--locked", "--target-dir"]).arg(&target);
            if profile == "release" {
                cargo.arg("--release");
            }
            // The C libraries carry the backends this test run was built with.
            if cfg!(feature = "postgres") {
                cargo.args(["--features", "postgres"]);
            }
            let status = cargo.status().expect("run cargo build --lib");
            assert!(status.success(), "cargo build --lib for the C tests failed");
            let dir = target.join(if profile == "release" { "release" } else { "debug" });
            assert!(dir.join("libcustodian.a").exists(), "{} has no libcustodian.a", dir.display());
            dir
        })
        .clone()
}

/// Runs `command`, failing the test with its output if it fails; returns stdout.
pub fn run(command: &mut Command, what: &str) -> String {
    let output = command.output().unwrap_or_else(|e| panic!("{what}: cannot run {command:?}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{what} failed ({}):\n{stdout}\n{stderr}", output.status);
    print!("{stdout}");
    stdout
}

/// Compiles `source` (a path relative to the crate root) against the static
/// library, with `extra` flags, into `out`.
pub fn compile(source: &str, out: &Path, extra: &[&str]) {
    let lib = artifact_dir().join("libcustodian.a");
    let mut gcc = Command::new("gcc");
    gcc.args(C_FLAGS)
        .args(extra)
        .arg("-I")
        .arg(root().join("include"))
        .arg(root().join(source))
        .arg(&lib)
        .args(STATIC_LINK_LIBS)
        .arg("-o")
        .arg(out);
    run(&mut gcc, &format!("compiling {source}"));
}
