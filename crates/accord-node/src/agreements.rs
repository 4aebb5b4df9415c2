//! Agreements a node holds: verified before they are accepted, replaced only by a later
//! copy of the same document (more lifecycle records: a countersignature, a
//! termination), cached in memory with their verification findings so that a decision
//! does not verify eight signatures again.

use crate::store::Store;
use crate::Error;
use accord_agreement::amendment::{verifier_key_id, KeyKind};
use accord_agreement::{Agreement, Checked, Finding, Party};
use accord_keys::{KeyHistory, PartyDescriptor};
use std::sync::Arc;

/// An agreement and what verifying it found (nothing, for one that was accepted).
#[derive(Debug, Clone)]
pub struct Held {
    /// The document.
    pub agreement: Agreement,
    /// Its verification findings, computed once.
    pub findings: Vec<Finding>,
}

impl Held {
    /// The party whose node this agreement accepts with the TLS key `pin` (SHA-256 of
    /// the SPKI, hex) at `at`, whether the agreement is in force or not: its key as
    /// amended, or one an amendment replaced while its grace runs, neither revoked
    /// ([`accord_agreement::Checked::accepted_key_ids`], the rule partners are
    /// recognised by).
    pub fn party_pinned(&self, pin: &str, at: accord_agreement::Time) -> Option<&Party> {
        let checked = self.checked();
        let mut found = self.agreement.body.parties.iter().filter(|p| {
            p.node.is_some()
                && checked
                    .accepted_key_ids(&p.code, accord_agreement::amendment::KeyKind::Tls, at)
                    .iter()
                    .any(|k| k.eq_ignore_ascii_case(pin))
        });
        // A key accepted for two parties is no one's (as `partners::recognise` says).
        match (found.next(), found.next()) {
            (Some(p), None) => Some(p),
            _ => None,
        }
    }

    /// The agreement, checked.
    pub fn checked(&self) -> Checked<'_> {
        Checked::from_findings(&self.agreement, self.findings.clone())
    }
}

/// What `load` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Loaded {
    /// Agreement id.
    pub id: String,
    /// Version.
    pub version: u64,
    /// `new`, `replaced` (a later copy) or `unchanged`.
    pub outcome: &'static str,
    /// Lifecycle records now held.
    pub records: usize,
    /// The parties.
    pub parties: Vec<String>,
}

/// Which copies of an agreement may name this node's keys from its history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Copy {
    /// An agreement the node does not hold yet (a new one, a renewal): it must name the
    /// node's keys of now (`party.json`).
    New,
    /// A later copy of one held (same body, more records), or one held: it may also
    /// name a key a rotation in progress brings in (the one the history lists as not
    /// replaced), and, once it has ended, any key the node had.
    Held,
}

/// Why `doc` does not speak for this node's party with this node's own keys, if it
/// does not.
///
/// An agreement verifies against the keys it carries itself, so anyone can make one
/// that names "PAK" with keys of their own and signs it with them. A node that took it
/// would trust that agreement's signing keys for labels and its partner for exchanges,
/// under an agreement its party never signed. So the node's own party in it must have,
/// after its key amendments, the node's signing keys and (where the agreement names the
/// node) its TLS key, KAS keys and log key: the agreement must have been drafted from
/// this node's own `party.json`, and amended only by this node.
///
/// A key the node had before a rotation is never enough for a new agreement: whoever
/// kept an old signing key could otherwise sign one in the party's name. A copy held
/// may name the key a rotation in progress brings in (the rotation amends one stored
/// copy at a time, while the node may read them), and an agreement that has ended
/// (it decides nothing) may name any key the node had.
pub fn own_party_mismatch(
    doc: &Checked<'_>,
    own: &PartyDescriptor,
    history: &KeyHistory,
    copy: Copy,
) -> Option<String> {
    let code = own.party.as_str();
    let body = &doc.agreement().body;
    let id = &body.id;
    if body.party(code).is_none() {
        return Some(format!(
            "agreement {id} is between {}; {code} is not a party to it",
            body.party_codes()
        ));
    }
    let Some(theirs) = doc.party_at(code, latest(doc.agreement())) else {
        return Some(format!("agreement {id} does not name {code}"));
    };
    let ended = doc
        .agreement()
        .ends()
        .is_some_and(|e| e <= accord_agreement::Time::now());
    let had = |kind: KeyKind, id: &str| match copy {
        Copy::New => false,
        Copy::Held if ended => history.has(kind.as_str(), id),
        Copy::Held => history
            .keys
            .iter()
            .any(|k| k.kind == kind.as_str() && k.id == id && k.replaced.is_none()),
    };
    let mine = match Party::from_descriptor(own) {
        Ok(p) => p,
        Err(e) => return Some(format!("this node's party.json: {e}")),
    };
    let drafted = "it was drafted with another party.json than this node's (`accord node info`)";
    if theirs.signing_keys != mine.signing_keys
        && !had(KeyKind::Signing, &theirs.signing_keys.kids().0)
    {
        return Some(format!(
            "agreement {id} gives {code} signing keys that are not this node's: {drafted}, and {code} did not sign it with this node's keys"
        ));
    }
    let (Some(their_node), Some(my_node)) = (&theirs.node, &mine.node) else {
        return None;
    };
    let kids = |keys: &[accord_agreement::KasKey]| {
        let mut k: Vec<String> = keys.iter().map(|k| k.kid.clone()).collect();
        k.sort();
        k
    };
    let tls_ok = their_node.tls_spki_sha256 == my_node.tls_spki_sha256
        || had(KeyKind::Tls, &their_node.tls_spki_sha256);
    let kas_ok = kids(&their_node.kas_keys) == kids(&my_node.kas_keys)
        || (!their_node.kas_keys.is_empty()
            && their_node
                .kas_keys
                .iter()
                .all(|k| had(KeyKind::Kas, &k.kid)));
    let log_ok = their_node.log_verifier_key == my_node.log_verifier_key
        || their_node
            .log_verifier_key
            .as_deref()
            .is_some_and(|v| had(KeyKind::Log, &verifier_key_id(v)));
    let differs = if !tls_ok {
        Some("TLS key (pin)")
    } else if !kas_ok {
        Some("KAS keys")
    } else if !log_ok {
        Some("audit log key")
    } else {
        None
    };
    differs.map(|what| {
        format!("agreement {id} gives {code}'s node a {what} that is not this node's: {drafted}")
    })
}

/// A time after every amendment of `doc` has taken effect: its keys at the end.
fn latest(doc: &Agreement) -> accord_agreement::Time {
    doc.records
        .iter()
        .filter_map(|r| match &r.kind {
            accord_agreement::RecordKind::Amend { effective, .. } => Some(*effective),
            _ => None,
        })
        .chain([doc.body.expires])
        .max()
        .unwrap_or(doc.body.expires)
}

/// The name of a C2SP log verifier key (`name+hash+key`), or of its id (`name+hash`).
pub(crate) fn log_name(vkey: &str) -> &str {
    vkey.split('+').next().unwrap_or(vkey)
}

/// Why `doc` cannot be held beside what is held, if it cannot: a party's log key named
/// like another party's (in it, in an agreement held, or this node's own). A witness
/// keeps its state per log name, so a second log under a taken name could replace the
/// first one's state and have its genuine checkpoints refused. The first name holds;
/// an agreement that brings a second is refused.
fn log_name_taken(
    doc: &Agreement,
    own: &PartyDescriptor,
    held: &[crate::store::AgreementRecord],
) -> Option<String> {
    let mut names: Vec<(String, String)> = Vec::new();
    if let Some(n) = &own.node {
        names.push((log_name(&n.log_verifier_key).to_string(), own.party.clone()));
    }
    for rec in held {
        let Ok(a) = Agreement::parse(&rec.document) else {
            continue;
        };
        for p in &a.body.parties {
            if let Some(k) = p.node.as_ref().and_then(|n| n.log_verifier_key.as_deref()) {
                names.push((log_name(k).to_string(), p.code.clone()));
            }
        }
    }
    for p in &doc.body.parties {
        let Some(k) = p.node.as_ref().and_then(|n| n.log_verifier_key.as_deref()) else {
            continue;
        };
        let name = log_name(k);
        if let Some((_, other)) = names.iter().find(|(n, code)| n == name && *code != p.code) {
            return Some(format!(
                "agreement {} gives {}'s audit log the name {name}, which {other}'s log has: a witness could not tell the two apart",
                doc.body.id, p.code
            ));
        }
        names.push((name.to_string(), p.code.clone()));
    }
    None
}

/// Why an agreement document is not one to work under at `at`, if it is not: a draft
/// that not every party has signed (`accord agreement load` without `--draft`, and the
/// console, refuse it). A document that does not read or verify says so at
/// [`load`].
pub fn not_signed_by_all(text: &str, at: accord_agreement::Time) -> Option<String> {
    use accord_agreement::Status;
    let doc = Agreement::parse(text).ok()?;
    let report = accord_agreement::status(&doc, at).ok()?;
    match report.status {
        Status::Draft | Status::Approved => Some(format!(
            "agreement {} is a draft ({}: {}), not loaded: a node works under an agreement every party has signed; give --draft to load it anyway (it decides nothing until then)",
            doc.body.id,
            report.status.as_str(),
            report.reasons.join("; ")
        )),
        _ => None,
    }
}

/// Verify `text` (TOML or JSON) and store it for the node whose party descriptor is
/// `own`: it must verify, and name `own`'s party with `own`'s keys
/// ([`own_party_mismatch`]).
pub async fn load(
    store: &Store,
    own: &PartyDescriptor,
    history: &KeyHistory,
    text: &str,
) -> Result<Loaded, Error> {
    let doc = Agreement::parse(text)?;
    let findings = accord_agreement::verify(&doc);
    if !findings.is_empty() {
        let list: Vec<String> = findings.iter().map(|f| format!("  - {f}")).collect();
        return Err(Error::Refused(format!(
            "agreement {} does not verify, not loaded:\n{}",
            doc.body.id,
            list.join("\n")
        )));
    }
    let held = store.agreements().await?;
    let copy = match held.iter().any(|a| a.id == doc.body.id) {
        true => Copy::Held,
        false => Copy::New,
    };
    let checked = Checked::from_findings(&doc, Vec::new());
    if let Some(why) = own_party_mismatch(&checked, own, history, copy) {
        return Err(Error::Refused(format!("{why}; not loaded")));
    }
    if let Some(why) = log_name_taken(&doc, own, &held) {
        return Err(Error::Refused(format!("{why}; not loaded")));
    }
    let id = doc.body.id.clone();
    let mut outcome = "new";
    let mut known = 0;
    if let Some(old) = held.into_iter().find(|a| a.id == id) {
        let old = Agreement::parse(&old.document)?;
        if old.body != doc.body {
            return Err(Error::Refused(format!(
                "a different agreement with id {id} is already loaded (its body differs); a renewal needs a new id naming {id} as predecessor"
            )));
        }
        if let Some(i) = (0..old.records.len().min(doc.records.len()))
            .find(|&i| doc.records[i] != old.records[i])
        {
            let (held_r, offered_r) = (&old.records[i], &doc.records[i]);
            let digest = |r: &accord_agreement::Record| r.digest().unwrap_or_default();
            if held_r.party != offered_r.party {
                // Two parties each added a record to the same copy: a race, not a
                // forgery. The later one is rebuilt on the copy held.
                return Err(Error::Refused(format!(
                    "agreement {id}: record {} of this copy ({}, by {}) was added where the copy held has {}'s record ({}): both parties added a record to the same copy; {} adds its record again to the copy held (its node receives that copy over federation); not loaded",
                    i + 1,
                    offered_r.kind.name(),
                    offered_r.party,
                    held_r.party,
                    held_r.kind.name(),
                    offered_r.party,
                )));
            }
            // Both copies verify, so the party that signed the offered record also
            // signed another one at the same place: two histories under one key.
            return Err(Error::Refused(format!(
                "agreement {id}: equivocation: record {} of this copy ({}, signed by {}, digest {}) differs from the one held ({}, by {}, digest {}); both verify, so two histories were signed where one may be: whoever signed the second holds that party's key; not loaded",
                i + 1,
                offered_r.kind.name(),
                offered_r.party,
                digest(offered_r),
                held_r.kind.name(),
                held_r.party,
                digest(held_r),
            )));
        }
        if doc.records.len() < old.records.len() {
            return Err(Error::Refused(format!(
                "agreement {id}: this copy does not extend the one loaded ({} records held; a later copy keeps them all and adds more)",
                old.records.len()
            )));
        }
        outcome = if doc.records.len() == old.records.len() {
            "unchanged"
        } else {
            "replaced"
        };
        known = old.records.len();
    }
    // The records this copy brings, none dated ahead of this node's clock.
    let now = accord_agreement::Time::now();
    for (i, r) in doc.records.iter().enumerate().skip(known) {
        if let Some(why) = accord_agreement::dated_ahead(r.time, now) {
            return Err(Error::Refused(format!(
                "agreement {id}: record {} ({}, by {}): {why}; not loaded",
                i + 1,
                r.kind.name(),
                r.party
            )));
        }
    }
    let json = String::from_utf8(doc.to_canonical_json()?)
        .map_err(|_| Error::Input("agreement JSON is not UTF-8".into()))?;
    if outcome != "unchanged" {
        let held = (outcome == "replaced").then_some(known as i64);
        let stored = store
            .put_agreement(
                &id,
                &json,
                &doc.body.digest()?,
                doc.records.len() as i64,
                held,
            )
            .await?;
        if !stored {
            return Err(Error::Refused(format!(
                "agreement {id}: another copy was stored while this one was being loaded (a partner's record, say); this copy was checked against the one held before, so it is not loaded: load it again"
            )));
        }
    }
    Ok(Loaded {
        id,
        version: doc.body.version,
        outcome,
        records: doc.records.len(),
        parties: doc.body.parties.iter().map(|p| p.code.clone()).collect(),
    })
}

/// The agreements the node with party descriptor `own` holds, in its database's order
/// (by id), each verified. One loaded before `load` checked that it names `own`'s
/// party with its keys is left out, with a warning: the node does not use it.
pub async fn held(
    store: &Store,
    own: &PartyDescriptor,
    history: &KeyHistory,
) -> Result<Vec<Held>, Error> {
    let mut held = Vec::new();
    for rec in store.agreements().await? {
        let agreement = Agreement::parse(&rec.document)?;
        let findings = accord_agreement::verify(&agreement);
        let checked = Checked::from_findings(&agreement, findings.clone());
        if let Some(why) = own_party_mismatch(&checked, own, history, Copy::Held) {
            tracing::warn!(agreement = %rec.id, "{why}; not used");
            continue;
        }
        held.push(Held {
            agreement,
            findings,
        });
    }
    Ok(held)
}

/// Each agreement held with its status at `at`, as `accord agreement list` and
/// `GET /v1/status` show them: one that does not verify is `invalid`, with its
/// findings as the reasons.
pub fn states(
    held: &[Held],
    at: accord_agreement::Time,
) -> Vec<accord_node_api::wire::AgreementState> {
    held.iter()
        .map(|h| {
            let b = &h.agreement.body;
            use accord_node_api::wire::{Reason, Rule};
            let (status, reasons) = match h.checked().status(at) {
                Ok(r) => (
                    r.status.as_str().to_string(),
                    r.reasons
                        .into_iter()
                        .map(|t| Reason::new(accord_agreement::Rule::AgreementInForce, t))
                        .collect(),
                ),
                Err(e) => (
                    "invalid".to_string(),
                    e.findings
                        .iter()
                        .map(|f| Reason::new(Rule::AgreementValid, f.to_string()))
                        .collect(),
                ),
            };
            accord_node_api::wire::AgreementState {
                id: b.id.clone(),
                version: b.version,
                title: b.title.clone(),
                status,
                reasons,
                parties: b.parties.iter().map(|p| p.code.clone()).collect(),
                scopes: b.scopes.iter().map(|s| s.as_str().to_string()).collect(),
                ceiling: b.ceiling.clone(),
                effective_from: b.effective_from.to_string(),
                expires: b.expires.to_string(),
            }
        })
        .collect()
}

/// The agreements held, re-read from the database when it changed.
pub struct Cache {
    version: (i64, i64),
    /// The generation of the node's own keys when last read: which agreements the
    /// node takes depends on its keys, so a rotation re-reads them.
    keys: u64,
    held: Arc<Vec<Held>>,
    checked_at: std::time::Instant,
}

impl Cache {
    /// Empty.
    pub fn new() -> Cache {
        Cache {
            version: (-1, -1),
            keys: u64::MAX,
            held: Arc::new(Vec::new()),
            checked_at: std::time::Instant::now() - std::time::Duration::from_secs(60),
        }
    }

    /// The current set for the node whose own keys `own` gives (`own(true)`: read from
    /// their files now; `own(false)`: as looked at every 200 ms). An agreement held that
    /// does not name the node's party with its keys (one loaded before `load` checked
    /// that) is left out, with a warning. Asks the database at most every 200 ms whether
    /// it changed, and reads the set again when it did or the keys did.
    ///
    /// When the database changed, the keys are read from their files at that moment. A
    /// rotation lists its new key in the key history before it amends a copy, so keys
    /// read after the amended copy was seen name the new key. Keys read earlier would
    /// leave that copy out as not the node's, and for as long as it was out a partner's
    /// delivery would be refused and this node's own deliveries stopped.
    pub async fn get(
        &mut self,
        store: &Store,
        own: impl Fn(bool) -> Arc<crate::own_keys::OwnKeys>,
    ) -> Result<Arc<Vec<Held>>, Error> {
        let mut keys = own(false);
        if keys.generation == self.keys
            && self.checked_at.elapsed() < std::time::Duration::from_millis(200)
        {
            return Ok(self.held.clone());
        }
        let v = store.agreements_version().await?;
        if v != self.version {
            keys = own(true);
        }
        if v != self.version || keys.generation != self.keys {
            self.held = Arc::new(held(store, &keys.party, &keys.history).await?);
            self.version = v;
            self.keys = keys.generation;
        }
        self.checked_at = std::time::Instant::now();
        Ok(self.held.clone())
    }
}

impl Default for Cache {
    fn default() -> Self {
        Cache::new()
    }
}
