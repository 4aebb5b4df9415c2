//! Passphrases for protected credentials (`accord credential protect`).
//!
//! Where the passphrase comes from, first found: `--passphrase-file FILE` (or
//! `ACCORD_PASSPHRASE_FILE`), the `ACCORD_PASSPHRASE` variable, the profile's
//! `passphrase_file`, and last the terminal, which asks without echo. A service has no terminal:
//! give it a file readable by its user only (systemd's `LoadCredential=` makes one).
//! A passphrase is never printed or logged, and is wiped from memory after use.

use anyhow::{bail, Context, Result};
use std::io::Read;
use std::path::Path;
use zeroize::Zeroizing;

/// Largest passphrase file read.
const MAX_FILE: u64 = 4096;

/// Read a passphrase file: its first line (one trailing `\n` or `\r\n` dropped), which
/// must not be empty. A file that others than its owner may read is refused, as ssh
/// refuses such a key: the passphrase in it is as good as the key.
pub fn read_file(path: &Path) -> Result<Zeroizing<String>> {
    let f = std::fs::File::open(path)
        .with_context(|| format!("reading the passphrase file {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = f
            .metadata()
            .with_context(|| format!("reading the passphrase file {}", path.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            bail!(
                "the passphrase file {} may be read by others (mode {:o}): chmod 600 it",
                path.display(),
                mode & 0o777
            );
        }
    }
    let mut bytes = Zeroizing::new(Vec::new());
    f.take(MAX_FILE + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading the passphrase file {}", path.display()))?;
    if bytes.len() as u64 > MAX_FILE {
        bail!(
            "the passphrase file {} is larger than {MAX_FILE} bytes",
            path.display()
        );
    }
    let text = std::str::from_utf8(&bytes)
        .with_context(|| format!("the passphrase file {} is not UTF-8", path.display()))?;
    let line = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(text);
    if line.is_empty() {
        bail!("the passphrase file {} is empty", path.display());
    }
    if line.contains('\n') {
        bail!(
            "the passphrase file {} holds more than one line",
            path.display()
        );
    }
    Ok(Zeroizing::new(line.to_string()))
}

/// Whether a terminal can be asked (the process has one, whatever its standard input
/// and output are).
fn terminal() -> bool {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .is_ok()
}

fn ask(prompt: &str) -> Result<Zeroizing<String>> {
    let p =
        rpassword::prompt_password(prompt).context("reading the passphrase from the terminal")?;
    Ok(Zeroizing::new(p))
}

/// The passphrase that unlocks the credential `credential`: see the module's
/// documentation for where it comes from.
pub fn for_credential(
    credential: &Path,
    file: Option<&Path>,
    profile_file: Option<&Path>,
) -> Result<Zeroizing<String>> {
    if let Some(f) = file {
        return read_file(f);
    }
    if let Some(p) = std::env::var("ACCORD_PASSPHRASE")
        .ok()
        .filter(|p| !p.is_empty())
    {
        return Ok(Zeroizing::new(p));
    }
    if let Some(f) = profile_file {
        return read_file(f);
    }
    if terminal() {
        return ask(&format!("Passphrase for {}: ", credential.display()));
    }
    bail!(
        "the credential {} is protected by a passphrase: give --passphrase-file FILE, set ACCORD_PASSPHRASE_FILE or ACCORD_PASSPHRASE, or run on a terminal to be asked",
        credential.display()
    )
}

/// A new passphrase: from `file` when given, else asked twice on the terminal.
pub fn new(file: Option<&Path>) -> Result<Zeroizing<String>> {
    if let Some(f) = file {
        return read_file(f);
    }
    if !terminal() {
        bail!("no terminal to ask a new passphrase on: give --new-passphrase-file FILE");
    }
    let first = ask("New passphrase: ")?;
    if first.is_empty() {
        bail!("an empty passphrase protects nothing");
    }
    let again = ask("Again: ")?;
    if *first != *again {
        bail!("the two passphrases differ: nothing was changed");
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_passphrase_file_is_one_owner_only_line() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pass");
        let write = |text: &str, mode: u32| {
            std::fs::write(&p, text).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        write("correct horse\n", 0o600);
        assert_eq!(*read_file(&p).unwrap(), "correct horse");
        write("correct horse\r\n", 0o400);
        assert_eq!(*read_file(&p).unwrap(), "correct horse");
        write("correct horse", 0o644);
        assert!(read_file(&p).unwrap_err().to_string().contains("chmod 600"));
        write("\n", 0o600);
        assert!(read_file(&p).unwrap_err().to_string().contains("empty"));
        write("a\nb\n", 0o600);
        assert!(read_file(&p)
            .unwrap_err()
            .to_string()
            .contains("more than one line"));
    }
}
