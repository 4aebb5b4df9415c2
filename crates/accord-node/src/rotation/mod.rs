//! Key rotation at the node (`accord key rotate`): a new key of one kind, the amendment
//! that says so in every agreement the party is in, and the files the node then uses.
//!
//! Rotation never loses what the old key did. A KAS key rotated stays in the ring
//! (`keys/kas/<kid>.key`), so every object sealed to it still opens, here and through
//! a partner's cross-border rewrap. A signing key's public half stays in
//! `keys/signing/<kid>.pub`, so labels it signed still verify; its private half is
//! replaced. Partners learn the new key from the amended copy, which the node offers
//! them as it offers any later copy (`agreement_sync`), and verify: the amendment is
//! signed by this party's signing key in force (and a new signing key signs it too).
//!
//! Rotation is not a response to a compromise: what the old key signed or opened stays
//! valid until revocation (issue 20, step 4) says from when it is not.
//!
//! The steps run in an order that a crash at any point leaves a node that works, and a
//! second run finishes what the first began:
//! 1. the new key is written to `keys/pending/KIND.key` (or the one a run before left
//!    there is taken), and for KAS both keys go into the ring;
//! 2. the key history lists the new key as the node's beside the old one (a copy held
//!    that names it is this node's, [`crate::agreements::own_party_mismatch`]);
//! 3. each agreement in force gets its amendment, one stored copy at a time (a copy
//!    changed meanwhile by a partner's record is read again); one that names the new key
//!    already (a run before) is left as it is. If any agreement in force could not be
//!    amended, the rotation stops here: the node keeps its old key, the pending key
//!    stays for the next run;
//! 4. the audit log is told (the running node writes the entry within a second);
//! 5. `kas.key`/`kas.pub` or `signing.key`/`signing.pub` become the new key, each by one
//!    rename, the pending key goes, and the history marks the old key replaced;
//! 6. `party.json` lists the new key (what new agreements are drafted from), which a
//!    running node sees within 200 ms, and then uses the new key.

use crate::home::Home;
use crate::store::{Actor, DirectoryChange};
use crate::Error;
use accord_agreement::amendment::KeyKind;
use accord_agreement::{Agreement, KasKey, KeyChange, Time};
use accord_keys::{
    ClassicalAlg, KasKeyEntry, KasPrivateKey, SignatureAlg, SigningKey, SigningKeyEntries,
    SigningKeyEntry,
};
use serde::Serialize;
use std::path::Path;

mod revoke;
pub use revoke::{revoke, RevokeOptions, Revoked};

/// What to rotate, when, and why.
#[derive(Debug, Clone)]
pub struct RotateOptions {
    /// The kind of key.
    pub kind: KeyKind,
    /// Why, in the amendment ("scheduled rotation").
    pub reason: String,
    /// When the amendment is signed and the new key takes effect.
    pub at: Time,
    /// For a TLS, log or witness key: how long partners still accept the old one
    /// (days, 1 to 90; 7 when not given). A TLS key is presented within it; an old
    /// log or witness key signs beside the new one through it.
    pub grace_days: Option<u32>,
}

/// Days partners accept an old TLS, log or witness key after a rotation, unless told
/// otherwise.
pub const DEFAULT_GRACE_DAYS: u32 = 7;

/// An agreement the rotation amended, or left alone and why.
#[derive(Debug, Clone, Serialize)]
pub struct AgreementAmended {
    /// The agreement's id.
    pub id: String,
    /// `amended` (a rotation), `revoked` (a revocation), or `skipped`.
    pub outcome: &'static str,
    /// For one skipped, why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Records the copy now holds.
    pub records: usize,
}

/// What a rotation did.
#[derive(Debug, Clone, Serialize)]
pub struct Rotated {
    /// The kind of key.
    pub kind: KeyKind,
    /// The old key's id.
    pub old: String,
    /// The new key's id.
    pub new: String,
    /// When the new key took effect (RFC 3339).
    pub effective: String,
    /// For a TLS, log or witness key: until when partners accept the old one (RFC
    /// 3339). The node presents a new TLS key once every partner acknowledged it, by
    /// then at the latest; an old log or witness key signs beside the new one until
    /// then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grace_until: Option<String>,
    /// Each agreement held, amended or not.
    pub agreements: Vec<AgreementAmended>,
}

/// The new key a rotation made, before anything names it.
enum Made {
    Kas {
        new: KasPrivateKey,
    },
    Signing {
        new: SigningKey,
    },
    Tls {
        new: accord_node_api::pki::NodeTls,
    },
    /// A log or witness key (a C2SP note key), and the one it replaces.
    Note {
        kind: KeyKind,
        new: accord_log::note::SigningKey,
        old: accord_log::note::SigningKey,
    },
}

impl Made {
    /// The change an amendment makes.
    fn change(&self) -> KeyChange<'_> {
        match self {
            Made::Kas { new } => {
                let e = KasKeyEntry::from_key(new.public_key());
                KeyChange::Kas(vec![KasKey {
                    alg: e.alg,
                    kid: e.kid,
                    key: e.key,
                }])
            }
            Made::Signing { new } => KeyChange::Signing(new),
            Made::Tls { new } => KeyChange::Tls {
                spki_sha256: new.spki_sha256.clone(),
                url: None,
            },
            Made::Note { kind, new, .. } => match kind {
                KeyKind::Witness => KeyChange::Witness(new.verifier().to_string()),
                _ => KeyChange::Log(new.verifier().to_string()),
            },
        }
    }

    /// The private key's PEM.
    fn pem(&self) -> Result<zeroize::Zeroizing<String>, Error> {
        Ok(match self {
            Made::Kas { new } => new.to_pem()?,
            Made::Signing { new } => new.to_pem()?,
            Made::Tls { new } => new.key.0.clone(),
            Made::Note { new, .. } => new.to_private_string(),
        })
    }
}

/// How attempts at one agreement went.
enum Amended {
    /// The amendment is in the stored copy.
    Now(usize),
    /// The copy named the new key already (a run before amended it).
    Before(usize),
    /// It gets none, for the reason given (a draft, an ended agreement).
    Skipped(String),
}

/// How many times an agreement is read again when a partner's record changed it under
/// the rotation.
const ATTEMPTS: usize = 3;

/// Rotate `opts.kind` of the node at `home`: its KAS, signing, TLS, log or witness
/// key. The party's offline KAS keys are not the node's: they are refused with what to
/// do instead.
pub async fn rotate(home: &Home, opts: &RotateOptions) -> Result<Rotated, Error> {
    if opts.reason.trim().is_empty() || opts.reason.len() > 1024 {
        return Err(Error::Input(
            "--reason: say why (\"scheduled rotation\"), at most 1024 bytes".into(),
        ));
    }
    let kind = opts.kind;
    if kind == KeyKind::OfflineKas {
        return Err(Error::Input(
            "the offline KAS keys are the party's, not the node's: amend them in each agreement with `accord agreement amend`".into(),
        ));
    }
    let grace_until = match (kind, opts.grace_days) {
        (k, days) if k.has_grace() => {
            let days = days.unwrap_or(DEFAULT_GRACE_DAYS);
            if !(1..=accord_agreement::amendment::MAX_GRACE_DAYS as u32).contains(&days) {
                return Err(Error::Input(format!(
                    "--grace-days {days}: partners accept the old {kind} key for 1 to {} days",
                    accord_agreement::amendment::MAX_GRACE_DAYS
                )));
            }
            Some(
                Time::from_unix(opts.at.unix() + i64::from(days) * 86_400)
                    .map_err(|e| Error::Input(e.to_string()))?,
            )
        }
        (_, Some(_)) => {
            return Err(Error::Input(format!(
                "--grace-days: only an old TLS, log or witness key has a grace period, not a {kind} key"
            )))
        }
        (_, None) => None,
    };
    let dir = home.layout.keys();
    let _lock = rotation_lock(&dir)?;
    let at = opts.at;
    let party = accord_keys::load_party(&home.layout.party())?;
    let Some(node_info) = party.node.clone() else {
        return Err(Error::Input(
            "party.json has no node: a node's keys are rotated by the node".into(),
        ));
    };
    let signing = home.signing_key()?;
    let mut descriptor = party.clone();

    // 1. The new key: the pending one a run before left, or a new one, kept before
    //    anything names it.
    let pending = pending_path(home, kind)?;
    let made = match kind {
        KeyKind::Kas => {
            let old = home.kas_key_at(&home.layout.key(accord_keys::KAS_KEY))?;
            let new = match pending.exists() {
                true => home.kas_key_at(&pending)?,
                false => home.new_kas_key(old.alg())?,
            };
            accord_keys::keep_kas_key(&dir, &old)?;
            accord_keys::keep_kas_key(&dir, &new)?;
            Made::Kas { new }
        }
        KeyKind::Tls => {
            // Staged where the switch looks before any agreement names it, so that a
            // rotation stopped halfway still has its key presented within the grace
            // it gave (or finished by running it again, which takes this key).
            let key_path = home.layout.key(crate::home::TLS_NEXT_KEY);
            let crt = home.layout.key(crate::home::TLS_NEXT_CRT);
            let new = if key_path.exists() && crt.exists() {
                let key = home.read_key(crate::home::TLS_NEXT_KEY)?;
                let cert = std::fs::read_to_string(&crt).map_err(|e| Error::io(&crt, e))?;
                let der = accord_node_api::pki::certs_from_pem(&cert)?
                    .into_iter()
                    .next()
                    .ok_or_else(|| Error::Input(format!("{}: no certificate", crt.display())))?;
                accord_node_api::pki::NodeTls {
                    spki_sha256: accord_node_api::pki::spki_pin(&der)?,
                    cert,
                    key: accord_node_api::pki::KeyPem(key),
                }
            } else {
                accord_node_api::pki::rekey_node_tls(
                    &home.config.party,
                    &home.read_key("ca.key")?,
                    &crate::home::tls_hosts(&home.config.url, &home.config.listen),
                )?
            };
            accord_keys::replace_file(&key_path, new.key.0.as_bytes(), true)?;
            accord_keys::replace_file(&crt, new.cert.as_bytes(), false)?;
            Made::Tls { new }
        }
        KeyKind::Log | KeyKind::Witness => {
            let in_use = crate::log_keys::in_use_path(home, kind);
            if kind == KeyKind::Witness && !in_use.exists() {
                // A node that never served has no witness key yet: it is made now.
                accord_log::witness::Witness::open(
                    &home.layout.witness(),
                    &crate::witnessing::witness_name(&party.party),
                    Vec::new(),
                )?;
            }
            let old = crate::log_keys::read_key(&in_use)?;
            let new = if pending.exists() {
                let new = crate::log_keys::read_key(&pending)?;
                if new.verifier() == old.verifier() {
                    // A run before got as far as putting it in place: finish it.
                    return finish_note(home, kind, &new, &pending, descriptor, opts).await;
                }
                new
            } else {
                accord_log::note::SigningKey::generate(old.name(), old.verifier().kind)?
            };
            Made::Note { kind, new, old }
        }
        _ => {
            let new = match pending.exists() {
                true => home.signing_key_at(&pending)?,
                false => home.new_signing_key(match signing.classical_alg() {
                    SignatureAlg::Ed25519 => ClassicalAlg::Ed25519,
                    _ => ClassicalAlg::Es384,
                })?,
            };
            accord_keys::history::keep_signing_public(&dir, signing.public_keys())?;
            accord_keys::history::keep_signing_public(&dir, new.public_keys())?;
            Made::Signing { new }
        }
    };
    if !matches!(made, Made::Tls { .. }) {
        accord_keys::replace_file(&pending, made.pem()?.as_bytes(), true)?;
    }
    let (old_id, new_id, old_path) = match &made {
        Made::Kas { new } => {
            let old = accord_keys::load_kas_public(&home.layout.key(accord_keys::KAS_PUB))?;
            let entry = KasKeyEntry::from_key(new.public_key());
            let old_kid = old.kid();
            descriptor.node = Some(accord_keys::NodeInfo {
                kas_keys: vec![entry.clone()],
                ..node_info
            });
            if descriptor.kas_keys.iter().any(|k| k.kid == old_kid) {
                // The node's KAS key was also the party's offline key (as `accord
                // init` makes it): new agreements are drafted with the new one.
                descriptor.kas_keys = vec![entry];
            }
            (
                old_kid,
                new.public_key().kid(),
                home.layout.key(accord_keys::KAS_KEY),
            )
        }
        Made::Signing { new } => {
            descriptor.signing_keys = SigningKeyEntries {
                classical: SigningKeyEntry::from_key(&new.public_keys().classical),
                ml_dsa_87: SigningKeyEntry::from_key(&new.public_keys().ml_dsa),
            };
            let id = |k: &SigningKey| -> Result<String, Error> {
                Ok(accord_agreement::Signer::public_keys(k)?.kids().0)
            };
            (
                id(&signing)?,
                id(new)?,
                home.layout.key(accord_keys::SIGNING_KEY),
            )
        }
        Made::Tls { new } => (
            node_info.tls_spki_sha256.clone(),
            new.spki_sha256.clone(),
            home.layout.key("tls.crt"),
        ),
        Made::Note { kind, new, old } => {
            if *kind == KeyKind::Log {
                descriptor.node = Some(accord_keys::NodeInfo {
                    log_verifier_key: new.verifier().to_string(),
                    ..node_info
                });
            }
            (
                crate::log_keys::key_id(old.verifier()),
                crate::log_keys::key_id(new.verifier()),
                crate::log_keys::in_use_path(home, *kind),
            )
        }
    };

    // 2. The history names both (the old one since its file was made, when the node
    //    never rotated before), neither replaced yet: both are the node's until the switch.
    let mut history = accord_keys::KeyHistory::load(&dir)?;
    if !history.has(kind.as_str(), &old_id) {
        let since = modified(&old_path).unwrap_or_else(|| "unknown".to_string());
        history.add(kind.as_str(), &old_id, &since, None);
    }
    history.add(kind.as_str(), &new_id, &at.to_string(), None);
    history.save(&dir)?;

    // 3. The amendments.
    let store = home.store().await?;
    let amended = amend_all(
        &store,
        &party.party,
        &signing,
        &made,
        &new_id,
        &descriptor,
        &history,
        opts,
        grace_until,
    )
    .await;
    let agreements = match amended {
        Ok(a) => a,
        Err(e) => {
            store.close().await;
            return Err(e);
        }
    };
    // The grace partners give the old key is the amendments' (a run that finishes an
    // earlier one does not amend again, and its own --grace-days does not count).
    let grace_until = match kind.has_grace() {
        true => agreed_grace(&store, &party.party, kind, &old_id, at)
            .await
            .or(grace_until),
        false => None,
    };

    // 4. Into the audit log (the running node writes it within a second, or at start).
    let listed: Vec<String> = agreements
        .iter()
        .map(|a| match &a.reason {
            None => format!("{} amended (record {})", a.id, a.records),
            Some(why) => format!("{} skipped ({why})", a.id),
        })
        .collect();
    let detail = format!(
        "{kind} key {old_id} → {new_id} ({}); agreements: {}",
        opts.reason,
        if listed.is_empty() {
            "none held".to_string()
        } else {
            listed.join("; ")
        }
    );
    let logged = store
        .record_change(&DirectoryChange::new(
            Actor::Operator,
            kind.as_str(),
            "key-rotate",
            detail,
        ))
        .await;
    store.close().await;
    logged?;

    // 5. The new key in place, each file by one rename; the pending key goes. A TLS
    //    key waits beside the old one until partners acknowledged it (tls_switch).
    let (key_file, pub_file, public) = match &made {
        Made::Kas { new } => (
            accord_keys::KAS_KEY,
            accord_keys::KAS_PUB,
            new.public_key().to_pem(),
        ),
        Made::Signing { new } => (
            accord_keys::SIGNING_KEY,
            accord_keys::SIGNING_PUB,
            new.public_keys().to_pem(),
        ),
        Made::Note { kind, new, old } => {
            // The old key kept and its grace written first: from the moment the new
            // one is in place, the node signs with both until the grace ends.
            crate::log_keys::keep(home, *kind, old)?;
            history.add(kind.as_str(), &new_id, &at.to_string(), Some(&old_id));
            if let Some(g) = grace_until {
                history.accept_until(kind.as_str(), &old_id, &g.to_string());
            }
            history.save(&dir)?;
            finish_note(home, *kind, new, &pending, descriptor, opts).await?;
            return Ok(Rotated {
                kind: *kind,
                old: old_id,
                new: new_id,
                effective: at.to_string(),
                grace_until: grace_until.map(|t| t.to_string()),
                agreements,
            });
        }
        Made::Tls { .. } => {
            // Staged in step 1: the running node switches once partners acknowledged.
            return Ok(Rotated {
                kind,
                old: old_id,
                new: new_id,
                effective: at.to_string(),
                grace_until: grace_until.map(|t| t.to_string()),
                agreements,
            });
        }
    };
    accord_keys::replace_file(&home.layout.key(key_file), made.pem()?.as_bytes(), true)?;
    accord_keys::replace_file(&home.layout.key(pub_file), public.as_bytes(), false)?;
    let _ = std::fs::remove_file(&pending);
    history.add(kind.as_str(), &new_id, &at.to_string(), Some(&old_id));
    history.save(&dir)?;
    // 6. The descriptor last: a running node takes the new key when it changes.
    accord_keys::replace_file(&home.layout.party(), descriptor.to_json().as_bytes(), false)?;
    Ok(Rotated {
        kind,
        old: old_id,
        new: new_id,
        effective: at.to_string(),
        grace_until: None,
        agreements,
    })
}

/// The latest `accepted_until` the stored agreements give `own`'s old key `old_id` of
/// `kind` (none when no copy holds an amendment replacing it).
async fn agreed_grace(
    store: &crate::store::Store,
    own: &str,
    kind: KeyKind,
    old_id: &str,
    at: Time,
) -> Option<Time> {
    let mut latest: Option<Time> = None;
    for rec in store.agreements().await.ok()? {
        let Ok(doc) = Agreement::parse(&rec.document) else {
            continue;
        };
        let Ok(book) = doc.key_book(at) else {
            continue;
        };
        if let Some(u) = book
            .epochs(own, kind)
            .iter()
            .filter(|e| e.id == old_id)
            .filter_map(|e| e.accepted_until)
            .max()
        {
            latest = Some(latest.map_or(u, |l| l.max(u)));
        }
    }
    latest
}

/// The last steps of a log or witness key's rotation, which a run stopped after them
/// repeats: the new key in place of the old (`log/.accord/log.key`, or
/// `witness/witness.key` and its `.vkey`), `party.json` naming a new log key, the
/// pending key gone. The running node signs with it within a second.
async fn finish_note(
    home: &Home,
    kind: KeyKind,
    new: &accord_log::note::SigningKey,
    pending: &Path,
    mut descriptor: accord_keys::PartyDescriptor,
    opts: &RotateOptions,
) -> Result<Rotated, Error> {
    if let (KeyKind::Log, Some(n)) = (kind, descriptor.node.as_mut()) {
        n.log_verifier_key = new.verifier().to_string();
    }
    let in_use = crate::log_keys::in_use_path(home, kind);
    crate::log_keys::write_key(&in_use, new)?;
    if kind == KeyKind::Witness {
        let vkey = in_use.with_file_name("witness.vkey");
        accord_keys::replace_file(&vkey, format!("{}\n", new.verifier()).as_bytes(), false)?;
    } else {
        accord_keys::replace_file(&home.layout.party(), descriptor.to_json().as_bytes(), false)?;
    }
    let _ = std::fs::remove_file(pending);
    // What the rotation replaced, as its history says (the run that wrote it may have
    // been an earlier one).
    let history = accord_keys::KeyHistory::load(&home.layout.keys())?;
    let old = history
        .keys
        .iter()
        .rev()
        .find(|e| e.kind == kind.as_str() && e.replaced.is_some());
    Ok(Rotated {
        kind,
        old: old.map_or_else(|| "unknown".to_string(), |e| e.id.clone()),
        new: crate::log_keys::key_id(new.verifier()),
        effective: opts.at.to_string(),
        grace_until: old.and_then(|e| e.accepted_until.clone()),
        agreements: Vec::new(),
    })
}

/// The copy of agreement `id` stored now (read again at each attempt: a partner's
/// record may have changed it since the list was read).
async fn stored_copy(store: &crate::store::Store, id: &str) -> Result<String, Error> {
    Ok(store
        .agreements()
        .await?
        .into_iter()
        .find(|a| a.id == id)
        .map(|a| a.document)
        .unwrap_or_default())
}

/// One change to the node's keys at a time (the lock goes with the process, even one
/// that crashed).
pub(crate) fn rotation_lock(dir: &std::path::Path) -> Result<std::fs::File, Error> {
    let lock_path = dir.join(".rotate.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| Error::io(&lock_path, e))?;
    if lock.try_lock().is_err() {
        return Err(Error::Refused(
            "another change to this node's keys is running: wait for it to finish".into(),
        ));
    }
    Ok(lock)
}

/// `keys/pending/KIND.key`, the directory made (0700) when missing.
fn pending_path(home: &Home, kind: KeyKind) -> Result<std::path::PathBuf, Error> {
    let d = home.layout.keys().join("pending");
    crate::home::mkdir_private(&d)?;
    Ok(d.join(format!("{kind}.key")))
}

/// Step 3: every agreement held amended, or skipped with why; an error naming each
/// agreement in force that could not be amended, if any could not.
#[allow(clippy::too_many_arguments)]
async fn amend_all(
    store: &crate::store::Store,
    own: &str,
    signing: &SigningKey,
    made: &Made,
    new_id: &str,
    descriptor: &accord_keys::PartyDescriptor,
    history: &accord_keys::KeyHistory,
    opts: &RotateOptions,
    grace_until: Option<Time>,
) -> Result<Vec<AgreementAmended>, Error> {
    let mut out = Vec::new();
    let mut failed = Vec::new();
    for rec in store.agreements().await? {
        let mut last = String::new();
        let mut result = None;
        for _ in 0..ATTEMPTS {
            let current = stored_copy(store, &rec.id).await?;
            let mut doc = Agreement::parse(&current)?;
            match amend_one(&mut doc, own, signing, made, new_id, opts, grace_until) {
                Err(why) => {
                    last = why;
                    break;
                }
                Ok(Some(skip)) => {
                    result = Some(Amended::Skipped(skip));
                    break;
                }
                Ok(None) if doc.records.len() == rec_len(&current) => {
                    result = Some(Amended::Before(doc.records.len()));
                    break;
                }
                Ok(None) => {
                    let text = doc.to_toml()?;
                    match crate::agreements::load(store, descriptor, history, &text).await {
                        Ok(loaded) => {
                            result = Some(Amended::Now(loaded.records));
                            break;
                        }
                        // A partner's record stored meanwhile: read it again.
                        Err(Error::Refused(why)) => last = why,
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        match result {
            Some(Amended::Now(n)) | Some(Amended::Before(n)) => out.push(AgreementAmended {
                id: rec.id.clone(),
                outcome: "amended",
                reason: None,
                records: n,
            }),
            Some(Amended::Skipped(why)) => out.push(AgreementAmended {
                id: rec.id.clone(),
                outcome: "skipped",
                reason: Some(why),
                records: rec.records as usize,
            }),
            None => failed.push(format!("{}: {last}", rec.id)),
        }
    }
    if !failed.is_empty() {
        return Err(Error::Refused(format!(
            "the {} key was not rotated: {} could not be amended, so the node keeps its key (the new one waits in keys/pending/ for the next run): {}",
            opts.kind,
            if failed.len() == 1 { "an agreement in force" } else { "agreements in force" },
            failed.join("; ")
        )));
    }
    Ok(out)
}

/// The number of records of a stored copy.
fn rec_len(document: &str) -> usize {
    Agreement::parse(document).map_or(0, |d| d.records.len())
}

/// Append the amendment to `doc`: `Ok(None)` when done (or already done: the copy
/// names the new key), `Ok(Some(why))` when the agreement gets none (a draft, one that
/// ended, one without this party's node), `Err` when one it should get fails.
fn amend_one(
    doc: &mut Agreement,
    own: &str,
    signing: &SigningKey,
    made: &Made,
    new_id: &str,
    opts: &RotateOptions,
    grace_until: Option<Time>,
) -> Result<Option<String>, String> {
    if doc.body.party(own).and_then(|p| p.node.as_ref()).is_none() {
        return Ok(Some(format!("it gives {own} no node")));
    }
    match doc.ends() {
        None => {
            return Ok(Some(
                "it is not countersigned: redraft it from the new party.json".into(),
            ))
        }
        Some(end) if end <= opts.at => return Ok(Some(format!("it ended on {end}"))),
        Some(_) => {}
    }
    let book = doc.key_book(opts.at).map_err(|e| e.to_string())?;
    if book.current(own, opts.kind).iter().any(|e| e.id == new_id) {
        return Ok(None);
    }
    doc.amend(
        signing,
        made.change(),
        opts.at,
        grace_until,
        &opts.reason,
        opts.at,
    )
    .map(|_| None)
    .map_err(|e| e.to_string())
}

/// The file's modification time (RFC 3339), when the system says.
fn modified(path: &Path) -> Option<String> {
    let t = std::fs::metadata(path).ok()?.modified().ok()?;
    let secs = t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    Some(Time::from_unix(secs as i64).ok()?.to_string())
}
