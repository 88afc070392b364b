//! The C++ wrapper (`bindings/cpp/custodian.hpp`) from C++: its test program
//! `bindings/cpp/test_custodian.cpp` is compiled with `g++ -std=c++17 -Wall
//! -Wextra -Wpedantic -Werror` against the static library that
//! `tests/c_abi.rs` uses (built once into `target/c-abi`), and run plainly,
//! under valgrind (no definite or indirect leaks, no memory errors) and with
//! AddressSanitizer and UndefinedBehaviorSanitizer. The README's example is
//! `bindings/cpp/example.cpp`, compiled and run here, and every `cust_*`
//! function the C header declares must be named by the wrapper.
//!
//! g++ or valgrind missing is a failure when `CI` is set (`.ci/run` installs
//! them), and a loudly skipped check otherwise.

#[path = "support/c_build.rs"]
mod c_build;

use std::path::Path;
use std::process::Command;

use c_build::{STATIC_LINK_LIBS, artifact_dir, root, run};

/// Warnings are errors, in strict C++17.
const CXX_FLAGS: [&str; 5] = ["-std=c++17", "-Wall", "-Wextra", "-Wpedantic", "-Werror"];

/// Whether `tool --version` runs; missing, it fails the test under CI and is skipped loudly otherwise.
fn available(tool: &str) -> bool {
    if Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success()) {
        return true;
    }
    assert!(std::env::var_os("CI").is_none(), "{tool} is required in CI (.ci/run installs it)");
    eprintln!("SKIPPED: {tool} is not installed; `apt-get install {tool}` to run this check");
    false
}

/// Compiles `source` (relative to the crate root) with g++ and `extra` flags against the static library into `out`.
fn compile(source: &str, out: &Path, extra: &[&str]) {
    let mut gxx = Command::new("g++");
    gxx.args(CXX_FLAGS)
        .args(extra)
        .arg("-pthread")
        .arg("-I")
        .arg(root().join("include"))
        .arg("-I")
        .arg(root().join("bindings/cpp"))
        .arg(root().join(source))
        .arg(artifact_dir().join("libcustodian.a"))
        .args(STATIC_LINK_LIBS)
        .arg("-o")
        .arg(out);
    run(&mut gxx, &format!("compiling {source}"));
}

/// Compiles the C++ test program with `flags` and runs `wrap` (a tool and its arguments, or nothing) on it.
fn run_wrapper_test(flags: &[&str], wrap: &[String], env: &[(&str, &str)], what: &str) {
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("test_custodian");
    compile("bindings/cpp/test_custodian.cpp", &exe, flags);
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let mut command = match wrap.split_first() {
        Some((tool, args)) => {
            let mut command = Command::new(tool);
            command.args(args).arg(&exe);
            command
        }
        None => Command::new(&exe),
    };
    let out = run(command.arg(&work).envs(env.iter().copied()), what);
    assert!(out.contains("C++ API checks: ") && out.contains(", 0 failed"), "{out}");
}

/// Every identifier `cust_…` in `text` outside comment lines, with whether a `(` follows it (a call or declaration).
fn cust_identifiers(text: &str) -> Vec<(String, bool)> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut found: Vec<(String, bool)> = text
        .lines()
        .filter(|line| !["//", "/*", "*"].iter().any(|comment| line.trim_start().starts_with(comment)))
        .flat_map(|line| line.match_indices("cust_").map(move |(at, _)| (line, at)))
        .filter(|&(line, at)| !line[..at].ends_with(word))
        .map(|(line, at)| {
            let rest = &line[at..];
            let end = rest.find(|c: char| !word(c)).unwrap_or(rest.len());
            (rest[..end].to_owned(), rest[end..].starts_with('('))
        })
        .collect();
    found.sort();
    found.dedup();
    found
}

#[test]
fn the_cpp_wrapper_test_passes_linked_statically() {
    if available("g++") {
        run_wrapper_test(&["-O1", "-g"], &[], &[], "test_custodian");
    }
}

#[test]
fn the_cpp_wrapper_test_passes_under_valgrind() {
    if !available("g++") || !available("valgrind") {
        return;
    }
    let valgrind = [
        "valgrind",
        "--error-exitcode=1",
        "--leak-check=full",
        "--show-leak-kinds=definite,indirect",
        "--errors-for-leak-kinds=definite,indirect",
        "--quiet",
    ];
    let mut wrap: Vec<String> = valgrind.iter().map(|s| (*s).to_owned()).collect();
    // The C test's list of known false positives in SQLite's WAL and ring's AES-GCM assembly.
    wrap.push(format!("--suppressions={}", root().join("tests/c/valgrind.supp").display()));
    run_wrapper_test(&["-O0", "-g"], &wrap, &[], "test_custodian under valgrind");
}

#[test]
fn the_cpp_wrapper_test_passes_with_address_and_undefined_sanitizers() {
    if available("g++") {
        run_wrapper_test(
            &["-O1", "-g", "-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-fno-sanitize-recover=all"],
            &[],
            &[("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")],
            "test_custodian with ASan/UBSan",
        );
    }
}

#[test]
fn the_readme_example_compiles_and_runs() {
    if !available("g++") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("example");
    compile("bindings/cpp/example.cpp", &exe, &["-O1"]);
    let out = run(Command::new(&exe).arg(dir.path()), "the C++ example");
    assert!(out.contains("王五 1101**********8515"), "the clerk sees the ID number masked:\n{out}");
    assert!(out.contains("refused by rule builtin.action_not_granted"), "{out}");
    assert!(out.contains(": 13812345678") && out.contains("\"kind\":\"full\""), "{out}");
    assert!(dir.path().join("cpp-demo.cbk").is_file());
}

#[test]
fn the_readme_shows_the_example_file_verbatim() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let example = std::fs::read_to_string(root().join("bindings/cpp/example.cpp")).unwrap();
    let section = readme.split_once("\n## C++\n").expect("README.md has a `## C++` section").1;
    let section = section.split("\n## ").next().unwrap();
    let block = section
        .split_once("```cpp\n")
        .and_then(|(_, rest)| rest.split_once("\n```"))
        .map(|(block, _)| format!("{block}\n"))
        .expect("the C++ section has a ```cpp block");
    assert_eq!(block, example, "README.md's C++ example differs from bindings/cpp/example.cpp");
}

#[test]
fn every_c_function_is_wrapped() {
    let header = std::fs::read_to_string(root().join("include/custodian.h")).unwrap();
    let wrapper = std::fs::read_to_string(root().join("bindings/cpp/custodian.hpp")).unwrap();
    let declared: Vec<String> =
        cust_identifiers(&header).into_iter().filter(|&(_, call)| call).map(|(name, _)| name).collect();
    assert!(declared.len() >= 92, "parsed only {} functions from the header: {declared:?}", declared.len());
    let named: Vec<String> = cust_identifiers(&wrapper).into_iter().map(|(name, _)| name).collect();
    let missing: Vec<&String> = declared.iter().filter(|name| !named.contains(name)).collect();
    assert!(missing.is_empty(), "C functions the C++ wrapper does not use: {missing:?}");
}
