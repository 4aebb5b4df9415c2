//! Amendments: signed records in an agreement's history that change a party's key
//! (`amend`) or declare one compromised (`revoke`), and the key epochs they make.
//!
//! An agreement runs for years; keys do not. A party changes one of its own keys by an
//! amendment signed with its signing key in force at that point of the history (the
//! body's, or the last signing amendment's); a new signing key also signs its own
//! amendment (`new-signature`), as TUF has a new root signed by the old keys and the
//! new. The records are chained (`previous`) and bound to the body's digest, so an
//! amendment cannot be skipped, replayed, moved or taken from another agreement.
//!
//! Rotation is not revocation: a superseded key stays valid for what it did (labels,
//! key access objects); only a revoked key is refused, and only for what cannot be
//! shown to predate its compromise. [`KeyBook`] is the state every record is applied
//! to, in order: which key of each kind each party has, since when, until when, and
//! whether it was revoked. `docs/design/key-lifecycle.md` is the design.

pub use crate::document::keys::{verifier_key_id, KeyKind, NewKey};

use crate::document::keys::short;
use crate::document::{Body, Party};
use crate::signature::SigningKeys;
use crate::Time;
use serde::Serialize;
use std::collections::BTreeMap;

/// Longest grace period an amendment may give an old TLS, log or witness key.
pub const MAX_GRACE_DAYS: i64 = 90;
/// The KAS algorithm a hybrid (post-quantum) key has; a KAS amendment may not drop it.
const HYBRID_KAS: &str = "hybrid-p384-mlkem1024";

/// When a revoked key is held compromised since, and which record says so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Revocation {
    /// From when the key is held compromised.
    pub compromised: Time,
    /// The `revoke` record (0-based).
    pub record: usize,
    /// Why, in the revoking party's words.
    pub reason: String,
}

/// One key of one party, and the span it was the party's key of its kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Epoch {
    /// The kind.
    pub kind: KeyKind,
    /// The key's id (see [`verifier_key_id`] and [`NewKey::ids`]).
    pub id: String,
    /// The amendment that brought it in (0-based), or `None` for the body's key.
    pub record: Option<usize>,
    /// In force from (`None`: from the agreement's start).
    pub from: Option<Time>,
    /// Replaced from (the next amendment's `effective`), if it was.
    pub until: Option<Time>,
    /// Still accepted until (`until` plus the replacing amendment's grace).
    pub accepted_until: Option<Time>,
    /// Its revocation, if any.
    pub revoked: Option<Revocation>,
}

/// The key epochs of every party, as the records so far make them, and the signing
/// keys each party's next record must verify under.
#[derive(Debug, Clone, Default)]
pub struct KeyBook {
    epochs: BTreeMap<(String, KeyKind), Vec<Epoch>>,
    signing: BTreeMap<String, SigningKeys>,
    /// The algorithms of each party's current KAS keys (online and offline).
    kas_algs: BTreeMap<(String, KeyKind), Vec<String>>,
    /// Every key id any party has had, by kind (and the ML-DSA halves of signing keys
    /// under `ml:`): a key never comes back, and never passes from one party to another.
    seen: BTreeMap<(KeyKind, String), String>,
    /// The parties the body gives a node: only they have node keys to amend.
    with_node: Vec<String>,
}

/// The body's keys of one kind of a party (their ids).
pub(crate) fn body_ids(body: &Body, party: &str, kind: KeyKind) -> Vec<String> {
    let Some(p) = body.party(party) else {
        return Vec::new();
    };
    match kind {
        KeyKind::Signing => vec![p.signing_keys.kids().0],
        KeyKind::Kas => p
            .node
            .iter()
            .flat_map(|n| n.kas_keys.iter().map(|k| k.kid.clone()))
            .collect(),
        KeyKind::OfflineKas => p.kas_keys.iter().map(|k| k.kid.clone()).collect(),
        KeyKind::Tls => p.node.iter().map(|n| n.tls_spki_sha256.clone()).collect(),
        KeyKind::Log => p
            .node
            .iter()
            .filter_map(|n| n.log_verifier_key.as_deref().map(verifier_key_id))
            .collect(),
        KeyKind::Witness => Vec::new(),
    }
}

/// Put the key an amendment of `kind` brings in into `party` (a copy of the body's),
/// as [`crate::Checked::parties_at`] does for each amendment in force. A witness key
/// has no place in the body, so nothing changes for it.
pub(crate) fn put_key(party: &mut Party, kind: KeyKind, new: &NewKey) {
    match (kind, new) {
        (KeyKind::Signing, NewKey::Signing { keys, .. }) => party.signing_keys = keys.clone(),
        (KeyKind::OfflineKas, NewKey::Kas(keys)) => party.kas_keys = keys.clone(),
        (KeyKind::Kas, NewKey::Kas(keys)) => {
            if let Some(n) = &mut party.node {
                n.kas_keys = keys.clone();
            }
        }
        (KeyKind::Tls, NewKey::Tls { spki_sha256, url }) => {
            if let Some(n) = &mut party.node {
                n.tls_spki_sha256 = spki_sha256.clone();
                if let Some(u) = url {
                    n.url = u.clone();
                }
            }
        }
        (KeyKind::Log, NewKey::Verifier(v)) => {
            if let Some(n) = &mut party.node {
                n.log_verifier_key = Some(v.clone());
            }
        }
        _ => {}
    }
}

/// The kind a key id is remembered under: one KAS key cannot be both a node's and a
/// party's offline key.
fn seen_kind(kind: KeyKind) -> KeyKind {
    match kind {
        KeyKind::OfflineKas => KeyKind::Kas,
        k => k,
    }
}

/// The log key's name (the log's origin), which an amendment may not change.
fn key_name(id: &str) -> &str {
    id.split('+').next().unwrap_or(id)
}

impl KeyBook {
    /// The book of `body`, before any record: each party's keys from the body.
    pub fn new(body: &Body) -> KeyBook {
        let mut book = KeyBook::default();
        for p in &body.parties {
            book.signing.insert(p.code.clone(), p.signing_keys.clone());
            book.seen.insert(
                (KeyKind::Signing, format!("ml:{}", p.signing_keys.kids().1)),
                p.code.clone(),
            );
            if p.node.is_some() {
                book.with_node.push(p.code.clone());
            }
            let online = p.node.iter().flat_map(|n| n.kas_keys.iter());
            book.kas_algs.insert(
                (p.code.clone(), KeyKind::Kas),
                online.map(|k| k.alg.clone()).collect(),
            );
            book.kas_algs.insert(
                (p.code.clone(), KeyKind::OfflineKas),
                p.kas_keys.iter().map(|k| k.alg.clone()).collect(),
            );
            for kind in KeyKind::ALL {
                let ids = body_ids(body, &p.code, kind);
                for id in &ids {
                    book.seen
                        .insert((seen_kind(kind), id.clone()), p.code.clone());
                }
                let epochs = ids
                    .into_iter()
                    .map(|id| Epoch {
                        kind,
                        id,
                        record: None,
                        from: None,
                        until: None,
                        accepted_until: None,
                        revoked: None,
                    })
                    .collect();
                book.epochs.insert((p.code.clone(), kind), epochs);
            }
        }
        book
    }

    /// The signing keys `party`'s next record must verify under.
    pub fn signing_keys(&self, party: &str) -> Option<&SigningKeys> {
        self.signing.get(party)
    }

    /// The party whose signing keys in force are `keys`.
    pub fn party_signing_with(&self, keys: &SigningKeys) -> Option<&str> {
        self.signing
            .iter()
            .find(|(_, k)| *k == keys)
            .map(|(p, _)| p.as_str())
    }

    /// Every epoch of `party`'s keys of `kind`, oldest first.
    pub fn epochs(&self, party: &str, kind: KeyKind) -> &[Epoch] {
        self.epochs
            .get(&(party.to_string(), kind))
            .map_or(&[], Vec::as_slice)
    }

    /// The current keys of `party` of `kind`: those not replaced.
    pub fn current(&self, party: &str, kind: KeyKind) -> Vec<&Epoch> {
        self.epochs(party, kind)
            .iter()
            .filter(|e| e.until.is_none())
            .collect()
    }

    /// The keys of `kind` a partner accepts from `party` at `at`: in force, or within
    /// a grace period, and not revoked as compromised at or before `at`.
    pub fn in_force(&self, party: &str, kind: KeyKind, at: Time) -> Vec<&Epoch> {
        self.epochs(party, kind)
            .iter()
            .filter(|e| e.from.is_none_or(|f| f <= at))
            .filter(|e| e.accepted_until.or(e.until).is_none_or(|u| at < u))
            .filter(|e| e.revoked.as_ref().is_none_or(|r| at < r.compromised))
            .collect()
    }

    /// Apply an `amend` record (number `index`, by `party`, signed at `time`), or say
    /// why the rules do not allow it. The signatures were checked by the caller.
    #[allow(clippy::too_many_arguments)]
    pub fn amend(
        &mut self,
        index: usize,
        party: &str,
        time: Time,
        kind: KeyKind,
        effective: Time,
        grace_until: Option<Time>,
        replaces: &str,
        new: &NewKey,
    ) -> Result<(), String> {
        if !new.fits(kind) {
            return Err(format!("a {kind} amendment must bring a {kind} key"));
        }
        if effective < time {
            return Err(format!(
                "the new {kind} key takes effect on {effective}, before the amendment was signed ({time}); an amendment cannot be backdated"
            ));
        }
        if kind == KeyKind::Signing && effective != time {
            return Err(format!(
                "a new signing key takes effect when its amendment is signed ({time}), not on {effective}"
            ));
        }
        match grace_until {
            Some(_) if !kind.has_grace() => {
                return Err(format!(
                    "a {kind} amendment has no grace period (only tls, log and witness keys do)"
                ))
            }
            Some(g) if g < effective || g.unix() - effective.unix() > MAX_GRACE_DAYS * 86_400 => {
                return Err(format!(
                    "grace-until {g} must be from the new key's effective time {effective} to {MAX_GRACE_DAYS} days after"
                ))
            }
            _ => {}
        }
        if !matches!(kind, KeyKind::Signing | KeyKind::OfflineKas)
            && !self.with_node.iter().any(|p| p == party)
        {
            return Err(format!(
                "{party} has no node in the agreement, so no {kind} key to amend: a node is added by redrafting, which the other parties sign"
            ));
        }
        let ids = new.ids();
        if ids.is_empty() {
            return Err(format!("the {kind} amendment brings no key"));
        }
        let mut ids_seen: Vec<(KeyKind, String)> = ids.iter().map(|i| (kind, i.clone())).collect();
        if let NewKey::Signing { keys, .. } = new {
            ids_seen.push((KeyKind::Signing, format!("ml:{}", keys.kids().1)));
        }
        for (i, (k, id)) in ids_seen.iter().enumerate() {
            if ids_seen[..i].iter().any(|(_, other)| other == id) {
                return Err(format!("{kind} key {} is listed twice", short(id)));
            }
            if let Some(owner) = self.seen.get(&(seen_kind(*k), id.clone())) {
                let whose = if owner == party {
                    format!("{party}'s")
                } else {
                    format!("{owner}'s, not {party}'s")
                };
                return Err(format!(
                    "{kind} key {} was {whose} before: a key never comes back",
                    short(id.trim_start_matches("ml:"))
                ));
            }
        }
        let epochs = self.epochs.entry((party.to_string(), kind)).or_default();
        let current: Vec<String> = epochs
            .iter()
            .filter(|e| e.until.is_none())
            .map(|e| e.id.clone())
            .collect();
        match (current.is_empty(), replaces.is_empty()) {
            (true, true) => {}
            (true, false) => {
                return Err(format!(
                    "replaces {} but {party} has no {kind} key in the agreement",
                    short(replaces)
                ))
            }
            (false, _) if !current.iter().any(|c| c == replaces) => {
                return Err(format!(
                    "replaces {}, which is not {party}'s current {kind} key ({})",
                    if replaces.is_empty() {
                        "nothing".to_string()
                    } else {
                        short(replaces)
                    },
                    current
                        .iter()
                        .map(|c| short(c))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            }
            _ => {}
        }
        if let NewKey::Kas(keys) = new {
            let had_hybrid = self
                .kas_algs
                .get(&(party.to_string(), kind))
                .is_some_and(|algs| algs.iter().any(|a| a == HYBRID_KAS));
            if had_hybrid && !keys.iter().any(|k| k.alg == HYBRID_KAS) {
                return Err(format!(
                    "the new {kind} keys drop the post-quantum key ({HYBRID_KAS}): a downgrade"
                ));
            }
        }
        if matches!(kind, KeyKind::Log | KeyKind::Witness) {
            if let Some(old) = current.first() {
                if key_name(old) != key_name(&ids[0]) {
                    return Err(format!(
                        "the new {kind} key is named {}, not {} as the old one: the name (the log's origin) never changes",
                        key_name(&ids[0]),
                        key_name(old)
                    ));
                }
            }
        }
        let epochs = self.epochs.entry((party.to_string(), kind)).or_default();
        // Every key still in force at `effective` ends then, a replaced key whose
        // replacement had not taken effect yet included.
        for e in epochs
            .iter_mut()
            .filter(|e| e.until.is_none_or(|u| u > effective))
        {
            e.until = Some(effective);
            e.accepted_until = Some(grace_until.unwrap_or(effective));
        }
        for id in ids {
            epochs.push(Epoch {
                kind,
                id,
                record: Some(index),
                from: Some(effective),
                until: None,
                accepted_until: None,
                revoked: None,
            });
        }
        if let NewKey::Kas(keys) = new {
            self.kas_algs.insert(
                (party.to_string(), kind),
                keys.iter().map(|k| k.alg.clone()).collect(),
            );
        }
        if let NewKey::Signing { keys, .. } = new {
            self.signing.insert(party.to_string(), keys.clone());
        }
        for (k, id) in ids_seen {
            self.seen.insert((seen_kind(k), id), party.to_string());
        }
        Ok(())
    }

    /// Apply a `revoke` record, or say why the rules do not allow it.
    #[allow(clippy::too_many_arguments)]
    pub fn revoke(
        &mut self,
        index: usize,
        party: &str,
        time: Time,
        kind: KeyKind,
        kid: &str,
        compromised: Time,
        reason: &str,
    ) -> Result<(), String> {
        let epochs = self.epochs.entry((party.to_string(), kind)).or_default();
        if kind == KeyKind::Signing && epochs.iter().any(|e| e.id == kid && e.until.is_none()) {
            return Err(format!(
                "revokes {party}'s signing key in force: amend the signing key first (signed by this one while it is still {party}'s), then revoke it"
            ));
        }
        if kind == KeyKind::Tls && epochs.iter().any(|e| e.id == kid && e.until.is_none()) {
            // Partners would be left with no key to know the node by, and the amendment
            // naming a new one could then not reach them.
            return Err(format!(
                "revokes {party}'s TLS key in force: amend the TLS key first (with no grace, for a compromised key), then revoke it"
            ));
        }
        let Some(e) = epochs.iter().find(|e| e.id == kid) else {
            return Err(format!(
                "revokes {kind} key {}, which {party} never had",
                short(kid)
            ));
        };
        if e.revoked.is_some() {
            return Err(format!("{kind} key {} is revoked already", short(kid)));
        }
        if compromised > time {
            return Err(format!(
                "compromised since {compromised}, after the revocation was signed ({time}): a revocation says what has happened"
            ));
        }
        if e.from.is_some_and(|f| compromised < f) {
            return Err(format!(
                "compromised since {compromised}, before the key was {party}'s ({})",
                e.from.map(|f| f.to_string()).unwrap_or_default()
            ));
        }
        for e in epochs.iter_mut().filter(|e| e.id == kid) {
            e.revoked = Some(Revocation {
                compromised,
                record: index,
                reason: reason.to_string(),
            });
        }
        Ok(())
    }
}
