//! The README's walkthrough, run as a script: every command the Usage section shows must
//! work when pasted (issue 21).
//!
//! What runs: the ```` ```sh ```` blocks of README.md's `## Usage` section (up to the next
//! `## ` heading), in order, as one bash script under `set -Eeuo pipefail`, with `accord`
//! on PATH being the binary cargo built for this test. The script keeps the README's line
//! numbers (line N of the script is line N of README.md; the lines it does not run are
//! left empty, and line 1, a heading in the README, holds the preamble), so that bash's
//! `$LINENO` is the README's line: the test fails naming the README line of the command
//! that failed, with its exit status, the last commands it ran and the nodes' logs.
//!
//! Where: a temporary directory standing for the top of a clone (a copy of `policies/`,
//! what the README's first block copies), with HOME and TMPDIR inside it (the README
//! writes completions and manual pages under `~/.local/share` and works in `mktemp -d`).
//! It runs the nodes on 127.0.0.1:8443 and 127.0.0.2:8444 and a witness on
//! 127.0.0.1:8445, as the README does, so it fails at once, saying so, when one of these
//! is taken. The nodes use SQLite (the README's `accord init` without `--database`), so
//! .ci/run's second pass, against PostgreSQL, skips this test. The script has
//! WALKTHROUGH_TIMEOUT_S to finish (default 300; it takes about 7 s); then, and
//! whatever happened, its whole process group (the nodes and the witness the README
//! started in the background) is killed.
//!
//! Not run:
//! - the blocks outside Usage: "On a fresh machine" (`cargo run --release -- quickstart`
//!   builds for 17–19 minutes, and `cargo test` would run this test again), "Getting
//!   `accord`" (`cargo install`, `cargo build --release`: the test has its binary
//!   already), and "Benchmarks" (minutes of `cargo bench`);
//! - in Usage, a ```` ```sh ```` block whose preceding line is
//!   `<!-- walkthrough: skip -->` (none today), and blocks that are not `sh` (JSON, text,
//!   console); a ```` ```bash ```` or ```` ```shell ```` block there is an error, so that
//!   no block meant to run is left out by its spelling.
//!
//! WALKTHROUGH_KEEP=1 keeps the temporary directory (the script, its trace, the scratch
//! directory) and prints where it is.
//!
//! The README uses `jq`. .ci/run installs it; elsewhere, without it, the test says so and
//! passes without running (with CI=true it fails).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The line that, just before a ```` ```sh ```` block, leaves it out of the walkthrough.
const SKIP_MARKER: &str = "<!-- walkthrough: skip -->";

/// The addresses the README's nodes and witness listen on.
const ADDRESSES: [&str; 3] = ["127.0.0.1:8443", "127.0.0.2:8444", "127.0.0.1:8445"];

/// A block of README lines the walkthrough runs: its first and last line (1-based, the
/// fences excluded).
#[derive(Debug)]
struct Block {
    first: usize,
    last: usize,
}

/// The ```` ```sh ```` blocks of the `## Usage` section, in order, without the skipped ones;
/// and how many were skipped.
fn usage_blocks(readme: &str) -> (Vec<Block>, usize) {
    let lines: Vec<&str> = readme.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.trim_end() == "## Usage")
        .expect("README.md has a `## Usage` section");
    let end = lines[start + 1..]
        .iter()
        .position(|l| l.starts_with("## "))
        .map_or(lines.len(), |i| start + 1 + i);
    let (mut blocks, mut skipped) = (vec![], 0);
    let mut i = start + 1;
    while i < end {
        let fence = lines[i].trim_end();
        if let Some(lang) = fence.strip_prefix("```") {
            let close = lines[i + 1..end]
                .iter()
                .position(|l| l.trim_end() == "```")
                .map(|j| i + 1 + j)
                .unwrap_or_else(|| panic!("README.md:{}: a code block that is not closed", i + 1));
            // One spelling for a block that runs, so that none is left out unseen.
            assert!(
                !matches!(lang, "bash" | "shell" | "zsh"),
                "README.md:{}: a ```{lang} block in Usage: write ```sh (the walkthrough \
                 runs it) or ```console / ```text (shown, not run)",
                i + 1
            );
            if lang == "sh" {
                let marked = lines[..i]
                    .iter()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .is_some_and(|l| l.trim() == SKIP_MARKER);
                if marked {
                    skipped += 1;
                } else if close > i + 1 {
                    // 1-based: the line after the fence is line i + 2.
                    blocks.push(Block {
                        first: i + 2,
                        last: close,
                    });
                }
            }
            i = close + 1;
        } else {
            i += 1;
        }
    }
    (blocks, skipped)
}

/// The script: README line N on line N for the lines of the blocks, empty lines elsewhere,
/// and the preamble on line 1 (a heading in the README, never in a block).
fn script(readme: &str, blocks: &[Block]) -> String {
    let lines: Vec<&str> = readme.lines().collect();
    let mut out = vec![String::new(); lines.len()];
    for b in blocks {
        assert!(b.first > 1, "a walkthrough block on README line 1");
        for n in b.first..=b.last {
            out[n - 1] = lines[n - 1].to_string();
        }
    }
    // Each failing command (and each caller it fails, -E) is recorded with its status,
    // README line and text; every command run is traced with its README line (fd 9); on
    // exit, the jobs the README left running are stopped.
    out[0] = [
        "set -Eeuo pipefail",
        r#"trap 'printf "%s\t%s\t%s\n" "$?" "$LINENO" "$BASH_COMMAND" >> "$WALKTHROUGH_ERRORS"' ERR"#,
        r#"trap 'kill $(jobs -p) 2>/dev/null || true' EXIT"#,
        r#"exec 9>>"$WALKTHROUGH_TRACE""#,
        "BASH_XTRACEFD=9",
        "PS4='+ README.md:${LINENO}: '",
        "set -x",
    ]
    .join("; ");
    let mut s = out.join("\n");
    s.push('\n');
    s
}

fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The logs of what the README started in the background, wherever its scratch
/// directory is.
fn background_logs(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            background_logs(&p, found);
        } else if p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(".log") || n == "witness.out")
        {
            found.push(p);
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

#[test]
fn extraction_keeps_readme_lines_and_honours_the_marker() {
    let readme = "# T\n\n## Usage\n\n```sh\necho one\n```\n\n<!-- walkthrough: skip -->\n```sh\nexit 1\n```\n\n```json\n{}\n```\n\n```sh\necho two \\\n  three\n```\n\n## Next\n\n```sh\nexit 1\n```\n";
    let (blocks, skipped) = usage_blocks(readme);
    assert_eq!(skipped, 1);
    let spans: Vec<(usize, usize)> = blocks.iter().map(|b| (b.first, b.last)).collect();
    assert_eq!(spans, [(6, 6), (19, 20)]);
    let s = script(readme, &blocks);
    let lines: Vec<&str> = s.lines().collect();
    assert_eq!(lines.len(), readme.lines().count());
    assert!(lines[0].starts_with("set -Eeuo pipefail"));
    assert_eq!(lines[5], "echo one");
    assert_eq!(lines[10], "");
    assert_eq!(lines[19], "  three");
}

#[test]
fn readme_walkthrough_runs_as_pasted() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let (blocks, skipped) = usage_blocks(&readme);
    assert!(
        blocks.len() >= 8,
        "README.md's Usage section has {} sh blocks to run: has it moved?",
        blocks.len()
    );

    if Command::new("jq").arg("--version").output().is_err() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "jq is not installed: the README's walkthrough uses it (.ci/run installs it)"
        );
        eprintln!("jq not installed: the README's walkthrough was not run");
        return;
    }
    for addr in ADDRESSES {
        if let Err(e) = std::net::TcpListener::bind(addr) {
            panic!("the README's walkthrough listens on {addr}, which cannot be used now: {e}");
        }
    }

    let tmp = tempfile::tempdir().unwrap();
    let top = tmp.path().join("clone");
    copy_dir(&root.join("policies"), &top.join("policies"));
    let (home, scratch, bin) = (
        tmp.path().join("home"),
        tmp.path().join("tmp"),
        tmp.path().join("bin"),
    );
    for d in [&home, &scratch, &bin] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_accord"), bin.join("accord")).unwrap();
    let path = std::env::join_paths(std::iter::once(bin.clone()).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .unwrap();
    let script_path = tmp.path().join("walkthrough.sh");
    std::fs::File::create(&script_path)
        .unwrap()
        .write_all(script(&readme, &blocks).as_bytes())
        .unwrap();
    let (errors, trace) = (tmp.path().join("errors.tsv"), tmp.path().join("trace"));
    let (stdout, stderr) = (tmp.path().join("stdout"), tmp.path().join("stderr"));

    use std::os::unix::process::CommandExt as _;
    let started = Instant::now();
    let mut child = Command::new("bash")
        .arg(&script_path)
        .current_dir(&top)
        .env("PATH", path)
        .env("HOME", &home)
        .env("TMPDIR", &scratch)
        .env("WALKTHROUGH_ERRORS", &errors)
        .env("WALKTHROUGH_TRACE", &trace)
        .env_remove("ACCORD_CREDENTIAL")
        .env_remove("ACCORD_LOG_FORMAT")
        .env_remove("RUST_LOG")
        .env_remove("BASH_ENV")
        .env_remove("CDPATH")
        .stdin(Stdio::null())
        // Files, not pipes: the nodes the README starts in the background inherit them,
        // and a pipe would stay open as long as they run.
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .process_group(0)
        .spawn()
        .expect("running bash");
    let timeout = Duration::from_secs(
        std::env::var("WALKTHROUGH_TIMEOUT_S")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(300),
    );
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > timeout {
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let took = started.elapsed();
    // Whatever happened: nothing the walkthrough started outlives it (the script's
    // process group: bash, the nodes, the witness).
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .stderr(Stdio::null())
        .status();
    let _ = child.wait();
    eprintln!(
        "README walkthrough: {} blocks ({skipped} skipped) in {:.1} s",
        blocks.len(),
        took.as_secs_f64()
    );
    if std::env::var_os("WALKTHROUGH_KEEP").is_some() {
        eprintln!("kept {}", tmp.keep().display());
    }
    if status.is_some_and(|s| s.success()) {
        return;
    }

    let lines: Vec<&str> = readme.lines().collect();
    let mut report = match status {
        Some(s) => format!("the README's walkthrough failed ({s})\n"),
        None => format!(
            "the README's walkthrough did not finish in {} s (WALKTHROUGH_TIMEOUT_S)\n",
            timeout.as_secs()
        ),
    };
    for rec in std::fs::read_to_string(&errors).unwrap_or_default().lines() {
        let mut f = rec.splitn(3, '\t');
        let (code, line, cmd) = (
            f.next().unwrap_or(""),
            f.next().unwrap_or(""),
            f.next().unwrap_or(""),
        );
        let text = line
            .parse::<usize>()
            .ok()
            .and_then(|n| lines.get(n.wrapping_sub(1)))
            .copied()
            .unwrap_or("");
        report += &format!(
            "  README.md line {line}: exit {code}: {cmd}\n    the line: {}\n",
            text.trim()
        );
    }
    report += &format!(
        "last commands run (README line each):\n{}\n",
        tail(&trace, 15)
    );
    report += &format!("standard output (end):\n{}\n", tail(&stdout, 15));
    report += &format!("standard error (end):\n{}\n", tail(&stderr, 25));
    let mut logs = vec![];
    background_logs(&scratch, &mut logs);
    for log in logs {
        report += &format!("{} (end):\n{}\n", log.display(), tail(&log, 10));
    }
    panic!("{report}");
}
