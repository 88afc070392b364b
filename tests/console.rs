//! The prototype's console rebuilt in C (`examples/c/console.c`), driven by
//! a script on standard input: create the store and its operator, import a
//! legacy file with GBK names, list by name in pinyin order, modify one
//! customer, delete one, and check what it printed.

#[path = "support/c_build.rs"]
mod c_build;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use custodian::import::khzl::{self, LegacyRecord};

/// Runs the console on `store` with `script` as its input; returns stdout.
fn console(exe: &Path, store: &Path, script: &str) -> String {
    let mut child = Command::new(exe)
        .arg(store)
        .env("CUSTODIAN_CONSOLE_PASSPHRASE", "console test passphrase")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the console");
    child.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8(output.stdout).expect("the console prints UTF-8");
    assert!(output.status.success(), "console failed: {stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    stdout
}

fn legacy_file(path: &Path) {
    let records = [
        LegacyRecord::new(0, ["KH01", "王五", "星辰科技", "零售", "经理", "13800000001", "wang@example.com", ""]),
        LegacyRecord::new(1, ["KH02", "张三", "", "批发", "", "13800000002", "", "老客户"]),
        LegacyRecord::new(2, ["KH03", "李四", "", "", "", "12345", "", ""]),
        LegacyRecord::new(3, ["KH04", "阿明", "", "", "", "13800000004", "", ""]),
    ];
    let mut bytes = khzl::write(&records, 2).unwrap();
    // The prototype left an empty slot in the middle too.
    let empty = bytes.split_off(4 * khzl::RECORD_LEN);
    let mut file = bytes[..2 * khzl::RECORD_LEN].to_vec();
    file.extend_from_slice(&empty[..khzl::RECORD_LEN]);
    file.extend_from_slice(&bytes[2 * khzl::RECORD_LEN..]);
    file.extend_from_slice(&empty[khzl::RECORD_LEN..]);
    std::fs::write(path, file).unwrap();
}

/// The names of the listed rows, in order.
fn listed_names(output: &str, after: &str) -> Vec<String> {
    let start = output.find(after).expect("listing present");
    output[start..]
        .lines()
        .skip_while(|l| !l.starts_with("编号"))
        .skip(1)
        .take_while(|l| l.starts_with("KH"))
        .map(|l| l.split_whitespace().nth(1).unwrap().to_owned())
        .collect()
}

#[test]
fn the_console_does_what_the_prototype_did() {
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("console");
    c_build::compile("examples/c/console.c", &exe, &["-O1"]);
    let store = dir.path().join("store");
    let legacy = dir.path().join("KHZL.DAT");
    legacy_file(&legacy);

    // First run: create the store and its operator, log in, import, list by name.
    let script = format!(
        "operator\noperator password 1\noperator\noperator password 1\n3\n{}\n1\n1\n2\n1\n4\n",
        legacy.display()
    );
    let out = console(&exe, &store, &script);
    assert!(out.contains("新建资料库"), "{out}");
    assert!(out.contains("导入 4 条记录，其中 1 条待审核。"), "{out}");
    assert!(out.contains("第 4 条记录：mobile:"), "the bad mobile of slot 3 (slot 2 is empty) is reported: {out}");
    assert!(!out.contains("12345 ("), "the rejected value is not echoed");
    assert_eq!(listed_names(&out, "按姓名升序"), ["阿明", "李四", "王五", "张三"], "pinyin order: {out}");
    assert!(out.contains("[待审核]"), "{out}");

    // Second run: the store persists; modify one, delete one, list descending.
    let script =
        "operator\noperator password 1\n2\n3\nKH02\n\n\n\n\n经理\n\n-\n\n2\n2\nKH01\n1\n1\n2\n2\n1\n2\nKH03\n4\n";
    let out = console(&exe, &store, script);
    assert!(out.contains("已修改。"), "{out}");
    assert!(out.contains("已删除。"), "{out}");
    assert_eq!(listed_names(&out, "按姓名降序"), ["张三", "李四", "阿明"], "{out}");
    let modified = out.lines().find(|l| l.starts_with("KH02")).unwrap();
    assert!(modified.contains("经理") && !modified.contains("wang"), "{modified}");

    // Bad input: a wrong menu choice, an over-long line, an unknown number, a wrong password.
    let long = "x".repeat(600);
    let script = format!("operator\nwrong password!\noperator\noperator password 1\n9\n1\n2\n{long}\nKH99\n4\n");
    let out = console(&exe, &store, &script);
    assert!(out.contains("login.failed"), "{out}");
    assert!(out.contains("请输入 1 到 4 之间的数字。"), "{out}");
    assert!(out.contains("输入过长"), "{out}");
    assert!(out.contains("没有编号为 KH99 的客户。"), "{out}");

    // A truncated legacy file imports nothing.
    let truncated = dir.path().join("TRUNC.DAT");
    let bytes = std::fs::read(&legacy).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() - 7]).unwrap();
    let script = format!("operator\noperator password 1\n3\n{}\n1\n1\n2\n1\n4\n", truncated.display());
    let out = console(&exe, &store, &script);
    assert!(out.contains("truncated") && out.contains("nothing was imported"), "{out}");
    assert!(out.contains("共 3 条资料"), "still three customers: {out}");
}
