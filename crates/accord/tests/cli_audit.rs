//! CLI tests for `accord audit`: trycmd cases in tests/cmd/audit/ over a fixture log
//! (fixed key), and assert-style tests for flows with fresh keys, processes and HTTP:
//! init/append/verify --state/prove/verify-proof, a witness server with submit, a log
//! read over HTTP from a plain static file server, and a fork refused by the witness.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

#[test]
fn cli_audit_cases() {
    trycmd::TestCases::new().case("tests/cmd/audit/*.toml");
}

fn accord(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_accord"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run accord");
    let mut i = c.stdin.take().unwrap();
    if let Some(data) = stdin {
        i.write_all(data).unwrap();
    }
    drop(i);
    c.wait_with_output().unwrap()
}

fn ok(args: &[&str], stdin: Option<&[u8]>) -> String {
    let o = accord(args, stdin);
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn init(dir: &Path) -> String {
    ok(
        &[
            "audit",
            "init",
            "--log",
            s(dir),
            "--origin",
            "audit.pak.example/log1",
        ],
        None,
    )
    .trim()
    .to_string()
}

#[test]
fn init_append_verify_state_prove() {
    let t = tempfile::tempdir().unwrap();
    let log = t.path().join("log");
    let vk = init(&log);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let m = std::fs::metadata(log.join(".accord/log.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(m & 0o777, 0o600);
    }
    assert_eq!(
        ok(
            &["audit", "append", "--log", s(&log)],
            Some(b"permit a\ndeny b\n\nlast without newline")
        ),
        "0\n1\n2\n3\n"
    );
    let f = t.path().join("doc.bin");
    std::fs::write(&f, [0u8, 1, 2, 255]).unwrap();
    let j: serde_json::Value = serde_json::from_str(&ok(
        &["--json", "audit", "append", "--log", s(&log), s(&f), s(&f)],
        None,
    ))
    .unwrap();
    assert_eq!(j["indices"], serde_json::json!([4, 5]));
    assert_eq!(j["size"], 6);
    assert_eq!(
        ok(
            &[
                "audit",
                "show",
                "--log",
                s(&log),
                "--since",
                "2",
                "--limit",
                "3"
            ],
            None
        ),
        "2\t\n3\tlast without newline\n4\tbase64:AAEC/w==\n"
    );
    let state = t.path().join("state");
    let j: serde_json::Value = serde_json::from_str(&ok(
        &[
            "--json",
            "audit",
            "verify",
            "--log",
            s(&log),
            "--key",
            &vk,
            "--state",
            s(&state),
        ],
        None,
    ))
    .unwrap();
    assert_eq!(
        (
            j["verified"].as_bool(),
            j["state"].as_str(),
            j["size"].as_u64()
        ),
        (Some(true), Some("created"), Some(6))
    );
    ok(&["audit", "append", "--log", s(&log)], Some(b"more\n"));
    let j: serde_json::Value = serde_json::from_str(&ok(
        &[
            "--json",
            "audit",
            "verify",
            "--log",
            s(&log),
            "--key",
            &vk,
            "--state",
            s(&state),
        ],
        None,
    ))
    .unwrap();
    assert_eq!(
        (j["state"].as_str(), j["previous_size"].as_u64()),
        (Some("consistent"), Some(6))
    );
    let proof = t.path().join("e1.tlog-proof");
    ok(
        &[
            "audit",
            "prove",
            "--log",
            s(&log),
            "--entry",
            "1",
            "-o",
            s(&proof),
        ],
        None,
    );
    assert!(std::fs::read_to_string(&proof)
        .unwrap()
        .starts_with("c2sp.org/tlog-proof@v1\nextra ZGVueSBi\nindex 1\n"));
    assert_eq!(
        ok(&["audit", "verify-proof", s(&proof), "--key", &vk], None),
        "verified: entry 1 is in audit.pak.example/log1 at size 7\ndeny b\n"
    );
    // A proof checked against another log's key fails with 1.
    let other = init(&t.path().join("other"));
    assert_eq!(
        code(&accord(
            &["audit", "verify-proof", s(&proof), "--key", &other],
            None
        )),
        1
    );
    // The state remembers size 7: a log that went back (the other, empty one with the
    // same origin) is refused.
    let o = accord(
        &[
            "audit",
            "verify",
            "--log",
            s(&t.path().join("other")),
            "--key",
            &vk,
            "--state",
            s(&state),
        ],
        None,
    );
    assert_eq!(code(&o), 1, "{}", String::from_utf8_lossy(&o.stderr));
}

/// A minimal static file server (GET only), standing in for any web server.
fn static_server(root: PathBuf) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            let mut r = BufReader::new(c.try_clone().unwrap());
            let mut line = String::new();
            if r.read_line(&mut line).is_err() {
                continue;
            }
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
            }
            let path = line
                .split(' ')
                .nth(1)
                .unwrap_or("/")
                .trim_start_matches('/')
                .to_string();
            let file = root.join(&path);
            match (path.contains(".."), std::fs::read(&file)) {
                (false, Ok(b)) if file.is_file() => {
                    let _ = write!(
                        c,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        b.len()
                    );
                    let _ = c.write_all(&b);
                }
                _ => {
                    let _ = write!(
                        c,
                        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    );
                }
            }
        }
    });
    format!("http://{addr}")
}

struct Server(Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn witness(dir: &Path, trust: &str) -> (Server, String, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_accord"))
        .args([
            "audit",
            "witness",
            "serve",
            "--dir",
            s(dir),
            "--listen",
            "127.0.0.1:0",
            "--trust",
            trust,
            "--name",
            "witness.usa.example",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut r = BufReader::new(c.stdout.take().unwrap());
    let mut l1 = String::new();
    let mut l2 = String::new();
    r.read_line(&mut l1).unwrap();
    r.read_line(&mut l2).unwrap();
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = r.read_to_end(&mut sink);
    });
    let key = l1.trim().strip_prefix("witness key: ").unwrap().to_string();
    let addr = l2.trim().strip_prefix("listening on ").unwrap().to_string();
    (Server(c), key, format!("http://{addr}"))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), &t).unwrap();
        }
    }
}

#[test]
fn witness_serve_submit_verify_over_http_and_refuse_fork() {
    let t = tempfile::tempdir().unwrap();
    let log = t.path().join("log");
    let vk = init(&log);
    ok(
        &["audit", "append", "--log", s(&log)],
        Some(b"one\ntwo\nthree\n"),
    );
    let fork = t.path().join("fork");
    copy_dir(&log, &fork);
    ok(&["audit", "append", "--log", s(&log)], Some(b"four\n"));
    ok(
        &["audit", "append", "--log", s(&fork)],
        Some(b"forged four\n"),
    );
    let (_w, wkey, wurl) = witness(&t.path().join("w"), &vk);
    assert!(wkey.starts_with("witness.usa.example+"));
    let out = ok(
        &[
            "audit",
            "witness",
            "submit",
            "--log",
            s(&log),
            "--witness",
            &wurl,
            "--witness-key",
            &wkey,
        ],
        None,
    );
    assert_eq!(
        out,
        "cosigned by witness.usa.example at size 4 (consistent from size 0)\n"
    );
    // Growth: the next submission carries a consistency proof from 4.
    ok(&["audit", "append", "--log", s(&log)], Some(b"five\nsix\n"));
    let j: serde_json::Value = serde_json::from_str(&ok(
        &[
            "--json",
            "audit",
            "witness",
            "submit",
            "--log",
            s(&log),
            "--witness",
            &wurl,
            "--witness-key",
            &wkey,
        ],
        None,
    ))
    .unwrap();
    assert_eq!(
        (j["size"].as_u64(), j["previous_size"].as_u64()),
        (Some(6), Some(4))
    );
    // Verify over HTTP from a static server, requiring the witness cosignature.
    let url = static_server(log.clone());
    let o = ok(
        &[
            "audit",
            "verify",
            "--log",
            &url,
            "--key",
            &vk,
            "--witness-key",
            &wkey,
        ],
        None,
    );
    assert_eq!(
        o,
        "verified audit.pak.example/log1 at size 6 (2 tiles, 1 cosignature)\n"
    );
    assert!(ok(&["audit", "checkpoint", "--log", &url], None)
        .contains("\n\u{2014} witness.usa.example "));
    // The fork (size 4, other root): the witness refuses; the client starts from 0,
    // follows the 409 to size 6, and cannot prove 6 -> 4: exit 1.
    let o = accord(
        &[
            "audit",
            "witness",
            "submit",
            "--log",
            s(&fork),
            "--witness",
            &wurl,
            "--witness-key",
            &wkey,
        ],
        None,
    );
    assert_eq!(code(&o), 1, "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("went backwards"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Same size as cosigned, different root: 409 from the witness, named a fork.
    ok(
        &["audit", "append", "--log", s(&fork)],
        Some(b"forged five\nforged six\n"),
    );
    std::fs::write(
        fork.join(".accord")
            .join(format!("witness-{}.size", wkey.split('+').nth(1).unwrap())),
        "6\n",
    )
    .unwrap();
    let o = accord(
        &[
            "audit",
            "witness",
            "submit",
            "--log",
            s(&fork),
            "--witness",
            &wurl,
            "--witness-key",
            &wkey,
        ],
        None,
    );
    assert_eq!(code(&o), 1);
    // c2sp.org/tlog-witness: a same-size fork is a 409 Conflict.
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("409")
            && String::from_utf8_lossy(&o.stderr).contains("fork"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // verify without the cosignature the forked checkpoint lacks: fails with 1.
    assert_eq!(
        code(&accord(
            &[
                "audit",
                "verify",
                "--log",
                s(&fork),
                "--key",
                &vk,
                "--witness-key",
                &wkey
            ],
            None
        )),
        1
    );
}
