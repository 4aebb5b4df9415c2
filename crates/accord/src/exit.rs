//! Exit codes and output conventions shared by every command.
//!
//! | code | meaning |
//! | ---- | ------- |
//! | 0 | ok, valid, permit |
//! | 1 | a negative answer: deny, invalid label, integrity or signature failure, a refusal with reasons |
//! | 2 | usage or input error (bad arguments, unreadable or malformed file) |
//! | 3 | no key could be released (wrong or missing KAS key, share missing, access denied at open) |
//! | 141 | standard output was closed early (`accord ... \| head`), as a shell reports SIGPIPE |
//!
//! A command returns `Ok(Code)`; an `Err` is printed as `error: ...` with its whole cause
//! chain (with `--json`, as `{"error": {...}}` on standard output: docs/json.md) and
//! exits 2, unless the chain carries an [`Exit`] with another code.

use serde::Serialize;
use std::fmt;
use std::io::Write;
use std::process::ExitCode;

/// The exit code a command finished with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// 0: ok, valid, permit.
    Ok = 0,
    /// 1: deny, invalid, integrity or signature failure, refused.
    Negative = 1,
    /// 2: usage or input error.
    Usage = 2,
    /// 3: no key could be released.
    NoKey = 3,
}

/// The status when standard output is closed under us: what a shell reports for a
/// command killed by SIGPIPE (128 + 13). The process ignores SIGPIPE (Rust's runtime
/// does, and resetting it needs `unsafe`), so the write fails with `BrokenPipe` instead
/// and the process exits with this status, quietly.
pub const CLOSED_STDOUT: i32 = 141;

/// Standard output was closed by its reader: the reader has what it wanted; stop now,
/// quietly, with [`CLOSED_STDOUT`].
pub fn stdout_closed() -> ! {
    std::process::exit(CLOSED_STDOUT)
}

/// Install a panic hook that turns the panic `print!`/`println!` raise on a closed
/// standard output (or standard error) into a quiet exit with [`CLOSED_STDOUT`]; every
/// other panic is reported as before.
pub fn quiet_on_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if is_closed_pipe_panic(payload) {
            stdout_closed();
        }
        default(info)
    }));
}

/// The message of std's `print!` family when the stream's reader has gone.
fn is_closed_pipe_panic(msg: &str) -> bool {
    (msg.starts_with("failed printing to stdout") || msg.starts_with("failed printing to stderr"))
        && msg.contains("Broken pipe")
}

/// Standard output for data (`-o -`): a write to a closed pipe ends the process with
/// [`CLOSED_STDOUT`] instead of reporting an error.
pub struct Stdout<W>(pub W);

impl<W: Write> Write for Stdout<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf).inspect_err(closed_check)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush().inspect_err(closed_check)
    }
}

fn closed_check(e: &std::io::Error) {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        stdout_closed();
    }
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
    /// Print a value as JSON on standard output (pretty, one trailing newline). Structs
    /// keep their fields in declaration order; a `serde_json::Value` sorts its keys.
    ///
    /// A closed pipe (`accord ... --json | head`) ends the process quietly with
    /// [`CLOSED_STDOUT`].
    pub fn print_json(&self, value: &impl Serialize) {
        print_json(value)
    }
}

/// [`Output::print_json`] without an `Output`.
pub fn print_json(value: &impl Serialize) {
    let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".to_string());
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = writeln!(stdout, "{text}").and_then(|()| stdout.flush()) {
        closed_check(&e);
    }
}

/// `n thing` or `n things`.
pub fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Turn a command's result into the process exit code, printing any error: as
/// `error: ...` on standard error, or with `--json` as `{"error": {...}}` on standard
/// output (docs/json.md).
pub fn finish(result: anyhow::Result<Code>, json: bool) -> ExitCode {
    match result {
        Ok(code) => ExitCode::from(code as u8),
        Err(err) => {
            let code = err
                .chain()
                .find_map(|e| e.downcast_ref::<Exit>())
                .map(|e| e.0)
                .unwrap_or(Code::Usage);
            if json {
                let reasons = err
                    .chain()
                    .find_map(|e| match e.downcast_ref::<accord_node::Error>() {
                        Some(accord_node::Error::Denied(r))
                        | Some(accord_node::Error::NodeRefused { reasons: r, .. }) => {
                            Some(crate::json::from_wire(r))
                        }
                        _ => None,
                    })
                    .unwrap_or_default();
                let causes = err
                    .chain()
                    .skip(1)
                    .filter(|e| !e.is::<Exit>())
                    .map(|e| once_positioned(&e.to_string()))
                    .collect();
                print_error(once_positioned(&err.to_string()), causes, code, reasons);
            } else {
                eprintln!("error: {}", once_positioned(&format!("{err:#}")));
            }
            ExitCode::from(code as u8)
        }
    }
}

impl Output {
    /// A refusal or failure that ends the command with `code`: with `--json`, the error
    /// shape on standard output (with the reasons); otherwise `line` on standard error.
    pub fn refused(
        &self,
        line: &str,
        message: &str,
        reasons: Vec<crate::json::Reason>,
        code: Code,
    ) -> Code {
        if self.json {
            print_error(message.to_string(), vec![], code, reasons);
        } else {
            eprintln!("{line}");
        }
        code
    }
}

/// serde_json ends its messages with ` at line L column C`; the libraries already put
/// the position first (`... at line L, column C: expected value at line L column C`).
/// Say it once: drop serde's suffix when the same line and column were given before.
pub fn once_positioned(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    for (i, part) in msg.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&dedup_line(part));
    }
    out
}

fn dedup_line(line: &str) -> String {
    let mut s = line.to_string();
    // Repeatedly: a message may nest several (`a: b at line 1 column 2: c`).
    let mut from = 0;
    while let Some(rel) = s[from..].find(" at line ") {
        let at = from + rel;
        let rest = &s[at + " at line ".len()..];
        let parsed = rest.split_once(" column ").and_then(|(l, r)| {
            let l: u64 = l.parse().ok()?;
            let digits = r.bytes().take_while(u8::is_ascii_digit).count();
            let c: u64 = r[..digits].parse().ok()?;
            Some((l, c, " at line ".len() + rest.len() - r.len() + digits))
        });
        match parsed {
            Some((l, c, len)) => {
                let before = &s[..at];
                let said = before.contains(&format!("line {l}, column {c}"))
                    || before.contains(&format!("line {l} column {c}"));
                if said {
                    s.replace_range(at..at + len, "");
                    from = at;
                } else {
                    from = at + len;
                }
            }
            None => from = at + 1,
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_said_once() {
        assert_eq!(
            once_positioned(
                "bad.json: malformed JSON at line 1, column 75: expected value at line 1 column 75"
            ),
            "bad.json: malformed JSON at line 1, column 75: expected value"
        );
        assert_eq!(
            once_positioned("party.json line 3 column 4: missing field `x` at line 3 column 4"),
            "party.json line 3 column 4: missing field `x`"
        );
        // Only serde's position is there: kept.
        assert_eq!(
            once_positioned("reading person p.json: EOF while parsing a value at line 2 column 0"),
            "reading person p.json: EOF while parsing a value at line 2 column 0"
        );
        // A different position is kept.
        assert_eq!(
            once_positioned("at line 1, column 2: x at line 3 column 4"),
            "at line 1, column 2: x at line 3 column 4"
        );
        assert_eq!(once_positioned("no position"), "no position");
    }

    #[test]
    fn counts_agree() {
        assert_eq!(count(1, "item", "items"), "1 item");
        assert_eq!(count(2, "item", "items"), "2 items");
        assert_eq!(count(0, "segment", "segments"), "0 segments");
    }

    #[test]
    fn closed_pipe_panics_are_recognised() {
        assert!(is_closed_pipe_panic(
            "failed printing to stdout: Broken pipe (os error 32)"
        ));
        assert!(!is_closed_pipe_panic(
            "failed printing to stdout: No space left"
        ));
        assert!(!is_closed_pipe_panic("index out of bounds"));
    }
}

/// `{"error": {...}}`: what a command prints on standard output for an error when
/// `--json` is given (docs/json/error.schema.json).
#[derive(Debug, Serialize)]
pub struct ErrorJson {
    /// The error.
    pub error: ErrorBody,
}

/// The error's message, its causes (outermost first), the exit code and any reasons.
#[derive(Debug, Serialize)]
pub struct ErrorBody {
    /// What failed, in one line.
    pub message: String,
    /// Why, from the outermost cause to the innermost.
    pub causes: Vec<String>,
    /// The process's exit code.
    pub exit_code: u8,
    /// The rules a refusal named (empty when none).
    pub reasons: Vec<crate::json::Reason>,
}

/// Print an error as JSON on standard output.
pub fn print_error(
    message: String,
    causes: Vec<String>,
    code: Code,
    reasons: Vec<crate::json::Reason>,
) {
    print_json(&ErrorJson {
        error: ErrorBody {
            message,
            causes,
            exit_code: code as u8,
            reasons,
        },
    })
}
