//! The C ABI from C: the programs in `tests/c/` are compiled against
//! `include/custodian.h` with `-std=c99 -Wall -Wextra -Wpedantic -Werror`,
//! linked with the static library cargo built for this test run (and once
//! with the shared library), and run; then again under valgrind (no
//! definite or indirect leaks, no memory errors) and, separately, with
//! AddressSanitizer and UndefinedBehaviorSanitizer.
//!
//! valgrind missing is a failure when `CI` is set (`.ci/run` installs it),
//! and a loudly skipped check otherwise.

#[path = "support/c_build.rs"]
mod c_build;

use std::process::Command;

use c_build::{C_FLAGS, artifact_dir, compile, root, run};

fn valgrind_available() -> bool {
    Command::new("valgrind").arg("--version").output().is_ok_and(|o| o.status.success())
}

#[test]
fn the_c_api_test_passes_linked_statically() {
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("test_api");
    compile("tests/c/test_api.c", &exe, &["-O1", "-g"]);
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let out = run(Command::new(&exe).arg(&work), "test_api");
    assert!(out.contains(", 0 failed"), "{out}");
}

#[test]
fn the_c_api_test_passes_under_valgrind() {
    if !valgrind_available() {
        assert!(std::env::var_os("CI").is_none(), "valgrind is required in CI (.ci/run installs it)");
        eprintln!("SKIPPED: valgrind is not installed; `apt-get install valgrind` to run this check");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("test_api");
    compile("tests/c/test_api.c", &exe, &["-O0", "-g"]);
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    run(
        Command::new("valgrind")
            .args([
                "--error-exitcode=1",
                "--leak-check=full",
                "--show-leak-kinds=definite,indirect",
                "--errors-for-leak-kinds=definite,indirect",
                "--quiet",
            ])
            // Known false positives in SQLite's WAL and ring's AES-GCM assembly, each named there.
            .arg(format!("--suppressions={}", root().join("tests/c/valgrind.supp").display()))
            .arg(&exe)
            .arg(&work),
        "test_api under valgrind",
    );
}

#[test]
fn the_c_api_test_passes_with_address_and_undefined_sanitizers() {
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("test_api_asan");
    compile(
        "tests/c/test_api.c",
        &exe,
        &["-O1", "-g", "-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-fno-sanitize-recover=all"],
    );
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    run(
        Command::new(&exe).arg(&work).env("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0"),
        "test_api with ASan/UBSan",
    );
}

#[test]
fn the_c_api_test_passes_linked_against_the_shared_library() {
    let dir = tempfile::tempdir().unwrap();
    // The shared library's SONAME is libcustodian.so.<major>: give the loader that name.
    let libs = dir.path().join("lib");
    std::fs::create_dir(&libs).unwrap();
    let major = env!("CARGO_PKG_VERSION_MAJOR");
    std::fs::copy(artifact_dir().join("libcustodian.so"), libs.join(format!("libcustodian.so.{major}"))).unwrap();
    std::os::unix::fs::symlink(format!("libcustodian.so.{major}"), libs.join("libcustodian.so")).unwrap();
    let exe = dir.path().join("test_api_shared");
    let mut gcc = Command::new("gcc");
    gcc.args(C_FLAGS)
        .arg("-I")
        .arg(root().join("include"))
        .arg(root().join("tests/c/test_api.c"))
        .arg("-L")
        .arg(&libs)
        .args(["-lcustodian", "-lpthread"])
        .arg("-o")
        .arg(&exe);
    run(&mut gcc, "compiling test_api.c against the shared library");
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    run(Command::new(&exe).arg(&work).env("LD_LIBRARY_PATH", &libs), "test_api (shared)");

    // Only cust_* symbols are exported.
    let nm = run(Command::new("nm").args(["-D", "--defined-only"]).arg(libs.join("libcustodian.so")), "nm");
    let foreign: Vec<&str> =
        nm.lines().filter_map(|l| l.split_whitespace().nth(2)).filter(|s| !s.starts_with("cust_")).collect();
    assert!(foreign.is_empty(), "symbols other than cust_* are exported: {foreign:?}");
}

#[test]
fn the_header_compiles_as_c_and_as_cpp() {
    let header = root().join("include/custodian.h");
    run(Command::new("gcc").args(C_FLAGS).args(["-fsyntax-only", "-x", "c"]).arg(&header), "gcc on the header");
    run(
        Command::new("g++")
            .args(["-std=c++11", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-fsyntax-only", "-x", "c++"])
            .arg(&header),
        "g++ on the header",
    );
}
