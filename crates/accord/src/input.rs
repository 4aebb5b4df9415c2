//! Reading inputs named on the command line: files, directories and `-` for standard input.

use anyhow::{Context, Result};
use std::io::Read;
use std::path::Path;

/// Largest file the command line reads whole into memory (policies, labels, documents
/// that are not streamed). Bigger inputs are refused rather than exhausting memory.
pub const MAX_WHOLE_FILE: u64 = 16 * 1024 * 1024;

/// Read a whole file, or standard input when `path` is `-`, refusing anything larger
/// than [`MAX_WHOLE_FILE`].
pub fn read_bounded(path: &Path) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    if path == Path::new("-") {
        std::io::stdin()
            .take(MAX_WHOLE_FILE + 1)
            .read_to_end(&mut buf)
            .context("reading standard input")?;
    } else {
        let file =
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        file.take(MAX_WHOLE_FILE + 1)
            .read_to_end(&mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
    }
    if buf.len() as u64 > MAX_WHOLE_FILE {
        anyhow::bail!(
            "{} is larger than {} bytes",
            display_name(path),
            MAX_WHOLE_FILE
        );
    }
    Ok(buf)
}

/// The name to use for a path in messages (`standard input` for `-`).
pub fn display_name(path: &Path) -> String {
    if path == Path::new("-") {
        "standard input".to_string()
    } else {
        path.display().to_string()
    }
}
