//! `accord agreement`: draft, approve, sign, terminate, renew, and check agreements.
//! All rules live in `accord-agreement`; this module reads and writes the files.

use crate::exit::{Code, Output};
use crate::input::{display_name, read_bounded};
use accord_agreement::amendment::KeyKind;
use accord_agreement::{
    status, verify, verify_renewal, Agreement, Body, Finding, KeyChange, Party, Scope, Time,
    Translation,
};
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use serde_json::json;
use std::path::{Path, PathBuf};

/// Agreements: the signed documents that let parties exchange.
#[derive(Subcommand, Debug)]
pub enum AgreementCommand {
    /// Draft a new agreement from the parties' party.json files.
    #[command(
        after_help = "Example:\n  accord agreement init --id CISMOA-2023 --title \"US-Pakistan CIS-MOA\" \\\n    --party keys/pak/party.json --party keys/usa/party.json \\\n    --scope EXERCISES,TRAINING --effective 2023-08-01 --years 15 \\\n    --ceiling SECRET --policy policies -o agreement.toml\n\n--effective takes an RFC 3339 time with a zone, or a date (YYYY-MM-DD) meaning 00:00:00Z that day.\nBy default every party's national policy translates into every other's; --translate FROM:TO lists them instead.\nWith --policy, the ceiling and the translations are checked against the parties' policies.\n\nExit codes: 0 ok, 2 usage or input error."
    )]
    Init(InitArgs),
    /// Record the signing party's internal approval (e.g. a cabinet circulation summary).
    #[command(
        after_help = "Example:\n  accord agreement approve agreement.toml --key keys/pak/signing.key \\\n    --reference \"Cabinet circulation summary\"\n\nThe signing party is the one whose public keys match the key given.\n\nExit codes: 0 ok, 2 usage or input error."
    )]
    Approve(ApproveArgs),
    /// Sign the agreement for the party whose key is given (countersigned once all have).
    #[command(
        after_help = "Example:\n  accord agreement sign agreement.toml --key keys/usa/signing.key\n\nExit codes: 0 ok, 2 usage or input error."
    )]
    Sign(SignArgs),
    /// Give the signing party's notice of termination, effective at a time.
    #[command(
        after_help = "Example:\n  accord agreement terminate agreement.toml --key keys/pak/signing.key \\\n    --effective 2030-01-01T00:00:00Z\n\nExit codes: 0 ok, 2 usage or input error."
    )]
    Terminate(TerminateArgs),
    /// Change one of the signing party's own keys (an amendment record), signed with its
    /// signing key in force (and by the new one, for a new signing key).
    #[command(
        after_help = "Example:\n  accord agreement amend agreement.toml --key keys/pak/signing.key kas --new keys/pak-2028/kas.pub \\\n    --reason \"scheduled rotation\"\n  accord agreement amend agreement.toml --key keys/pak/signing.key signing --new keys/pak-2028/signing.key \\\n    --reason \"scheduled rotation\"\n  accord agreement amend agreement.toml --key keys/pak/signing.key tls --new 3f2a...(64 hex) \\\n    --effective 2028-06-01 --grace-until 2028-06-08 --reason \"certificate renewal\"\n\n\
--new is, by kind: signing, the new signing.key (it signs the amendment too); kas and offline-kas, a KAS public key file (kas.pub) or a party.json whose keys become the new set; tls, the new SPKI pin (64 hex digits), with --url when the node moves; log and witness, the new verifier key (its text or a file holding it). The amendment names the key it replaces (the party's current one). --grace-until (tls, log, witness only, at most 90 days after --effective) keeps the old key accepted meanwhile. docs/agreements.md, \"Amendments\", has the rules.\n\n\
Exit codes: 0 ok, 2 usage or input error (a key that is not in force, a rule the amendment breaks: the message says which)."
    )]
    Amend(AmendArgs),
    /// Revoke one of the signing party's own keys as compromised since a time.
    #[command(
        after_help = "Example:\n  accord agreement revoke agreement.toml --key keys/pak/signing.key kas --kid 9b1c...(64 hex) \\\n    --compromised 2029-02-01T00:00:00Z --reason \"KAS host image exfiltrated\"\n\n\
A revoked key is refused for what cannot be shown to predate its compromise; replace a revoked current key with `agreement amend`.\n\n\
Exit codes: 0 ok, 2 usage or input error (a key the party never had, a compromise after the revocation)."
    )]
    Revoke(RevokeArgs),
    /// Draft a renewal naming this agreement as its predecessor.
    #[command(
        after_help = "Example:\n  accord agreement renew agreement.toml --years 15 -o renewed.toml\n\nThe renewal takes effect when its predecessor ends (or at --effective, not earlier),\nhas version + 1 and the same parties, scopes, ceiling, translations and terms.\n\nExit codes: 0 ok, 2 usage or input error."
    )]
    Renew(RenewArgs),
    /// Print the status at a time: draft, approved, countersigned, in-force, expired or terminated.
    #[command(
        after_help = "Example:\n  accord agreement status agreement.toml --at 2030-01-01T00:00:00Z\n  accord --json agreement status agreement.toml\n  # {\"id\", \"version\", \"at\", \"status\", \"reasons\": [{\"rule\", \"text\"}],\n  #  \"effective_from\", \"expires\", \"predecessor\", \"approvals\",\n  #  \"signatures\", \"countersigned\", \"terminations\", \"amendments\"} (docs/json.md)\n\nExit codes: 0 ok, 2 usage or input error (including a document that does not verify)."
    )]
    Status(StatusArgs),
    /// Verify every record and signature of an agreement.
    #[command(
        after_help = "Example:\n  accord agreement verify agreement.toml\n  accord agreement verify renewed.toml --predecessor agreement.toml\n\nExit codes: 0 valid, 1 invalid (with reasons: which record, which signature), 2 unreadable."
    )]
    Verify(VerifyArgs),
    /// Load a countersigned agreement into a node (verified first; a later copy with
    /// more records, such as a termination, replaces the one held).
    #[command(
        after_help = "Example:\n  accord agreement load --dir /srv/accord/pak agreement.toml\n\nA draft (not yet signed by every party) is refused unless --draft is given: a node\nworks under a countersigned agreement, and a draft it holds decides nothing.\n\nExit codes: 0 loaded (or unchanged), 1 refused (does not verify, a draft without --draft,\nnot a party, not a later copy), 2 usage or input error."
    )]
    Load(LoadArgs),
    /// List the agreements a node holds, with their status now (or at --at).
    #[command(
        after_help = "Example:\n  accord agreement list --dir /srv/accord/pak\n  accord --json agreement list --dir /srv/accord/pak --at 2030-01-01\n  # [{\"id\", \"version\", \"title\", \"status\", \"reasons\", \"parties\", \"scopes\",\n  #   \"ceiling\", \"effective_from\", \"expires\"}]\n\n--at takes an RFC 3339 time with a zone, or a date (YYYY-MM-DD) meaning 00:00:00Z that day.\nAn agreement that does not verify is listed with the status \"invalid\" and its findings.\n\nExit codes: 0 ok (also when none is held), 2 usage or input error (no node home)."
    )]
    List(ListArgs),
}

/// Arguments of `accord agreement load`.
#[derive(Args, Debug)]
pub struct LoadArgs {
    /// The node home.
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// The agreement (TOML or JSON).
    pub agreement: PathBuf,
    /// Load it even if not every party has signed it yet.
    #[arg(long)]
    pub draft: bool,
}

/// Arguments of `accord agreement list`.
#[derive(Args, Debug)]
pub struct ListArgs {
    /// The node home.
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// The time to compute each status at (default: now).
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
}

/// Arguments of `accord agreement init`.
#[derive(Args, Debug)]
pub struct InitArgs {
    /// Agreement id (letters, digits, '-', '_', '.').
    #[arg(long)]
    pub id: String,
    /// Title.
    #[arg(long)]
    pub title: String,
    /// A party's party.json (give at least two).
    #[arg(long = "party", value_name = "PARTY.json", required = true)]
    pub parties: Vec<PathBuf>,
    /// Scopes covered: EXERCISES, OPERATIONS, TRAINING, BASING, EQUIPMENT (comma-separated).
    #[arg(long = "scope", value_delimiter = ',', required = true)]
    pub scopes: Vec<String>,
    /// When it takes effect: RFC 3339 with a zone, or YYYY-MM-DD (00:00:00Z).
    #[arg(long)]
    pub effective: String,
    /// How many years it runs.
    #[arg(long)]
    pub years: u32,
    /// Highest classification exchanged.
    #[arg(long)]
    pub ceiling: Option<String>,
    /// The parties' policies (XML-SPIF file or directory, repeatable): when given, the
    /// ceiling must be a classification of every party's policy, and each translation
    /// must name policies found there.
    #[arg(long = "policy", value_name = "SPIF_OR_DIR")]
    pub policies: Vec<PathBuf>,
    /// A policy translation FROM:TO the agreement provides for (repeatable).
    #[arg(long = "translate", value_name = "FROM:TO")]
    pub translations: Vec<String>,
    /// Free-text terms.
    #[arg(long)]
    pub terms: Option<String>,
    /// Where to write the agreement (TOML); an existing file is not overwritten.
    #[arg(short = 'o', long = "out")]
    pub out: PathBuf,
    /// Overwrite the output if it exists.
    #[arg(long)]
    pub force: bool,
}

/// Arguments of `accord agreement approve`.
#[derive(Args, Debug)]
pub struct ApproveArgs {
    /// The agreement (TOML), updated in place.
    pub agreement: PathBuf,
    /// The signing party's signing.key.
    #[arg(long)]
    pub key: PathBuf,
    /// The approval's reference, e.g. "Cabinet circulation summary".
    #[arg(long)]
    pub reference: String,
    /// The record's time (default: now); RFC 3339 with a zone, or YYYY-MM-DD.
    #[arg(long)]
    pub at: Option<String>,
}

/// Arguments of `accord agreement sign`.
#[derive(Args, Debug)]
pub struct SignArgs {
    /// The agreement (TOML), updated in place.
    pub agreement: PathBuf,
    /// The signing party's signing.key.
    #[arg(long)]
    pub key: PathBuf,
    /// The record's time (default: now); RFC 3339 with a zone, or YYYY-MM-DD.
    #[arg(long)]
    pub at: Option<String>,
}

/// Arguments of `accord agreement terminate`.
#[derive(Args, Debug)]
pub struct TerminateArgs {
    /// The agreement (TOML), updated in place.
    pub agreement: PathBuf,
    /// The terminating party's signing.key.
    #[arg(long)]
    pub key: PathBuf,
    /// When the termination takes effect (not before the notice).
    #[arg(long)]
    pub effective: String,
    /// The notice's time (default: now); RFC 3339 with a zone, or YYYY-MM-DD.
    #[arg(long)]
    pub at: Option<String>,
}

/// Arguments of `accord agreement amend`.
#[derive(Args, Debug)]
pub struct AmendArgs {
    /// The agreement (TOML), updated in place.
    pub agreement: PathBuf,
    /// The amending party's signing.key in force.
    #[arg(long)]
    pub key: PathBuf,
    /// Which key: signing, kas, offline-kas, tls, log or witness.
    #[arg(value_parser = parse_key_kind)]
    pub kind: KeyKind,
    /// The new key (a file or a value, by kind: see below).
    #[arg(long)]
    pub new: String,
    /// When the new key takes effect (default: --at; a signing key at --at).
    #[arg(long)]
    pub effective: Option<String>,
    /// Until when the old key stays accepted (tls, log, witness).
    #[arg(long)]
    pub grace_until: Option<String>,
    /// The node's new URL, when it moves with its new TLS key (tls only).
    #[arg(long)]
    pub url: Option<String>,
    /// Why (for the record).
    #[arg(long)]
    pub reason: String,
    /// The amendment's time (default: now); RFC 3339 with a zone, or YYYY-MM-DD.
    #[arg(long)]
    pub at: Option<String>,
}

/// Arguments of `accord agreement revoke`.
#[derive(Args, Debug)]
pub struct RevokeArgs {
    /// The agreement (TOML), updated in place.
    pub agreement: PathBuf,
    /// The revoking party's signing.key in force.
    #[arg(long)]
    pub key: PathBuf,
    /// Which kind of key: signing, kas, offline-kas, tls, log or witness.
    #[arg(value_parser = parse_key_kind)]
    pub kind: KeyKind,
    /// The revoked key's id (kid, pin, or name+hash of a verifier key).
    #[arg(long)]
    pub kid: String,
    /// Since when the key is held compromised.
    #[arg(long)]
    pub compromised: String,
    /// Why.
    #[arg(long)]
    pub reason: String,
    /// The revocation's time (default: now).
    #[arg(long)]
    pub at: Option<String>,
}

fn parse_key_kind(s: &str) -> Result<KeyKind, String> {
    KeyKind::parse(s).ok_or_else(|| {
        format!(
            "`{s}`: give one of {}",
            KeyKind::ALL.map(|k| k.as_str()).join(", ")
        )
    })
}

/// The KAS keys `--new` names: a KAS public key file, or a party.json's node KAS keys
/// (`kas`) or offline ones (`offline-kas`).
fn new_kas_keys(path: &Path, kind: KeyKind) -> Result<Vec<accord_agreement::KasKey>> {
    let from = |k: &accord_keys::KasPublicKey| accord_agreement::KasKey {
        alg: k.alg().to_string(),
        kid: k.kid(),
        key: k.to_pem(),
    };
    let text = std::fs::read(path).with_context(|| format!("--new {}", path.display()))?;
    if text.trim_ascii_start().starts_with(b"{") {
        let party = accord_keys::load_party(path)
            .with_context(|| format!("--new {} (a party.json)", path.display()))?;
        let keys = match (kind, &party.node) {
            (KeyKind::Kas, Some(n)) => n
                .kas_keys
                .iter()
                .map(|e| e.key("kas-keys").map(|k| from(&k)))
                .collect::<Result<Vec<_>, _>>()?,
            (KeyKind::Kas, None) => {
                anyhow::bail!("{}: names no node, so no node KAS keys", path.display())
            }
            _ => party.kas_public_keys()?.iter().map(from).collect(),
        };
        return Ok(keys);
    }
    let key = accord_keys::load_kas_public(path).with_context(|| {
        format!(
            "--new {}: not a KAS public key file or a party.json",
            path.display()
        )
    })?;
    Ok(vec![from(&key)])
}

/// A verifier key given as its text (`name+hash+key`) or as a file holding it.
fn verifier_key_arg(value: &str) -> Result<String> {
    let path = Path::new(value);
    let text = if !value.contains('+') && path.is_file() {
        std::fs::read_to_string(path).with_context(|| format!("--new {value}"))?
    } else {
        value.to_string()
    };
    let key = text.trim().to_string();
    if key.splitn(3, '+').count() != 3 {
        bail!("--new {value}: not a verifier key (name+hash+key) nor a file holding one");
    }
    Ok(key)
}

fn amend(a: AmendArgs, out: &Output) -> Result<Code> {
    let at = time_arg(a.at.as_deref(), "--at")?;
    let effective = match &a.effective {
        Some(e) => Time::parse_time_or_date(e).context("--effective")?,
        None => at,
    };
    let grace_until = match &a.grace_until {
        Some(g) => Some(Time::parse_time_or_date(g).context("--grace-until")?),
        None => None,
    };
    let new_signer = match a.kind {
        KeyKind::Signing => Some(accord_node::load_signing_key_file(Path::new(&a.new))?),
        _ => None,
    };
    let change = match a.kind {
        KeyKind::Signing => KeyChange::Signing(new_signer.as_ref().expect("loaded above")),
        KeyKind::Kas => KeyChange::Kas(new_kas_keys(Path::new(&a.new), a.kind)?),
        KeyKind::OfflineKas => KeyChange::OfflineKas(new_kas_keys(Path::new(&a.new), a.kind)?),
        KeyKind::Tls => KeyChange::Tls {
            spki_sha256: accord_node_api::tls::parse_pin(&a.new)
                .context("--new (the new TLS pin)")?,
            url: a.url.clone(),
        },
        KeyKind::Log => KeyChange::Log(verifier_key_arg(&a.new)?),
        KeyKind::Witness => KeyChange::Witness(verifier_key_arg(&a.new)?),
    };
    if a.url.is_some() && a.kind != KeyKind::Tls {
        bail!("--url goes with a tls amendment (a node moving with its new TLS key)");
    }
    update(&a.agreement, &a.key, out, |doc, key| {
        doc.amend(key, change, effective, grace_until, &a.reason, at)
            .map(|_| ())
    })
}

/// Arguments of `accord agreement renew`.
#[derive(Args, Debug)]
pub struct RenewArgs {
    /// The agreement to renew.
    pub agreement: PathBuf,
    /// How many years the renewal runs.
    #[arg(long)]
    pub years: u32,
    /// When the renewal takes effect (default: when the predecessor ends).
    #[arg(long)]
    pub effective: Option<String>,
    /// The renewal's id (default: the predecessor's).
    #[arg(long)]
    pub id: Option<String>,
    /// Where to write the renewal; an existing file is not overwritten.
    #[arg(short = 'o', long = "out")]
    pub out: PathBuf,
    /// Overwrite the output if it exists.
    #[arg(long)]
    pub force: bool,
}

/// Arguments of `accord agreement status`.
#[derive(Args, Debug)]
pub struct StatusArgs {
    /// The agreement.
    pub agreement: PathBuf,
    /// The time to compute the status at (default: now).
    #[arg(long)]
    pub at: Option<String>,
}

/// Arguments of `accord agreement verify`.
#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// The agreement.
    pub agreement: PathBuf,
    /// For a renewal: the predecessor document, checked against the renewal.
    #[arg(long)]
    pub predecessor: Option<PathBuf>,
}

pub fn run(cmd: AgreementCommand, out: &Output) -> Result<Code> {
    match cmd {
        AgreementCommand::Init(a) => init(a, out),
        AgreementCommand::Load(a) => {
            crate::cmd::node::load_agreement(&a.dir, &a.agreement, a.draft, out)
        }
        AgreementCommand::List(a) => {
            let at = time_arg(a.at.as_deref(), "--at")?;
            crate::cmd::node::list_agreements(&a.dir, at, out)
        }
        AgreementCommand::Approve(a) => {
            let at = time_arg(a.at.as_deref(), "--at")?;
            update(&a.agreement, &a.key, out, |doc, key| {
                doc.approve(key, &a.reference, at).map(|_| ())
            })
        }
        AgreementCommand::Sign(a) => {
            let at = time_arg(a.at.as_deref(), "--at")?;
            update(&a.agreement, &a.key, out, |doc, key| {
                doc.sign(key, at).map(|_| ())
            })
        }
        AgreementCommand::Terminate(a) => {
            let at = time_arg(a.at.as_deref(), "--at")?;
            let effective = Time::parse_time_or_date(&a.effective).context("--effective")?;
            update(&a.agreement, &a.key, out, |doc, key| {
                doc.terminate(key, effective, at).map(|_| ())
            })
        }
        AgreementCommand::Amend(a) => amend(a, out),
        AgreementCommand::Revoke(a) => {
            let at = time_arg(a.at.as_deref(), "--at")?;
            let compromised = Time::parse_time_or_date(&a.compromised).context("--compromised")?;
            update(&a.agreement, &a.key, out, |doc, key| {
                doc.revoke(key, a.kind, &a.kid, compromised, &a.reason, at)
                    .map(|_| ())
            })
        }
        AgreementCommand::Renew(a) => renew(a, out),
        AgreementCommand::Status(a) => status_cmd(a, out),
        AgreementCommand::Verify(a) => verify_cmd(a, out),
    }
}

/// A time argument, or now.
pub fn time_arg(value: Option<&str>, flag: &str) -> Result<Time> {
    match value {
        None => Ok(Time::now()),
        Some(v) => Time::parse_time_or_date(v).with_context(|| flag.to_string()),
    }
}

/// Read an agreement file (TOML, or JSON when it starts with `{`).
pub fn load(path: &Path) -> Result<Agreement> {
    let bytes = read_bounded(path)?;
    let text = std::str::from_utf8(&bytes)
        .with_context(|| format!("{} is not UTF-8", display_name(path)))?;
    Agreement::parse(text).with_context(|| format!("reading agreement {}", display_name(path)))
}

/// Write a file through a temporary file and a rename, so a crash never leaves half a
/// document. `fresh` refuses to replace an existing file.
fn save(path: &Path, doc: &Agreement, fresh: bool) -> Result<()> {
    if fresh && path.exists() {
        bail!(
            "{} already exists: give --force to overwrite it, or another -o",
            path.display()
        );
    }
    let text = doc.to_toml()?;
    let name = path.file_name().context("the output path names no file")?;
    let tmp = path.with_file_name(format!(".{}.tmp", name.to_string_lossy()));
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn init(a: InitArgs, out: &Output) -> Result<Code> {
    let mut parties: Vec<Party> = Vec::new();
    for p in &a.parties {
        let d = accord_keys::load_party(p)?;
        parties.push(Party::from_descriptor(&d).with_context(|| format!("party {}", p.display()))?);
    }
    let mut scopes = Vec::new();
    for s in &a.scopes {
        let s = s.trim();
        let scope = Scope::parse(&s.to_ascii_uppercase()).with_context(|| {
            format!("--scope {s}: expected EXERCISES, OPERATIONS, TRAINING, BASING or EQUIPMENT")
        })?;
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    let effective_from = Time::parse_time_or_date(&a.effective).context("--effective")?;
    let expires = effective_from.plus_years(a.years)?;
    if a.years == 0 || a.years > 100 {
        bail!("--years must be between 1 and 100");
    }
    let translations = if a.translations.is_empty() {
        let mut t = Vec::new();
        for p in &parties {
            for q in &parties {
                if p.policy != q.policy
                    && !t
                        .iter()
                        .any(|x: &Translation| x.from == p.policy && x.to == q.policy)
                {
                    t.push(Translation {
                        from: p.policy.clone(),
                        to: q.policy.clone(),
                    });
                }
            }
        }
        t
    } else {
        a.translations
            .iter()
            .map(|s| match s.split_once(':') {
                Some((f, t)) if !f.is_empty() && !t.is_empty() => Ok(Translation {
                    from: f.into(),
                    to: t.into(),
                }),
                _ => bail!("--translate {s}: expected FROM:TO, such as PAK:USA"),
            })
            .collect::<Result<_>>()?
    };
    if !a.policies.is_empty() {
        check_against_policies(&a.policies, &parties, a.ceiling.as_deref(), &translations)?;
    }
    let doc = Agreement::draft(Body {
        id: a.id,
        title: a.title,
        version: 1,
        predecessor: None,
        effective_from,
        expires,
        scopes,
        ceiling: a.ceiling,
        translations,
        terms: a.terms.unwrap_or_default(),
        parties,
    })?;
    save(&a.out, &doc, !a.force)?;
    report(
        out,
        &doc,
        &format!("drafted agreement {} in {}", doc.body.id, a.out.display()),
    );
    Ok(Code::Ok)
}

/// What `agreement init --policy` checks: every party's policy is there, the ceiling
/// is a classification of each, and each translation names policies that are there
/// (otherwise the agreement would be signed and only fail at the first decision).
fn check_against_policies(
    paths: &[PathBuf],
    parties: &[Party],
    ceiling: Option<&str>,
    translations: &[Translation],
) -> Result<()> {
    let mut set = accord_spif::PolicySet::new();
    for p in paths {
        set.load_path(p)
            .with_context(|| format!("loading policies from {}", p.display()))?;
    }
    let names = || {
        set.iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    for party in parties {
        let policy = set.get(&party.policy).with_context(|| {
            format!(
                "party {}'s policy {} is not among the --policy files ({})",
                party.code,
                party.policy,
                names()
            )
        })?;
        if let Some(c) = ceiling {
            if policy.classification_by_name(c).is_none() {
                let known: Vec<&str> = policy
                    .classifications
                    .iter()
                    .map(|x| x.name.as_str())
                    .collect();
                bail!(
                    "--ceiling {c} is not a classification of {}'s policy {} ({})",
                    party.code,
                    policy.name,
                    known.join(", ")
                );
            }
        }
    }
    for t in translations {
        for name in [&t.from, &t.to] {
            if set.get(name).is_none() {
                bail!(
                    "--translate {}:{}: no policy named {name} among the --policy files ({})",
                    t.from,
                    t.to,
                    names()
                );
            }
        }
    }
    Ok(())
}

fn update(
    path: &Path,
    key: &Path,
    out: &Output,
    f: impl FnOnce(&mut Agreement, &accord_keys::SigningKey) -> Result<(), accord_agreement::Error>,
) -> Result<Code> {
    let mut doc = load(path)?;
    let key = accord_node::load_signing_key_file(key)?;
    f(&mut doc, &key)?;
    save(path, &doc, false)?;
    let r = doc.records.last().expect("a record was added");
    let what = match &r.kind {
        accord_agreement::RecordKind::Approve { reference } => format!(
            "{} approved agreement {} ({reference})",
            r.party, doc.body.id
        ),
        accord_agreement::RecordKind::Sign => {
            format!("{} signed agreement {}", r.party, doc.body.id)
        }
        accord_agreement::RecordKind::Terminate { effective } => {
            format!(
                "{} gave notice of termination of agreement {} with effect from {effective}",
                r.party, doc.body.id
            )
        }
        k @ (accord_agreement::RecordKind::Amend { .. }
        | accord_agreement::RecordKind::Revoke { .. }) => format!(
            "{} {} (agreement {})",
            r.party,
            k.describe_amendment().unwrap_or_default(),
            doc.body.id
        ),
    };
    report(out, &doc, &what);
    Ok(Code::Ok)
}

fn report(out: &Output, doc: &Agreement, what: &str) {
    if out.json {
        out.print_json(&json!({
            "id": doc.body.id,
            "version": doc.body.version,
            "records": doc.records.len(),
            "message": what,
        }));
    } else {
        println!("{what}");
    }
}

fn renew(a: RenewArgs, out: &Output) -> Result<Code> {
    let doc = load(&a.agreement)?;
    let effective = match &a.effective {
        Some(e) => Some(Time::parse_time_or_date(e).context("--effective")?),
        None => None,
    };
    let new = doc.renew(a.years, effective, a.id)?;
    save(&a.out, &new, !a.force)?;
    report(
        out,
        &new,
        &format!(
            "drafted renewal {} version {} in {}, effective {} until {}",
            new.body.id,
            new.body.version,
            a.out.display(),
            new.body.effective_from,
            new.body.expires
        ),
    );
    Ok(Code::Ok)
}

fn status_cmd(a: StatusArgs, out: &Output) -> Result<Code> {
    let doc = load(&a.agreement)?;
    let at = time_arg(a.at.as_deref(), "--at")?;
    let report = status(&doc, at)?;
    if out.json {
        out.print_json(&status_json(&doc, at, &report));
    } else {
        println!("{}", report.status);
        for r in &report.reasons {
            println!("  {r}");
        }
        for r in doc.records.iter().filter(|r| r.time <= at) {
            if let Some(d) = r.kind.describe_amendment() {
                println!("  {} on {}: {d}", r.party, r.time);
            }
        }
    }
    Ok(Code::Ok)
}

/// `agreement status --json`: the status at `at` with its reasons, and every date the
/// text's reasons name (docs/json/agreement-status.schema.json): the term, the
/// predecessor's end, each approval, signature and notice of termination signed at or
/// before `at`, and when the agreement was countersigned.
fn status_json(
    doc: &Agreement,
    at: Time,
    report: &accord_agreement::StatusReport,
) -> serde_json::Value {
    use accord_agreement::RecordKind;
    let b = &doc.body;
    let records = || doc.records.iter().filter(|r| r.time <= at);
    let approvals: Vec<_> = records()
        .filter_map(|r| match &r.kind {
            RecordKind::Approve { reference } => {
                Some(json!({"party": r.party, "time": r.time, "reference": reference}))
            }
            _ => None,
        })
        .collect();
    let signed: Vec<_> = records()
        .filter(|r| matches!(r.kind, RecordKind::Sign))
        .collect();
    // The lifecycle's own reading, not a second count of the signatures here.
    let countersigned = report.countersigned;
    let terminations: Vec<_> = records()
        .filter_map(|r| match &r.kind {
            RecordKind::Terminate { effective } => {
                Some(json!({"party": r.party, "notice": r.time, "effective": effective}))
            }
            _ => None,
        })
        .collect();
    json!({
        "id": b.id,
        "version": b.version,
        "at": at,
        "status": report.status.as_str(),
        "reasons": crate::json::reasons("agreement-in-force", &report.reasons),
        "effective_from": b.effective_from,
        "expires": b.expires,
        "predecessor": b.predecessor.as_ref().map(|p| json!({"id": p.id, "version": p.version, "ends": p.ends})),
        "approvals": approvals,
        "signatures": signed.iter().map(|r| json!({"party": r.party, "time": r.time})).collect::<Vec<_>>(),
        "countersigned": countersigned,
        "terminations": terminations,
        "amendments": records()
            .filter_map(|r| {
                let key = match &r.kind {
                    RecordKind::Amend { key, .. } | RecordKind::Revoke { key, .. } => key,
                    _ => return None,
                };
                Some(json!({
                    "party": r.party,
                    "time": r.time,
                    "kind": r.kind.name(),
                    "key": key.as_str(),
                    "description": r.kind.describe_amendment(),
                }))
            })
            .collect::<Vec<_>>(),
    })
}

fn verify_cmd(a: VerifyArgs, out: &Output) -> Result<Code> {
    let doc = load(&a.agreement)?;
    let mut findings: Vec<Finding> = verify(&doc);
    if let Some(p) = &a.predecessor {
        let pred = load(p)?;
        findings.extend(verify_renewal(&doc, &pred));
    }
    let valid = findings.is_empty();
    if out.json {
        out.print_json(&json!({
            "valid": valid,
            "id": doc.body.id,
            "version": doc.body.version,
            "records": doc.records.len(),
            "reasons": crate::json::reasons("agreement-valid", &findings),
        }));
    } else if valid && doc.records.is_empty() {
        println!(
            "valid: agreement {} version {}, no records yet (an unsigned draft)",
            doc.body.id, doc.body.version
        );
    } else if valid {
        println!(
            "valid: agreement {} version {}, {} records, every signature verifies",
            doc.body.id,
            doc.body.version,
            doc.records.len()
        );
    } else {
        println!(
            "invalid: agreement {} version {}",
            doc.body.id, doc.body.version
        );
        for f in &findings {
            println!("  {f}");
        }
    }
    Ok(if valid { Code::Ok } else { Code::Negative })
}
