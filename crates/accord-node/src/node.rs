//! A running node's state and its decisions: who is asking (by credential), what the
//! KAS releases (the full decision, made durable in the audit log first) and which
//! labels a person may apply when sealing through the node.

use crate::agreements::{Cache, Held};
use crate::cache::Generations;
use crate::home::Home;
use crate::store::{PersonRecord, Store};
use crate::wire::{self, Reason};
use crate::{pki, Error};
use accord_agreement::{Person, PersonStatus, Scope, Time};
use accord_keys::{KasPrivateKey, KasPublicKey, SigningKey, VerifyingKey};
use accord_log::Appender;
use accord_spif::{Clearance, Label, PolicySet};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rayon::prelude::*;
use serde::Serialize;
use std::sync::Arc;
use zeroize::Zeroizing;

/// The decision clock. The node uses the system clock; tests may set another (there is
/// no command-line or configuration way to do so).
pub type Clock = Arc<dyn Fn() -> Time + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(Time::now)
}

/// Who presented which certificate on a connection (set by the server per connection).
#[derive(Debug, Clone, Default)]
pub struct Peer {
    /// The client certificate DER, when one was presented.
    pub cert: Option<Arc<Vec<u8>>>,
}

/// A person recognised by their credential.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The directory record.
    pub record: PersonRecord,
    /// The credential's fingerprint.
    pub fingerprint: String,
    /// The credential's public key (uncompressed P-384 point).
    pub ec_point: Vec<u8>,
}

/// The refusal of a rewrap request issued more than [`wire::MAX_SKEW_SECS`] from this
/// node's clock (a person's, or one a partner node forwards): its nonce is kept only
/// for twice that, so an older request could otherwise be replayed.
pub(crate) fn stale(issued_at: i64) -> Option<Refusal> {
    let now = crate::store::unix_now();
    (issued_at.abs_diff(now) > wire::MAX_SKEW_SECS.unsigned_abs()).then(|| {
        Refusal::new(
            403,
            crate::wire::Rule::Request,
            format!(
                "the rewrap request was issued at {issued_at} but this node's clock says {now}: more than {} s apart (a stale or replayed request, or a wrong clock)",
                wire::MAX_SKEW_SECS
            ),
        )
    })
}

/// What a `label` audit entry records of a labelling decision.
struct Labelling<'a> {
    caller: &'a Caller,
    at: Time,
    permit: bool,
    /// The object's id (its policy uuid), once there is an object: at signing.
    object: Option<&'a str>,
    marking: Option<&'a str>,
    agreement: Option<&'a str>,
    request: Option<&'a str>,
}

/// A refusal: HTTP status, one line, and reasons.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// HTTP status.
    pub status: u16,
    /// One line.
    pub error: String,
    /// Reasons.
    pub reasons: Vec<Reason>,
    /// Whether the refusal is in the audit log already (a decision's deny entry): a
    /// route logs every other refusal of a known caller as it answers it.
    pub logged: bool,
}

impl Refusal {
    pub(crate) fn new(
        status: u16,
        rule: impl Into<wire::Rule>,
        text: impl Into<String>,
    ) -> Refusal {
        let text = text.into();
        Refusal {
            status,
            error: text.clone(),
            reasons: vec![Reason::new(rule, text)],
            logged: false,
        }
    }
    pub(crate) fn internal(e: impl std::fmt::Display) -> Refusal {
        Refusal {
            status: 500,
            error: format!("internal error: {e}"),
            reasons: vec![],
            logged: false,
        }
    }
}

/// An audit log entry: one JSON object per decision (never keys or plaintext).
#[derive(Debug, Serialize)]
pub struct AuditEntry<'a> {
    /// `rewrap`, `label`, `send`, `deliver` or `receive`.
    pub kind: &'a str,
    /// RFC 3339 time of the decision.
    pub time: String,
    /// The deciding party.
    pub party: &'a str,
    /// The person, when recognised.
    pub person: Option<&'a str>,
    /// The credential's SHA-256 fingerprint.
    pub credential: Option<&'a str>,
    /// `permit` or `deny`.
    pub decision: &'a str,
    /// The object id (policy uuid), when known.
    pub object: Option<&'a str>,
    /// The label's marking, when known.
    pub marking: Option<&'a str>,
    /// The agreement, when the object names one.
    pub agreement: Option<&'a str>,
    /// The request nonce (rewrap) or manifest digest (label).
    pub request: Option<&'a str>,
    /// The partner party of an exchange (send, deliver, receive).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partner: Option<&'a str>,
    /// Every reason.
    pub reasons: &'a [Reason],
}

impl AuditEntry<'_> {
    pub(crate) fn bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// The node.
pub struct Node {
    /// Configuration and policies.
    pub home: Home,
    /// The database.
    pub store: Store,
    kas: Vec<KasPrivateKey>,
    pub(crate) signing: SigningKey,
    pub(crate) appender: Appender,
    pub(crate) clock: Clock,
    agreements: tokio::sync::Mutex<Cache>,
    /// Wakes the delivery of the outbox when something is queued.
    pub(crate) outbox_ready: tokio::sync::Notify,
    /// HTTP clients to partner nodes.
    pub(crate) partner_clients: crate::partners::Clients,
    /// Serialises witness submissions from partners.
    pub(crate) witness_lock: tokio::sync::Mutex<()>,
    caches: Caches,
    /// Refusals of unrecognised callers that go into the audit log (rate-limited).
    pub(crate) strangers: crate::admission::StrangerLog,
}

/// Work whose result depends only on its inputs, kept so that an object opened again
/// (by the same or another person) costs no signature verification and no key
/// decapsulation: the decision itself, and its durable log entry, are still made for
/// every request. Bounded, in two generations (see [`crate::cache`]); shares are
/// zeroized when dropped.
struct Caches {
    /// Verified labels by SHA-256 of (trusted signer kids, manifest bytes).
    labels: std::sync::Mutex<Generations<Arc<CachedLabel>>>,
    /// Unwrapped shares by SHA-256 of (KAS kid, key access object, policy).
    shares: std::sync::Mutex<Generations<Zeroizing<Vec<u8>>>>,
}

impl Default for Caches {
    fn default() -> Self {
        Self {
            labels: std::sync::Mutex::new(Generations::new(MAX_CACHED_LABELS)),
            shares: std::sync::Mutex::new(Generations::new(MAX_CACHED_SHARES)),
        }
    }
}

/// A verified label and its label read under the node's policies.
type CachedLabel = (accord_tdf::VerifiedLabel, Label);

const MAX_CACHED_LABELS: usize = 4096;
const MAX_CACHED_SHARES: usize = 65536;

fn digest(parts: &[&[u8]]) -> [u8; 32] {
    let mut c = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for p in parts {
        c.update(&(p.len() as u64).to_be_bytes());
        c.update(p);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(c.finish().as_ref());
    out
}

pub(crate) fn convert(reasons: Vec<accord_agreement::Reason>) -> Vec<Reason> {
    reasons
        .into_iter()
        .map(|r| Reason::new(r.rule, r.text))
        .collect()
}

/// Who a rewrap is for: one of the node's people, or a partner's person vouched for by
/// the partner's node (cross-border rewrap).
pub(crate) struct Requester {
    /// The person's record, or why it could not be read.
    pub person: Result<PersonRecord, Reason>,
    /// The party asking on the person's behalf.
    pub party: String,
    /// The credential fingerprint (own people).
    pub credential: Option<String>,
    /// The partner node that forwarded the request.
    pub partner: Option<String>,
}

impl Requester {
    fn person_id(&self) -> Option<&str> {
        self.person.as_ref().ok().map(|r| r.id.as_str())
    }
}

/// What deciding an object needs besides the object.
#[derive(Clone, Copy)]
struct Context<'a> {
    person: &'a Result<Person, Reason>,
    requesting: &'a str,
    held: &'a [Held],
    trusted: &'a [VerifyingKey],
    /// The trusted signers' kids, joined: part of the verified-label cache key.
    signer_kids: &'a str,
    at: Time,
}

/// The result of deciding one object, before it is logged.
struct Pending {
    object_id: String,
    marking: String,
    agreement: Option<String>,
    reasons: Vec<Reason>,
    permit: bool,
    shares: Vec<(String, Zeroizing<Vec<u8>>)>,
}

impl Node {
    /// Assemble a node from its home, database, log appender and clock.
    pub fn new(home: Home, store: Store, appender: Appender, clock: Clock) -> Result<Node, Error> {
        let kas = vec![accord_keys::load_kas_private(
            &home.layout.key(accord_keys::KAS_KEY),
        )?];
        let signing = accord_keys::load_signing_key(&home.layout.key(accord_keys::SIGNING_KEY))?;
        Ok(Node {
            home,
            store,
            kas,
            signing,
            appender,
            clock,
            agreements: tokio::sync::Mutex::new(Cache::new()),
            outbox_ready: tokio::sync::Notify::new(),
            partner_clients: crate::partners::Clients::default(),
            witness_lock: tokio::sync::Mutex::new(()),
            caches: Caches::default(),
            strangers: crate::admission::StrangerLog::new(),
        })
    }

    /// The node's party code.
    pub fn party(&self) -> &str {
        &self.home.config.party
    }

    /// The policies.
    pub fn policies(&self) -> &PolicySet {
        &self.home.policies
    }

    /// The agreements held now.
    pub async fn agreements(&self) -> Result<Arc<Vec<Held>>, Error> {
        self.agreements
            .lock()
            .await
            .get(&self.store, &self.home.party)
            .await
    }

    /// Recognise the caller by the certificate on the connection.
    pub async fn authenticate(&self, peer: &Peer) -> Result<Caller, Refusal> {
        let party = self.party();
        let Some(cert) = &peer.cert else {
            return Err(Refusal::new(
                401,
                crate::wire::Rule::Credential,
                format!("no client certificate: use a credential issued by the {party} node (--credential)"),
            ));
        };
        let fingerprint = hex::encode(pki::sha256(cert));
        let found = self
            .store
            .person_by_credential(&fingerprint)
            .await
            .map_err(Refusal::internal)?;
        let Some((record, not_after, revoked)) = found else {
            return Err(Refusal::new(
                403,
                crate::wire::Rule::Credential,
                format!(
                    "this credential was not issued by the {party} node (certificate {})",
                    &fingerprint[..16]
                ),
            ));
        };
        if revoked.is_some() {
            return Err(Refusal::new(
                403,
                crate::wire::Rule::Credential,
                "this credential has been revoked",
            ));
        }
        if not_after < crate::store::unix_now() {
            return Err(Refusal::new(
                403,
                crate::wire::Rule::Credential,
                "this credential has expired",
            ));
        }
        let spki = pki::spki_of_cert(cert)
            .map_err(|e| Refusal::new(400, crate::wire::Rule::Credential, e.to_string()))?;
        let ec_point = pki::ec_point_of_spki(spki)
            .map_err(|e| Refusal::new(400, crate::wire::Rule::Credential, e.to_string()))?
            .to_vec();
        Ok(Caller {
            record,
            fingerprint,
            ec_point,
        })
    }

    pub(crate) fn person(&self, r: &PersonRecord) -> Result<Person, Reason> {
        let clearance = Clearance::read(self.policies(), "clearance", r.clearance.as_bytes())
            .map_err(|e| {
                Reason::new(
                    accord_agreement::Rule::PersonParty,
                    format!("person {}'s clearance: {e}", r.id),
                )
            })?;
        Ok(Person {
            id: r.id.clone(),
            name: r.name.clone(),
            party: r.party.clone(),
            nationality: r.nationality.clone(),
            clearance,
            scopes: r.scopes.iter().filter_map(|s| Scope::parse(s)).collect(),
            status: if r.status == "active" {
                PersonStatus::Active
            } else {
                PersonStatus::Suspended
            },
        })
    }

    /// Label signers the node trusts: its own key and the ES384 keys of every party of
    /// every agreement it holds (whether the agreement is in force is a rule of the
    /// decision, which then says so).
    pub(crate) fn trusted_signers(&self, held: &[Held]) -> Vec<(String, VerifyingKey)> {
        let mut v = vec![(
            self.party().to_string(),
            self.signing.public_keys().classical.clone(),
        )];
        for h in held {
            for p in &h.agreement.body.parties {
                if let Ok(k) = VerifyingKey::from_spki_der(&p.signing_keys.ecdsa_p384) {
                    if !v.iter().any(|(_, x)| x.kid() == k.kid()) {
                        v.push((p.code.clone(), k));
                    }
                }
            }
        }
        v
    }

    /// Why the key that signed `verified`'s label may not vouch for it, if it may not.
    /// This node's own key vouches for any label it signed. A partner's key (trusted
    /// because an agreement held lists it) vouches only for an object that names an
    /// agreement listing that key: a partner does not label objects outside its
    /// agreements with this party, nor under agreements it is not party to.
    fn signer_out_of_place(
        &self,
        verified: &accord_tdf::VerifiedLabel,
        held: &[Held],
    ) -> Option<String> {
        let kid = verified.signer.kid.as_str();
        if kid == self.signing.public_keys().classical.kid() {
            return None;
        }
        let listed = |h: &&Held| {
            h.agreement
                .body
                .parties
                .iter()
                .any(|p| accord_keys::spki_kid(&p.signing_keys.ecdsa_p384) == kid)
        };
        match verified.agreement.as_deref() {
            Some(id) if held.iter().filter(|h| h.agreement.body.id == id).any(|h| listed(&h)) => {
                None
            }
            Some(id) => Some(format!(
                "the label is signed by key {}…, which agreement {id} does not list: a partner's key vouches only for objects under its own agreements",
                kid.get(..16).unwrap_or(kid)
            )),
            None => Some(format!(
                "the label is signed by key {}…, not by the {} node's, and the object names no agreement: a partner's key vouches only for objects under an agreement",
                kid.get(..16).unwrap_or(kid),
                self.party()
            )),
        }
    }

    /// The marking of a verified `label` as this node's policies render it: what the
    /// inbox, the audit log and the rewrap answer show, so that it always says what the
    /// label says. `signed` (the labeller's marking assertion) stands in only for a
    /// label that cannot be rendered here.
    pub(crate) fn marking_of(&self, label: &Label, signed: &str) -> String {
        self.policies()
            .get(&label.policy.id)
            .and_then(|p| p.render(label, "").ok())
            .map(|m| m.text)
            .unwrap_or_else(|| signed.to_string())
    }

    /// `GET /v1/trust`.
    pub async fn trust(&self, peer: &Peer) -> Result<wire::TrustInfo, Refusal> {
        self.authenticate(peer).await?;
        let held = self.agreements().await.map_err(Refusal::internal)?;
        Ok(wire::TrustInfo {
            party: self.party().to_string(),
            signers: self
                .trusted_signers(&held)
                .into_iter()
                .map(|(party, k)| wire::TrustedSigner {
                    party,
                    key: k.to_pem(),
                })
                .collect(),
        })
    }

    /// Decide whether `person` may read `label` (under `agreement`, or nationally).
    pub(crate) fn decide(
        &self,
        person: &Person,
        label: &Label,
        agreement: Option<&str>,
        held: &[Held],
        at: Time,
    ) -> (bool, Vec<Reason>) {
        self.decide_for(person, label, agreement, self.party(), &[], held, at)
    }

    /// The one decision ([`accord_agreement::decide`] and its national and not-held
    /// forms) for a person asking through `requesting` (this party, or a partner whose
    /// node forwarded the request), about an object with dissemination list `dissem`.
    /// Every route that releases a share or accepts an object comes here; no rule is
    /// written in the node.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn decide_for(
        &self,
        person: &Person,
        label: &Label,
        agreement: Option<&str>,
        requesting: &str,
        dissem: &[String],
        held: &[Held],
        at: Time,
    ) -> (bool, Vec<Reason>) {
        let d = match agreement {
            Some(id) => match held.iter().find(|h| h.agreement.body.id == id) {
                None => accord_agreement::not_held(id, self.party()),
                Some(h) => accord_agreement::decide(
                    self.policies(),
                    &accord_agreement::Request {
                        person,
                        label,
                        agreement: &h.checked(),
                        requesting_party: requesting,
                        dissem,
                        at,
                    },
                ),
            },
            None => accord_agreement::decide_national(
                self.policies(),
                &accord_agreement::NationalRequest {
                    person,
                    label,
                    party: self.party(),
                    national_policy: &self.home.config.national_policy,
                    requesting_party: requesting,
                    dissem,
                },
            ),
        };
        (d.permit, convert(d.reasons))
    }

    fn decide_object(
        &self,
        index: usize,
        manifest: &serde_json::Value,
        cx: &Context<'_>,
    ) -> Pending {
        let Context {
            person,
            requesting,
            held,
            trusted,
            at,
            ..
        } = *cx;
        let mut p = Pending {
            object_id: format!("object[{index}]"),
            marking: String::new(),
            agreement: None,
            reasons: Vec::new(),
            permit: false,
            shares: Vec::new(),
        };
        let bytes = serde_json::to_vec(manifest).unwrap_or_default();
        let key = digest(&[cx.signer_kids.as_bytes(), &bytes]);
        let cached = self.caches.labels.lock().ok().and_then(|mut c| c.get(&key));
        let entry = match cached {
            Some(e) => e,
            None => {
                let verified = match accord_tdf::verify_label(&bytes, trusted) {
                    Ok(v) => v,
                    Err(e) => {
                        if let Ok(m) = accord_tdf::Manifest::parse(&bytes) {
                            if let Ok(po) = m.policy_object() {
                                p.object_id = po.uuid;
                            }
                        }
                        p.reasons.push(Reason::new(
                            crate::wire::Rule::ObjectIntegrity,
                            e.to_string(),
                        ));
                        return p;
                    }
                };
                let label = match Label::read(
                    self.policies(),
                    "the object's label",
                    verified.label_xml.as_bytes(),
                ) {
                    Ok(l) => l,
                    Err(e) => {
                        p.object_id = verified.object_id.clone();
                        p.marking = verified.marking.clone();
                        p.agreement = verified.agreement.clone();
                        p.reasons.push(Reason::new(
                            accord_agreement::Rule::Translation,
                            format!("the label cannot be read here: {e}"),
                        ));
                        return p;
                    }
                };
                let e = Arc::new((verified, label));
                if let Ok(mut c) = self.caches.labels.lock() {
                    c.insert(key, e.clone());
                }
                e
            }
        };
        let (verified, label) = (&entry.0, &entry.1);
        p.object_id = verified.object_id.clone();
        p.marking = self.marking_of(label, &verified.marking);
        p.agreement = verified.agreement.clone();
        if let Some(why) = self.signer_out_of_place(verified, cx.held) {
            p.reasons
                .push(Reason::new(crate::wire::Rule::ObjectIntegrity, why));
            return p;
        }
        let ei = &verified.manifest.encryption_information;
        let mine: Vec<_> = ei
            .key_access
            .iter()
            .filter(|k| self.kas.iter().any(|key| key.public_key().kid() == k.kid))
            .collect();
        if mine.is_empty() {
            p.reasons.push(Reason::new(
                crate::wire::Rule::KeyAccess,
                format!(
                    "the object holds no key access object for the {} KAS",
                    self.party()
                ),
            ));
            return p;
        }
        let person = match person {
            Ok(x) => x,
            Err(r) => {
                p.reasons.push(r.clone());
                return p;
            }
        };
        let (permit, reasons) = self.decide_for(
            person,
            label,
            p.agreement.as_deref(),
            requesting,
            &verified.dissem,
            held,
            at,
        );
        p.reasons = reasons;
        if !permit {
            return p;
        }
        // Unwrap only after the decision permits: a denied request never touches a key.
        for kao in mine {
            let key = match self.kas.iter().find(|k| k.public_key().kid() == kao.kid) {
                Some(k) => k,
                None => continue,
            };
            let share_key = digest(&[
                kao.kid.as_bytes(),
                kao.sid.as_bytes(),
                kao.key_type.as_bytes(),
                kao.wrapped_key.as_bytes(),
                kao.policy_binding.to_string().as_bytes(),
                ei.policy.as_bytes(),
            ]);
            let cached = self
                .caches
                .shares
                .lock()
                .ok()
                .and_then(|mut c| c.get(&share_key));
            let unwrapped = match cached {
                Some(s) => Ok(s),
                None => accord_tdf::unwrap_share(key, kao, &ei.policy).inspect(|s| {
                    if let Ok(mut c) = self.caches.shares.lock() {
                        c.insert(share_key, s.clone());
                    }
                }),
            };
            match unwrapped {
                Ok(share) => {
                    if !p.shares.iter().any(|(sid, _)| sid == &kao.sid) {
                        p.shares.push((kao.sid.clone(), share));
                    }
                }
                Err(e) => {
                    p.shares.clear();
                    p.reasons = vec![Reason::new(
                        crate::wire::Rule::ObjectIntegrity,
                        e.to_string(),
                    )];
                    return p;
                }
            }
        }
        p.permit = true;
        p
    }

    pub(crate) async fn log_entries(
        &self,
        entries: Vec<Vec<u8>>,
    ) -> Result<std::ops::Range<u64>, Refusal> {
        self.appender
            .append_many(entries)
            .await
            .map_err(|e| Refusal::internal(format!("audit log: {e}")))
    }

    /// A `deny` entry of `kind`, made now by this party, naming nothing else: callers
    /// fill in what they know of the request.
    pub(crate) fn deny_entry<'a>(&'a self, kind: &'a str, reasons: &'a [Reason]) -> AuditEntry<'a> {
        AuditEntry {
            kind,
            time: (self.clock)().to_string(),
            party: self.party(),
            person: None,
            credential: None,
            decision: "deny",
            object: None,
            marking: None,
            agreement: None,
            request: None,
            partner: None,
            reasons,
        }
    }

    async fn log_refusal(
        &self,
        kind: &str,
        caller: Option<&Caller>,
        fp: Option<&str>,
        request: Option<&str>,
        r: &Refusal,
    ) {
        if caller.is_none() && !self.strangers.admit() {
            return;
        }
        let entry = AuditEntry {
            person: caller.map(|c| c.record.id.as_str()),
            credential: caller.map(|c| c.fingerprint.as_str()).or(fp),
            request,
            ..self.deny_entry(kind, &r.reasons)
        };
        if let Err(e) = self.appender.append(entry.bytes()).await {
            tracing::error!(error = %e, "could not log a refusal");
        }
    }

    /// Answer a known caller: a refusal that is not in the audit log yet (any but a
    /// decision's, which logged its own entry first) goes there now, so that every
    /// refusal of a known caller is accounted for (a malformed body, a classical return
    /// key, a stale request alike). Failures of the node itself (5xx) are not decisions.
    pub(crate) async fn answered<T>(
        &self,
        kind: &str,
        caller: &Caller,
        r: Result<T, Refusal>,
    ) -> Result<T, Refusal> {
        match r {
            Err(mut e) if !e.logged && e.status < 500 => {
                self.log_refusal(kind, Some(caller), None, None, &e).await;
                e.logged = true;
                Err(e)
            }
            r => r,
        }
    }

    /// `POST /v1/kas/rewrap`: decide each object, make every decision durable in the
    /// audit log, then release the permitted shares wrapped to the client's key.
    pub async fn rewrap(
        self: &Arc<Self>,
        peer: &Peer,
        body: &[u8],
    ) -> Result<wire::RewrapResponse, Refusal> {
        let caller = match self.authenticate(peer).await {
            Ok(c) => c,
            Err(r) => {
                let fp = peer.cert.as_ref().map(|c| hex::encode(pki::sha256(c)));
                if r.status == 403 {
                    self.log_refusal("rewrap", None, fp.as_deref(), None, &r)
                        .await;
                }
                return Err(r);
            }
        };
        let r = async {
            let (req, client_key) = self.checked_rewrap_request(&caller, body).await?;
            let who = Requester {
                person: Ok(caller.record.clone()),
                party: self.party().to_string(),
                credential: Some(caller.fingerprint.clone()),
                partner: None,
            };
            self.release(who, req.objects, &client_key, &req.nonce)
                .await
        }
        .await;
        self.answered("rewrap", &caller, r).await
    }

    /// Decide each object for `who`, make every decision durable in the audit log, then
    /// release the permitted shares sealed under a session key wrapped to `client_key`.
    pub(crate) async fn release(
        self: &Arc<Self>,
        who: Requester,
        objects: Vec<serde_json::Value>,
        client_key: &KasPublicKey,
        nonce: &str,
    ) -> Result<wire::RewrapResponse, Refusal> {
        let held = self.agreements().await.map_err(Refusal::internal)?;
        let at = (self.clock)();

        // The decisions: CPU work, on the blocking pool, objects in parallel.
        let node = self.clone();
        let record = who.person.clone();
        let requesting = who.party.clone();
        let held2 = held.clone();
        let pending: Vec<Pending> = tokio::task::spawn_blocking(move || {
            let trusted: Vec<VerifyingKey> = node
                .trusted_signers(&held2)
                .into_iter()
                .map(|(_, k)| k)
                .collect();
            let signer_kids = trusted
                .iter()
                .map(|k| k.kid())
                .collect::<Vec<_>>()
                .join(",");
            let person = record.and_then(|r| node.person(&r));
            objects
                .par_iter()
                .enumerate()
                .map(|(i, m)| {
                    node.decide_object(
                        i,
                        m,
                        &Context {
                            person: &person,
                            requesting: &requesting,
                            held: &held2,
                            trusted: &trusted,
                            signer_kids: &signer_kids,
                            at,
                        },
                    )
                })
                .collect()
        })
        .await
        .map_err(Refusal::internal)?;

        // Durable first.
        let time = at.to_string();
        let entries: Vec<Vec<u8>> = pending
            .iter()
            .map(|p| {
                AuditEntry {
                    kind: "rewrap",
                    time: time.clone(),
                    party: self.party(),
                    person: who.person_id(),
                    credential: who.credential.as_deref(),
                    decision: if p.permit { "permit" } else { "deny" },
                    object: Some(&p.object_id),
                    marking: (!p.marking.is_empty()).then_some(p.marking.as_str()),
                    agreement: p.agreement.as_deref(),
                    request: Some(nonce),
                    partner: who.partner.as_deref(),
                    reasons: &p.reasons,
                }
                .bytes()
            })
            .collect();
        let range = self.log_entries(entries).await?;

        // Then release: one session key wrapped to the client, each share sealed under it.
        let session = Zeroizing::new({
            let mut k = [0u8; 32];
            aws_lc_rs::rand::fill(&mut k).map_err(|_| Refusal::internal("random"))?;
            k
        });
        let wrapped =
            accord_tdf::keyaccess::wrap(client_key, &session[..]).map_err(Refusal::internal)?;
        let mut results = Vec::with_capacity(pending.len());
        for (i, p) in pending.into_iter().enumerate() {
            let mut shares = Vec::new();
            for (sid, share) in &p.shares {
                shares.push(wire::ReleasedShare {
                    sid: sid.clone(),
                    share: B64.encode(
                        seal_share(&session[..], &p.object_id, sid, share)
                            .map_err(Refusal::internal)?,
                    ),
                });
            }
            results.push(wire::ObjectResult {
                object_id: p.object_id,
                decision: if p.permit { "permit" } else { "deny" }.into(),
                reasons: p.reasons,
                log_index: range.start + i as u64,
                marking: p.marking,
                shares,
            });
        }
        Ok(wire::RewrapResponse {
            party: self.party().to_string(),
            session_key: wire::WrappedKey {
                key_type: wrapped.key_type.into(),
                wrapped_key: wrapped.wrapped_key,
            },
            results,
        })
    }

    /// Check a person's signed rewrap request: signature by the credential's key, sizes,
    /// freshness (issued within the skew), a nonce never used before, a hybrid client
    /// key. Refusals that matter for security are logged.
    pub(crate) async fn checked_rewrap_request(
        &self,
        caller: &Caller,
        body: &[u8],
    ) -> Result<(wire::RewrapRequest, KasPublicKey), Refusal> {
        // The same parsers the fuzz target `node_request` drives.
        let signed = wire::parse_rewrap_body(body)?;
        let (req_bytes, sig) = (signed.request, signed.signature);
        let pk = aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::ECDSA_P384_SHA384_ASN1,
            &caller.ec_point,
        );
        if pk.verify(&req_bytes, &sig).is_err() {
            let r = Refusal::new(
                403,
                crate::wire::Rule::Request,
                "the rewrap request's signature does not verify with the credential's key",
            );
            self.log_refusal("rewrap", Some(caller), None, None, &r)
                .await;
            return Err(Refusal { logged: true, ..r });
        }
        let req = wire::parse_rewrap_request(&req_bytes)?;
        if let Some(r) = stale(req.issued_at) {
            self.log_refusal("rewrap", Some(caller), None, Some(&req.nonce), &r)
                .await;
            return Err(Refusal { logged: true, ..r });
        }
        let fresh = self
            .store
            .use_nonce(&req.nonce, &caller.record.id, crate::store::unix_now())
            .await
            .map_err(Refusal::internal)?;
        if !fresh {
            let r = Refusal::new(
                403,
                crate::wire::Rule::Request,
                format!(
                    "replayed rewrap request: nonce {}… was already used",
                    &req.nonce[..16]
                ),
            );
            self.log_refusal("rewrap", Some(caller), None, Some(&req.nonce), &r)
                .await;
            return Err(Refusal { logged: true, ..r });
        }
        let client_key = wire::rewrap_client_key(&req)?;
        Ok((req, client_key))
    }

    fn national_label(
        &self,
        label_text: Option<&str>,
        marking: Option<&str>,
    ) -> Result<Label, Refusal> {
        let national = self
            .policies()
            .get(&self.home.config.national_policy)
            .ok_or_else(|| Refusal::internal("national policy missing"))?;
        let label = match (label_text, marking) {
            (Some(t), None) => Label::read(self.policies(), "label", t.as_bytes())
                .map_err(|e| Refusal::new(422, crate::wire::Rule::Label, e.to_string()))?,
            (None, Some(m)) => national
                .parse_marking(m, "")
                .map_err(|e| Refusal::new(422, crate::wire::Rule::Label, e.to_string()))?,
            _ => {
                return Err(Refusal::new(
                    400,
                    crate::wire::Rule::Request,
                    "give exactly one of `marking` and `label`",
                ))
            }
        };
        if label.policy.id != national.id {
            return Err(Refusal::new(
                422,
                crate::wire::Rule::Label,
                format!(
                    "people of {} apply labels under the national policy {}, not {}",
                    self.party(),
                    national.name,
                    label.policy.name
                ),
            ));
        }
        let v = national
            .validate(&label)
            .map_err(|e| Refusal::new(422, crate::wire::Rule::Label, e.to_string()))?;
        if !v.valid {
            return Err(Refusal {
                status: 422,
                error: "the label is not valid under its policy".into(),
                reasons: v
                    .reasons
                    .into_iter()
                    .map(|r| Reason::new(crate::wire::Rule::Label, r.to_string()))
                    .collect(),
                logged: false,
            });
        }
        Ok(label)
    }

    /// The audit entry of a labelling decision (a seal plan refused, or the decision
    /// before the node signs).
    fn label_entry(&self, l: Labelling<'_>, reasons: &[Reason]) -> Vec<u8> {
        AuditEntry {
            kind: "label",
            time: l.at.to_string(),
            party: self.party(),
            person: Some(&l.caller.record.id),
            credential: Some(&l.caller.fingerprint),
            decision: if l.permit { "permit" } else { "deny" },
            object: l.object,
            marking: l.marking,
            agreement: l.agreement,
            request: l.request,
            partner: None,
            reasons,
        }
        .bytes()
    }

    /// `POST /v1/seal/plan`: check the person may apply the label (they must be allowed
    /// to read it themselves) and say which KASes get a share.
    pub async fn seal_plan(&self, peer: &Peer, body: &[u8]) -> Result<wire::SealPlan, Refusal> {
        // Who is asking before anything of the body is parsed.
        let caller = self.authenticate(peer).await?;
        let r = self.seal_plan_for(&caller, body).await;
        self.answered("label", &caller, r).await
    }

    async fn seal_plan_for(&self, caller: &Caller, body: &[u8]) -> Result<wire::SealPlan, Refusal> {
        let req = &wire::parse_seal_plan(body).map_err(Refusal::from)?;
        let label = self.national_label(req.label.as_deref(), req.marking.as_deref())?;
        let person = self.person(&caller.record).map_err(|r| Refusal {
            status: 403,
            error: r.text.clone(),
            reasons: vec![r],
            logged: false,
        })?;
        let held = self.agreements().await.map_err(Refusal::internal)?;
        let at = (self.clock)();
        let (permit, reasons) = self.decide(&person, &label, req.agreement.as_deref(), &held, at);
        if !permit {
            // A refused labelling is a decision too: logged before the answer.
            let national = self
                .policies()
                .get(&self.home.config.national_policy)
                .ok_or_else(|| Refusal::internal("national policy"))?;
            let marking = national.render(&label, "").map(|m| m.text).ok();
            let entry = Labelling {
                caller,
                at,
                permit: false,
                object: None,
                marking: marking.as_deref(),
                agreement: req.agreement.as_deref(),
                request: None,
            };
            self.log_entries(vec![self.label_entry(entry, &reasons)])
                .await?;
            return Err(Refusal {
                status: 403,
                error: format!("person {} may not apply this label", person.id),
                reasons,
                logged: true,
            });
        }
        let national = self
            .policies()
            .get(&self.home.config.national_policy)
            .ok_or_else(|| Refusal::internal("national policy"))?;
        let marking = national.render(&label, "").map_err(Refusal::internal)?.text;
        let (recipients, excluded) =
            self.recipients(&label, req.agreement.as_deref(), &held, at)?;
        Ok(wire::SealPlan {
            label_xml: label.to_stanag_xml(),
            marking,
            agreement: req.agreement.clone(),
            recipients,
            excluded,
        })
    }

    /// Which KASes get a share of an object labelled `label` under `agreement`: this
    /// party's, and each partner's in the agreement whose people may read the label
    /// (releasable to it, translatable into its policy, a node KAS key); and why the
    /// others do not.
    fn recipients(
        &self,
        label: &accord_spif::Label,
        agreement: Option<&str>,
        held: &[Held],
        at: Time,
    ) -> Result<(Vec<wire::PlanRecipient>, Vec<Reason>), Refusal> {
        let own = self.kas[0].public_key();
        let mut recipients = vec![wire::PlanRecipient {
            party: self.party().to_string(),
            url: self.home.config.url.clone(),
            kas_key: own.to_pem(),
        }];
        let mut excluded = Vec::new();
        if let Some(id) = agreement {
            let h = held
                .iter()
                .find(|h| h.agreement.body.id == id)
                .ok_or_else(|| Refusal::internal("agreement vanished"))?;
            let body = &h.agreement.body;
            let checked = h.checked();
            for p in &body.parties {
                if p.code == self.party() {
                    continue;
                }
                // A partner's KAS gets a share exactly when the object may go to that
                // party: the exchange decision, not a rule of its own here.
                let d = accord_agreement::admit(
                    self.policies(),
                    &accord_agreement::Transfer {
                        label,
                        agreement: &checked,
                        from: self.party(),
                        to: &p.code,
                        at,
                    },
                );
                if !d.permit {
                    excluded.extend(convert(d.reasons));
                    continue;
                }
                match &p.node {
                    Some(n) if !n.kas_keys.is_empty() => {
                        for k in &n.kas_keys {
                            recipients.push(wire::PlanRecipient {
                                party: p.code.clone(),
                                url: n.url.clone(),
                                kas_key: k.key.clone(),
                            });
                        }
                    }
                    _ => excluded.push(Reason::new(
                        crate::wire::Rule::KeyAccess,
                        format!("{} has no node KAS key in agreement {id}", p.code),
                    )),
                }
            }
        }
        Ok((recipients, excluded))
    }

    /// Shares only for the KASes the plan would name (see [`Node::recipients`]): a
    /// client that skipped the plan gets no signed label for an object wrapped for
    /// anyone else. `agreement` is one the decision found held.
    fn check_key_access(
        &self,
        label: &accord_spif::Label,
        agreement: Option<&str>,
        held: &[Held],
        manifest: &accord_tdf::Manifest,
        at: Time,
    ) -> Result<(), Refusal> {
        let (recipients, _) = self.recipients(label, agreement, held, at)?;
        let kids: Vec<(String, &str)> = recipients
            .iter()
            .filter_map(|r| {
                let key = accord_keys::KasPublicKey::from_pem(&r.kas_key).ok()?;
                Some((key.kid(), r.url.as_str()))
            })
            .collect();
        match manifest
            .encryption_information
            .key_access
            .iter()
            .find(|k| !kids.iter().any(|(kid, url)| *kid == k.kid && *url == k.url))
        {
            None => Ok(()),
            Some(k) => Err(Refusal::new(
                422,
                crate::wire::Rule::KeyAccess,
                format!(
                    "key access for kid {} at {} is not a KAS this label goes to under {}",
                    k.kid.chars().take(16).collect::<String>(),
                    k.url.chars().take(200).collect::<String>(),
                    agreement
                        .map(|a| format!("agreement {a}"))
                        .unwrap_or_else(|| "the national policy".into())
                ),
            )),
        }
    }

    /// `POST /v1/seal/sign`: sign the label and marking assertions with the party's key
    /// after checking the person may apply that label; the labelling is logged first.
    pub async fn seal_sign(
        &self,
        peer: &Peer,
        body: axum::body::Bytes,
    ) -> Result<wire::SignResponse, Refusal> {
        // Who is asking before anything of the body is parsed: it may be 12 MiB.
        let caller = self.authenticate(peer).await?;
        let r = self.seal_sign_for(&caller, body).await;
        self.answered("label", &caller, r).await
    }

    async fn seal_sign_for(
        &self,
        caller: &Caller,
        body: axum::body::Bytes,
    ) -> Result<wire::SignResponse, Refusal> {
        let wire::CheckedSign {
            mut assertions,
            label: label_index,
            manifest,
        } = wire::parse_sign_request(&body).map_err(Refusal::from)?;
        drop(body);
        // What is signed over, and the agreement decided under, come from the manifest
        // (parsed, hashed and canonicalised off the async workers: up to 10 MB).
        let label_a = assertions[label_index].clone();
        let accord_tdf::UnsignedObject {
            agreement,
            aggregate,
            manifest_digest,
            object_id,
            manifest,
            ..
        } = tokio::task::spawn_blocking(move || accord_tdf::check_unsigned(&manifest, &label_a))
            .await
            .map_err(Refusal::internal)?
            .map_err(|e| {
                Refusal::new(400, crate::wire::Rule::Manifest, format!("manifest: {e}"))
            })?;
        let label_a = &assertions[label_index];
        let label = self.national_label(Some(&label_a.statement.value), None)?;
        let national = self
            .policies()
            .get(&self.home.config.national_policy)
            .ok_or_else(|| Refusal::internal("national policy"))?;
        let marking = national.render(&label, "").map_err(Refusal::internal)?.text;
        if let Some(m) = assertions
            .iter()
            .find(|a| a.id == accord_tdf::assertion::MARKING_ID)
        {
            if m.statement.value != marking {
                return Err(Refusal::new(
                    422,
                    crate::wire::Rule::Label,
                    format!(
                        "the marking assertion says `{}` but the label's marking is `{marking}`",
                        m.statement.value
                    ),
                ));
            }
        }
        let person = self.person(&caller.record).map_err(|r| Refusal {
            status: 403,
            error: r.text.clone(),
            reasons: vec![r],
            logged: false,
        })?;
        // The same decision as the plan's: under the agreement named, if any.
        let held = self.agreements().await.map_err(Refusal::internal)?;
        let at = (self.clock)();
        let (permit, reasons) = self.decide(&person, &label, agreement.as_deref(), &held, at);
        if permit {
            self.check_key_access(&label, agreement.as_deref(), &held, &manifest, at)?;
        }
        let entry = Labelling {
            caller,
            at,
            permit,
            object: Some(&object_id),
            marking: Some(&marking),
            agreement: agreement.as_deref(),
            request: Some(&manifest_digest),
        };
        let range = self
            .log_entries(vec![self.label_entry(entry, &reasons)])
            .await?;
        if !permit {
            return Err(Refusal {
                status: 403,
                error: format!("person {} may not apply this label", person.id),
                reasons,
                logged: true,
            });
        }
        for a in assertions.iter_mut() {
            accord_tdf::assertion::sign(a, &aggregate, &manifest_digest, &self.signing)
                .map_err(Refusal::internal)?;
        }
        Ok(wire::SignResponse {
            assertions: assertions
                .iter()
                .map(|a| serde_json::to_value(a).unwrap_or_default())
                .collect(),
            log_index: range.start,
        })
    }

    /// `GET /v1/whoami`.
    pub async fn whoami(&self, peer: &Peer) -> Result<wire::WhoAmI, Refusal> {
        let c = self.authenticate(peer).await?;
        Ok(wire::WhoAmI {
            party: self.party().to_string(),
            person: c.record.id,
            status: c.record.status,
        })
    }
}

/// AES-256-GCM of a share under the session key; AAD binds it to object and split.
pub fn seal_share(
    session: &[u8],
    object_id: &str,
    sid: &str,
    share: &[u8],
) -> Result<Vec<u8>, Error> {
    use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
    let key = LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, session).map_err(|_| Error::Crypto("session key".into()))?,
    );
    let mut nonce = [0u8; NONCE_LEN];
    aws_lc_rs::rand::fill(&mut nonce).map_err(|_| Error::Crypto("random nonce".into()))?;
    let aad = format!("{object_id}\0{sid}");
    let mut buf = share.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad.as_bytes()),
        &mut buf,
    )
    .map_err(|_| Error::Crypto("sealing a share".into()))?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&buf);
    Ok(out)
}

/// Open what [`seal_share`] made.
pub fn open_share(
    session: &[u8],
    object_id: &str,
    sid: &str,
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, Error> {
    use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
    if sealed.len() < NONCE_LEN + 16 {
        return Err(Error::Crypto("released share is too short".into()));
    }
    let key = LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, session).map_err(|_| Error::Crypto("session key".into()))?,
    );
    let nonce = Nonce::try_assume_unique_for_key(&sealed[..NONCE_LEN])
        .map_err(|_| Error::Crypto("nonce".into()))?;
    let mut buf = Zeroizing::new(sealed[NONCE_LEN..].to_vec());
    let aad = format!("{object_id}\0{sid}");
    let n = key
        .open_in_place(nonce, Aad::from(aad.as_bytes()), &mut buf)
        .map_err(|_| {
            Error::Crypto(
                "a released share does not decrypt (wrong session key or altered answer)".into(),
            )
        })?
        .len();
    buf.truncate(n);
    Ok(buf)
}
