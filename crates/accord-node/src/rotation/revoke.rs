//! Key revocation at the node (`accord key revoke`): a key of this node held
//! compromised since a time. The node's own record comes first (in force at once),
//! then, when the key is the current one, a rotation replaces it, then a `revoke`
//! record goes into every agreement in force, which partners receive over federation.
//! What a revocation refuses is the one decision's: `accord_agreement::revoked_key` for
//! KAS and signing keys, `KeyBook::in_force` for the keys partners accept.

use super::{rotate, rotation_lock, stored_copy, AgreementAmended, RotateOptions, ATTEMPTS};
use crate::home::Home;
use crate::store::{Actor, DirectoryChange};
use crate::Error;
use accord_agreement::amendment::KeyKind;
use accord_agreement::{Agreement, Time};
use accord_keys::SigningKey;
use serde::Serialize;

/// What to revoke: a key of this node, compromised since a time.
#[derive(Debug, Clone)]
pub struct RevokeOptions {
    /// The kind: any of the node's (not [`KeyKind::OfflineKas`], the party's).
    pub kind: KeyKind,
    /// The key's id (for a signing key, its ES384 half's).
    pub kid: String,
    /// From when it is held compromised.
    pub compromised: Time,
    /// Why, for the record.
    pub reason: String,
    /// When the revocation is signed.
    pub at: Time,
}

/// What a revocation did.
#[derive(Debug, Clone, Serialize)]
pub struct Revoked {
    /// The kind of key.
    pub kind: KeyKind,
    /// The revoked key's id.
    pub kid: String,
    /// From when it is held compromised (RFC 3339).
    pub compromised: String,
    /// The rotation that replaced it first, when it was the current key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaced_by: Option<String>,
    /// Each agreement held: `revoked` (the record added), or skipped with why.
    pub agreements: Vec<AgreementAmended>,
}

/// Revoke key `opts.kid` (KAS or signing) of the node at `home` as compromised since
/// `opts.compromised`. The record at the node comes first, then, when it was the
/// current key, a rotation replaces it, so that the node never stands without one.
/// From then on, this node and (from its `revoke` record in each agreement in force)
/// its partners take the key only for objects shown to have existed before the
/// compromise (`sealed`: the node signed their label, or received them, earlier): a
/// KAS key's shares, a signing key's labels. The key stays (in the ring, or among the
/// signing keys kept), so that what is refused is refused with a reason that names
/// the revocation.
pub async fn revoke(home: &Home, opts: &RevokeOptions) -> Result<Revoked, Error> {
    let kind = opts.kind;
    let what = match kind {
        KeyKind::Kas => "KAS key",
        KeyKind::Signing => "signing key",
        KeyKind::Tls => "TLS key",
        KeyKind::Log => "log key",
        KeyKind::Witness => "witness key",
        KeyKind::OfflineKas => {
            return Err(Error::Input(
                "the offline KAS keys are the party's, not the node's: revoke one in each agreement with `accord agreement revoke`".into(),
            ))
        }
    };
    if opts.reason.trim().is_empty() || opts.reason.len() > 1024 {
        return Err(Error::Input(
            "--reason: say why (\"KAS host image exfiltrated\"), at most 1024 bytes".into(),
        ));
    }
    if opts.compromised > opts.at {
        return Err(Error::Input(format!(
            "--compromised {} is after now ({}): a revocation says what has happened",
            opts.compromised, opts.at
        )));
    }
    let dir = home.layout.keys();
    let held = own_key_ids(home, kind)?;
    if !held.iter().any(|k| k == &opts.kid) {
        return Err(Error::Input(format!(
            "--kid {}: no {what} of this node (`accord key list` names them)",
            opts.kid
        )));
    }
    // An agreement refuses a compromise before the key was the party's under it: said
    // now, before anything is recorded that could then never reach it.
    {
        let own = accord_keys::load_party(&home.layout.party())?.party;
        let store = home.store().await?;
        let copies = store.agreements().await;
        store.close().await;
        for rec in copies? {
            let Ok(doc) = Agreement::parse(&rec.document) else {
                continue;
            };
            let Ok(book) = doc.key_book(opts.at) else {
                continue;
            };
            if let Some(from) = book
                .epochs(&own, kind)
                .iter()
                .find(|e| e.id == opts.kid)
                .and_then(|e| e.from)
                .filter(|from| opts.compromised < *from)
            {
                return Err(Error::Input(format!(
                    "--compromised {} is before the key became {own}'s in agreement {} ({from}): a key is compromised as the party's from then at the earliest",
                    opts.compromised, rec.id
                )));
            }
        }
    }
    // The node's own record first, whatever follows: the running node refuses from
    // its next read on (within 200 ms), even if the replacement below fails.
    {
        let lock = rotation_lock(&dir)?;
        let mut history = accord_keys::KeyHistory::load(&dir)?;
        if !history.has(kind.as_str(), &opts.kid) {
            history.add(kind.as_str(), &opts.kid, "unknown", None);
        }
        let since = opts.compromised.to_string();
        if let Some(other) = history
            .keys
            .iter()
            .filter(|k| k.kind == kind.as_str() && k.id == opts.kid)
            .find_map(|k| k.compromised.clone().filter(|c| *c != since))
        {
            return Err(Error::Input(format!(
                "{what} {} is revoked already, compromised since {other}: a revocation is not changed",
                opts.kid
            )));
        }
        for k in history
            .keys
            .iter_mut()
            .filter(|k| k.kind == kind.as_str() && k.id == opts.kid)
        {
            k.compromised = Some(since.clone());
            k.revoked_because = Some(opts.reason.clone());
        }
        history.save(&dir)?;
        drop(lock);
    }
    // Then a new current key, when the revoked one was it.
    let mut replaced_by = None;
    let mut not_replaced = None;
    if held[0] == opts.kid {
        let rotated = rotate(
            home,
            &RotateOptions {
                kind,
                reason: format!("replacing a compromised key: {}", opts.reason),
                at: opts.at,
                grace_days: None,
            },
        )
        .await;
        match rotated {
            Ok(r) => replaced_by = Some(r.new),
            Err(e) => not_replaced = Some(e.to_string()),
        }
    }
    let _lock = rotation_lock(&dir)?;
    let history = accord_keys::KeyHistory::load(&dir)?;
    let own = accord_keys::load_party(&home.layout.party())?.party;
    let signing = home.signing_key()?;
    let descriptor = accord_keys::load_party(&home.layout.party())?;
    let store = home.store().await?;
    let result = async {
        let mut out = Vec::new();
        let mut failed = Vec::new();
        for rec in store.agreements().await? {
            // Whatever goes wrong with one agreement is said, and the others go on.
            match revoke_in(&store, &rec.id, &own, &signing, &descriptor, &history, opts).await {
                Ok(Ok(n)) => out.push(AgreementAmended {
                    id: rec.id.clone(),
                    outcome: "revoked",
                    reason: None,
                    records: n,
                }),
                Ok(Err(why)) => out.push(AgreementAmended {
                    id: rec.id.clone(),
                    outcome: "skipped",
                    reason: Some(why),
                    records: rec.records as usize,
                }),
                Err(e) => failed.push(format!("{}: {e}", rec.id)),
            }
        }
        let detail = format!(
            "{kind} key {} revoked, compromised since {} ({}){}; agreements: {}{}",
            opts.kid,
            opts.compromised,
            opts.reason,
            replaced_by
                .as_ref()
                .map(|n| format!(", replaced by {n}"))
                .unwrap_or_default(),
            out.iter()
                .map(|a| match &a.reason {
                    None => format!("{} revoked (record {})", a.id, a.records),
                    Some(w) => format!("{} skipped ({w})", a.id),
                })
                .collect::<Vec<_>>()
                .join("; "),
            if failed.is_empty() {
                String::new()
            } else {
                format!("; not yet recorded in: {}", failed.join("; "))
            }
        ) + &not_replaced
            .as_ref()
            .map(|e| format!("; not replaced: {e}"))
            .unwrap_or_default();
        store
            .record_change(&DirectoryChange::new(
                Actor::Operator,
                kind.as_str(),
                "key-revoke",
                detail,
            ))
            .await?;
        if let Some(e) = &not_replaced {
            return Err(Error::Refused(format!(
                "{what} {} is revoked at this node (it serves only what was sealed before {}), but it was the current key and could not be replaced: {e}; the node seals nothing until `accord key rotate --dir DIR {kind}` succeeds",
                opts.kid, opts.compromised
            )));
        }
        if !failed.is_empty() {
            return Err(Error::Refused(format!(
                "{what} {} is revoked at this node, but the revocation is not yet in {}: run the command again (with the same --compromised) to add it",
                opts.kid,
                failed.join("; ")
            )));
        }
        Ok(out)
    }
    .await;
    store.close().await;
    let agreements = result?;
    Ok(Revoked {
        kind,
        kid: opts.kid.clone(),
        compromised: opts.compromised.to_string(),
        replaced_by,
        agreements,
    })
}

/// Add the revocation to agreement `id` held: `Ok(Ok(records))` when it holds it (now
/// or from a run before), `Ok(Err(why))` when it gets none (a draft, one that ended,
/// one that never named the key), `Err` when it could not be added.
#[allow(clippy::too_many_arguments)]
async fn revoke_in(
    store: &crate::store::Store,
    id: &str,
    own: &str,
    signing: &SigningKey,
    descriptor: &accord_keys::PartyDescriptor,
    history: &accord_keys::KeyHistory,
    opts: &RevokeOptions,
) -> Result<Result<usize, String>, Error> {
    let mut last = String::new();
    for _ in 0..ATTEMPTS {
        let mut doc = Agreement::parse(&stored_copy(store, id).await?)?;
        match doc.ends() {
            None => return Ok(Err("it is not countersigned".into())),
            Some(end) if end <= opts.at => return Ok(Err(format!("it ended on {end}"))),
            Some(_) => {}
        }
        let book = doc
            .key_book(opts.at)
            .map_err(|e| Error::Refused(e.to_string()))?;
        match book
            .epochs(own, opts.kind)
            .iter()
            .find(|e| e.id == opts.kid)
        {
            None => {
                return Ok(Err(format!(
                    "it never named {own}'s {} key {}",
                    opts.kind, opts.kid
                )))
            }
            Some(e) if e.revoked.is_some() => return Ok(Ok(doc.records.len())),
            Some(_) => {}
        }
        doc.revoke(
            signing,
            opts.kind,
            &opts.kid,
            opts.compromised,
            &opts.reason,
            opts.at,
        )
        .map_err(|e| Error::Refused(e.to_string()))?;
        let text = doc.to_toml()?;
        match crate::agreements::load(store, descriptor, history, &text).await {
            Ok(l) => return Ok(Ok(l.records)),
            // A partner's record stored meanwhile: read it again.
            Err(Error::Refused(why)) => last = why,
            Err(e) => return Err(e),
        }
    }
    Err(Error::Refused(last))
}

/// The ids of the node's keys of `kind`, the current one first, without reading a
/// private key (but a log or witness key, whose file holds both halves).
fn own_key_ids(home: &Home, kind: KeyKind) -> Result<Vec<String>, Error> {
    let dir = &home.layout.keys();
    Ok(match kind {
        KeyKind::Tls => {
            let party = accord_keys::load_party(&home.layout.party())?;
            let mut ids: Vec<String> = party
                .node
                .iter()
                .map(|n| n.tls_spki_sha256.clone())
                .collect();
            for e in accord_keys::KeyHistory::load(dir)?.keys {
                if e.kind == kind.as_str() && !ids.contains(&e.id) {
                    ids.push(e.id);
                }
            }
            ids
        }
        KeyKind::Log | KeyKind::Witness => crate::log_keys::own_ids(home, kind)?,
        KeyKind::Signing => {
            let current = accord_keys::load_signing_public(&dir.join(accord_keys::SIGNING_PUB))?;
            let mut ids = vec![current.classical.kid()];
            for k in accord_keys::history::load_signing_publics(dir)? {
                let kid = k.classical.kid();
                if !ids.contains(&kid) {
                    ids.push(kid);
                }
            }
            ids
        }
        _ => accord_keys::history::kas_ring_kids(dir)?,
    })
}
