//! Reading inputs named on the command line: files, directories and `-` for standard input.

use anyhow::{bail, Context, Result};
use std::io::Read;
use std::path::Path;

/// Largest file the command line reads whole into memory (policies, labels, documents
/// that are not streamed). Bigger inputs are refused rather than exhausting memory.
pub const MAX_WHOLE_FILE: u64 = 16 * 1024 * 1024;

/// Open a file named on the command line, refusing a directory with a message that
/// names it (`what` says what was expected: "a sealed object", "a file to seal").
pub fn open_file(path: &Path, what: &str) -> Result<std::fs::File> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    if file.metadata().map(|m| m.is_dir()).unwrap_or(false) {
        bail!("{} is a directory, not {what}", path.display());
    }
    Ok(file)
}

/// Read a whole file, or standard input when `path` is `-`, refusing anything larger
/// than [`MAX_WHOLE_FILE`].
pub fn read_bounded(path: &Path) -> Result<Vec<u8>> {
    read_at_most(path, MAX_WHOLE_FILE)
}

/// [`read_bounded`] with another bound (an equipment import: the node's own).
pub fn read_at_most(path: &Path, max: u64) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    if path == Path::new("-") {
        std::io::stdin()
            .take(max + 1)
            .read_to_end(&mut buf)
            .context("reading standard input")?;
    } else {
        let file = open_file(path, "a file")?;
        file.take(max + 1)
            .read_to_end(&mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
    }
    if buf.len() as u64 > max {
        anyhow::bail!("{} is larger than {} bytes", display_name(path), max);
    }
    Ok(buf)
}

/// The name to use for an input path in messages (`standard input` for `-`).
pub fn display_name(path: &Path) -> String {
    if path == Path::new("-") {
        "standard input".to_string()
    } else {
        path.display().to_string()
    }
}

/// The name to use for an output path in messages (`standard output` for `-`).
pub fn output_name(path: &Path) -> String {
    if path == Path::new("-") {
        "standard output".to_string()
    } else {
        path.display().to_string()
    }
}

/// A word for a shell command line: as is when it holds only characters no shell
/// treats specially, else in single quotes (a `'` inside written `'\''`).
pub fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'/' | b'.' | b'_' | b'-' | b':' | b'@' | b'%' | b'+' | b'=' | b','
                )
        });
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// [`shell_word`] for a path.
pub fn shell_path(p: &Path) -> String {
    shell_word(&p.to_string_lossy())
}

#[cfg(test)]
mod tests {
    use super::shell_word;

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(shell_word("/tmp/q/pak"), "/tmp/q/pak");
        assert_eq!(shell_word("/tmp/q s/pak"), "'/tmp/q s/pak'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word("$HOME"), "'$HOME'");
        assert_eq!(shell_word(""), "''");
    }
}
