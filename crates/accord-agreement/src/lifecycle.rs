//! The lifecycle: adding signed records, verifying a history, and computing the status
//! at a time from the records alone (status is never stored).
//!
//! draft → approved (every party's internal approval) → signed by each party
//! (countersigned when all have signed) → in force (countersigned and within
//! effective-from .. expires) → expired, or terminated (a signed notice by any party,
//! with an effective time) → renewed (a new agreement naming its predecessor).

use crate::amendment::{KeyBook, KeyKind, NewKey};
use crate::document::{Agreement, Body, KasKey, Party, Predecessor, Record, RecordKind};
use crate::signature::{self, Signer};
use crate::{Error, Time};
use serde::Serialize;
use std::fmt;

/// How far ahead of the clock a new record may be dated, seconds.
const MAX_AHEAD_SECS: i64 = 300;

/// Why a record dated `time` may not be added at `now`, if it may not: it is in the
/// future. A record is dated when it is signed; one dated ahead would also bar every
/// other party's records until then (no record may be dated before the last), so that
/// a party could hold back the other's termination. Appending a record and a node
/// taking a copy with new records both ask this.
pub fn dated_ahead(time: Time, now: Time) -> Option<String> {
    (time.unix() > now.unix() + MAX_AHEAD_SECS).then(|| {
        format!(
            "the record time {time} is in the future: a record is dated when it is signed (a later record could not be dated before it)"
        )
    })
}

/// One problem found verifying a document, in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The record concerned (0-based), or `None` for the document as a whole.
    pub record: Option<usize>,
    /// What is wrong.
    pub problem: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.record {
            Some(i) => write!(f, "record {}: {}", i + 1, self.problem),
            None => f.write_str(&self.problem),
        }
    }
}

/// Verify every record of the document: chained in order, signed by a party to the
/// agreement with both halves of its hybrid key, and in an order the lifecycle allows.
/// An empty list means the document is valid.
pub fn verify(doc: &Agreement) -> Vec<Finding> {
    let mut findings = Vec::new();
    let body_digest = match doc.body.digest() {
        Ok(d) => d,
        Err(e) => {
            findings.push(Finding {
                record: None,
                problem: e.to_string(),
            });
            return findings;
        }
    };
    if let Some(p) = &doc.body.predecessor {
        if doc.body.effective_from < p.ends {
            findings.push(Finding {
                record: None,
                problem: format!(
                    "the renewal takes effect on {} and overlaps its predecessor {} version {}, which ends on {}",
                    doc.body.effective_from, p.id, p.version, p.ends
                ),
            });
        }
    }
    let mut expected_previous = body_digest.clone();
    let mut state = State::new(&doc.body);
    let mut last_time: Option<Time> = None;
    for (i, r) in doc.records.iter().enumerate() {
        let mut say = |problem: String| {
            findings.push(Finding {
                record: Some(i),
                problem: format!("({} by {}) {problem}", r.kind.name(), r.party),
            })
        };
        if r.previous != expected_previous {
            say(format!(
                "does not follow {} (the chain of records is broken: a record was changed, removed, inserted or moved)",
                if i == 0 { "the agreement body".to_string() } else { format!("record {i}") }
            ));
        }
        match r.digest() {
            Ok(d) => expected_previous = d,
            Err(e) => say(e.to_string()),
        }
        // The party's signing keys in force at this point of the history: the body's,
        // or those of its last signing amendment.
        let Some(keys) = state.keys.signing_keys(&r.party).cloned() else {
            say(format!(
                "{} is not a party to the agreement (parties: {})",
                r.party,
                doc.body.party_codes()
            ));
            continue;
        };
        // A record whose signatures fail changes nothing: a forged signing amendment
        // must not decide which key later records are checked against.
        let mut signed = true;
        match r.message(&body_digest) {
            Ok(msg) => {
                if let Err(problem) = signature::verify(&keys, &msg, &r.signature) {
                    signed = false;
                    // Once a party has changed its signing key, say which one is in force:
                    // a record signed with the old key is the likely mistake.
                    let whose = match state.keys.current(&r.party, KeyKind::Signing).first() {
                        Some(e) if e.record.is_some() => format!(
                            " ({}'s signing key in force is {}…, from record {})",
                            r.party,
                            &keys.kids().0[..16],
                            e.record.map_or(0, |i| i + 1)
                        ),
                        _ => String::new(),
                    };
                    say(format!("signature of {}: {problem}{whose}", r.party));
                }
                if let RecordKind::Amend {
                    new:
                        NewKey::Signing {
                            keys: new_keys,
                            new_signature,
                        },
                    ..
                } = &r.kind
                {
                    if let Err(problem) = signature::verify(new_keys, &msg, new_signature) {
                        signed = false;
                        say(format!(
                            "new-signature (the new signing key's, over the same record): {problem}"
                        ));
                    }
                }
            }
            Err(e) => {
                signed = false;
                say(e.to_string())
            }
        }
        if let Some(last) = last_time {
            if r.time < last {
                say(format!(
                    "is dated {}, before the record it follows ({}): records out of order",
                    r.time, last
                ));
            }
        }
        last_time = Some(last_time.map_or(r.time, |l| l.max(r.time)));
        if !signed {
            continue;
        }
        if let Err(problem) = state.apply(&doc.body, i, r) {
            say(problem);
        }
    }
    findings
}

/// What the records say so far.
#[derive(Debug, Clone)]
struct State {
    approved: Vec<(String, Time, String)>,
    signed: Vec<(String, Time)>,
    terminations: Vec<(String, Time, Time)>,
    /// Each party's keys, as the amendments so far made them.
    keys: KeyBook,
}

impl State {
    fn new(body: &Body) -> State {
        State {
            approved: Vec::new(),
            signed: Vec::new(),
            terminations: Vec::new(),
            keys: KeyBook::new(body),
        }
    }

    /// Whether an amendment signed at `time` comes while the agreement stands:
    /// countersigned, not expired, no termination in effect. Before, keys are changed
    /// by redrafting; after, there is nothing left to amend.
    fn amendable(&self, body: &Body, time: Time) -> Result<(), String> {
        if self.countersigned(body).is_none() {
            return Err(
                "an amendment of an agreement that is not countersigned: change a draft's keys by redrafting it".into(),
            );
        }
        if time >= body.expires {
            return Err(format!(
                "an amendment signed {time}, after the agreement expired ({})",
                body.expires
            ));
        }
        if let Some((party, _, effective)) = self.termination() {
            if *effective <= time {
                return Err(format!(
                    "an amendment signed {time}, after {party}'s termination took effect ({effective})"
                ));
            }
        }
        Ok(())
    }

    fn approved_by(&self, code: &str) -> bool {
        self.approved.iter().any(|(c, _, _)| c == code)
    }
    fn signed_by(&self, code: &str) -> bool {
        self.signed.iter().any(|(c, _)| c == code)
    }
    fn all_approved(&self, body: &Body) -> bool {
        body.parties.iter().all(|p| self.approved_by(&p.code))
    }
    fn countersigned(&self, body: &Body) -> Option<Time> {
        if body.parties.iter().all(|p| self.signed_by(&p.code)) {
            self.signed.iter().map(|(_, t)| *t).max()
        } else {
            None
        }
    }
    /// The earliest termination: (party, notice time, effective time).
    fn termination(&self) -> Option<&(String, Time, Time)> {
        self.terminations.iter().min_by_key(|(_, _, eff)| *eff)
    }

    /// Apply record `index`, or say why the lifecycle does not allow it here.
    fn apply(&mut self, body: &Body, index: usize, r: &Record) -> Result<(), String> {
        let code = r.party.clone();
        match &r.kind {
            RecordKind::Approve { reference } => {
                if self.approved_by(&code) {
                    return Err(format!("{code} has already approved the agreement"));
                }
                if self.countersigned(body).is_some() {
                    return Err(
                        "approval after the agreement was countersigned: records out of order"
                            .into(),
                    );
                }
                self.approved.push((code, r.time, reference.clone()));
            }
            RecordKind::Sign => {
                if !self.approved_by(&code) {
                    return Err(format!(
                        "{code} signed before approving the agreement: records out of order"
                    ));
                }
                if self.signed_by(&code) {
                    return Err(format!("{code} has already signed the agreement"));
                }
                self.signed.push((code, r.time));
            }
            RecordKind::Terminate { effective } => {
                if self.countersigned(body).is_none() {
                    return Err(
                        "termination of an agreement that is not countersigned: records out of order".into(),
                    );
                }
                if *effective < r.time {
                    return Err(format!(
                        "termination takes effect on {effective}, before the notice was signed ({}); a termination cannot be backdated",
                        r.time
                    ));
                }
                self.terminations.push((code, r.time, *effective));
            }
            RecordKind::Amend {
                key,
                effective,
                grace_until,
                replaces,
                new,
                ..
            } => {
                self.amendable(body, r.time)?;
                self.keys.amend(
                    index,
                    &code,
                    r.time,
                    *key,
                    *effective,
                    *grace_until,
                    replaces,
                    new,
                )?;
            }
            RecordKind::Revoke {
                key,
                kid,
                compromised,
                reason,
            } => {
                self.amendable(body, r.time)?;
                self.keys
                    .revoke(index, &code, r.time, *key, kid, *compromised, reason)?;
            }
        }
        Ok(())
    }
}

/// The new key of an amendment, as [`Agreement::amend`] takes it.
pub enum KeyChange<'a> {
    /// New signing keys: the signer of the new keys, which signs the amendment too.
    Signing(&'a dyn Signer),
    /// The node's new set of online KAS keys.
    Kas(Vec<KasKey>),
    /// The party's new set of offline KAS keys.
    OfflineKas(Vec<KasKey>),
    /// The node's new TLS pin (SHA-256 of the SPKI, hex), and its URL if it moves.
    Tls {
        /// The pin.
        spki_sha256: String,
        /// The new URL.
        url: Option<String>,
    },
    /// The node's new log verifier key.
    Log(String),
    /// The node's new witness verifier key.
    Witness(String),
}

impl<'a> KeyChange<'a> {
    #[allow(clippy::type_complexity)]
    fn into_new_key(self) -> Result<(KeyKind, NewKey, Option<&'a dyn Signer>), Error> {
        Ok(match self {
            KeyChange::Signing(s) => (
                KeyKind::Signing,
                NewKey::Signing {
                    keys: s.public_keys()?,
                    new_signature: crate::signature::HybridSignature {
                        ecdsa_p384: Vec::new(),
                        ml_dsa_87: Vec::new(),
                    },
                },
                Some(s),
            ),
            KeyChange::Kas(k) => (KeyKind::Kas, NewKey::Kas(k), None),
            KeyChange::OfflineKas(k) => (KeyKind::OfflineKas, NewKey::Kas(k), None),
            KeyChange::Tls { spki_sha256, url } => {
                (KeyKind::Tls, NewKey::Tls { spki_sha256, url }, None)
            }
            KeyChange::Log(v) => (KeyKind::Log, NewKey::Verifier(v), None),
            KeyChange::Witness(v) => (KeyKind::Witness, NewKey::Verifier(v), None),
        })
    }
}

/// The status of an agreement at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Not every party has approved it.
    Draft,
    /// Every party approved; not every party has signed.
    Approved,
    /// Every party signed, but it has not taken effect yet.
    Countersigned,
    /// Countersigned, and the time is within effective-from .. expires.
    InForce,
    /// Past its expiry.
    Expired,
    /// A termination notice has taken effect.
    Terminated,
}

impl Status {
    /// The name printed by `accord agreement status` (`in-force`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Approved => "approved",
            Status::Countersigned => "countersigned",
            Status::InForce => "in-force",
            Status::Expired => "expired",
            Status::Terminated => "terminated",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status with the reasons for it, in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusReport {
    /// The status.
    pub status: Status,
    /// Why.
    pub reasons: Vec<String>,
    /// When every party had signed (the latest signature), by the records at or before
    /// the time asked; `None` when not every party had.
    pub countersigned: Option<Time>,
}

/// The document does not verify: the findings say where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("agreement {id} does not verify: {}", .findings.iter().map(|f| f.to_string()).collect::<Vec<_>>().join("; "))]
pub struct Invalid {
    /// The agreement's id.
    pub id: String,
    /// What is wrong.
    pub findings: Vec<Finding>,
}

/// The status at `at`, computed from the records signed at or before `at`.
/// A document that does not verify has no status.
pub fn status(doc: &Agreement, at: Time) -> Result<StatusReport, Invalid> {
    let findings = verify(doc);
    if !findings.is_empty() {
        return Err(Invalid {
            id: doc.body.id.clone(),
            findings,
        });
    }
    Ok(status_of_valid(doc, at))
}

/// An agreement with its verification done once: a node checks an agreement when it
/// loads it, then decides many requests under it without verifying every signature
/// again (a decision is then a table lookup, not eight signature verifications).
#[derive(Debug, Clone)]
pub struct Checked<'a> {
    agreement: &'a Agreement,
    findings: Vec<Finding>,
}

impl<'a> Checked<'a> {
    /// Verify `agreement` and keep the findings.
    pub fn new(agreement: &'a Agreement) -> Self {
        Checked {
            agreement,
            findings: verify(agreement),
        }
    }

    /// Rebuild from the findings an earlier [`Checked::new`] of this same agreement
    /// produced: a node verifies an agreement once, when it loads it, keeps the
    /// findings, and decides thousands of requests a second under it. Passing findings
    /// of another document defeats the check; the caller owns that invariant.
    pub fn from_findings(agreement: &'a Agreement, findings: Vec<Finding>) -> Self {
        Checked {
            agreement,
            findings,
        }
    }

    /// The agreement.
    pub fn agreement(&self) -> &'a Agreement {
        self.agreement
    }

    /// What verification found (empty when valid).
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }

    /// The parties with their keys as they stand at `at`: the body's, with every key
    /// amendment that has taken effect by then put in. This is what a node seals to,
    /// connects to and checks receipts with; the body alone would be the keys of the
    /// day it was signed. An agreement that does not verify gives the body's parties
    /// (it decides nothing anyway, the decision says why).
    pub fn parties_at(&self, at: Time) -> Vec<Party> {
        let mut parties = self.agreement.body.parties.clone();
        if !self.findings.is_empty() {
            return parties;
        }
        for r in &self.agreement.records {
            if let RecordKind::Amend {
                key,
                effective,
                new,
                ..
            } = &r.kind
            {
                if *effective <= at {
                    if let Some(p) = parties.iter_mut().find(|p| p.code == r.party) {
                        crate::amendment::put_key(p, *key, new);
                    }
                }
            }
        }
        parties
    }

    /// The party `code` with its keys as they stand at `at` (see [`Checked::parties_at`]).
    pub fn party_at(&self, code: &str, at: Time) -> Option<Party> {
        self.parties_at(at).into_iter().find(|p| p.code == code)
    }

    /// The ids of every key of `kind` that `code` has had under this agreement, the
    /// body's and every amendment's, in force or not: an object sealed to a KAS key
    /// before its rotation is still that party's to open.
    pub fn key_ids(&self, code: &str, kind: KeyKind) -> Vec<String> {
        let mut ids = crate::amendment::body_ids(&self.agreement.body, code, kind);
        if self.findings.is_empty() {
            for r in &self.agreement.records {
                if let RecordKind::Amend { key, new, .. } = &r.kind {
                    if r.party == code && *key == kind {
                        ids.extend(new.ids());
                    }
                }
            }
        }
        ids
    }

    /// Every signing key `code` has had under this agreement, the body's first, then
    /// each signing amendment's, the current one last. A label or receipt signed before
    /// a rotation still verifies under the key that signed it; whether that key was
    /// revoked since is the decision's to say.
    pub fn signing_keys_of(&self, code: &str) -> Vec<crate::SigningKeys> {
        let mut keys: Vec<crate::SigningKeys> = self
            .agreement
            .body
            .party(code)
            .map(|p| p.signing_keys.clone())
            .into_iter()
            .collect();
        if self.findings.is_empty() {
            for r in &self.agreement.records {
                if let RecordKind::Amend {
                    new: NewKey::Signing { keys: k, .. },
                    ..
                } = &r.kind
                {
                    if r.party == code {
                        keys.push(k.clone());
                    }
                }
            }
        }
        keys
    }

    /// The ids of `code`'s keys of `kind` that partners accept at `at`: the key in
    /// force, and one an amendment replaced while the grace period it gave still runs,
    /// neither revoked as compromised by then ([`KeyBook::in_force`], the one rule).
    /// A document that does not verify has only its body's keys.
    pub fn accepted_key_ids(&self, code: &str, kind: KeyKind, at: Time) -> Vec<String> {
        if !self.findings.is_empty() {
            return crate::amendment::body_ids(&self.agreement.body, code, kind);
        }
        self.agreement
            .state_at(None)
            .keys
            .in_force(code, kind, at)
            .into_iter()
            .map(|e| e.id.clone())
            .collect()
    }

    /// The verifier keys (C2SP `name+hash+key`) of `code`'s log or witness keys that
    /// partners accept at `at`, as [`Checked::accepted_key_ids`] chooses them: the key
    /// in force and one still in its grace period. A witness key the agreement never
    /// pinned gives none.
    pub fn accepted_verifier_keys(&self, code: &str, kind: KeyKind, at: Time) -> Vec<String> {
        let ids = self.accepted_key_ids(code, kind, at);
        let mut all: Vec<String> = Vec::new();
        if kind == KeyKind::Log {
            let body_key = self
                .agreement
                .body
                .party(code)
                .and_then(|p| p.node.as_ref().and_then(|n| n.log_verifier_key.clone()));
            all.extend(body_key);
        }
        if self.findings.is_empty() {
            for r in &self.agreement.records {
                if let RecordKind::Amend {
                    key,
                    new: NewKey::Verifier(v),
                    ..
                } = &r.kind
                {
                    if r.party == code && *key == kind {
                        all.push(v.clone());
                    }
                }
            }
        }
        all.into_iter()
            .filter(|v| ids.contains(&crate::amendment::verifier_key_id(v)))
            .collect()
    }

    /// The revocation of `code`'s key `kid` of `kind`, when a valid `revoke` record of
    /// this agreement declares it compromised (a document that does not verify
    /// declares nothing). The key is named by its id, so the answer holds whichever
    /// agreement an object names: a compromised key is compromised everywhere.
    pub fn revocation(
        &self,
        code: &str,
        kind: KeyKind,
        kid: &str,
    ) -> Option<crate::amendment::Revocation> {
        if !self.findings.is_empty() {
            return None;
        }
        self.agreement
            .records
            .iter()
            .enumerate()
            .find_map(|(i, r)| match &r.kind {
                RecordKind::Revoke {
                    key,
                    kid: k,
                    compromised,
                    reason,
                } if r.party == code && *key == kind && k == kid => {
                    Some(crate::amendment::Revocation {
                        compromised: *compromised,
                        record: i,
                        reason: reason.clone(),
                    })
                }
                _ => None,
            })
    }

    /// The status at `at`, as [`status`] computes it.
    pub fn status(&self, at: Time) -> Result<StatusReport, Invalid> {
        if self.findings.is_empty() {
            Ok(status_of_valid(self.agreement, at))
        } else {
            Err(Invalid {
                id: self.agreement.body.id.clone(),
                findings: self.findings.clone(),
            })
        }
    }
}

fn status_of_valid(doc: &Agreement, at: Time) -> StatusReport {
    let body = &doc.body;
    let id = &body.id;
    // Verified already.
    let state = doc.state_at(Some(at));
    let mut reasons = Vec::new();
    let countersigned = state.countersigned(body);
    if let Some((party, notice, effective)) = state.termination() {
        if *effective <= at {
            reasons.push(format!(
                "agreement {id} was terminated by {party} with effect from {effective} (notice signed {notice})"
            ));
            return StatusReport {
                countersigned,
                status: Status::Terminated,
                reasons,
            };
        }
    }
    if at >= body.expires {
        reasons.push(format!("agreement {id} expired on {}", body.expires));
        if countersigned.is_none() {
            reasons.push(format!("agreement {id} was never countersigned"));
        }
        return StatusReport {
            countersigned,
            status: Status::Expired,
            reasons,
        };
    }
    if let Some(when) = countersigned {
        if at < body.effective_from {
            reasons.push(format!(
                "agreement {id} was countersigned on {when} but is not yet in force: it takes effect on {}",
                body.effective_from
            ));
            return StatusReport {
                countersigned,
                status: Status::Countersigned,
                reasons,
            };
        }
        reasons.push(format!(
            "agreement {id} was countersigned on {when} and is in force from {} until {}",
            body.effective_from, body.expires
        ));
        if let Some((party, _, effective)) = state.termination() {
            reasons.push(format!(
                "{party} has given notice of termination with effect from {effective}"
            ));
        }
        return StatusReport {
            countersigned,
            status: Status::InForce,
            reasons,
        };
    }
    let missing = |pred: &dyn Fn(&str) -> bool| -> String {
        body.parties
            .iter()
            .filter(|p| !pred(&p.code))
            .map(|p| p.code.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if state.all_approved(body) {
        reasons.push(format!(
            "agreement {id} is approved by every party but not countersigned: awaiting the signature of {}",
            missing(&|c| state.signed_by(c))
        ));
        for (code, t) in &state.signed {
            reasons.push(format!("signed by {code} on {t}"));
        }
        StatusReport {
            countersigned,
            status: Status::Approved,
            reasons,
        }
    } else {
        reasons.push(format!(
            "agreement {id} is a draft: awaiting the approval of {}",
            missing(&|c| state.approved_by(c))
        ));
        for (code, t, reference) in &state.approved {
            reasons.push(format!("approved by {code} on {t} ({reference})"));
        }
        StatusReport {
            countersigned,
            status: Status::Draft,
            reasons,
        }
    }
}

impl Agreement {
    /// What the records say, applied in order (a valid document's).
    fn state(&self) -> State {
        self.state_at(None)
    }

    /// What the records signed at or before `at` (all, for `None`) say, applied in
    /// order; on a valid document `apply` cannot fail.
    fn state_at(&self, at: Option<Time>) -> State {
        let mut state = State::new(&self.body);
        for (i, r) in self.records.iter().enumerate() {
            if at.is_none_or(|at| r.time <= at) {
                let _ = state.apply(&self.body, i, r);
            }
        }
        state
    }

    /// The key epochs of every party as the records signed at or before `known_at`
    /// make them: which keys each party has had, since when, until when, and which are
    /// revoked. A document that does not verify has none.
    pub fn key_book(&self, known_at: Time) -> Result<KeyBook, Invalid> {
        let findings = verify(self);
        if !findings.is_empty() {
            return Err(Invalid {
                id: self.body.id.clone(),
                findings,
            });
        }
        Ok(self.state_at(Some(known_at)).keys)
    }

    /// The party whose signing keys in force are the signer's, or an error naming the
    /// parties.
    fn signing_party(&self, signer: &dyn Signer) -> Result<String, Error> {
        let keys = signer.public_keys()?;
        self.state()
            .keys
            .party_signing_with(&keys)
            .map(str::to_string)
            .ok_or_else(|| {
                Error::Lifecycle(format!(
                    "the key given is not the signing key of any party to agreement {} (parties: {})",
                    self.body.id,
                    self.body.party_codes()
                ))
            })
    }

    fn append(
        &mut self,
        signer: &dyn Signer,
        kind: RecordKind,
        at: Time,
    ) -> Result<&Record, Error> {
        self.append_with(signer, None, kind, at)
    }

    /// Append a record signed by `signer` (and, for a signing amendment, by
    /// `new_signer` too).
    fn append_with(
        &mut self,
        signer: &dyn Signer,
        new_signer: Option<&dyn Signer>,
        kind: RecordKind,
        at: Time,
    ) -> Result<&Record, Error> {
        let findings = verify(self);
        if !findings.is_empty() {
            return Err(Error::Lifecycle(
                Invalid {
                    id: self.body.id.clone(),
                    findings,
                }
                .to_string(),
            ));
        }
        if let Some(why) = dated_ahead(at, Time::now()) {
            return Err(Error::Lifecycle(why));
        }
        let party = self.signing_party(signer)?;
        let body_digest = self.body.digest()?;
        let previous = match self.records.last() {
            Some(r) => {
                if at < r.time {
                    return Err(Error::Lifecycle(format!(
                        "the record time {at} is before the last record's time {}",
                        r.time
                    )));
                }
                r.digest()?
            }
            None => body_digest.clone(),
        };
        let mut record = Record {
            kind,
            party,
            time: at,
            previous,
            signature: crate::signature::HybridSignature {
                ecdsa_p384: Vec::new(),
                ml_dsa_87: Vec::new(),
            },
        };
        let mut state = self.state();
        state
            .apply(&self.body, self.records.len(), &record)
            .map_err(Error::Lifecycle)?;
        let message = record.message(&body_digest)?;
        record.signature = signer.sign(&message)?;
        if let RecordKind::Amend {
            new:
                NewKey::Signing {
                    new_signature,
                    keys,
                },
            ..
        } = &mut record.kind
        {
            let new_signer = new_signer.ok_or_else(|| {
                Error::Lifecycle("a new signing key signs its own amendment: give it".into())
            })?;
            if new_signer.public_keys()? != *keys {
                return Err(Error::Lifecycle(
                    "the new signer's keys are not the keys the amendment brings in".into(),
                ));
            }
            *new_signature = new_signer.sign(&message)?;
        }
        self.records.push(record);
        Ok(self.records.last().expect("just pushed"))
    }

    /// Record the signer's party's internal approval, citing `reference`.
    pub fn approve(
        &mut self,
        signer: &dyn Signer,
        reference: &str,
        at: Time,
    ) -> Result<&Record, Error> {
        if reference.trim().is_empty() || reference.len() > crate::reader::MAX_SHORT {
            return Err(Error::Lifecycle(
                "an approval needs a reference (such as the cabinet circulation summary), at most 1024 bytes".into(),
            ));
        }
        self.append(
            signer,
            RecordKind::Approve {
                reference: reference.to_string(),
            },
            at,
        )
    }

    /// Record the signer's party's signature of the agreement.
    pub fn sign(&mut self, signer: &dyn Signer, at: Time) -> Result<&Record, Error> {
        self.append(signer, RecordKind::Sign, at)
    }

    /// Record the signer's party's notice of termination, taking effect at `effective`.
    pub fn terminate(
        &mut self,
        signer: &dyn Signer,
        effective: Time,
        at: Time,
    ) -> Result<&Record, Error> {
        self.append(signer, RecordKind::Terminate { effective }, at)
    }

    /// Amend the signer's party's key of the kind `change` names: the new key takes
    /// effect at `effective` (at `at` for a signing key) and the old one, for tls, log
    /// and witness keys, stays accepted until `grace_until`. The record names the key it
    /// replaces (the party's current one). A new signing key signs too.
    pub fn amend(
        &mut self,
        signer: &dyn Signer,
        change: KeyChange<'_>,
        effective: Time,
        grace_until: Option<Time>,
        reason: &str,
        at: Time,
    ) -> Result<&Record, Error> {
        if reason.trim().is_empty() || reason.len() > crate::reader::MAX_SHORT {
            return Err(Error::Lifecycle(
                "an amendment gives its reason (\"scheduled rotation\"), at most 1024 bytes".into(),
            ));
        }
        let party = self.signing_party(signer)?;
        let (key, new, new_signer) = change.into_new_key()?;
        let replaces = self
            .state()
            .keys
            .current(&party, key)
            .first()
            .map(|e| e.id.clone())
            .unwrap_or_default();
        self.append_with(
            signer,
            new_signer,
            RecordKind::Amend {
                key,
                effective,
                grace_until,
                replaces,
                reason: reason.to_string(),
                new,
            },
            at,
        )
    }

    /// Revoke the signer's party's key `kid` of `key`, held compromised since
    /// `compromised`.
    pub fn revoke(
        &mut self,
        signer: &dyn Signer,
        key: KeyKind,
        kid: &str,
        compromised: Time,
        reason: &str,
        at: Time,
    ) -> Result<&Record, Error> {
        if reason.trim().is_empty() || reason.len() > crate::reader::MAX_SHORT {
            return Err(Error::Lifecycle(
                "a revocation gives its reason, at most 1024 bytes".into(),
            ));
        }
        self.append(
            signer,
            RecordKind::Revoke {
                key,
                kid: kid.to_string(),
                compromised,
                reason: reason.to_string(),
            },
            at,
        )
    }

    /// When the agreement ends according to its valid records: its expiry, or the
    /// effective time of a termination if earlier. `None` when it was never countersigned.
    pub fn ends(&self) -> Option<Time> {
        let state = self.state();
        state.countersigned(&self.body)?;
        Some(match state.termination() {
            Some((_, _, eff)) => (*eff).min(self.body.expires),
            None => self.body.expires,
        })
    }

    /// A renewal: a new draft with the same parties, scopes, ceiling, translations and
    /// terms, naming this agreement as its predecessor. It takes effect when this one
    /// ends (or at `effective`, which must not be earlier) and runs for `years`.
    pub fn renew(
        &self,
        years: u32,
        effective: Option<Time>,
        id: Option<String>,
    ) -> Result<Agreement, Error> {
        let findings = verify(self);
        if !findings.is_empty() {
            return Err(Error::Lifecycle(
                Invalid {
                    id: self.body.id.clone(),
                    findings,
                }
                .to_string(),
            ));
        }
        if self
            .records
            .iter()
            .any(|r| matches!(r.kind, RecordKind::Amend { .. } | RecordKind::Revoke { .. }))
        {
            return Err(Error::Lifecycle(format!(
                "agreement {} has key amendments, and a renewal copies the body's keys, some superseded or revoked since: draft the renewal with the parties' current party.json (accord agreement init)",
                self.body.id
            )));
        }
        let ends = self.ends().ok_or_else(|| {
            Error::Lifecycle(format!(
                "agreement {} was never countersigned; renew only an agreement all parties signed",
                self.body.id
            ))
        })?;
        if years == 0 || years > 100 {
            return Err(Error::Lifecycle("--years must be between 1 and 100".into()));
        }
        let effective_from = effective.unwrap_or(ends);
        if effective_from < ends {
            return Err(Error::Lifecycle(format!(
                "the renewal would take effect on {effective_from}, before its predecessor ends on {ends}"
            )));
        }
        let mut body = self.body.clone();
        body.predecessor = Some(Predecessor {
            id: self.body.id.clone(),
            version: self.body.version,
            digest: self.body.digest()?,
            ends,
        });
        body.version = self.body.version + 1;
        if let Some(id) = id {
            body.id = id;
        }
        body.effective_from = effective_from;
        body.expires = effective_from.plus_years(years)?;
        Agreement::draft(body)
    }
}

/// Check a renewal against the predecessor document itself: the predecessor verifies,
/// the renewal names it by digest, and the renewal starts no earlier than it ends.
pub fn verify_renewal(renewal: &Agreement, predecessor: &Agreement) -> Vec<Finding> {
    let mut findings = Vec::new();
    let say = |findings: &mut Vec<Finding>, p: String| {
        findings.push(Finding {
            record: None,
            problem: p,
        })
    };
    let Some(named) = &renewal.body.predecessor else {
        say(
            &mut findings,
            format!("agreement {} names no predecessor", renewal.body.id),
        );
        return findings;
    };
    for f in verify(predecessor) {
        say(
            &mut findings,
            format!("predecessor {}: {f}", predecessor.body.id),
        );
    }
    match predecessor.body.digest() {
        Ok(d) if d == named.digest && named.id == predecessor.body.id && named.version == predecessor.body.version => {}
        _ => say(
            &mut findings,
            format!(
                "the predecessor given ({} version {}) is not the one the renewal names ({} version {}, digest {})",
                predecessor.body.id, predecessor.body.version, named.id, named.version, named.digest
            ),
        ),
    }
    match predecessor.ends() {
        Some(ends) if renewal.body.effective_from < ends => say(
            &mut findings,
            format!(
                "the renewal takes effect on {} and overlaps its predecessor {}, which ends on {ends}",
                renewal.body.effective_from, predecessor.body.id
            ),
        ),
        Some(_) => {}
        None => say(
            &mut findings,
            format!("predecessor {} was never countersigned", predecessor.body.id),
        ),
    }
    findings
}
