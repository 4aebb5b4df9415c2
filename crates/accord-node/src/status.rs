//! `GET /v1/status`: the first thing a person runs when something fails (`accord
//! status`). The node says who it takes the caller for, the agreements it holds with
//! their status now, and for every partner under an agreement in force whether its node
//! answers now over the pinned mutual TLS, what is queued for it and how the latest
//! delivery went.
//!
//! Only the node's own people may ask (the caller is recognised as on every route);
//! partners are probed at most once per [`PROBE_EVERY`], so that asking often costs the
//! partner nothing.

use crate::caller::Peer;
use crate::exchange::rfc3339;
use crate::node::Node;
use crate::partners::Partner;
use crate::partners::Probe;
use crate::refusal::Refusal;
use accord_node_api::wire::{NodeStatus, PartnerState};
use std::time::{Duration, Instant};

/// How long a partner's probe answer is reused.
const PROBE_EVERY: Duration = Duration::from_secs(3);
/// How long a probe waits for a partner's node.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

impl Node {
    /// `GET /v1/status`.
    pub async fn status(&self, peer: &Peer) -> Result<NodeStatus, Refusal> {
        let caller = self.authenticate(peer).await?;
        let at = (self.clock)();
        // A suspended person learns that they are, and nothing of the node's agreements
        // and partners: the node tells them no more than it releases to them. Whether
        // they are is the decision's own reading of the record.
        let active = self.person_of(&caller)?.status == accord_agreement::PersonStatus::Active;
        let held = if active {
            self.agreements().await.map_err(Refusal::internal)?
        } else {
            Default::default()
        };
        let agreements = crate::agreements::states(&held, at);
        let partners = crate::partners::in_force(&held, self.party(), at);
        let probes = futures_util::future::join_all(partners.iter().map(|p| self.probe(p))).await;
        let witnessed = self.metrics.witnessed();
        let mut states = Vec::with_capacity(partners.len());
        for (p, probe) in partners.iter().zip(probes) {
            let outbox = self
                .store
                .outbox_for_partner(&p.code, &caller.record.id)
                .await
                .map_err(Refusal::internal)?;
            states.push(PartnerState {
                party: p.code.clone(),
                url: p.url.clone(),
                agreements: p.agreements.clone(),
                reachable: probe.is_ok(),
                error: probe.err(),
                queued: outbox.queued,
                refused: outbox.refused,
                delivered: outbox.delivered,
                last_delivery: outbox.last_delivery.map(rfc3339),
                last_error: outbox.last_error,
                witness_cosigned: witnessed.get(&p.code).copied(),
            });
        }
        let dir = self.home.layout.dir.clone();
        let disk_free_mib = crate::disk::free_bytes(&dir).map_or(0, |b| b >> 20);
        let log_entries = accord_log::writer::read_checkpoint(&self.home.layout.log())
            .map(|c| c.checkpoint.size)
            .unwrap_or(0);
        Ok(NodeStatus {
            party: self.party().to_string(),
            person: caller.record.id,
            person_status: caller.record.status,
            at: at.to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            tls_not_after: self.home.certificate_not_after("tls.crt").map(rfc3339),
            disk_free_mib,
            disk_reserve_mib: self.home.config.disk_reserve() >> 20,
            log_entries,
            agreements,
            partners: states,
        })
    }

    /// Whether `partner`'s node answers `/health` over the pinned mutual TLS now (or
    /// did less than [`PROBE_EVERY`] ago).
    async fn probe(&self, partner: &Partner) -> Probe {
        // One probe at a time per partner: callers arriving while it runs wait for
        // its answer instead of each probing the partner themselves.
        let slot = self.probes.slot(&partner.tls_spki_sha256);
        let mut last = slot.lock().await;
        if let Some((when, r)) = last.as_ref() {
            if when.elapsed() < PROBE_EVERY {
                return r.clone();
            }
        }
        let r = self.probe_now(partner).await;
        *last = Some((Instant::now(), r.clone()));
        r
    }

    async fn probe_now(&self, partner: &Partner) -> Probe {
        let client = self
            .partner_clients
            .get(&self.home, partner)
            .map_err(|e| e.to_string())?;
        let url = format!("{}/health", partner.url);
        match client.get(&url).timeout(PROBE_TIMEOUT).send().await {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(format!("its /health answered {}", r.status())),
            Err(e) if e.is_timeout() => Err(format!(
                "no answer within {} seconds",
                PROBE_TIMEOUT.as_secs()
            )),
            Err(e) => Err(innermost(&e)),
        }
    }
}

/// The last cause of a transport error ("Connection refused (os error 111)", "invalid
/// peer certificate: ..."): the URL is said beside it, and the layers between say
/// nothing more.
fn innermost(e: &reqwest::Error) -> String {
    let mut last: &dyn std::error::Error = e;
    while let Some(s) = last.source() {
        last = s;
    }
    last.to_string()
}
