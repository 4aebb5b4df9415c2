//! Profiles: the client configuration file, so that nobody repeats `--credential` on
//! every command.
//!
//! ```toml
//! # ~/.config/accord/config.toml ($XDG_CONFIG_HOME/accord/config.toml, or ACCORD_CONFIG)
//! default = "pak"
//!
//! [profile.pak]
//! credential = "/home/khan/pak-officer.credential"
//! to = "USA"                        # the partner `accord send` sends to by default
//! passphrase_file = "/run/credentials/accord.pass"   # optional, for services
//! ```
//!
//! Which credential a command uses, first found: `--credential`; the profile named by
//! `--profile`; `ACCORD_CREDENTIAL`; the profile named by `ACCORD_PROFILE`; the
//! `default` profile. Flags win over the environment, and the environment over the
//! file.

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Largest configuration file read.
const MAX_CONFIG: u64 = 256 * 1024;

/// The client configuration file.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The profile used when none is named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// The profiles, by name.
    #[serde(default, rename = "profile")]
    pub profiles: BTreeMap<String, Profile>,
}

/// A named profile.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// The credential file (relative paths are from the configuration file's
    /// directory).
    pub credential: PathBuf,
    /// The partner `accord send` sends to when `--to` is not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// A file holding the credential's passphrase (owner-only), for services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passphrase_file: Option<PathBuf>,
}

/// The flags of every command that talks to a node: which profile, and where the
/// credential's passphrase is.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct Choice {
    /// The profile to use (accord profile list) [default: ACCORD_PROFILE, or the
    /// default profile].
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Read the credential's passphrase from FILE (owner-only), when one protects it.
    #[arg(long, value_name = "FILE", env = "ACCORD_PASSPHRASE_FILE")]
    pub passphrase_file: Option<PathBuf>,
}

static CHOICE: OnceLock<Choice> = OnceLock::new();

/// Remember the command's choice (once, as the command starts).
pub fn init(c: &Choice) {
    let _ = CHOICE.set(c.clone());
}

fn globals() -> &'static Choice {
    CHOICE.get_or_init(Choice::default)
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Where the configuration file is: `ACCORD_CONFIG`, else
/// `$XDG_CONFIG_HOME/accord/config.toml`, else `$HOME/.config/accord/config.toml`.
pub fn config_path() -> Option<PathBuf> {
    if let Some(p) = env("ACCORD_CONFIG") {
        return Some(PathBuf::from(p));
    }
    let base = env("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| env("HOME").map(|h| Path::new(&h).join(".config")))?;
    Some(base.join("accord").join("config.toml"))
}

/// Read the configuration file (an absent file is an empty configuration).
pub fn load(path: &Path) -> Result<Config> {
    use std::io::Read;
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let mut text = String::new();
    f.take(MAX_CONFIG + 1)
        .read_to_string(&mut text)
        .with_context(|| format!("reading {}", path.display()))?;
    if text.len() as u64 > MAX_CONFIG {
        bail!("{} is larger than {MAX_CONFIG} bytes", path.display());
    }
    let mut c: Config = toml::from_str(&text).map_err(|e| {
        let at = e
            .span()
            .map(|s| {
                let line = text[..s.start.min(text.len())].matches('\n').count() + 1;
                format!(" line {line}")
            })
            .unwrap_or_default();
        anyhow!("{}{at}: {}", path.display(), e.message())
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    for p in c.profiles.values_mut() {
        if p.credential.is_relative() {
            p.credential = base.join(&p.credential);
        }
        if let Some(f) = p.passphrase_file.as_mut().filter(|f| f.is_relative()) {
            *f = base.join(&*f);
        }
    }
    if let Some(d) = &c.default {
        if !c.profiles.contains_key(d) {
            bail!(
                "{}: default = \"{d}\" names no profile ({})",
                path.display(),
                names(&c)
            );
        }
    }
    Ok(c)
}

fn names(c: &Config) -> String {
    if c.profiles.is_empty() {
        "it has none".into()
    } else {
        format!(
            "it has {}",
            c.profiles.keys().cloned().collect::<Vec<_>>().join(", ")
        )
    }
}

/// Write the configuration file (its directory made when missing).
pub fn save(path: &Path, c: &Config) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let text = toml::to_string_pretty(c).context("writing the configuration")?;
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

/// Where a credential came from, for `accord status` and error messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "from", content = "name")]
pub enum Source {
    /// `--credential`.
    Flag,
    /// `ACCORD_CREDENTIAL`.
    Environment,
    /// A profile of the configuration file.
    Profile(String),
}

/// A credential chosen for a command, with its profile when one is in use.
#[derive(Debug, Clone)]
pub struct Chosen {
    /// The credential file.
    pub path: PathBuf,
    /// Where it came from.
    pub source: Source,
    /// The profile in use: the one that gave the credential, or the one `--profile`
    /// names beside `--credential`. Its defaults (`to`, `passphrase_file`) apply only
    /// then: a credential given by flag or `ACCORD_CREDENTIAL` does not take another
    /// person's defaults, and a broken configuration file does not stop it.
    pub profile: Option<(String, Profile)>,
}

/// The profile in use: `--profile`, else `ACCORD_PROFILE`, else the file's default.
/// A named profile that does not exist is an error listing those that do.
pub fn selected() -> Result<Option<(String, Profile)>> {
    let named = globals().profile.clone().or_else(|| env("ACCORD_PROFILE"));
    let Some(path) = config_path() else {
        if let Some(n) = named {
            bail!(
                "profile `{n}`: no configuration file (set HOME, XDG_CONFIG_HOME or ACCORD_CONFIG)"
            );
        }
        return Ok(None);
    };
    let c = load(&path)?;
    let name = match named.or_else(|| c.default.clone()) {
        Some(n) => n,
        None => return Ok(None),
    };
    match c.profiles.get(&name) {
        Some(p) => Ok(Some((name, p.clone()))),
        None => bail!(
            "no profile `{name}` in {} ({}; add it with: accord profile add {name} --credential FILE)",
            path.display(),
            names(&c)
        ),
    }
}

/// The credential a command uses: see the module's documentation. `None` when nothing
/// names one.
pub fn credential(explicit: Option<&Path>) -> Result<Option<Chosen>> {
    let flag_profile = globals().profile.is_some();
    if let Some(p) = explicit {
        return Ok(Some(Chosen {
            path: p.to_path_buf(),
            source: Source::Flag,
            profile: if flag_profile { selected()? } else { None },
        }));
    }
    if !flag_profile {
        if let Some(p) = env("ACCORD_CREDENTIAL") {
            return Ok(Some(Chosen {
                path: PathBuf::from(p),
                source: Source::Environment,
                profile: None,
            }));
        }
    }
    let profile = selected()?;
    Ok(profile.map(|(name, p)| Chosen {
        path: p.credential.clone(),
        source: Source::Profile(name.clone()),
        profile: Some((name, p)),
    }))
}

/// The credential a command that needs one uses, or an error that says how to give
/// one.
pub fn required(explicit: Option<&Path>) -> Result<Chosen> {
    credential(explicit)?.ok_or_else(|| {
        anyhow!(
            "no credential: give --credential FILE, set ACCORD_CREDENTIAL, or make a profile once (accord profile add NAME --credential FILE --default)"
        )
    })
}

/// The default partner of the profile in use (`to = "USA"`), for `accord send` with
/// the credential `explicit` (or none given).
pub fn default_to(explicit: Option<&Path>) -> Result<Option<String>> {
    Ok(credential(explicit)?
        .and_then(|c| c.profile)
        .and_then(|(_, p)| p.to))
}

/// Read the chosen credential, asking for its passphrase when a passphrase protects
/// it (see [`crate::passphrase`] for where the passphrase comes from).
pub fn unlock(chosen: &Chosen) -> Result<accord_node_api::credential::Credential> {
    let file = accord_node_api::credential::CredentialFile::read(&chosen.path)?;
    if !file.is_protected() {
        return Ok(file.unlock(None)?);
    }
    let profile_file = chosen
        .profile
        .as_ref()
        .and_then(|(_, p)| p.passphrase_file.as_deref());
    let pass = crate::passphrase::for_credential(
        &chosen.path,
        globals().passphrase_file.as_deref(),
        profile_file,
    )?;
    file.unlock(Some(&pass))
        .with_context(|| format!("unlocking the credential {}", chosen.path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_are_from_the_file_and_a_missing_default_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            "default = \"pak\"\n[profile.pak]\ncredential = \"pak.credential\"\nto = \"USA\"\n",
        )
        .unwrap();
        let c = load(&path).unwrap();
        assert_eq!(
            c.profiles["pak"].credential,
            dir.path().join("pak.credential")
        );
        std::fs::write(
            &path,
            "default = \"usa\"\n[profile.pak]\ncredential = \"x\"\n",
        )
        .unwrap();
        let e = load(&path).unwrap_err().to_string();
        assert!(e.contains("names no profile (it has pak)"), "{e}");
        std::fs::write(&path, "[profile.pak]\ncredentials = \"x\"\n").unwrap();
        let e = load(&path).unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("credentials"), "{e}");
        assert!(load(&dir.path().join("absent.toml"))
            .unwrap()
            .profiles
            .is_empty());
    }
}
