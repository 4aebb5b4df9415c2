//! `accord profile`: named profiles in the client configuration file
//! ([`crate::profile`]), so that a person gives their credential once.

use crate::exit::{Code, Output};
use crate::profile::{self, Profile};
use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum ProfileCommand {
    /// Add a profile: a name for a credential and your defaults.
    #[command(after_help = ADD_HELP)]
    Add(AddArgs),
    /// List the profiles, the default marked.
    #[command(
        after_help = "Example:\n  accord profile list\n  accord --json profile list\n  # {\"config\", \"default\", \"profiles\": [{\"name\", \"credential\", \"to\",\n  #   \"passphrase_file\", \"party\", \"person\", \"protected\", \"error\"}]}\n\nExit codes: 0 ok (also when there is none), 2 usage or input error."
    )]
    List,
    /// Remove a profile.
    #[command(
        after_help = "Example:\n  accord profile remove old-pak\n\nExit codes: 0 ok, 2 usage or input error (no such profile)."
    )]
    Remove(RemoveArgs),
}

const ADD_HELP: &str = "\
Example:
  accord profile add pak --credential pak-officer.credential \\
      --to USA --default
  accord inbox                    # now uses pak-officer.credential
  accord inbox --profile usa      # another profile, once

The file is $XDG_CONFIG_HOME/accord/config.toml (~/.config/accord/config.toml), or the file ACCORD_CONFIG names. A command's credential, first found: --credential; the profile --profile names; ACCORD_CREDENTIAL; the profile ACCORD_PROFILE names; the default profile.

Exit codes: 0 ok, 2 usage or input error (unreadable credential, the profile exists without --force).";

#[derive(Args, Debug)]
pub struct AddArgs {
    /// The profile's name.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// The credential file (`accord user add` made it).
    #[arg(long, value_name = "ID.credential")]
    pub credential: PathBuf,
    /// The partner `accord send` sends to when --to is not given.
    #[arg(long, value_name = "CODE")]
    pub to: Option<String>,
    /// Keep in the profile a file holding the credential's passphrase (owner-only), for
    /// services (it becomes the profile's `passphrase_file`).
    #[arg(long = "passphrase-in", value_name = "FILE")]
    pub profile_passphrase_file: Option<PathBuf>,
    /// Make it the default profile.
    #[arg(long)]
    pub default: bool,
    /// Replace a profile of the same name.
    #[arg(long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct RemoveArgs {
    /// The profile's name.
    #[arg(value_name = "NAME")]
    pub name: String,
}

fn config_path() -> Result<PathBuf> {
    profile::config_path()
        .ok_or_else(|| anyhow!("no configuration file: set HOME, XDG_CONFIG_HOME or ACCORD_CONFIG"))
}

fn absolute(p: &std::path::Path) -> Result<PathBuf> {
    std::fs::canonicalize(p).with_context(|| format!("{}", p.display()))
}

pub fn run(cmd: ProfileCommand, out: &Output) -> Result<Code> {
    match cmd {
        ProfileCommand::Add(a) => add(a, out),
        ProfileCommand::List => list(out),
        ProfileCommand::Remove(a) => remove(a, out),
    }
}

fn add(a: AddArgs, out: &Output) -> Result<Code> {
    if a.name.is_empty()
        || !a
            .name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        bail!(
            "profile name `{}`: use letters, digits, `-`, `_` and `.`",
            a.name
        );
    }
    let path = config_path()?;
    let mut c = profile::load(&path)?;
    if c.profiles.contains_key(&a.name) && !a.force {
        bail!(
            "profile `{}` already exists in {}: give --force to replace it",
            a.name,
            path.display()
        );
    }
    let credential = absolute(&a.credential)?;
    let file = accord_node_api::credential::CredentialFile::read(&credential)?;
    let passphrase_file = a
        .profile_passphrase_file
        .as_deref()
        .map(absolute)
        .transpose()?;
    if let Some(f) = &passphrase_file {
        crate::passphrase::read_file(f)?;
    }
    c.profiles.insert(
        a.name.clone(),
        Profile {
            credential: credential.clone(),
            to: a.to.map(|t| t.to_ascii_uppercase()),
            passphrase_file,
        },
    );
    if a.default || c.profiles.len() == 1 {
        c.default = Some(a.name.clone());
    }
    profile::save(&path, &c)?;
    let is_default = c.default.as_deref() == Some(a.name.as_str());
    if out.json {
        out.print_json(&serde_json::json!({
            "config": path,
            "name": a.name,
            "credential": credential,
            "party": file.party(),
            "person": file.person(),
            "default": is_default,
        }));
    } else {
        println!(
            "profile {}: {} of {} ({}){} in {}",
            a.name,
            file.person(),
            file.party(),
            credential.display(),
            if is_default { ", the default" } else { "" },
            path.display()
        );
    }
    Ok(Code::Ok)
}

fn list(out: &Output) -> Result<Code> {
    let path = config_path()?;
    let c = profile::load(&path)?;
    let rows: Vec<serde_json::Value> = c
        .profiles
        .iter()
        .map(|(name, p)| {
            let file = accord_node_api::credential::CredentialFile::read(&p.credential);
            serde_json::json!({
                "name": name,
                "default": c.default.as_deref() == Some(name.as_str()),
                "credential": p.credential,
                "to": p.to,
                "passphrase_file": p.passphrase_file,
                "party": file.as_ref().ok().map(|f| f.party().to_string()),
                "person": file.as_ref().ok().map(|f| f.person().to_string()),
                "protected": file.as_ref().ok().map(|f| f.is_protected()),
                "error": file.as_ref().err().map(|e| e.to_string()),
            })
        })
        .collect();
    if out.json {
        out.print_json(&serde_json::json!({
            "config": path,
            "default": c.default,
            "profiles": rows,
        }));
        return Ok(Code::Ok);
    }
    if rows.is_empty() {
        println!(
            "no profile in {} (add one: accord profile add NAME --credential FILE)",
            path.display()
        );
    }
    for r in &rows {
        let s = |k: &str| r[k].as_str().unwrap_or("").to_string();
        let who = match r["error"].as_str() {
            Some(e) => format!("unreadable: {e}"),
            None => format!(
                "{} of {}{}",
                s("person"),
                s("party"),
                if r["protected"] == true {
                    ", passphrase"
                } else {
                    ""
                }
            ),
        };
        println!(
            "{} {}  {}  ({}){}",
            if r["default"] == true { "*" } else { " " },
            s("name"),
            s("credential"),
            who,
            r["to"]
                .as_str()
                .map(|t| format!("  to {t}"))
                .unwrap_or_default()
        );
    }
    Ok(Code::Ok)
}

fn remove(a: RemoveArgs, out: &Output) -> Result<Code> {
    let path = config_path()?;
    let mut c = profile::load(&path)?;
    if c.profiles.remove(&a.name).is_none() {
        bail!("no profile `{}` in {}", a.name, path.display());
    }
    if c.default.as_deref() == Some(a.name.as_str()) {
        c.default = None;
    }
    profile::save(&path, &c)?;
    if out.json {
        out.print_json(&serde_json::json!({"removed": a.name, "config": path}));
    } else {
        println!("removed profile {} from {}", a.name, path.display());
    }
    Ok(Code::Ok)
}
