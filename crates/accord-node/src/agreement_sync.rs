//! Agreement records over federation: what one party's node holds of an agreement
//! (a countersignature, a termination, a renewal) reaches every other party's node.
//!
//! An officer loads a later copy of an agreement at their own node only. Without this,
//! the partner would not know of a termination and would keep sealing with key access
//! for the terminating party, and keep delivering to it, under an agreement that has
//! ended. So each node offers every agreement it holds to the node of every other
//! party in it (`PUT /v1/fed/agreements/{id}`, the agreement's own TLS pins) until that
//! node has answered for its number of records; again at every start, and after a
//! failure with a backoff. Nothing is lost across restarts or outages: what was not
//! answered is offered again.
//!
//! The receiver takes a copy only from the node of a party to the agreement it holds
//! (or, for a renewal the receiver's party has signed, to the predecessor it holds,
//! which the renewal must follow),
//! and loads it exactly as `accord agreement load` does ([`crate::agreements::load`]):
//! it must verify, name the receiver's party with the receiver's own keys, and extend
//! the copy held (same body, more records). Every copy taken, and every refusal, is in
//! the receiver's audit log (a copy it already held is not logged again).

use crate::agreements::Held;
use crate::audit::{AuditEntry, EntryKind};
use crate::caller::Peer;
use crate::node::Node;
use crate::partners::Partner;
use crate::refusal::Refusal;
use accord_agreement::{Agreement, Rule as Decided};
use accord_node_api::wire::{self, Reason};
use accord_node_api::Kind;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The body of `PUT /v1/fed/agreements/{id}` is at most this large.
pub const MAX_AGREEMENT: usize = 1 << 20;

impl Node {
    /// `PUT /v1/fed/agreements/{id}`: a partner node offers its copy of agreement `id`.
    pub async fn receive_agreement(
        &self,
        peer: &Peer,
        id: &str,
        body: &[u8],
    ) -> Result<wire::AgreementReceived, Refusal> {
        let Some(cert) = peer.cert.as_deref() else {
            return Err(Refusal::new(
                Kind::Unauthenticated,
                wire::Rule::Partner,
                "no client certificate: partner nodes authenticate with their TLS key",
            ));
        };
        let pin = accord_node_api::pki::spki_pin(cert)
            .map_err(|e| Refusal::new(Kind::Denied, wire::Rule::Partner, e.to_string()))?;
        let held = self.agreements().await.map_err(Refusal::internal)?;
        let text = std::str::from_utf8(body).map_err(|_| {
            Refusal::new(
                Kind::BadRequest,
                wire::Rule::Request,
                "the agreement is not UTF-8",
            )
        })?;
        let doc = Agreement::parse(text).map_err(|e| {
            Refusal::new(
                Kind::BadRequest,
                wire::Rule::Request,
                format!("the agreement: {e}"),
            )
        })?;
        if doc.body.id != id {
            return Err(Refusal::new(
                Kind::BadRequest,
                wire::Rule::Request,
                format!("offered as {id}, but the agreement's id is {}", doc.body.id),
            ));
        }
        // Who is offering: the node of a party to the agreement (or the predecessor)
        // this node holds, recognised by the TLS key that agreement pins.
        let anchor = anchor(&held, &doc).ok_or_else(|| {
            Refusal::new(
                Kind::NotFound,
                Decided::AgreementInForce,
                format!(
                    "the {} node holds no agreement {id}{}",
                    self.party(),
                    doc.body
                        .predecessor
                        .as_ref()
                        .map(|p| format!(", nor its predecessor {}", p.id))
                        .unwrap_or_default()
                ),
            )
        })?;
        let Some(from) = anchor
            .party_pinned(&pin, (self.clock)())
            .map(|p| p.code.clone())
        else {
            return Err(Refusal::new(
                Kind::Denied,
                wire::Rule::Partner,
                format!(
                    "TLS key {}… is not the node of a party to agreement {}",
                    &pin[..16],
                    anchor.agreement.body.id
                ),
            ));
        };
        let outcome = self.load_offered(&doc, anchor, &from, text).await;
        let reasons = match &outcome {
            // A copy the node already held changes nothing and decides nothing: offered
            // again at every start, it is not logged again.
            Ok(loaded) if loaded.outcome == "unchanged" => None,
            Ok(loaded) => Some(vec![Reason::new(
                Decided::AgreementInForce,
                format!(
                    "{from}'s copy of agreement {id} verifies and names {} with its own keys: {} ({} records)",
                    self.party(),
                    loaded.outcome,
                    loaded.records
                ),
            )]),
            Err(r) => Some(r.reasons.clone()),
        };
        if let Some(reasons) = reasons {
            let entry = AuditEntry {
                agreement: Some(id),
                partner: Some(&from),
                ..self.entry(EntryKind::Agreement, outcome.is_ok(), &reasons)
            };
            self.log_entries(vec![entry.bytes()]).await?;
        }
        let loaded = outcome.map_err(|r| Refusal { logged: true, ..r })?;
        Ok(wire::AgreementReceived {
            id: loaded.id,
            outcome: loaded.outcome.to_string(),
            records: loaded.records as u64,
        })
    }

    /// Load an offered copy: a renewal must follow the predecessor held; then exactly
    /// what `accord agreement load` checks.
    async fn load_offered(
        &self,
        doc: &Agreement,
        anchor: &Held,
        from: &str,
        text: &str,
    ) -> Result<crate::agreements::Loaded, Refusal> {
        let refuse =
            |text: String| Refusal::new(Kind::Unacceptable, Decided::AgreementInForce, text);
        if doc.body.party(from).is_none() {
            return Err(refuse(format!(
                "{from} offered agreement {}, to which it is not a party",
                doc.body.id
            )));
        }
        if anchor.agreement.body.id != doc.body.id {
            // A new agreement is this party's to enter: a renewal comes over federation
            // only once this party has signed it (its officers load it by hand first,
            // or sign the copy the partner then sends back).
            let own = self.party();
            if !doc
                .records
                .iter()
                .any(|r| r.party == own && matches!(r.kind, accord_agreement::RecordKind::Sign))
            {
                return Err(refuse(format!(
                    "{from} offered the renewal {} of {}, which {own} has not signed: a new agreement is loaded here only by {own}'s officers",
                    doc.body.id, anchor.agreement.body.id
                )));
            }
            let findings = accord_agreement::verify_renewal(doc, &anchor.agreement);
            if let Some(f) = findings.first() {
                return Err(refuse(format!(
                    "agreement {} does not follow {}: {f}",
                    doc.body.id, anchor.agreement.body.id
                )));
            }
        }
        let own = self.own();
        crate::agreements::load(&self.store, &own.party, &own.history, text)
            .await
            .map_err(|e| match e {
                crate::Error::Refused(why) => refuse(why),
                other => Refusal::internal(other),
            })
    }
}

/// The agreement held that vouches for an offered copy: the same agreement, or the
/// predecessor a renewal names (id, version and body digest all as held).
fn anchor<'a>(held: &'a [Held], doc: &Agreement) -> Option<&'a Held> {
    if let Some(h) = held.iter().find(|h| h.agreement.body.id == doc.body.id) {
        return Some(h);
    }
    let p = doc.body.predecessor.as_ref()?;
    held.iter().find(|h| {
        h.agreement.body.id == p.id
            && h.agreement.body.version == p.version
            && h.agreement.body.digest().ok().as_deref() == Some(p.digest.as_str())
    })
}

/// The other parties' nodes of `h`, as this node reaches them at `at` (the agreement's
/// pins as amended, whether or not it is in force: a termination must reach them after
/// it takes effect).
fn nodes_of(h: &Held, own: &str, at: accord_agreement::Time) -> Vec<Partner> {
    let checked = h.checked();
    h.agreement
        .body
        .parties
        .iter()
        .filter(|p| p.code != own)
        .filter_map(|p| Partner::at(&checked, &p.code, at))
        .collect()
}

/// What the offering side remembers per (partner, agreement): records answered for,
/// and when to try again after a failure.
#[derive(Default)]
struct Offers {
    answered: HashMap<(String, String), usize>,
    /// Records of the copy each partner took (an answer, not a refusal): what a
    /// switch to a new TLS key waits for ([`crate::tls_switch`]).
    acked: crate::tls_switch::Acknowledged,
    retry: HashMap<(String, String), (u32, Instant)>,
}

/// How often held agreements are compared with what partners answered for.
const ROUND: Duration = Duration::from_secs(2);
/// How long one offer may take (a copy is at most 1 MiB).
const OFFER_TIMEOUT: Duration = Duration::from_secs(30);

/// Offer every agreement held to the other parties' nodes until `stop` (see the
/// module documentation).
pub async fn offer_loop(node: Arc<Node>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut offers = Offers::default();
    loop {
        if *stop.borrow() {
            return;
        }
        offer_round(&node, &mut offers).await;
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(ROUND) => {}
        }
    }
}

async fn offer_round(node: &Arc<Node>, offers: &mut Offers) {
    let Ok(held) = node.agreements().await else {
        return;
    };
    let now = Instant::now();
    let at = (node.clock)();
    for h in held.iter() {
        let a = &h.agreement;
        let records = a.records.len();
        for p in nodes_of(h, node.party(), at) {
            let key = (p.code.clone(), a.body.id.clone());
            if offers.answered.get(&key) == Some(&records)
                || offers.retry.get(&key).is_some_and(|(_, at)| now < *at)
            {
                continue;
            }
            // A partner that takes the connection and stalls holds up no other offer
            // for long, nor a TLS key switch waiting at the end of the round.
            let offered = tokio::time::timeout(OFFER_TIMEOUT, offer(node, &p, a))
                .await
                .unwrap_or_else(|_| {
                    Err((
                        false,
                        format!("no answer within {} s", OFFER_TIMEOUT.as_secs()),
                    ))
                });
            match offered {
                Ok(outcome) => {
                    tracing::debug!(partner = %p.code, agreement = %a.body.id, %outcome, "agreement offered");
                    offers.acked.insert(key.clone(), (records, Instant::now()));
                    offers.answered.insert(key.clone(), records);
                    offers.retry.remove(&key);
                }
                Err((permanent, why)) if permanent => {
                    // A refusal is the partner's decision (logged there): offered again
                    // only when this node holds more records.
                    tracing::warn!(partner = %p.code, agreement = %a.body.id, %why, "the partner refused this node's copy of the agreement");
                    offers.answered.insert(key.clone(), records);
                    offers.retry.remove(&key);
                }
                Err((_, why)) => {
                    let failures = offers.retry.get(&key).map_or(0, |(n, _)| *n) + 1;
                    let wait = Duration::from_secs(2u64.saturating_pow(failures.min(6)).min(60));
                    if failures == 1 {
                        tracing::warn!(partner = %p.code, agreement = %a.body.id, %why, retry_in = ?wait, "the agreement could not be offered; retrying");
                    }
                    offers.retry.insert(key, (failures, now + wait));
                }
            }
        }
    }
    crate::tls_switch::maybe_switch(node, &offers.acked).await;
}

/// Offer `a` to `p`'s node: its outcome, or why not (`true`: the partner refused it;
/// `false`: it could not be asked, try again).
async fn offer(node: &Node, p: &Partner, a: &Agreement) -> Result<String, (bool, String)> {
    let client = node
        .partner_clients
        .get(&node.home, p)
        .map_err(|e| (false, e.to_string()))?;
    let json = a.to_canonical_json().map_err(|e| (true, e.to_string()))?;
    let url = format!("{}/v1/fed/agreements/{}", p.url, a.body.id);
    let resp = client
        .put(&url)
        .header("content-type", "application/json")
        .body(json)
        .send()
        .await
        .map_err(|e| (false, accord_node_api::tls::describe(&e)))?;
    let status = resp.status();
    let bytes = resp.bytes().await.map_err(|e| (false, e.to_string()))?;
    if status.is_success() {
        let r: wire::AgreementReceived =
            serde_json::from_slice(&bytes).map_err(|e| (false, e.to_string()))?;
        return Ok(r.outcome);
    }
    let why = serde_json::from_slice::<wire::Problem>(&bytes)
        .map(|p| p.error)
        .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).chars().take(300).collect());
    let refused = !accord_node_api::http::kind(status.as_u16()).is_failure();
    Err((refused, format!("HTTP {status}: {why}")))
}
