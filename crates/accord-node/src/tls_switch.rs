//! The switch to a new TLS key at a running node, after `accord key rotate tls`.
//!
//! A partner refuses a TLS key that no agreement it holds gives this node, so the node
//! presents the new key only once every partner of every agreement in force has
//! acknowledged the copy whose amendment names it (`agreement_sync`: the partner
//! answered the offer of that copy), or when the grace the amendment gave the old key
//! is about to end, whichever comes first. Until then the new key and its certificate
//! wait in `keys/tls.next.key` and `keys/tls.next.crt`, and the node presents the old
//! one, which partners accept through the grace. The server then presents the new
//! certificate from its next handshake, calls to partners present it too, and
//! `party.json` names it.
//!
//! People's credentials of format 2 trust the node CA for the node's name, so they
//! follow the node to its new key; a format 1 credential pins the old key alone and is
//! refused by its client from the switch on (renew it).

use crate::node::Node;
use crate::store::{Actor, DirectoryChange};
use crate::Error;
use accord_agreement::amendment::{KeyKind, NewKey};
use accord_agreement::{Agreement, Checked, RecordKind, Status, Time};
use std::collections::HashMap;

pub(crate) use crate::home::{TLS_NEXT_CRT as NEXT_CRT, TLS_NEXT_KEY as NEXT_KEY};
/// How long before the old key's grace ends the node switches, acknowledged or not.
const MARGIN_SECS: i64 = 15 * 60;

/// Records each partner acknowledged of each agreement: (party, agreement id) → the
/// number of records of the copy it took, and when.
pub(crate) type Acknowledged = HashMap<(String, String), (usize, std::time::Instant)>;

/// How long after a partner's acknowledgement the node waits before switching: the
/// partner's node re-reads its agreements at most 200 ms after storing a copy.
const SETTLE: std::time::Duration = std::time::Duration::from_secs(1);

/// Whether the node may present the TLS key `pin` now, judged over every copy stored
/// (`copies`, each verified here: not the node's held list, which a key change can
/// briefly empty): `Ok` when every partner of every agreement in force acknowledged
/// the amendment naming it (with, if the old key's grace ends within [`MARGIN_SECS`],
/// those that did not); else what it waits for.
pub(crate) fn ready(
    copies: &[Agreement],
    own: &str,
    pin: &str,
    acked: &Acknowledged,
    at: Time,
) -> Result<Vec<String>, Vec<String>> {
    let mut waiting = Vec::new();
    let mut deadline: Option<Time> = None;
    for a in copies {
        if a.body.party(own).and_then(|p| p.node.as_ref()).is_none() {
            continue;
        }
        if !matches!(Checked::new(a).status(at), Ok(r) if r.status == Status::InForce) {
            continue;
        }
        let amendment = a
            .records
            .iter()
            .enumerate()
            .find_map(|(i, r)| match &r.kind {
                RecordKind::Amend {
                    key: KeyKind::Tls,
                    grace_until,
                    new: NewKey::Tls { spki_sha256, .. },
                    ..
                } if r.party == own && spki_sha256.eq_ignore_ascii_case(pin) => {
                    Some((i, *grace_until))
                }
                _ => None,
            });
        let Some((index, grace_until)) = amendment else {
            waiting.push(format!(
                "agreement {} is in force and does not name the new key (run `accord key rotate tls` again)",
                a.body.id
            ));
            continue;
        };
        if let Some(g) = grace_until {
            deadline = Some(deadline.map_or(g, |d| d.min(g)));
        }
        for p in a.body.parties.iter().filter(|p| p.code != own) {
            if p.node.is_none() {
                continue;
            }
            let took = acked
                .get(&(p.code.clone(), a.body.id.clone()))
                .filter(|(_, when)| when.elapsed() >= SETTLE)
                .map_or(0, |(n, _)| *n);
            if took <= index {
                waiting.push(format!("{} (agreement {})", p.code, a.body.id));
            }
        }
    }
    if waiting.is_empty() {
        return Ok(Vec::new());
    }
    match deadline {
        Some(d) if at.unix() >= d.unix() - MARGIN_SECS => Ok(waiting),
        _ => Err(waiting),
    }
}

/// Switch to the waiting TLS key if it is time ([`ready`]); nothing when none waits.
pub(crate) async fn maybe_switch(node: &Node, acked: &Acknowledged) {
    let next_crt = node.home.layout.key(NEXT_CRT);
    if !next_crt.exists() {
        return;
    }
    if let Err(e) = switch_if_ready(node, acked).await {
        tracing::warn!(error = %e, "the new TLS key could not be switched to; trying again");
    }
}

async fn switch_if_ready(node: &Node, acked: &Acknowledged) -> Result<(), Error> {
    let home = &node.home;
    let (key_path, crt_path) = (home.layout.key(NEXT_KEY), home.layout.key(NEXT_CRT));
    let cert = std::fs::read_to_string(&crt_path).map_err(|e| Error::io(&crt_path, e))?;
    let der = accord_node_api::pki::certs_from_pem(&cert)?
        .into_iter()
        .next()
        .ok_or_else(|| Error::Input(format!("{}: no certificate", crt_path.display())))?;
    let pin = accord_node_api::pki::spki_pin(&der)?;
    let at = (node.clock)();
    let copies: Vec<Agreement> = node
        .store
        .agreements()
        .await?
        .iter()
        .filter_map(|r| Agreement::parse(&r.document).ok())
        .collect();
    let not_acknowledged = match ready(&copies, node.party(), &pin, acked, at) {
        Ok(late) => late,
        Err(waiting) => {
            tracing::debug!(waiting = %waiting.join("; "), "the new TLS key waits for partners");
            return Ok(());
        }
    };
    let dir = home.layout.keys();
    // One change to the node's keys at a time: a rotation running now, next round.
    let Ok(_lock) = crate::rotation::rotation_lock(&dir) else {
        return Ok(());
    };
    if !crt_path.exists() {
        return Ok(());
    }
    let key = home.read_key(NEXT_KEY)?;
    let old = node.server_cert.pin().ok();
    // Checked before anything moves: a key that is not the certificate's is refused.
    node.server_cert.switch(&cert, &key)?;
    // The key, then the certificate (a crash between is finished at the next start),
    // then the history and party.json.
    let to = home.layout.key("tls.key");
    std::fs::rename(&key_path, &to).map_err(|e| Error::io(&to, e))?;
    let to = home.layout.key("tls.crt");
    std::fs::rename(&crt_path, &to).map_err(|e| Error::io(&to, e))?;
    let mut party = accord_keys::load_party(&home.layout.party())?;
    let before = party
        .node
        .as_ref()
        .map(|n| n.tls_spki_sha256.clone())
        .unwrap_or_default();
    if let Some(n) = &mut party.node {
        n.tls_spki_sha256 = pin.clone();
    }
    let mut history = accord_keys::KeyHistory::load(&dir)?;
    history.add("tls", &pin, &at.to_string(), Some(&before));
    history.save(&dir)?;
    accord_keys::replace_file(&home.layout.party(), party.to_json().as_bytes(), false)?;
    node.partner_clients.clear();
    let detail = format!(
        "tls key {before} → {pin} presented from now on{}",
        if not_acknowledged.is_empty() {
            String::new()
        } else {
            format!(
                "; the old key's grace ends soon, not acknowledged by: {}",
                not_acknowledged.join("; ")
            )
        }
    );
    tracing::info!(old = ?old, new = %pin, "switched to the new TLS key");
    node.store
        .record_change(&DirectoryChange::new(
            Actor::Operator,
            "tls",
            "key-switch",
            detail,
        ))
        .await
}
