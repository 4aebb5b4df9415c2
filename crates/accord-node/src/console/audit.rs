//! The audit pages, for officers: the log's entries filtered by kind, decision, person
//! and object, each decision's reasons; the latest checkpoint with the partners'
//! cosignatures; and for any entry, its inclusion proof checked against that
//! checkpoint, shown as passed or failed. Read from the log's own tiles, as an auditor's
//! `accord audit verify-proof` would.

use super::{Console, PeerExt};
use accord_agreement::Duty;
use accord_log::hash::leaf_hash;
use accord_log::merkle::{inclusion_proof, verify_inclusion};
use accord_log::note::VerifierKey;
use accord_log::source::{read_entries, DirSource, TileNodes};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use std::sync::Arc;

/// Rows on a page.
const PAGE: usize = 100;
/// How long a partner's witness key, asked of its node, is used before it is asked
/// again.
const WITNESS_KEY_TTL: std::time::Duration = std::time::Duration::from_secs(600);

/// The partners' witness keys as last asked, and when.
pub(crate) type WitnessKeys =
    std::sync::Mutex<std::collections::HashMap<String, (std::time::Instant, VerifierKey)>>;
/// Most entries looked at for one page of a filtered list.
const SCAN: u64 = 20_000;

/// The filters, as the form sends them (an empty field is no filter).
#[derive(Debug, Default)]
pub(crate) struct Filter {
    kind: String,
    decision: String,
    person: String,
    object: String,
    /// Entries before this index (the next page).
    before: Option<u64>,
}

impl Filter {
    fn from_query(q: Option<&str>) -> Filter {
        use super::forms::{pairs, pick};
        let p = pairs(q);
        Filter {
            kind: pick(&p, "kind"),
            decision: pick(&p, "decision"),
            person: pick(&p, "person"),
            object: pick(&p, "object"),
            before: pick(&p, "before").parse().ok(),
        }
    }

    fn keeps(&self, e: &serde_json::Value) -> bool {
        let is = |k: &str, want: &str| want.is_empty() || e[k].as_str() == Some(want);
        is("kind", &self.kind)
            && is("decision", &self.decision)
            && (self.person.is_empty()
                || e["person"].as_str() == Some(&self.person)
                || e["subject"].as_str() == Some(&self.person))
            && is("object", &self.object)
    }
}

fn reasons(e: &serde_json::Value) -> Markup {
    html! {
        @if let Some(rs) = e["reasons"].as_array() {
            @if !rs.is_empty() {
                ul.reasons { @for r in rs { li { code { (r["rule"].as_str().unwrap_or("")) } " — " (r["text"].as_str().unwrap_or("")) } } }
            }
        }
    }
}

/// `GET /console/audit`.
pub(crate) async fn list(
    State(c): State<Arc<Console>>,
    peer: PeerExt,
    q: axum::extract::RawQuery,
) -> Response {
    let caller = match c.caller(&peer, Duty::ReadAudit).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    // One scan of the log at a time, whoever asks.
    let _scan = c.audit_scan.acquire().await;
    // A filter is read leniently: what it does not understand filters nothing.
    let f = Filter::from_query(q.0.as_deref());
    let dir = c.node.home.layout.log();
    let before = f.before;
    let found = tokio::task::spawn_blocking(move || -> Result<_, String> {
        let cp = accord_log::writer::read_checkpoint(&dir).map_err(|e| e.to_string())?;
        let size = cp.checkpoint.size;
        let end = before.unwrap_or(size).min(size);
        let start = end.saturating_sub(SCAN);
        let mut all = Vec::new();
        read_entries(&DirSource::new(dir), size, start, end, |i, e| {
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(e) {
                all.push((i, v));
            }
        })
        .map_err(|e| e.to_string())?;
        Ok((cp, start, all))
    })
    .await;
    let (cp, start, all) = match found {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => {
            return c.refused(
                Some(&caller),
                "Audit",
                &crate::refusal::Refusal::internal(e),
            )
        }
        Err(e) => {
            return c.refused(
                Some(&caller),
                "Audit",
                &crate::refusal::Refusal::internal(e),
            )
        }
    };
    let kept: Vec<&(u64, serde_json::Value)> = all
        .iter()
        .rev()
        .filter(|(_, e)| f.keeps(e))
        .take(PAGE)
        .collect();
    let next = kept
        .last()
        .map(|(i, _)| *i)
        .filter(|i| *i > 0)
        .or((start > 0).then_some(start));
    let next_link = next.map(|n| {
        let q = serde_urlencoded::to_string([
            ("kind", f.kind.as_str()),
            ("decision", f.decision.as_str()),
            ("person", f.person.as_str()),
            ("object", f.object.as_str()),
            ("before", &n.to_string()),
        ])
        .unwrap_or_default();
        format!("/console/audit?{q}")
    });
    let markings: Vec<&str> = kept
        .iter()
        .filter_map(|(_, e)| e["marking"].as_str())
        .collect();
    let banner = c.node.banner_of_markings(markings.iter().copied());
    let kinds = crate::entry_kind::EntryKind::ALL;
    let body = html! {
        p { "The log has " (cp.checkpoint.size) " entries; checkpoint root " code { (hex::encode(cp.checkpoint.root)) } ", signed by "
            (cp.note.signatures.iter().map(|s| s.name.clone()).collect::<Vec<_>>().join(", ")) "." }
        form.filters method="get" action="/console/audit" {
            label { "Kind" select name="kind" { option value="" { "any" } @for k in kinds { option value=(k.as_str()) selected[k.as_str() == f.kind] { (k.as_str()) } } } }
            label { "Decision" select name="decision" { option value="" { "any" } @for d in ["permit", "deny"] { option value=(d) selected[d == f.decision] { (d) } } } }
            label { "Person" input type="text" name="person" value=(f.person); }
            label { "Object" input type="text" name="object" value=(f.object); }
            button type="submit" { "Filter" }
        }
        table #audit {
            thead { tr { th { "Entry" } th { "Time" } th { "Kind" } th { "Decision" } th { "Person" } th { "Object / marking" } th { "Reasons" } } }
            tbody {
                @for (i, e) in &kept {
                    tr {
                        td { a href={"/console/audit/" (i)} { (i) } }
                        td { (e["time"].as_str().unwrap_or("")) }
                        td { (e["kind"].as_str().unwrap_or("")) }
                        td { @if e["decision"] == "permit" { span.ok { "permit" } } @else { span.bad { (e["decision"].as_str().unwrap_or("")) } } }
                        td { (e["person"].as_str().unwrap_or("")) @if let Some(s) = e["subject"].as_str() { " → " (s) } }
                        td {
                            @if let Some(o) = e["object"].as_str() { code { (o) } br; }
                            @if let Some(m) = e["marking"].as_str() { span.portion.(c.node.marking_class(m)) { (m) } }
                            @if let Some(d) = e["detail"].as_str() { (e["change"].as_str().unwrap_or("")) ": " (d) }
                        }
                        td { (reasons(e)) }
                    }
                }
            }
        }
        @if let Some(l) = next_link { nav.pager { a rel="next" href=(l) { "older →" } } }
    };
    c.page(StatusCode::OK, Some(&caller), "Audit", &banner, body)
}

/// One check on the entry page.
struct Check {
    what: String,
    result: Result<String, String>,
}

/// `GET /console/audit/{index}`: the entry, and its proof checked.
pub(crate) async fn entry(
    State(c): State<Arc<Console>>,
    peer: PeerExt,
    Path(index): Path<u64>,
) -> Response {
    let caller = match c.caller(&peer, Duty::ReadAudit).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let held = match c.node.agreements().await {
        Ok(h) => h,
        Err(e) => {
            return c.refused(
                Some(&caller),
                "Audit entry",
                &crate::refusal::Refusal::internal(e),
            )
        }
    };
    let partners = crate::partners::in_force(&held, c.node.party(), (c.node.clock)());
    // The witness keys: cached ones, and the others asked of the partners' nodes.
    let cached: Vec<(String, Result<VerifierKey, String>)> = {
        let keys = c.witness_keys.lock().unwrap_or_else(|e| e.into_inner());
        partners
            .iter()
            .filter_map(|p| {
                keys.get(&p.code)
                    .filter(|(at, _)| at.elapsed() < WITNESS_KEY_TTL)
                    .map(|(_, k)| (p.code.clone(), Ok(k.clone())))
            })
            .collect()
    };
    let ask: Vec<crate::partners::Partner> = partners
        .iter()
        .filter(|p| !cached.iter().any(|(c, _)| c == &p.code))
        .cloned()
        .collect();
    let node = c.node.clone();
    // party.json as it is now: a rotation changes the log key while the node runs.
    let own_key = accord_keys::load_party(&node.home.layout.party())
        .ok()
        .and_then(|p| p.node)
        .or_else(|| node.home.party.node.clone())
        .map(|n| n.log_verifier_key);
    let found = tokio::task::spawn_blocking(move || -> Result<_, String> {
        let dir = node.home.layout.log();
        let cp = accord_log::writer::read_checkpoint(&dir).map_err(|e| e.to_string())?;
        let size = cp.checkpoint.size;
        if index >= size {
            return Err(format!(
                "entry {index} is not in the log: its checkpoint has {size} entries"
            ));
        }
        let src = DirSource::new(dir);
        let mut entry = Vec::new();
        read_entries(&src, size, index, index + 1, |_, e| entry = e.to_vec())
            .map_err(|e| e.to_string())?;
        let mut checks = Vec::new();
        // The inclusion proof, from the tiles, against the checkpoint's root.
        let proof = inclusion_proof(&mut TileNodes::new(&src, size), index, size);
        checks.push(Check {
            what: format!("inclusion of entry {index} in the tree of {size} entries"),
            result: proof.map_err(|e| e.to_string()).and_then(|p| {
                let p: Vec<Vec<u8>> = p.iter().map(|h| h.to_vec()).collect();
                verify_inclusion(index, size, &leaf_hash(&entry), &p, &cp.checkpoint.root)
                    .map(|_| {
                        format!(
                            "{} hashes lead to root {}",
                            p.len(),
                            hex::encode(cp.checkpoint.root)
                        )
                    })
                    .map_err(|e| e.to_string())
            }),
        });
        // The checkpoint's signature by this node's log key.
        let own = own_key
            .as_deref()
            .ok_or_else(|| "party.json names no log verifier key".to_string())
            .and_then(|k| VerifierKey::parse(k).map_err(|e| e.to_string()));
        checks.push(Check {
            what: format!(
                "the checkpoint's signature by the {} log's key",
                node.party()
            ),
            result: own.and_then(|k| {
                cp.verify(&k, &[])
                    .map(|_| format!("key {}", k.name))
                    .map_err(|e| e.to_string())
            }),
        });
        // Each partner's cosignature.
        let asked = crate::witnessing::partner_witness_keys(&node, &ask);
        let fresh: Vec<(String, VerifierKey)> = asked
            .iter()
            .filter_map(|(p, k)| k.as_ref().ok().map(|k| (p.clone(), k.clone())))
            .collect();
        for (party, key) in cached.into_iter().chain(asked) {
            checks.push(Check {
                what: format!("{party}'s witness cosignature"),
                result: key.and_then(|k| {
                    let log_key = own_key.as_deref().map(VerifierKey::parse);
                    match log_key {
                        Some(Ok(l)) => cp
                            .verify(&l, std::slice::from_ref(&k))
                            .map(|_| {
                                format!(
                                    "witness {} cosigned the checkpoint of {size} entries",
                                    k.name
                                )
                            })
                            .map_err(|e| e.to_string()),
                        _ => Err("no log key to check the checkpoint with".into()),
                    }
                }),
            });
        }
        if partners.is_empty() {
            checks.push(Check {
                what: "a partner's witness cosignature".into(),
                result: Err("no agreement in force: no partner witnesses this log".into()),
            });
        }
        Ok((entry, checks, fresh))
    })
    .await;
    let (entry, checks) = match found {
        Ok(Ok((entry, checks, fresh))) => {
            let mut keys = c.witness_keys.lock().unwrap_or_else(|e| e.into_inner());
            for (p, k) in fresh {
                keys.insert(p, (std::time::Instant::now(), k));
            }
            (entry, checks)
        }
        Ok(Err(e)) => {
            return c.refused(
                Some(&caller),
                "Audit entry",
                &crate::refusal::Refusal::new(
                    accord_node_api::Kind::NotFound,
                    accord_node_api::wire::Rule::Request,
                    e,
                ),
            )
        }
        Err(e) => {
            return c.refused(
                Some(&caller),
                "Audit entry",
                &crate::refusal::Refusal::internal(e),
            )
        }
    };
    let v: serde_json::Value = serde_json::from_slice(&entry).unwrap_or(serde_json::Value::Null);
    let passed = checks.iter().all(|c| c.result.is_ok());
    let markings: Vec<&str> = v["marking"].as_str().into_iter().collect();
    let banner = c.node.banner_of_markings(markings.iter().copied());
    let body = html! {
        p #proof-result {
            @if passed { span.ok { "Proof passed" } } @else { span.bad { "Proof failed" } }
            ": entry " (index) " is in the log the partners witness."
        }
        ul #checks {
            @for ch in &checks {
                li {
                    @match &ch.result {
                        Ok(d) => { span.ok { "passed" } " — " (ch.what) ": " (d) }
                        Err(e) => { span.bad { "failed" } " — " (ch.what) ": " (e) }
                    }
                }
            }
        }
        h2 { "Entry" }
        (reasons(&v))
        pre.content #entry { (serde_json::to_string_pretty(&v).unwrap_or_else(|_| String::from_utf8_lossy(&entry).into_owned())) }
    };
    c.page(StatusCode::OK, Some(&caller), "Audit entry", &banner, body)
}
