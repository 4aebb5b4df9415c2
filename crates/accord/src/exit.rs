//! Exit codes and output conventions shared by every command.
//!
//! | code | meaning |
//! | ---- | ------- |
//! | 0 | ok, valid, permit |
//! | 1 | a negative answer: deny, invalid label, integrity or signature failure |
//! | 2 | usage or input error (bad arguments, unreadable or malformed file) |
//! | 3 | no key could be released (wrong or missing KAS key, share missing, access denied) |
//!
//! A command returns `Ok(Code)`; an `Err` is printed as `error: ...` with its whole cause
//! chain and exits 2, unless the chain carries an [`Exit`] with another code.

use std::fmt;
use std::process::ExitCode;

/// The exit code a command finished with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// 0: ok, valid, permit.
    Ok = 0,
    /// 1: deny, invalid, integrity or signature failure.
    Negative = 1,
    /// 2: usage or input error.
    Usage = 2,
    /// 3: no key could be released.
    NoKey = 3,
}

/// An error that must end the process with a given code (other than the default 2).
#[derive(Debug)]
pub struct Exit(pub Code);

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "exit code {}", self.0 as u8)
    }
}

impl std::error::Error for Exit {}

/// How a command should print: text for people, or JSON for scripts.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub json: bool,
}

impl Output {
    /// Print a JSON value on standard output (pretty, one trailing newline).
    ///
    /// A closed pipe (`accord ... --json | head`) is not an error worth a panic: the
    /// reader has what it wanted, so the write failure is ignored.
    pub fn print_json(&self, value: &serde_json::Value) {
        use std::io::Write;
        let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".to_string());
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{text}").and_then(|()| stdout.flush());
    }
}

/// Turn a command's result into the process exit code, printing any error.
pub fn finish(result: anyhow::Result<Code>) -> ExitCode {
    match result {
        Ok(code) => ExitCode::from(code as u8),
        Err(err) => {
            let code = err
                .chain()
                .find_map(|e| e.downcast_ref::<Exit>())
                .map(|e| e.0)
                .unwrap_or(Code::Usage);
            eprintln!("error: {err:#}");
            ExitCode::from(code as u8)
        }
    }
}
