//! What the CLI's tests share about running the `accord` binary (whose path only the
//! CLI crate's own tests know: `env!("CARGO_BIN_EXE_accord")`).

use std::process::Output;

/// A command's exit status, standard output and standard error, for an assertion's
/// message.
pub fn describe(o: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The write end of a pipe whose reader has already exited: the first write to it fails
/// with EPIPE, however little is written (what `accord ... | head -1` does to a
/// command that goes on printing).
#[cfg(unix)]
pub fn closed_pipe() -> std::process::Stdio {
    use std::process::{Command, Stdio};
    let mut reader = Command::new("true").stdin(Stdio::piped()).spawn().unwrap();
    let w = reader.stdin.take().unwrap();
    reader.wait().unwrap();
    w.into()
}

/// `accord serve --dir HOME` with the binary at `bin`, its output discarded (only
/// warnings logged): spawn it, or change it first (`.stderr(Stdio::piped())`).
pub fn serve_command(bin: &str, home: &std::path::Path) -> std::process::Command {
    use std::process::{Command, Stdio};
    let mut c = Command::new(bin);
    c.args(["serve", "--dir"])
        .arg(home)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

/// Start `accord serve --dir HOME` ([`serve_command`]).
pub fn serve(bin: &str, home: &std::path::Path) -> std::process::Child {
    serve_command(bin, home).spawn().unwrap()
}

/// Stop a node as systemd does (SIGTERM) and wait for it to exit; killed after 15 s.
pub fn terminate(mut child: std::process::Child) {
    use std::time::{Duration, Instant};
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let t0 = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t0.elapsed() > Duration::from_secs(15) {
            child.kill().unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Wait until the node `c` talks to answers it (at most 30 s).
pub fn wait_up(c: &accord_node_api::client::Client) {
    use std::time::{Duration, Instant};
    let t0 = Instant::now();
    while c.whoami().is_err() {
        assert!(t0.elapsed() < Duration::from_secs(30), "node did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}
