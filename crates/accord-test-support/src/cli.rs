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
