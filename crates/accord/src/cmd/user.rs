//! `accord user`: the people of a node (enrol, renew, revoke, suspend, resume, roles,
//! equipment signing keys, OpenTDF clients, list).

use crate::cmd::browser_files::{BrowserArgs, BrowserFiles};
use crate::cmd::node::runtime;
use crate::exit::{Code, Output};
use crate::input::read_bounded;
use accord_node::directory::{self, Enrolment};
use accord_node::home::Home;
use anyhow::Result;
use clap::{Args, Subcommand};
use std::path::PathBuf;

/// People of the node: enrol, suspend, resume, list.
#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Enrol a person and write their credential bundle (certificate, key, node pin).
    #[command(
        after_help = "Example:\n  accord user add --dir pak --id pak-officer --name \"Maj. A. Khan\" \\\n      --nationality PAK --clearance clearances/secret.json \\\n      --scope EXERCISES,TRAINING -o pak-officer.credential\n\n\
The clearance is a clearance file (JSON or spiffy XML) under the node's national policy.\n\
The credential file is written owner-only; it is the person's only key to the node: hand it over securely.\n\
Exit codes: 0 ok, 2 usage or input error (including an id already enrolled)."
    )]
    Add(UserAddArgs),
    /// Issue a new credential to a person already enrolled (before the old one expires).
    #[command(
        after_help = "Example:\n  accord user renew --dir pak --id pak-officer -o pak-officer-2027.credential\n\n\
The new credential is valid for node.toml's credential_validity_days (365 by default). The old one stays valid until it expires, so the person can change over without a gap. `accord node info` names the people whose credentials expire within 30 days.\n\n\
Exit codes: 0 ok, 2 usage or input error (no such person, the file exists without --force)."
    )]
    Renew(UserRenewArgs),
    /// Revoke a person's credentials at once (a lost or compromised one): refused from
    /// the node's next request on, for good.
    #[command(
        after_help = "Example:\n  accord user revoke --dir pak --id pak-officer            # every credential\n  accord user revoke --dir pak --id pak-officer \\\n      --credential lost.credential                          # only that one\n\n\
A revoked credential is refused on its next request, also by a running node (\"this credential has been revoked\"). Unlike `user suspend`, it cannot be undone: give the person a new one with `accord user renew`. --credential names the credential by its file (its certificate's SHA-256), --fingerprint by the SHA-256 itself (`accord credential show`).\n\n\
Exit codes: 0 ok, 2 usage or input error (no such person, no such credential not revoked already)."
    )]
    Revoke(UserRevokeArgs),
    /// Suspend a person: every request is denied until resumed.
    #[command(
        after_help = "Example:\n  accord user suspend --dir pak --id pak-officer\n\nExit codes: 0 ok, 2 no such person."
    )]
    Suspend {
        /// The node home.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// The person.
        #[arg(long)]
        id: String,
    },
    /// Resume a suspended person.
    #[command(
        after_help = "Example:\n  accord user resume --dir pak --id pak-officer\n\nExit codes: 0 ok, 2 no such person."
    )]
    Resume {
        /// The node home.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// The person.
        #[arg(long)]
        id: String,
    },
    /// Give a person a role: member, officer or custodian (logged in the audit log).
    #[command(
        after_help = "Example:\n  accord user role --dir pak --id pak-officer --role officer\n\n\
A member sees and sends what they are entitled to; an officer also manages people and agreements, opens equipment accounts and reads the node's audit log; a custodian keeps equipment accounts. The change takes effect on the person's next request, also at a running node, and goes into the audit log as a `directory` entry.\n\n\
Exit codes: 0 ok, 2 usage or input error (no such person, no such role)."
    )]
    Role {
        /// The node home.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// The person.
        #[arg(long)]
        id: String,
        /// `member`, `officer` or `custodian`.
        #[arg(long, value_name = "ROLE", value_parser = parse_role)]
        role: accord_agreement::Role,
    },
    /// Issue a person their equipment signing key (ES384 + ML-DSA-87): custodians,
    /// holders and witnesses sign equipment records with it.
    #[command(
        after_help = "Example:\n  accord user signing-key --dir pak --id pak-custodian -o pak-custodian.signing.key\n\n\
The node keeps the public keys; the private key file is written owner-only: hand it over with the person's credential (the equipment commands look for it beside the credential, as ID.signing.key). A new key replaces the old one for records signed from now on.\n\n\
Exit codes: 0 ok, 2 usage or input error (no such person, the file exists)."
    )]
    SigningKey {
        /// The node home.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// The person.
        #[arg(long)]
        id: String,
        /// Where to write the private key.
        #[arg(short = 'o', long = "output", value_name = "ID.signing.key")]
        output: PathBuf,
        /// Replace the file if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Issue a person OpenTDF client credentials (client_id and secret), which an
    /// OpenTDF SDK exchanges at the node's token endpoint for an access token.
    #[command(
        name = "opentdf-client",
        after_help = "Example:\n  accord user opentdf-client --dir pak --id pak-analyst -o pak-analyst.opentdf.json\n\n\
The file (owner-only) holds the platform endpoint, the token endpoint, the client id and the secret; the node keeps only the secret's hash, so the file is the only copy: hand it over as you would a credential. `accord user revoke` (all of a person's credentials) revokes their clients too.\n\n\
Exit codes: 0 ok, 2 usage or input error (no such person, the file exists)."
    )]
    OpentdfClient {
        /// The node home.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// The person.
        #[arg(long)]
        id: String,
        /// Where to write the client credentials.
        #[arg(short = 'o', long = "output", value_name = "ID.opentdf.json")]
        output: PathBuf,
        /// Replace the file if it exists.
        #[arg(long)]
        force: bool,
    },
    /// List the people of the node.
    #[command(
        after_help = "Example:\n  accord user list --dir pak\n  accord --json user list --dir pak\n  # [{\"id\", \"name\", \"party\", \"nationality\", \"clearance\",\n  #   \"scopes\", \"status\", \"role\"}]\n\nExit codes: 0 ok, 2 no node home."
    )]
    List {
        /// The node home.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
    },
}

/// Arguments of `accord user add`.
#[derive(Args, Debug)]
pub struct UserAddArgs {
    /// The node home.
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// Identifier (letters, digits, '-', '_', '.', '@').
    #[arg(long)]
    pub id: String,
    /// Name.
    #[arg(long)]
    pub name: String,
    /// Nationality (ISO 3166 trigraph).
    #[arg(long, value_name = "CODE")]
    pub nationality: String,
    /// Clearance file (JSON or spiffy XML) under the national policy.
    #[arg(long, value_name = "CLEARANCE_FILE")]
    pub clearance: PathBuf,
    /// Scopes the person works in.
    #[arg(long = "scope", value_name = "S,...", value_delimiter = ',')]
    pub scopes: Vec<String>,
    /// What they may do at the node: `member` (see and send what they are entitled
    /// to), `officer` (also manage people and agreements, read the audit log) or
    /// `custodian` (also keep equipment accounts).
    #[arg(long, value_name = "ROLE", default_value = "member", value_parser = parse_role)]
    pub role: accord_agreement::Role,
    #[command(flatten)]
    pub browser: BrowserArgs,
    /// Where to write the credential bundle.
    #[arg(short = 'o', long = "output", value_name = "ID.credential")]
    pub output: PathBuf,
    /// Overwrite the credential file if it exists (the person's old credential stays
    /// valid until they are suspended or removed).
    #[arg(long)]
    pub force: bool,
}

/// Arguments of `accord user renew`.
#[derive(Args, Debug)]
pub struct UserRenewArgs {
    /// The node home.
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// The person.
    #[arg(long)]
    pub id: String,
    #[command(flatten)]
    pub browser: BrowserArgs,
    /// Where to write the new credential bundle.
    #[arg(short = 'o', long = "output", value_name = "ID.credential")]
    pub output: PathBuf,
    /// Overwrite the file if it exists.
    #[arg(long)]
    pub force: bool,
}

/// Arguments of `accord user revoke`.
#[derive(Args, Debug)]
pub struct UserRevokeArgs {
    /// The node home.
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// The person.
    #[arg(long)]
    pub id: String,
    /// Revoke only this credential (read for its certificate; no passphrase needed).
    #[arg(long, value_name = "ID.credential", conflicts_with = "fingerprint")]
    pub credential: Option<PathBuf>,
    /// Revoke only the credential whose certificate has this SHA-256 (hex).
    #[arg(long, value_name = "SHA256")]
    pub fingerprint: Option<String>,
}

/// `accord user revoke`.
fn revoke(rt: &tokio::runtime::Runtime, a: UserRevokeArgs, out: &Output) -> Result<Code> {
    let home = Home::open(&a.dir)?;
    let fingerprint = match (&a.credential, &a.fingerprint) {
        (Some(path), _) => {
            let f = accord_node_api::credential::CredentialFile::read(path)?;
            if f.person() != a.id || f.party() != home.config.party {
                anyhow::bail!(
                    "{} is {}'s credential from the {} node, not {}'s of this node",
                    path.display(),
                    f.person(),
                    f.party(),
                    a.id
                );
            }
            Some(f.fingerprint()?)
        }
        (None, Some(hex)) => {
            let hex = hex.trim().to_ascii_lowercase();
            if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                anyhow::bail!("--fingerprint {hex}: give the certificate's SHA-256, 64 hex digits");
            }
            Some(hex)
        }
        (None, None) => None,
    };
    let (person, n) = rt.block_on(directory::revoke(&home, &a.id, fingerprint.as_deref()))?;
    if out.json {
        let mut v = person_json(&person);
        v["revoked"] = serde_json::json!(n);
        out.print_json(&v);
    } else {
        println!(
            "revoked {} of {}'s credentials at the {} node: refused from its next request on (a new one: accord user renew)",
            n, person.id, person.party
        );
    }
    Ok(Code::Ok)
}

/// `accord user renew`.
fn renew(rt: &tokio::runtime::Runtime, a: UserRenewArgs, out: &Output) -> Result<Code> {
    let home = Home::open(&a.dir)?;
    if a.output.exists() && !a.force {
        anyhow::bail!(
            "{} already exists: give --force to overwrite it, or another -o",
            a.output.display()
        );
    }
    let (person, cred) = rt.block_on(directory::renew(&home, &a.id))?;
    if a.force && a.output.exists() {
        // Replaced whole (a temporary file renamed over it): a failed write leaves the
        // old file, never none.
        cred.unprotected().replace(&a.output)?;
    } else {
        cred.save(&a.output)?;
    }
    let browser = BrowserFiles::of(&a.output, &a.browser);
    browser.write(&home, &cred, a.force)?;
    let not_after = cred.not_after()?;
    let until = crate::json::time(not_after);
    if out.json {
        let mut v = person_json(&person);
        v["credential"] = serde_json::json!(a.output.display().to_string());
        v["not_after"] = serde_json::json!(until);
        browser.json(&mut v);
        out.print_json(&v);
    } else {
        println!(
            "issued a new credential to {} at the {} node, valid until {until}; written to {} (owner-only)",
            person.id,
            person.party,
            a.output.display()
        );
        browser.say();
    }
    Ok(Code::Ok)
}

fn person_json(p: &accord_node::PersonRecord) -> serde_json::Value {
    serde_json::json!({
        "id": p.id,
        "name": p.name,
        "party": p.party,
        "nationality": p.nationality,
        "clearance": serde_json::from_str::<serde_json::Value>(&p.clearance).unwrap_or(serde_json::Value::Null),
        "scopes": p.scopes,
        "status": p.status,
        "role": p.role,
    })
}

/// `--role`: a role by name.
fn parse_role(s: &str) -> Result<accord_agreement::Role, String> {
    accord_agreement::Role::parse(s)
}

pub fn user(cmd: UserCommand, out: &Output) -> Result<Code> {
    let rt = runtime()?;
    match cmd {
        UserCommand::Add(a) => {
            let home = Home::open(&a.dir)?;
            if a.output.exists() && !a.force {
                anyhow::bail!(
                    "{} already exists: give --force to overwrite it, or another -o",
                    a.output.display()
                );
            }
            let bytes = read_bounded(&a.clearance)?;
            let e = Enrolment {
                id: a.id.clone(),
                name: a.name.clone(),
                nationality: a.nationality.clone(),
                clearance: (a.clearance.display().to_string(), bytes),
                scopes: a.scopes.clone(),
                role: a.role,
            };
            let (person, cred) = rt.block_on(directory::add(&home, &e))?;
            if a.force {
                // The file is made anew (owner-only): the old one goes first.
                let _ = std::fs::remove_file(&a.output);
            }
            if let Err(err) = cred.save(&a.output) {
                let _ = rt.block_on(async {
                    let s = home.store().await?;
                    s.remove_person(&person.id).await
                });
                return Err(err.into());
            }
            let browser = BrowserFiles::of(&a.output, &a.browser);
            browser.write(&home, &cred, a.force)?;
            if out.json {
                let mut v = person_json(&person);
                v["credential"] = serde_json::json!(a.output.display().to_string());
                browser.json(&mut v);
                out.print_json(&v);
            } else {
                println!(
                    "enrolled {} ({}, {}, {}) at the {} node; credential written to {} (owner-only)",
                    person.id,
                    person.name,
                    person.nationality,
                    person.role,
                    person.party,
                    a.output.display()
                );
                browser.say();
            }
            Ok(Code::Ok)
        }
        UserCommand::Renew(a) => renew(&rt, a, out),
        UserCommand::SigningKey {
            dir,
            id,
            output,
            force,
        } => {
            drop(rt);
            crate::cmd::equipment::issue_signing_key(&dir, &id, &output, force, out)
        }
        UserCommand::OpentdfClient {
            dir,
            id,
            output,
            force,
        } => {
            drop(rt);
            crate::cmd::opentdf::issue_client(&dir, &id, &output, force, out)
        }
        UserCommand::Revoke(a) => revoke(&rt, a, out),
        UserCommand::Suspend { dir, id } => set_status(&rt, &dir, &id, false, out),
        UserCommand::Resume { dir, id } => set_status(&rt, &dir, &id, true, out),
        UserCommand::Role { dir, id, role } => {
            let home = Home::open(&dir)?;
            let p = rt.block_on(directory::set_role(&home, &id, role))?;
            if out.json {
                out.print_json(&person_json(&p));
            } else {
                println!("{} is {} {}", p.id, article(&p.role), p.role);
            }
            Ok(Code::Ok)
        }
        UserCommand::List { dir } => {
            let home = Home::open(&dir)?;
            let people = rt.block_on(directory::list(&home))?;
            if out.json {
                out.print_json(&serde_json::Value::Array(
                    people.iter().map(person_json).collect(),
                ));
            } else if people.is_empty() {
                println!("no people enrolled");
            } else {
                for p in &people {
                    println!(
                        "{:<20} {:<10} {:<8} {:<4} {:<30} {}",
                        p.id,
                        p.status,
                        p.role,
                        p.nationality,
                        p.name,
                        p.scopes.join(",")
                    );
                }
            }
            Ok(Code::Ok)
        }
    }
}

/// `a` or `an` before a role.
fn article(role: &str) -> &'static str {
    if role.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

fn set_status(
    rt: &tokio::runtime::Runtime,
    dir: &std::path::Path,
    id: &str,
    active: bool,
    out: &Output,
) -> Result<Code> {
    let home = Home::open(dir)?;
    let p = rt.block_on(directory::set_status(&home, id, active))?;
    if out.json {
        out.print_json(&person_json(&p));
    } else {
        println!("{} is {}", p.id, p.status);
    }
    Ok(Code::Ok)
}
