//! The prototype's console rebuilt in C (`examples/c/console.c`), driven by
//! a script on standard input: create the store and its operator (refusing
//! a short password before any store exists), import a legacy file with GBK
//! names (twice: nothing doubles), list by name in pinyin order with aligned
//! columns, correct a refused insert, confirm a delete, modify, and check
//! what it printed; refuse to run without a passphrase unless `--demo`; and,
//! on a pseudo-terminal, never echo a password.

#[path = "support/c_build.rs"]
mod c_build;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use custodian::import::khzl::{self, LegacyRecord};

const PASSPHRASE: &str = "console test passphrase";

/// Runs the console with `args` and `script` as its input (with the test
/// passphrase unless `passphrase` is false); returns (success, stdout).
fn run(exe: &Path, args: &[&str], passphrase: bool, script: &str) -> (bool, String) {
    let mut command = Command::new(exe);
    command.args(args).env_remove("CUSTODIAN_CONSOLE_PASSPHRASE");
    if passphrase {
        command.env("CUSTODIAN_CONSOLE_PASSPHRASE", PASSPHRASE);
    }
    let mut child =
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start the console");
    child.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8(output.stdout).expect("the console prints UTF-8");
    (output.status.success(), stdout)
}

/// Runs the console on `store` and expects it to succeed.
fn console(exe: &Path, store: &Path, script: &str) -> String {
    let (ok, out) = run(exe, &[store.to_str().unwrap()], true, script);
    assert!(ok, "console failed: {out}");
    out
}

fn legacy_file(path: &Path) {
    let records = [
        LegacyRecord::new(1, ["KH01", "王五", "星辰科技", "零售", "经理", "13800000001", "wang@example.com", ""]),
        LegacyRecord::new(2, ["KH02", "张三", "", "批发", "", "13800000002", "", "老客户"]),
        LegacyRecord::new(4, ["KH03", "李四", "", "", "", "12345", "", ""]),
        LegacyRecord::new(5, ["KH04", "曾小贤", "", "", "", "13800000004", "", ""]),
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
    listed_rows(output, after).iter().map(|cells| cells[1].clone()).collect()
}

/// Display columns of a character in a terminal: East Asian wide ones take two.
fn columns(c: char) -> usize {
    let u = c as u32;
    let wide = [
        (0x1100, 0x115F),
        (0x2E80, 0xA4CF),
        (0xAC00, 0xD7A3),
        (0xF900, 0xFAFF),
        (0xFE30, 0xFE4F),
        (0xFF00, 0xFF60),
        (0xFFE0, 0xFFE6),
    ];
    if wide.iter().any(|(a, b)| (*a..=*b).contains(&u)) { 2 } else { 1 }
}

/// Where each of the eight columns starts, in display columns.
const STARTS: [usize; 8] = [0, 11, 22, 47, 56, 65, 78, 103];

/// Splits a listing line into its eight cells by display column, failing if
/// a character straddles a column boundary (the columns would not line up).
fn cells(line: &str) -> Vec<String> {
    let mut cells = vec![String::new(); 8];
    let mut col = 0;
    for c in line.chars() {
        let w = columns(c);
        let cell = STARTS.iter().rposition(|s| *s <= col).unwrap();
        if let Some(next) = STARTS.get(cell + 1) {
            assert!(col + w <= *next, "'{c}' straddles column {next} in: {line}");
        }
        cells[cell].push(c);
        col += w;
    }
    cells.iter().map(|c| c.trim().to_owned()).collect()
}

/// The rows of the listing that follows `after`, as cells; the header's
/// cells must be the field labels, aligned the same way.
fn listed_rows(output: &str, after: &str) -> Vec<Vec<String>> {
    let start = output.find(after).expect("listing present");
    let mut lines = output[start..].lines().skip_while(|l| !l.starts_with("编号"));
    let header = cells(lines.next().unwrap());
    assert_eq!(header, ["编号", "姓名", "单位", "类别", "职务", "手机", "邮箱", "备注"]);
    lines.take_while(|l| l.starts_with("KH")).map(cells).collect()
}

fn build(dir: &Path) -> PathBuf {
    let exe = dir.join("console");
    c_build::compile("examples/c/console.c", &exe, &["-O1"]);
    exe
}

const LOGIN: &str = "operator\noperator password 1\n";

#[test]
fn the_console_does_what_the_prototype_did() {
    let dir = tempfile::tempdir().unwrap();
    let exe = build(dir.path());
    let store = dir.path().join("store");
    let legacy = dir.path().join("KHZL.DAT");
    legacy_file(&legacy);

    // First run: a too-short password is refused before any store exists,
    // then the operator is set up, logs in, imports, and lists by name.
    let script = format!(
        "operator\nshort\nshort\noperator\noperator password 1\noperator password 1\n{LOGIN}3\n{}\n1\n1\n2\n1\n4\n",
        legacy.display()
    );
    let out = console(&exe, &store, &script);
    assert!(out.contains("新建资料库"), "{out}");
    assert!(out.contains("操作失败：输入不符合要求（密码）：密码太短（至少 10 个字符）。"), "{out}");
    assert!(out.contains("资料库未建立，请重新设置。"), "{out}");
    assert!(out.contains("导入 4 条记录，其中 1 条待审核。"), "{out}");
    assert!(out.contains("第 4 条记录：mobile:"), "the bad mobile of record 4 (record 3 is empty) is reported: {out}");
    assert!(!out.contains("12345 ("), "the rejected value is not echoed");
    assert_eq!(
        listed_names(&out, "按姓名升序"),
        ["李四", "王五", "曾小贤", "张三"],
        "pinyin, surnames as surnames: {out}"
    );
    let rows = listed_rows(&out, "按姓名升序");
    assert_eq!(rows[1], ["KH01", "王五", "星辰科技", "零售", "经理", "13800000001", "wang@example.com", ""], "{out}");
    assert!(out.contains("[待审核]"), "{out}");

    // The same file again: nothing doubles.
    let script = format!("{LOGIN}3\n{}\n4\n", legacy.display());
    let out = console(&exe, &store, &script);
    assert!(out.contains("导入 0 条记录") && out.contains("另有 4 条记录的编号已有客户，其中 4 条资料相同"), "{out}");

    // Modify one, refuse then confirm a delete, list descending.
    let script =
        format!("{LOGIN}2\n3\nKH02\n\n\n\n\n经理\n\n-\n\n2\n2\nKH01\nn\n2\n2\nKH01\ny\n1\n1\n2\n2\n1\n2\nKH03\n4\n");
    let out = console(&exe, &store, &script);
    assert!(out.contains("已修改。"), "{out}");
    assert!(out.contains("确认删除这位客户吗？") && out.contains("未删除。") && out.contains("已删除。"), "{out}");
    assert_eq!(listed_names(&out, "按姓名降序"), ["张三", "曾小贤", "李四"], "{out}");
    let modified = out.lines().find(|l| l.starts_with("KH02")).unwrap();
    assert!(modified.contains("经理") && !modified.contains("wang"), "{modified}");

    // A refused insert keeps what was typed: only the bad field is asked again.
    let script = format!("{LOGIN}2\n1\nKH05\n赵六\n\n\n\n12345\n\n\n1\n13800000005\n1\n1\n2\n1\n4\n");
    let out = console(&exe, &store, &script);
    assert!(out.contains("操作失败：输入不符合要求（手机）：手机号码格式不正确"), "{out}");
    assert!(out.contains("手机 [12345]："), "{out}");
    assert!(out.contains("已添加客户"), "{out}");
    let rows = listed_rows(&out, "按姓名升序");
    assert!(rows.iter().any(|r| r[0] == "KH05" && r[1] == "赵六" && r[5] == "13800000005"), "{out}");

    // Bad input: a wrong menu choice, an over-long line, an unknown number, a wrong password.
    let long = "x".repeat(600);
    let script = format!("operator\nwrong password!\n{LOGIN}9\n1\n2\n{long}\nKH99\n4\n");
    let out = console(&exe, &store, &script);
    assert!(out.contains("操作失败：没有权限：账号、密码或验证码错误。"), "{out}");
    assert!(out.contains("login.failed"), "the library's message is the detail: {out}");
    assert!(out.contains("请输入 1 到 4 之间的数字。"), "{out}");
    assert!(out.contains("输入过长"), "{out}");
    assert!(out.contains("没有编号为 KH99 的客户。"), "{out}");

    // A truncated legacy file imports nothing.
    let truncated = dir.path().join("TRUNC.DAT");
    let bytes = std::fs::read(&legacy).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() - 7]).unwrap();
    let script = format!("{LOGIN}3\n{}\n1\n1\n2\n1\n4\n", truncated.display());
    let out = console(&exe, &store, &script);
    assert!(out.contains("truncated") && out.contains("nothing was imported"), "{out}");
    assert!(out.contains("共 4 条资料"), "still four customers: {out}");
}

#[test]
fn a_first_run_that_cannot_finish_leaves_no_store_and_no_passphrase_means_no_store() {
    let dir = tempfile::tempdir().unwrap();
    let exe = build(dir.path());
    let store = dir.path().join("store");
    let staging = dir.path().join("store.setup");

    // Only short passwords, then the input ends: nothing is left behind.
    let (ok, out) = run(&exe, &[store.to_str().unwrap()], true, "operator\nshort\nshort\noperator\nshort2\nshort2\n");
    assert!(!ok, "{out}");
    assert!(out.contains("未建立资料库。"), "{out}");
    assert!(!store.exists() && !staging.exists(), "a refused first run left files: {out}");
    // Two different passwords are refused too.
    let (_, out) = run(&exe, &[store.to_str().unwrap()], true, "operator\noperator password 1\noperator password 2\n");
    assert!(out.contains("两次输入的密码不一致"), "{out}");
    assert!(!store.exists() && !staging.exists());

    // Without a passphrase the console refuses, unless --demo is given.
    let (ok, out) = run(&exe, &[store.to_str().unwrap()], false, "");
    assert!(!ok && out.contains("未设置 CUSTODIAN_CONSOLE_PASSPHRASE"), "{out}");
    assert!(!store.exists());
    let script = format!("operator\noperator password 1\noperator password 1\n{LOGIN}4\n");
    let (ok, out) = run(&exe, &["--demo", store.to_str().unwrap()], false, &script);
    assert!(ok && out.contains("演示模式"), "{out}");
    assert!(store.join("customers.db").exists());
    // The demo store opens only in demo mode (or with the demo passphrase).
    let (ok, out) = run(&exe, &[store.to_str().unwrap()], true, LOGIN);
    assert!(!ok && out.contains("资料库口令错误"), "{out}");
    let (ok, out) = run(&exe, &["--bogus", store.to_str().unwrap()], false, "");
    assert!(!ok, "{out}");
}

/// A pseudo-terminal pair: the console's side and the test's side.
struct Pty {
    master: std::fs::File,
    slave: std::fs::File,
}

fn open_pty() -> Pty {
    use std::os::fd::FromRawFd;
    // SAFETY: plain POSIX calls; every result is checked before use, and
    // the master descriptor is owned by the File from here on.
    unsafe {
        let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
        assert!(master >= 0, "posix_openpt failed");
        assert_eq!(libc::grantpt(master), 0);
        assert_eq!(libc::unlockpt(master), 0);
        let name = libc::ptsname(master);
        assert!(!name.is_null());
        let path = std::ffi::CStr::from_ptr(name).to_str().unwrap().to_owned();
        let master = std::fs::File::from_raw_fd(master);
        let slave = std::fs::OpenOptions::new().read(true).write(true).open(path).unwrap();
        Pty { master, slave }
    }
}

#[test]
fn passwords_are_not_echoed_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let exe = build(dir.path());
    let store = dir.path().join("store");
    let Pty { master, slave } = open_pty();
    let mut child = Command::new(&exe)
        .arg(&store)
        .env("CUSTODIAN_CONSOLE_PASSPHRASE", PASSPHRASE)
        .stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave)
        .spawn()
        .unwrap();
    let (sender, received) = std::sync::mpsc::channel::<Vec<u8>>();
    let mut reader = master.try_clone().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        // Ends with an error (EIO) once the console has exited.
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 || sender.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut writer = master;
    let mut seen = Vec::new();
    let mut from = 0;
    // Each answer is typed only once its prompt is on the screen, as a person would.
    let steps = [
        ("设置管理员账号：", "operator"),
        ("设置管理员密码", "Secret-Pass-2026"),
        ("再次输入密码：", "Secret-Pass-2026"),
        ("账号：", "operator"),
        ("密码：", "Secret-Pass-2026"),
        ("请选择：", "4"),
    ];
    for (prompt, answer) in steps {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let text = String::from_utf8_lossy(&seen).into_owned();
            if let Some(at) = text[from..].find(prompt) {
                from += at + prompt.len();
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no prompt '{prompt}' in: {text}");
            if let Ok(bytes) = received.recv_timeout(left.min(Duration::from_millis(200))) {
                seen.extend(bytes);
            }
        }
        writer.write_all(format!("{answer}\n").as_bytes()).unwrap();
    }
    assert!(child.wait().unwrap().success());
    while let Ok(bytes) = received.recv_timeout(Duration::from_millis(500)) {
        seen.extend(bytes);
    }
    let text = String::from_utf8_lossy(&seen);
    assert!(text.contains("operator"), "the id is echoed as typed: {text}");
    assert!(!text.contains("Secret-Pass-2026"), "a password was echoed: {text}");
    assert!(text.contains("再见"), "{text}");
}
