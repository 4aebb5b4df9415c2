//! Output conventions through the real binary: a reader that closes standard output
//! early (`accord ... | head -1`) ends the command quietly with status 141, as a shell
//! reports a command killed by SIGPIPE, whichever command was printing and however
//! (text lines or JSON); nothing is printed about it and nothing panics.
#![cfg(unix)]

use accord_test_support::cli::closed_pipe;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

fn into_closed_pipe(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_accord"))
        .current_dir(ROOT)
        .args(args)
        .stdout(closed_pipe())
        .output()
        .unwrap()
}

fn quiet_141(args: &[&str]) {
    let o = into_closed_pipe(args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(141), "accord {args:?}: {err}");
    assert!(!err.contains("panicked"), "accord {args:?}: {err}");
    assert_eq!(err, "", "accord {args:?}");
}

#[test]
fn a_closed_standard_output_ends_every_kind_of_output_with_141() {
    // Text lines (println!), JSON, a label.
    quiet_141(&["policy", "show", "policies"]);
    quiet_141(&["--json", "policy", "show", "policies"]);
    quiet_141(&["label", "parse", "--policy", "policies/usa.xml", "SECRET"]);
    // Help text goes through clap, which ignores the failed write: still no panic.
    let o = into_closed_pipe(&["--help"]);
    assert!(
        !String::from_utf8_lossy(&o.stderr).contains("panicked"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // An audit log's entries.
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("log");
    let log_s = log.to_str().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_accord"))
        .args([
            "audit",
            "init",
            "--log",
            log_s,
            "--origin",
            "test.example/log",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lines: String = (0..100).map(|i| format!("entry {i}\n")).collect();
    append(&log, &lines);
    quiet_141(&["audit", "show", "--log", log_s]);
    quiet_141(&["--json", "audit", "show", "--log", log_s]);
}

fn append(log: &Path, lines: &str) {
    use std::io::Write;
    let mut c = Command::new(env!("CARGO_BIN_EXE_accord"))
        .args(["audit", "append", "--log", log.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(lines.as_bytes()).unwrap();
    assert!(c.wait().unwrap().success());
}
