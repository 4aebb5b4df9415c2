//! Partner nodes, learned only from agreements in force.
//!
//! A node talks to another party's node only because an agreement both parties
//! countersigned names it: the agreement carries the partner's URL, the SHA-256 of its
//! TLS key (the pin), its signing keys and its log key. There is no other way to add a
//! partner, so when the last agreement with a party stops being in force (expiry,
//! termination), traffic with it stops in both directions: outgoing deliveries find no
//! partner, and incoming connections are no longer recognised.

use crate::agreements::Held;
use crate::home::Home;
use crate::refusal::Refusal;
use crate::Error;
use accord_agreement::amendment::KeyKind;
use accord_agreement::{SigningKeys, Status, Time};
use accord_node_api::pki;
use accord_node_api::Kind;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Another party's node, as the agreements in force describe it.
#[derive(Debug, Clone)]
pub struct Partner {
    /// Party code.
    pub code: String,
    /// The node's base URL.
    pub url: String,
    /// SHA-256 of the node's TLS SubjectPublicKeyInfo, lower-case hex: its key in
    /// force.
    pub tls_spki_sha256: String,
    /// Every TLS key the node is accepted with now (lower-case hex): the key in force
    /// and one replaced by an amendment whose grace period still runs, so that a
    /// node changes over its certificate without a gap; after the grace, only the new.
    pub tls_pins: Vec<String>,
    /// The party's signing keys now (what its receipts and labels are signed with).
    pub signing_keys: SigningKeys,
    /// Every signing key the party has had under the agreements in force, the current
    /// one last: a label or receipt signed before a rotation still verifies.
    pub signing_keys_ever: Vec<SigningKeys>,
    /// The node's audit-log verifier key in force.
    pub log_verifier_key: Option<String>,
    /// Every log verifier key the node's checkpoints are accepted under now: the key
    /// in force and one replaced whose grace period still runs.
    pub log_keys: Vec<String>,
    /// The witness keys the agreements pin for the node (the key in force and one in
    /// its grace); none when no amendment pinned one, and the witness is known by the
    /// key its node gives over the pinned TLS.
    pub witness_keys: Vec<String>,
    /// Whether an agreement ever pinned a witness key for the node: then only the
    /// pinned keys count, and none accepted (all revoked) is no witness, not one to
    /// ask the node for.
    pub witness_pinned: bool,
    /// The agreements in force that name both parties.
    pub agreements: Vec<String>,
}

impl Partner {
    /// Party `p` of agreement `agreement`, whose node is `node`, as a partner.
    pub fn of(
        p: &accord_agreement::Party,
        node: &accord_agreement::Node,
        agreement: &str,
    ) -> Partner {
        Partner {
            code: p.code.clone(),
            url: node.url.trim_end_matches('/').to_string(),
            tls_spki_sha256: node.tls_spki_sha256.to_ascii_lowercase(),
            tls_pins: vec![node.tls_spki_sha256.to_ascii_lowercase()],
            signing_keys: p.signing_keys.clone(),
            signing_keys_ever: vec![p.signing_keys.clone()],
            log_verifier_key: node.log_verifier_key.clone(),
            log_keys: node.log_verifier_key.iter().cloned().collect(),
            witness_keys: Vec::new(),
            witness_pinned: false,
            agreements: vec![agreement.to_string()],
        }
    }
}

impl Partner {
    /// Party `code` of the agreement `checked`, as this node reaches it at `at`: its
    /// node's URL and keys after the amendments in effect then, every signing key it
    /// has had, and the TLS keys accepted then. `None` when it has no node.
    pub fn at(checked: &accord_agreement::Checked<'_>, code: &str, at: Time) -> Option<Partner> {
        let p = checked.party_at(code, at)?;
        let node = p.node.as_ref()?;
        let mut x = Partner::of(&p, node, &checked.agreement().body.id);
        x.signing_keys_ever = checked.signing_keys_of(code);
        // The agreement's rule, not the key in force alone: the one in force unless
        // revoked, and one in its grace period.
        x.tls_pins = checked
            .accepted_key_ids(code, KeyKind::Tls, at)
            .into_iter()
            .map(|p| p.to_ascii_lowercase())
            .collect();
        x.log_keys = checked.accepted_verifier_keys(code, KeyKind::Log, at);
        x.witness_keys = checked.accepted_verifier_keys(code, KeyKind::Witness, at);
        x.witness_pinned = !checked.key_ids(code, KeyKind::Witness).is_empty();
        Some(x)
    }
}

/// Every partner of `own` under an agreement in force at `at`, one per party, with its
/// keys as they stand at `at`.
pub fn in_force(held: &[Held], own: &str, at: Time) -> Vec<Partner> {
    let mut out: Vec<Partner> = Vec::new();
    let mut in_force = Vec::new();
    for h in held {
        let body = &h.agreement.body;
        if body.party(own).is_none() {
            continue;
        }
        let checked = h.checked();
        match checked.status(at) {
            Ok(r) if r.status == Status::InForce => {}
            _ => continue,
        }
        in_force.push(checked.clone());
        // Each partner with its keys as they stand now (after its key amendments).
        for p in body.parties.iter().filter(|p| p.code != own) {
            let Some(this) = Partner::at(&checked, &p.code, at) else {
                continue;
            };
            match out.iter_mut().find(|x| x.code == p.code) {
                Some(x) => {
                    x.agreements.push(body.id.clone());
                    for k in this.signing_keys_ever {
                        if !x.signing_keys_ever.contains(&k) {
                            x.signing_keys_ever.insert(0, k);
                        }
                    }
                    for pin in this.tls_pins {
                        if !x.tls_pins.contains(&pin) {
                            x.tls_pins.push(pin);
                        }
                    }
                    for k in this.log_keys {
                        if !x.log_keys.contains(&k) {
                            x.log_keys.push(k);
                        }
                    }
                    for k in this.witness_keys {
                        if !x.witness_keys.contains(&k) {
                            x.witness_keys.push(k);
                        }
                    }
                    x.witness_pinned |= this.witness_pinned;
                }
                None => out.push(this),
            }
        }
    }
    // A key revoked under one agreement in force is refused under every one: a
    // revocation that reached one copy before another does not leave it accepted.
    for x in &mut out {
        let revoked = |kind: KeyKind, id: &str| {
            in_force
                .iter()
                .any(|c| c.revocation(&x.code, kind, id).is_some())
        };
        x.tls_pins.retain(|p| !revoked(KeyKind::Tls, p));
        x.log_keys.retain(|k| {
            !revoked(
                KeyKind::Log,
                &accord_agreement::amendment::verifier_key_id(k),
            )
        });
        x.witness_keys.retain(|k| {
            !revoked(
                KeyKind::Witness,
                &accord_agreement::amendment::verifier_key_id(k),
            )
        });
    }
    out
}

/// Recognise a partner node by the TLS key of its client certificate. A certificate
/// pinned by no agreement in force is refused, saying which case applies.
pub fn recognise(
    held: &[Held],
    own: &str,
    at: Time,
    cert: Option<&[u8]>,
) -> Result<Partner, Refusal> {
    let refuse = |rule: accord_node_api::wire::Rule, text: String| Refusal {
        kind: Kind::Denied,
        error: text.clone(),
        reasons: vec![accord_node_api::wire::Reason::new(rule, text)],
        logged: false,
    };
    let Some(cert) = cert else {
        return Err(refuse(
            accord_node_api::wire::Rule::Partner,
            "no client certificate: partner nodes authenticate with their TLS key".into(),
        ));
    };
    let pin = pki::spki_pin(cert)
        .map_err(|e| refuse(accord_node_api::wire::Rule::Partner, e.to_string()))?;
    let mut matching: Vec<Partner> = in_force(held, own, at)
        .into_iter()
        .filter(|p| p.tls_pins.contains(&pin))
        .collect();
    if matching.len() > 1 {
        // Each party amends its own keys alone: one cannot be let to take another's.
        return Err(refuse(
            accord_node_api::wire::Rule::Partner,
            format!(
                "TLS key {}… is accepted for more than one party ({}) by the agreements held: refused for all until they agree",
                &pin[..16],
                matching
                    .iter()
                    .map(|p| p.code.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    if let Some(p) = matching.pop() {
        // A pinned key is no reason to take a certificate out of its dates: a node's
        // certificate has a bounded life, renewed by `accord key rotate tls`.
        if let Some(why) = pki::outside_validity(cert, at.unix()) {
            return Err(refuse(
                accord_node_api::wire::Rule::Partner,
                format!(
                    "{}'s node presents a TLS certificate {why}: its node renews it with `accord key rotate tls`",
                    p.code
                ),
            ));
        }
        return Ok(p);
    }
    // Not accepted: say whether an agreement in force had this key, or names it at all.
    for h in held {
        let checked = h.checked();
        if !matches!(checked.status(at), Ok(r) if r.status == Status::InForce) {
            continue;
        }
        for p in h.agreement.body.parties.iter().filter(|p| p.code != own) {
            if checked
                .key_ids(&p.code, KeyKind::Tls)
                .iter()
                .any(|k| k.eq_ignore_ascii_case(&pin))
            {
                return Err(refuse(
                    accord_node_api::wire::Rule::Partner,
                    format!(
                        "TLS key {}… is one agreement {2} gives {1}'s node, but it is not accepted at {at} (not yet in effect, its grace period has ended, or it was revoked): the node must present its key in force",
                        &pin[..16],
                        p.code,
                        h.agreement.body.id
                    ),
                ));
            }
        }
    }
    for h in held {
        if let Some(p) = h.party_pinned(&pin, at).filter(|p| p.code != own) {
            return Err(refuse(
                accord_agreement::Rule::AgreementInForce.into(),
                format!(
                    "{}'s node is pinned by agreement {}, which is not in force at {at}",
                    p.code, h.agreement.body.id
                ),
            ));
        }
    }
    Err(refuse(
        accord_node_api::wire::Rule::Partner,
        format!(
            "TLS key {}… is not pinned by any agreement {own} holds: not a partner node",
            &pin[..16]
        ),
    ))
}

/// TLS for node-to-node calls to `partner`: the node's own certificate as client
/// identity, the partner's pins from the agreement (the key in force, and one in its
/// grace period) as the only trust.
pub fn tls_config(home: &Home, partner: &Partner) -> Result<rustls::ClientConfig, Error> {
    let cert = std::fs::read_to_string(home.layout.key("tls.crt"))
        .map_err(|e| Error::io(home.layout.key("tls.crt"), e))?;
    let key = home.read_key("tls.key")?;
    accord_node_api::tls::client_config(partner.tls_pins.clone(), Some((&cert, &key)))
}

/// An HTTP client for node-to-node calls to `partner`: the node's own TLS certificate
/// as client identity, the partner's pin as the only trust.
pub fn client(home: &Home, partner: &Partner, timeout: Duration) -> Result<reqwest::Client, Error> {
    let tls = tls_config(home, partner)?;
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .connect_timeout(Duration::from_secs(5))
        .timeout(timeout)
        .pool_max_idle_per_host(8)
        .build()
        .map_err(|e| Error::Http {
            url: partner.url.clone(),
            msg: e.to_string(),
        })
}

/// Clients to partners, made once per set of partner pins (a pin set that changes,
/// as when a grace period ends, gets a new client: an old one trusts the old key).
#[derive(Default)]
pub struct Clients {
    made: std::sync::Mutex<Vec<(String, reqwest::Client)>>,
}

impl Clients {
    /// The client for `partner` (made on first use).
    pub fn get(&self, home: &Home, partner: &Partner) -> Result<reqwest::Client, Error> {
        let mut made = self
            .made
            .lock()
            .map_err(|_| Error::Input("partner clients lock poisoned".into()))?;
        let pins = partner.tls_pins.join(",");
        if let Some((_, c)) = made.iter().find(|(p, _)| p == &pins) {
            return Ok(c.clone());
        }
        let c = client(home, partner, Duration::from_secs(3600))?;
        made.push((pins, c.clone()));
        Ok(c)
    }
}

impl Clients {
    /// Forget every client made: the node's own certificate changed (a TLS key
    /// switch), and a client presents the certificate it was made with.
    pub fn clear(&self) {
        if let Ok(mut made) = self.made.lock() {
            made.clear();
        }
    }
}

/// Shared handle.
pub type SharedClients = Arc<Clients>;

/// What a probe of a partner's node found (`GET /v1/status`): nothing wrong, or why
/// it did not answer.
pub(crate) type Probe = Result<(), String>;

/// The latest probe of each partner's node (by TLS pin): when, and what it found, so
/// that a node's people asking often cost the partner nothing. A slot per pin, which a
/// probe holds while it runs.
#[derive(Default)]
pub(crate) struct Probes {
    slots: Mutex<std::collections::HashMap<String, Arc<ProbeSlot>>>,
}

/// One partner's latest probe.
pub(crate) type ProbeSlot = tokio::sync::Mutex<Option<(std::time::Instant, Probe)>>;

impl Probes {
    /// The slot of the partner whose TLS pin is `pin` (made on first use; as many as
    /// the agreements held pin).
    pub(crate) fn slot(&self, pin: &str) -> Arc<ProbeSlot> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.entry(pin.to_string()).or_default().clone()
    }
}
