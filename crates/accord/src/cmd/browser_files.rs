//! The credential's browser form that `accord user add` and `user renew` write beside
//! the credential: the PKCS#12 file and, when Accord made the passphrase, its file.

use accord_node::directory;
use accord_node::home::Home;
use anyhow::Result;
use std::path::PathBuf;

/// `--p12` and `--p12-passphrase-file`: where `user add` and `user renew` write the
/// browser form, and the passphrase the officer gives it.
#[derive(clap::Args, Debug)]
pub struct BrowserArgs {
    /// Where to write the credential for the browser (PKCS#12, with the node CA's
    /// certificate), to sign in to the console; by default beside the credential, as
    /// ID.p12.
    #[arg(long, value_name = "ID.p12")]
    pub p12: Option<PathBuf>,
    /// The PKCS#12 file's passphrase, from this file (owner-only). Without it, a new
    /// random passphrase is written to ID.p12.passphrase (owner-only): hand it over
    /// apart from the file.
    #[arg(long, value_name = "FILE")]
    pub p12_passphrase_file: Option<PathBuf>,
}

/// The credential's browser form that `user add` and `user renew` write: the PKCS#12
/// file, and its passphrase's file when Accord made the passphrase.
pub(crate) struct BrowserFiles {
    p12: PathBuf,
    /// Given by the officer (read from it) or made here (written to it).
    passphrase: PathBuf,
    given: bool,
}

impl BrowserFiles {
    pub(crate) fn of(credential: &std::path::Path, args: &BrowserArgs) -> BrowserFiles {
        let p12 = args
            .p12
            .clone()
            .unwrap_or_else(|| credential.with_extension("p12"));
        let (passphrase, given) = match &args.p12_passphrase_file {
            Some(p) => (p.clone(), true),
            None => (
                PathBuf::from(format!("{}.passphrase", p12.display())),
                false,
            ),
        };
        BrowserFiles {
            p12,
            passphrase,
            given,
        }
    }

    pub(crate) fn write(
        &self,
        home: &Home,
        cred: &accord_node_api::credential::Credential,
        force: bool,
    ) -> Result<()> {
        let made: Vec<&PathBuf> = if self.given {
            vec![&self.p12]
        } else {
            vec![&self.p12, &self.passphrase]
        };
        for f in &made {
            if f.exists() && !force {
                anyhow::bail!(
                    "{} already exists: give --force to overwrite it, or --p12 elsewhere",
                    f.display()
                );
            }
        }
        let given = if self.given {
            Some(crate::passphrase::read_file(&self.passphrase)?)
        } else {
            None
        };
        let (p12, passphrase) =
            directory::browser_credential(home, cred, given.as_deref().map(|s| s.as_str()))?;
        for f in &made {
            if force {
                let _ = std::fs::remove_file(f);
            }
        }
        accord_keys::write_private_file(&self.p12, &p12)?;
        if !self.given {
            let mut line = zeroize::Zeroizing::new(String::with_capacity(passphrase.len() + 1));
            line.push_str(&passphrase);
            line.push('\n');
            accord_keys::write_private_file(&self.passphrase, line.as_bytes())?;
        }
        Ok(())
    }

    pub(crate) fn json(&self, v: &mut serde_json::Value) {
        v["p12"] = serde_json::json!(self.p12.display().to_string());
        v["p12_passphrase_file"] = serde_json::json!(self.passphrase.display().to_string());
    }

    pub(crate) fn say(&self) {
        if self.given {
            println!(
                "for the browser: {} (PKCS#12, under the passphrase in {})",
                self.p12.display(),
                self.passphrase.display()
            );
        } else {
            println!(
                "for the browser: {} (PKCS#12), its passphrase in {} (owner-only): hand them over apart",
                self.p12.display(),
                self.passphrase.display()
            );
        }
    }
}
