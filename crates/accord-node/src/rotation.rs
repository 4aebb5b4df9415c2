//! Key rotation at the node (`accord key rotate`): a new key of one kind, the amendment
//! that says so in every agreement the party is in, and the files the node then uses.
//!
//! Rotation never loses what the old key did. A KAS key rotated stays in the ring
//! (`keys/kas/<kid>.key`), so every object sealed to it still opens, here and through
//! a partner's cross-border rewrap. Partners learn the new key from the amended copy,
//! which the node offers them as it offers any later copy (`agreement_sync`), and
//! verify: the amendment is signed by this party's signing key in force.
//!
//! The steps run in an order that a crash at any point leaves a node that works:
//! 1. both keys go into the ring (the old one is kept before anything names the new);
//! 2. the key history lists the new key (so an amended agreement names a key of this
//!    node's, [`crate::agreements::own_party_mismatch`]);
//! 3. each agreement in force gets its amendment, one stored copy at a time;
//! 4. `kas.key` and `kas.pub` become the new key, each by one rename;
//! 5. `party.json` lists the new key (what new agreements are drafted from), which a
//!    running node sees within 200 ms, and then seals to the new key.
//!
//! A signing key rotates the same way: its amendment is signed by the old key and by the
//! new one; the old key's public half stays in `keys/signing/<kid>.pub` (labels it
//! signed still verify here), its private half is replaced and gone. Partners verify
//! labels, receipts and records under every signing key the party has had; a receipt
//! signed with the new key before a partner loaded the amendment is only a retry.
//!
//! Running it again after a crash makes another new key: the half-done one stays in
//! the ring, named by no agreement, harmless.

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

/// What to rotate, when, and why.
#[derive(Debug, Clone)]
pub struct RotateOptions {
    /// The kind of key.
    pub kind: KeyKind,
    /// Why, in the amendment ("scheduled rotation").
    pub reason: String,
    /// When the amendment is signed and the new key takes effect.
    pub at: Time,
}

/// An agreement the rotation amended, or left alone and why.
#[derive(Debug, Clone, Serialize)]
pub struct AgreementAmended {
    /// The agreement's id.
    pub id: String,
    /// `amended`, or `skipped`.
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
    /// Each agreement held, amended or not.
    pub agreements: Vec<AgreementAmended>,
}

/// The new key a rotation made, before anything names it.
enum Made {
    Kas { new: KasPrivateKey },
    Signing { new: SigningKey },
}

/// Rotate `opts.kind` of the node at `home`: the KAS key or the signing key. The
/// other kinds are refused with what to do instead.
pub async fn rotate(home: &Home, opts: &RotateOptions) -> Result<Rotated, Error> {
    if opts.reason.trim().is_empty() || opts.reason.len() > 1024 {
        return Err(Error::Input(
            "--reason: say why (\"scheduled rotation\"), at most 1024 bytes".into(),
        ));
    }
    let dir = home.layout.keys();
    // One rotation at a time (the lock goes with the process, even one that crashed).
    let lock_path = dir.join(".rotate.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| Error::io(&lock_path, e))?;
    if lock.try_lock().is_err() {
        return Err(Error::Refused(
            "another key rotation of this node is running: wait for it to finish".into(),
        ));
    }
    let at = opts.at;
    let party = accord_keys::load_party(&home.layout.party())?;
    let Some(node_info) = party.node.clone() else {
        return Err(Error::Input(
            "party.json has no node: a node's keys are rotated by the node".into(),
        ));
    };
    let signing = accord_keys::load_signing_key(&home.layout.key(accord_keys::SIGNING_KEY))?;
    let mut descriptor = party.clone();
    let mut history = accord_keys::KeyHistory::load(&dir)?;
    let kind = opts.kind;
    // 1. The new key made, and every key kept that must be.
    let (made, old_id, new_id, old_file) = match kind {
        KeyKind::Kas => {
            let old = accord_keys::load_kas_private(&home.layout.key(accord_keys::KAS_KEY))?;
            let new = KasPrivateKey::generate(old.alg())?;
            accord_keys::keep_kas_key(&dir, &old)?;
            accord_keys::keep_kas_key(&dir, &new)?;
            let (old_id, new_id) = (old.public_key().kid(), new.public_key().kid());
            let entry = KasKeyEntry::from_key(new.public_key());
            descriptor.node = Some(accord_keys::NodeInfo {
                kas_keys: vec![entry.clone()],
                ..node_info
            });
            if descriptor.kas_keys.iter().any(|k| k.kid == old_id) {
                // The node's KAS key was also the party's offline key (as `accord
                // init` makes it): new agreements are drafted with the new one.
                descriptor.kas_keys = vec![entry];
            }
            (Made::Kas { new }, old_id, new_id, accord_keys::KAS_KEY)
        }
        KeyKind::Signing => {
            let alg = match signing.classical_alg() {
                SignatureAlg::Ed25519 => ClassicalAlg::Ed25519,
                _ => ClassicalAlg::Es384,
            };
            let new = SigningKey::generate(alg)?;
            accord_keys::history::keep_signing_public(&dir, signing.public_keys())?;
            accord_keys::history::keep_signing_public(&dir, new.public_keys())?;
            let id = |k: &SigningKey| -> Result<String, Error> {
                Ok(accord_agreement::Signer::public_keys(k)?.kids().0)
            };
            let (old_id, new_id) = (id(&signing)?, id(&new)?);
            descriptor.signing_keys = SigningKeyEntries {
                classical: SigningKeyEntry::from_key(&new.public_keys().classical),
                ml_dsa_87: SigningKeyEntry::from_key(&new.public_keys().ml_dsa),
            };
            (Made::Signing { new }, old_id, new_id, accord_keys::SIGNING_KEY)
        }
        other => {
            return Err(Error::Input(format!(
                "rotating the {other} key at the node is not built yet (kas and signing are); a party can still amend it in an agreement with `accord agreement amend`"
            )))
        }
    };

    // 2. The history names both (the old one since its file was made, when the node
    //    never rotated before).
    if !history.has(kind.as_str(), &old_id) {
        let since = modified(&home.layout.key(old_file)).unwrap_or_else(|| "unknown".to_string());
        history.add(kind.as_str(), &old_id, &since, None);
    }
    history.add(kind.as_str(), &new_id, &at.to_string(), Some(&old_id));
    history.save(&dir)?;

    // 3. The amendments, signed with the signing key in force (and, for a new signing
    //    key, by the new one too).
    let change = || match &made {
        Made::Kas { new, .. } => {
            let e = KasKeyEntry::from_key(new.public_key());
            KeyChange::Kas(vec![KasKey {
                alg: e.alg,
                kid: e.kid,
                key: e.key,
            }])
        }
        Made::Signing { new } => KeyChange::Signing(new),
    };
    let store = home.store().await?;
    let mut agreements = Vec::new();
    let result = async {
        for rec in store.agreements().await? {
            let mut doc = Agreement::parse(&rec.document)?;
            match amend_one(&mut doc, &party.party, &signing, change(), opts) {
                Ok(()) => {
                    let text = doc.to_toml()?;
                    let loaded =
                        crate::agreements::load(&store, &descriptor, &history, &text).await?;
                    agreements.push(AgreementAmended {
                        id: rec.id.clone(),
                        outcome: "amended",
                        reason: None,
                        records: loaded.records,
                    });
                }
                Err(why) => agreements.push(AgreementAmended {
                    id: rec.id.clone(),
                    outcome: "skipped",
                    reason: Some(why),
                    records: doc.records.len(),
                }),
            }
        }
        Ok::<(), Error>(())
    }
    .await;
    if let Err(e) = result {
        store.close().await;
        return Err(e);
    }

    // 4. The new key in place, each file by one rename.
    match &made {
        Made::Kas { new } => {
            replace_file(
                &home.layout.key(accord_keys::KAS_KEY),
                new.to_pem()?.as_bytes(),
                true,
            )?;
            replace_file(
                &home.layout.key(accord_keys::KAS_PUB),
                new.public_key().to_pem().as_bytes(),
                false,
            )?;
        }
        Made::Signing { new } => {
            replace_file(
                &home.layout.key(accord_keys::SIGNING_KEY),
                new.to_pem()?.as_bytes(),
                true,
            )?;
            replace_file(
                &home.layout.key(accord_keys::SIGNING_PUB),
                new.public_keys().to_pem().as_bytes(),
                false,
            )?;
        }
    }
    // 5. The descriptor last: a running node takes the new key when it changes.
    replace_file(&home.layout.party(), descriptor.to_json().as_bytes(), false)?;
    // Into the audit log (the running node writes it within a second, or at start).
    let amended: Vec<String> = agreements
        .iter()
        .map(|a| match &a.reason {
            None => format!("{} amended (record {})", a.id, a.records),
            Some(why) => format!("{} skipped ({why})", a.id),
        })
        .collect();
    let detail = format!(
        "{kind} key {old_id} → {new_id} ({}); agreements: {}",
        opts.reason,
        if amended.is_empty() {
            "none held".to_string()
        } else {
            amended.join("; ")
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
    Ok(Rotated {
        kind,
        old: old_id,
        new: new_id,
        effective: at.to_string(),
        agreements,
    })
}

/// Append the amendment to `doc`, or say why it gets none.
fn amend_one(
    doc: &mut Agreement,
    own: &str,
    signing: &SigningKey,
    change: KeyChange<'_>,
    opts: &RotateOptions,
) -> Result<(), String> {
    if doc.body.party(own).and_then(|p| p.node.as_ref()).is_none() {
        return Err(format!("it gives {own} no node"));
    }
    match doc.ends() {
        None => return Err("it is not countersigned: redraft it from the new party.json".into()),
        Some(end) if end <= opts.at => return Err(format!("it ended on {end}")),
        Some(_) => {}
    }
    doc.amend(signing, change, opts.at, None, &opts.reason, opts.at)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// The file's modification time (RFC 3339), when the system says.
fn modified(path: &Path) -> Option<String> {
    let t = std::fs::metadata(path).ok()?.modified().ok()?;
    let secs = t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    Some(Time::from_unix(secs as i64).ok()?.to_string())
}

/// Replace `path` with `data` in one rename (owner-only when `private`), so that a
/// reader sees the old file or the new, never half of one.
fn replace_file(path: &Path, data: &[u8], private: bool) -> Result<(), Error> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = path.with_file_name(format!(".{name}.new"));
    let _ = std::fs::remove_file(&tmp);
    if private {
        accord_keys::write_private_file(&tmp, data)?;
    } else {
        accord_keys::write_public_file(&tmp, data)?;
    }
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}
