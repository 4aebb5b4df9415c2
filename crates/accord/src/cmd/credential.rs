//! `accord credential`: a person's own credential: what it is, and its passphrase.

use crate::exit::{Code, Output};
use accord_node_api::credential::CredentialFile;
use anyhow::Result;
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum CredentialCommand {
    /// Show whose credential it is, its node, when it expires and whether a passphrase
    /// protects it (never the key).
    #[command(
        after_help = "Example:\n  accord credential show pak-officer.credential\n  accord --json credential show      # the profile's credential\n  # {\"path\", \"party\", \"person\", \"node_url\", \"fingerprint\", \"not_after\",\n  #   \"protected\"}\n\nExit codes: 0 ok, 2 usage or input error (unreadable credential)."
    )]
    Show(FileArg),
    /// Protect the credential's key with a passphrase, or change its passphrase.
    #[command(after_help = PROTECT_HELP)]
    Protect(ProtectArgs),
    /// Remove the passphrase (the key is then stored unencrypted, owner-only).
    #[command(
        after_help = "Example:\n  accord credential unprotect pak-officer.credential\n\nExit codes: 0 ok, 2 usage or input error (wrong passphrase, unreadable credential)."
    )]
    Unprotect(FileArg),
}

const PROTECT_HELP: &str = "\
Example:
  accord credential protect pak-officer.credential   # asks twice
  accord credential protect svc.credential \\
      --new-passphrase-file /etc/accord/svc.pass

The key is encrypted as a PKCS#8 ENCRYPTED PRIVATE KEY (scrypt N=2^17, r=8, p=1; AES-256-CBC), which OpenSSL reads too. Afterwards every command using the credential needs the passphrase: asked on the terminal, or from --passphrase-file FILE, ACCORD_PASSPHRASE_FILE, ACCORD_PASSPHRASE or the profile's passphrase_file. Changing the passphrase of a protected credential asks the current one first. The file is replaced atomically.

Exit codes: 0 ok, 2 usage or input error (wrong passphrase, passphrases that differ, no terminal and no file).";

#[derive(Args, Debug)]
pub struct FileArg {
    #[command(flatten)]
    pub choice: crate::profile::Choice,
    /// The credential file [default: --credential's, ACCORD_CREDENTIAL or the profile's].
    #[arg(value_name = "ID.credential")]
    pub file: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ProtectArgs {
    #[command(flatten)]
    pub choice: crate::profile::Choice,
    /// The credential file [default: ACCORD_CREDENTIAL or the profile's].
    #[arg(value_name = "ID.credential")]
    pub file: Option<PathBuf>,
    /// Read the new passphrase from FILE (owner-only; its first line) instead of asking.
    #[arg(long, value_name = "FILE")]
    pub new_passphrase_file: Option<PathBuf>,
}

pub fn run(cmd: CredentialCommand, out: &Output) -> Result<Code> {
    match cmd {
        CredentialCommand::Show(a) => show(a, out),
        CredentialCommand::Protect(a) => protect(a, out),
        CredentialCommand::Unprotect(a) => unprotect(a, out),
    }
}

fn chosen(file: Option<PathBuf>) -> Result<crate::profile::Chosen> {
    crate::profile::required(file.as_deref())
}

fn show(a: FileArg, out: &Output) -> Result<Code> {
    crate::profile::init(&a.choice);
    let c = chosen(a.file)?;
    let file = CredentialFile::read(&c.path)?;
    let not_after = file.not_after()?;
    let fingerprint = file.fingerprint()?;
    let when = crate::json::time(not_after);
    if out.json {
        out.print_json(&serde_json::json!({
            "path": c.path,
            "party": file.party(),
            "person": file.person(),
            "node_url": file.node_url(),
            "fingerprint": fingerprint,
            "not_after": when,
            "protected": file.is_protected(),
        }));
    } else {
        println!("{} of {}", file.person(), file.party());
        println!("file         {}", c.path.display());
        println!("node         {}", file.node_url());
        println!("certificate  {fingerprint}");
        println!(
            "expires      {when} ({})",
            crate::cmd::status::in_days(not_after)
        );
        println!(
            "passphrase   {}",
            if file.is_protected() {
                "yes"
            } else {
                "no (accord credential protect)"
            }
        );
    }
    Ok(Code::Ok)
}

fn protect(a: ProtectArgs, out: &Output) -> Result<Code> {
    crate::profile::init(&a.choice);
    let c = chosen(a.file)?;
    let was = CredentialFile::read(&c.path)?.is_protected();
    let cred = crate::profile::unlock(&c)?;
    let pass = crate::passphrase::new(a.new_passphrase_file.as_deref())?;
    cred.protect(&pass)?.replace(&c.path)?;
    let what = if was {
        "changed the passphrase of"
    } else {
        "protected"
    };
    if out.json {
        out.print_json(&serde_json::json!({"path": c.path, "protected": true, "changed": was}));
    } else {
        eprintln!("{what} {}", c.path.display());
    }
    Ok(Code::Ok)
}

fn unprotect(a: FileArg, out: &Output) -> Result<Code> {
    crate::profile::init(&a.choice);
    let c = chosen(a.file)?;
    let cred = crate::profile::unlock(&c)?;
    cred.unprotected().replace(&c.path)?;
    if out.json {
        out.print_json(&serde_json::json!({"path": c.path, "protected": false}));
    } else {
        eprintln!(
            "removed the passphrase of {} (its key is stored unencrypted, owner-only)",
            c.path.display()
        );
    }
    Ok(Code::Ok)
}
