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
    quiet_141(&["completions", "bash"]);
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

/// Shell completions and manual pages come from the command line's own definition: every
/// command and flag is in them; an existing page is kept unless `--force`.
#[test]
fn completions_and_man_pages_cover_every_command() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_accord"))
            .args(args)
            .output()
            .unwrap()
    };
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let o = run(&["completions", shell]);
        assert!(
            o.status.success(),
            "{shell}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let script = String::from_utf8(o.stdout).unwrap();
        for word in ["agreement", "quickstart", "national", "completions"] {
            assert!(script.contains(word), "{shell} completions lack {word}");
        }
    }
    assert_eq!(run(&["completions", "tcsh"]).status.code(), Some(2));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("man1");
    let o = run(&["--json", "man", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let listed: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let pages = listed["pages"].as_array().unwrap();
    for page in [
        "accord.1",
        "accord-seal.1",
        "accord-agreement-list.1",
        "accord-user-add.1",
    ] {
        assert!(pages.iter().any(|p| p == page), "{page} not listed");
        let text = std::fs::read_to_string(out.join(page)).unwrap();
        assert!(text.contains(".TH "), "{page} is not a man page");
    }
    let seal = std::fs::read_to_string(out.join("accord-seal.1")).unwrap();
    assert!(
        seal.contains("national") && seal.contains("Exit codes"),
        "{seal}"
    );
    let again = run(&["man", "--out", out.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    assert!(run(&["man", "--out", out.to_str().unwrap(), "--force"])
        .status
        .success());
}

/// `accord node systemd` writes a unit that systemd itself accepts (`systemd-analyze
/// verify`) and rates as well confined (`systemd-analyze security`, exposure below 2 of
/// 10), with the node home its only writable path; the unit committed under
/// `packaging/systemd/` is its output for `/srv/accord/pak`.
#[test]
fn the_systemd_unit_is_verified_and_confined_and_matches_the_committed_one() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("pak");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_accord"))
            .current_dir(ROOT)
            .args(args)
            .output()
            .unwrap()
    };
    let o = run(&[
        "init",
        "--party",
        "PAK",
        "--dir",
        home.to_str().unwrap(),
        "--policy",
        "policies",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let unit_path = dir.path().join("accord-pak.service");
    let o = run(&[
        "node",
        "systemd",
        "--dir",
        home.to_str().unwrap(),
        "--binary",
        env!("CARGO_BIN_EXE_accord"),
        "-o",
        unit_path.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let unit = std::fs::read_to_string(&unit_path).unwrap();
    for line in [
        format!("ReadWritePaths={}", home.display()),
        format!(
            "ExecStart={} serve --dir {}",
            env!("CARGO_BIN_EXE_accord"),
            home.display()
        ),
        "NoNewPrivileges=yes".to_string(),
        "ProtectSystem=strict".to_string(),
        "Environment=ACCORD_LOG_FORMAT=json".to_string(),
    ] {
        assert!(unit.lines().any(|l| l == line), "missing {line}:\n{unit}");
    }
    // An existing file is kept without --force.
    let again = run(&[
        "node",
        "systemd",
        "--dir",
        home.to_str().unwrap(),
        "-o",
        unit_path.to_str().unwrap(),
    ]);
    assert_eq!(again.status.code(), Some(2));
    // What the committed unit is.
    let printed = run(&[
        "node",
        "systemd",
        "--dir",
        home.to_str().unwrap(),
        "--binary",
        "/usr/local/bin/accord",
    ]);
    let committed =
        std::fs::read_to_string(Path::new(ROOT).join("packaging/systemd/accord-pak.service"))
            .unwrap();
    assert_eq!(
        String::from_utf8(printed.stdout)
            .unwrap()
            .replace(home.to_str().unwrap(), "/srv/accord/pak"),
        committed,
        "packaging/systemd/accord-pak.service differs from `accord node systemd`: make it again"
    );
    // systemd's own checks. CI installs systemd-analyze (.ci/run); elsewhere say so.
    let analyze = Command::new("systemd-analyze").arg("--version").output();
    if analyze.is_err() && std::env::var("CI").as_deref() != Ok("true") {
        eprintln!("systemd-analyze not installed: the unit was not verified by systemd");
        return;
    }
    let v = Command::new("systemd-analyze")
        .args(["verify", unit_path.to_str().unwrap()])
        .output()
        .expect("systemd-analyze");
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
    let s = Command::new("systemd-analyze")
        .args(["security", "--offline=true", unit_path.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&s.stdout);
    let level: f64 = text
        .lines()
        .find_map(|l| l.split("exposure level for accord-pak.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{text}"));
    assert!(level < 2.0, "exposure {level}:\n{text}");
}
