//! Witnessing between partner nodes (c2sp.org/tlog-witness).
//!
//! Each node runs a witness for its partners' audit logs: a partner submits its latest
//! checkpoint with a consistency proof from the last one this witness cosigned, and the
//! witness cosigns (cosignature/v1) only if the log grew append-only. A fork (the same
//! size with another root, or a proof that does not hold) is refused. The witness trusts
//! only the log key the agreement gives for the calling partner, recognised by its
//! pinned TLS key, so a partner can neither submit another party's log nor one the
//! agreement does not name.
//!
//! Each node in turn submits its own checkpoint to every partner's witness whenever it
//! publishes a new one, and adds the cosignatures to its published checkpoint: anyone
//! can then check with `accord audit verify --log URL --witness-key VKEY` that the
//! partner saw the same log.

use crate::caller::Peer;
use crate::node::Node;
use crate::partners::{self, Partner};
use crate::refusal::Refusal;
use crate::Error;
use accord_log::note::VerifierKey;
use accord_node_api::Kind;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The name of a party's witness key.
pub fn witness_name(party: &str) -> String {
    format!("witness.{}.accord", party.to_ascii_lowercase())
}

fn now_secs() -> u64 {
    time::OffsetDateTime::now_utc().unix_timestamp().max(1) as u64
}

impl Node {
    /// Open this node's witness trusting exactly `logs`.
    fn witness(&self, logs: Vec<VerifierKey>) -> Result<accord_log::witness::Witness, Error> {
        let dir = self.home.layout.witness();
        // A rotated witness key's predecessor cosigns beside it through its grace.
        let earlier = crate::log_keys::witness_cosigners(&self.home, (self.clock)())?;
        let w = accord_log::witness::Witness::open(&dir, &witness_name(self.party()), logs)
            .and_then(|w| w.with_cosigners(earlier))
            .map_err(|e| Error::Input(format!("witness: {e}")))?;
        let vkey = dir.join("witness.vkey");
        if !vkey.exists() {
            let _ = std::fs::write(&vkey, format!("{}\n", w.verifier()));
        }
        Ok(w)
    }

    /// Create the witness's key (and `witness/witness.vkey`) if it does not exist yet, so
    /// that its verifier key is known from the node's start.
    pub fn ensure_witness(&self) -> Result<(), Error> {
        self.witness(vec![]).map(|_| ())
    }

    /// `GET /v1/witness`: the witness's verifier key (public).
    pub async fn witness_key(&self) -> Result<String, Refusal> {
        let w = self.witness(vec![]).map_err(Refusal::internal)?;
        Ok(format!("{}\n", w.verifier()))
    }

    /// `POST /v1/fed/witness/add-checkpoint`: a partner submits its checkpoint.
    pub async fn add_checkpoint(
        self: &Arc<Self>,
        peer: &Peer,
        body: axum::body::Bytes,
    ) -> Result<accord_log::witness::Response, Refusal> {
        let partner = self.partner_of(peer).await?;
        // Every log key the agreements accept from the partner now: after a rotation,
        // the old one too until its grace ends, then the new one alone.
        if partner.log_keys.is_empty() {
            return Err(Refusal::new(
                Kind::Denied,
                accord_node_api::wire::Rule::Partner,
                format!("the agreement gives no log key for {}", partner.code),
            ));
        }
        let keys = partner
            .log_keys
            .iter()
            .map(|k| {
                VerifierKey::parse(k).map_err(|e| {
                    Refusal::new(
                        Kind::Denied,
                        accord_node_api::wire::Rule::Partner,
                        format!("{}'s log key: {e}", partner.code),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let key = &keys[0];
        // The witness keeps its state per log origin: a partner whose log key carries
        // this node's origin or another partner's could replace that log's state (and
        // have that log's genuine checkpoints refused). `agreements::load` refuses an
        // agreement that would bring such a name; this covers agreements held from
        // before that check.
        // Every log name any other party had under any agreement held (in force or
        // not, its keys revoked or not) stays that party's.
        let held = self.agreements().await.map_err(Refusal::internal)?;
        let mut others: Vec<String> = Vec::new();
        for h in held.iter() {
            let checked = h.checked();
            for p in h
                .agreement
                .body
                .parties
                .iter()
                .filter(|p| p.code != partner.code)
            {
                for id in checked.key_ids(&p.code, accord_agreement::amendment::KeyKind::Log) {
                    others.push(crate::agreements::log_name(&id).to_string());
                }
            }
        }
        let names_taken =
            |name: &str| name == self.home.config.log_origin || others.iter().any(|o| o == name);
        let taken = keys.iter().any(|k| names_taken(&k.name));
        if taken {
            return Err(Refusal::new(
                Kind::Denied,
                accord_node_api::wire::Rule::Partner,
                format!(
                    "{}'s log key names the origin {}, which is this node's own log or another partner's: not witnessed",
                    partner.code, key.name
                ),
            ));
        }
        // One submission at a time: the witness's own lock is per opened instance.
        let _guard = self.witness_lock.lock().await;
        let w = self.witness(keys).map_err(Refusal::internal)?;
        let r = tokio::task::spawn_blocking(move || w.add_checkpoint(&body, now_secs()))
            .await
            .map_err(Refusal::internal)?;
        match r.status {
            200 => {}
            // The protocol's own answer to a stale old size: the body is the size this
            // witness last cosigned, and the submitter retries with a proof from there.
            409 => {
                tracing::debug!(partner = %partner.code, cosigned_size = %String::from_utf8_lossy(&r.body).trim(), "witness: the submitter's old size was stale")
            }
            status => {
                tracing::warn!(partner = %partner.code, status, reason = %String::from_utf8_lossy(&r.body).trim(), "witness refused a checkpoint")
            }
        }
        Ok(r)
    }
}

impl Node {
    /// `GET /v1/fed/witness/checkpoint`: the last checkpoint of the calling partner's
    /// log that this node's witness cosigned (its signed note, with the cosignature),
    /// so that the partner can check at start that its log is not behind it nor a fork
    /// of it. 404 when this witness has cosigned none.
    pub async fn witnessed_checkpoint(&self, peer: &Peer) -> Result<Vec<u8>, Refusal> {
        let partner = self.partner_of(peer).await?;
        let origin = partner
            .log_keys
            .first()
            .and_then(|k| VerifierKey::parse(k).ok())
            .map(|k| k.name)
            .ok_or_else(|| {
                Refusal::new(
                    Kind::NotFound,
                    accord_node_api::wire::Rule::Partner,
                    format!("the agreement gives no log key for {}", partner.code),
                )
            })?;
        let w = self.witness(vec![]).map_err(Refusal::internal)?;
        let hash = hex::encode(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            origin.as_bytes(),
        ));
        w.latest(&hash).ok_or_else(|| {
            Refusal::new(
                Kind::NotFound,
                accord_node_api::wire::Rule::Partner,
                format!(
                    "this node's witness has cosigned no checkpoint of {}'s log {origin}",
                    partner.code
                ),
            )
        })
    }
}

/// What the submitter remembers per partner witness.
struct PartnerWitness {
    /// The keys its cosignatures are checked with: those the agreements pin, or the
    /// one its node gave.
    keys: Vec<VerifierKey>,
    client: reqwest::blocking::Client,
    cosigned: u64,
}

/// A partner whose witness could not be reached: not asked again before `next`.
struct Backoff {
    failures: u32,
    next: std::time::Instant,
}

/// What the submitter keeps between rounds.
#[derive(Default)]
struct Submitter {
    known: HashMap<String, PartnerWitness>,
    backoff: HashMap<String, Backoff>,
}

/// Submit the node's checkpoints to its partners' witnesses until `stop`, on a thread
/// of its own (the submission client is blocking). `rt` runs the node's async parts.
pub fn spawn_submitter(
    node: Arc<Node>,
    log: Arc<accord_log::Log>,
    stop: tokio::sync::watch::Receiver<bool>,
    rt: tokio::runtime::Handle,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut published = log.checkpoints();
        let mut state = Submitter::default();
        let mut last = std::time::Instant::now() - Duration::from_secs(60);
        loop {
            if *stop.borrow() {
                return;
            }
            let changed = published.has_changed().unwrap_or(false);
            if changed {
                published.borrow_and_update();
            }
            if changed || last.elapsed() > Duration::from_secs(2) {
                last = std::time::Instant::now();
                if let Err(e) = submit_round(&node, &log, &mut state, &rt) {
                    tracing::debug!(error = %e, "witnessing round");
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    })
}

/// How long to leave a partner's witness alone after `failures` failures in a row:
/// nothing after the first (a partner starting at the same moment is asked again with
/// the next checkpoint), then 2 s doubling, at most a minute (as deliveries back off).
fn backoff_after(failures: u32) -> Duration {
    if failures <= 1 {
        return Duration::ZERO;
    }
    Duration::from_secs(2u64.saturating_pow((failures - 1).min(16)).min(60))
}

fn submit_round(
    node: &Arc<Node>,
    log: &Arc<accord_log::Log>,
    state: &mut Submitter,
    rt: &tokio::runtime::Handle,
) -> Result<(), Error> {
    let Some((partners, signed, src)) = witnessed(node, rt)? else {
        return Ok(());
    };
    let size = signed.checkpoint.size;
    let now = std::time::Instant::now();
    let mut sigs = Vec::new();
    for p in partners {
        if state.known.get(&p.code).is_some_and(|k| k.cosigned == size)
            || state.backoff.get(&p.code).is_some_and(|b| now < b.next)
        {
            continue;
        }
        // Each partner on its own: one that is down holds up neither the others nor
        // the next round (it is asked again after a backoff).
        match submit_to(node, &p, &mut state.known, &signed, &src) {
            Ok(cosigs) => {
                if let Some(b) = state.backoff.remove(&p.code) {
                    tracing::info!(partner = %p.code, failures = b.failures, "the partner's witness cosigns again");
                }
                sigs.extend(cosigs);
            }
            Err(e) => {
                let b = state.backoff.entry(p.code.clone()).or_insert(Backoff {
                    failures: 0,
                    next: now,
                });
                b.failures += 1;
                let wait = backoff_after(b.failures);
                b.next = now + wait;
                // Said once when it starts failing; then only at debug level.
                if b.failures == 1 {
                    tracing::warn!(partner = %p.code, error = %e, retry_in = ?wait, "witness submission failed; retrying with backoff");
                } else {
                    tracing::debug!(partner = %p.code, error = %e, failures = b.failures, retry_in = ?wait, "witness submission failed again");
                }
            }
        }
    }
    if !sigs.is_empty() {
        if let Err(e) = log.add_cosignatures(size, sigs) {
            tracing::debug!(error = %e, "cosignatures not added (a newer checkpoint was published)");
        }
    }
    Ok(())
}

/// Have partner `p`'s witness cosign `signed` (learning its key first if need be).
fn submit_to(
    node: &Arc<Node>,
    p: &Partner,
    known: &mut HashMap<String, PartnerWitness>,
    signed: &accord_log::checkpoint::SignedCheckpoint,
    src: &accord_log::source::DirSource,
) -> Result<Vec<accord_log::note::Signature>, Error> {
    if !known.contains_key(&p.code) {
        let client = blocking_client(node, p)?;
        let keys = match pinned_witness_keys(p)? {
            Some(keys) => keys,
            None => vec![witness_key(&client, p)?],
        };
        known.insert(
            p.code.clone(),
            PartnerWitness {
                keys,
                client,
                cosigned: u64::MAX,
            },
        );
    }
    let Some(pw) = known.get_mut(&p.code) else {
        return Ok(Vec::new());
    };
    // The agreements' pins as they stand now: an amendment loaded since, or a grace
    // that ended, changes them.
    if let Some(keys) = pinned_witness_keys(p)? {
        pw.keys = keys;
    }
    let hint = if pw.cosigned == u64::MAX {
        0
    } else {
        pw.cosigned
    };
    let url = format!("{}/v1/fed/witness", p.url);
    let sub = match accord_log::http::submit_checkpoint_with(
        &pw.client, &url, &pw.keys, signed, src, hint,
    ) {
        Ok(s) => s,
        Err(e) => {
            // Learned again next time: the witness's key may have been rotated.
            known.remove(&p.code);
            return Err(Error::Http {
                url,
                msg: e.to_string(),
            });
        }
    };
    pw.cosigned = signed.checkpoint.size;
    node.metrics.witness_cosigned(&p.code, pw.cosigned);
    Ok(sub.cosignatures)
}

/// Before the node serves: its log must not be behind, nor a fork of, what its
/// partners' witnesses cosigned. A log restored from an old backup (or replaced) would
/// otherwise serve and grow as a fork that nobody notices until a partner refuses it,
/// and every decision logged since the backup would be gone without a trace.
///
/// Each partner in force is asked for the last checkpoint of this log its witness
/// cosigned (`GET /v1/fed/witness/checkpoint`). Only proof stops the start: a
/// checkpoint signed by this node's own log key that is larger than the log here
/// (it went backwards), or that the log here does not extend (a consistency proof from
/// the tiles here does not reach its root: a fork). A partner cannot stop a node by
/// claiming a size: what is not signed by the node's key is said in the node's log and
/// set aside, as is a partner that cannot be reached (the node does not wait on a
/// partner's outage). Blocking.
pub fn check_log_against_witnesses(
    node: &Arc<Node>,
    rt: &tokio::runtime::Handle,
) -> Result<(), Error> {
    let Some((partners, signed, src)) = witnessed(node, rt)? else {
        return Ok(());
    };
    let ours = &signed.checkpoint;
    let dir = node.home.layout.log();
    // The log keys it signs with now: a witness may hold a checkpoint cosigned before
    // a rotation, signed by the old key alone, which is in its grace.
    let keys = crate::log_keys::own_log_verifiers(&node.home, (node.clock)())?;
    for p in partners {
        let client = blocking_client_with(node, &p, Duration::from_secs(5))?;
        let url = format!("{}/v1/fed/witness/checkpoint", p.url);
        let theirs = match client.get(&url).send() {
            Ok(r) if r.status() == reqwest::StatusCode::NOT_FOUND => continue,
            Ok(r) if r.status().is_success() => r.bytes().map_err(|e| e.to_string()),
            Ok(r) => Err(format!("HTTP {}", r.status())),
            Err(e) => Err(accord_node_api::tls::describe(&e)),
        };
        let theirs = match theirs.map_err(|e| e.to_string()).and_then(|b| {
            let cp =
                accord_log::checkpoint::SignedCheckpoint::parse(&b).map_err(|e| e.to_string())?;
            let mut verified = Err(String::from("this node has no log key"));
            for key in &keys {
                verified = cp.verify(key, &[]).map(|_| ()).map_err(|e| e.to_string());
                if verified.is_ok() {
                    break;
                }
            }
            verified?;
            Ok(cp)
        }) {
            Ok(cp) => cp.checkpoint,
            Err(why) => {
                tracing::warn!(partner = %p.code, %why, "the partner's witness gave no checkpoint of this log signed by its key: whether the log was rolled back is not checked against it now");
                continue;
            }
        };
        let refuse = |what: String| {
            Error::Refused(format!(
                "the audit log in {} (size {}) {what}, which {}'s witness cosigned: it was rolled back (restored from an older copy) or replaced. The node does not serve a log its partners saw otherwise (a backup older than what they cosigned would fork it): restore a newer backup or the log the partner witnessed (docs/operations.md, \"Backups and restore\"), or have the officers of both parties settle it",
                dir.display(),
                ours.size,
                p.code
            ))
        };
        if theirs.size > ours.size {
            return Err(refuse(format!(
                "went backwards: it is behind the checkpoint of size {} this node signed",
                theirs.size
            )));
        }
        // Every log extends the empty tree; one of the same size must be the same tree;
        // a larger one must prove it extends it.
        let extends = if theirs.size == 0 {
            true
        } else if theirs.size == ours.size {
            theirs.root == ours.root
        } else {
            let proof = accord_log::merkle::consistency_proof(
                &mut accord_log::source::TileNodes::new(&src, ours.size),
                theirs.size,
                ours.size,
            )
            .map_err(|e| Error::Input(format!("a consistency proof from this log's tiles: {e}")))?;
            let proof: Vec<Vec<u8>> = proof.iter().map(|h| h.to_vec()).collect();
            accord_log::merkle::verify_consistency(
                theirs.size,
                ours.size,
                &proof,
                &theirs.root,
                &ours.root,
            )
            .is_ok()
        };
        if !extends {
            return Err(refuse(format!(
                "is a fork: it does not extend the checkpoint of size {} this node signed",
                theirs.size
            )));
        }
    }
    Ok(())
}

/// The partners in force whose witnesses see this node's log, the log's checkpoint and
/// its tiles; `None` with no partner.
#[allow(clippy::type_complexity)]
fn witnessed(
    node: &Arc<Node>,
    rt: &tokio::runtime::Handle,
) -> Result<
    Option<(
        Vec<Partner>,
        accord_log::checkpoint::SignedCheckpoint,
        accord_log::source::DirSource,
    )>,
    Error,
> {
    let held = rt.block_on(node.agreements())?;
    let partners = partners::in_force(&held, node.party(), (node.clock)());
    if partners.is_empty() {
        return Ok(None);
    }
    let dir = node.home.layout.log();
    let signed =
        accord_log::writer::read_checkpoint(&dir).map_err(|e| Error::Input(e.to_string()))?;
    Ok(Some((
        partners,
        signed,
        accord_log::source::DirSource::new(dir),
    )))
}

/// Each partner's witness key, asked of its node now (a few seconds at most each): the
/// console checks the published checkpoint's cosignatures with them.
pub(crate) fn partner_witness_keys(
    node: &Node,
    partners: &[Partner],
) -> Vec<(String, Result<VerifierKey, String>)> {
    partners
        .iter()
        .map(|p| {
            let key = match pinned_witness_keys(p) {
                Ok(Some(keys)) => Ok(keys[keys.len() - 1].clone()),
                Ok(None) => blocking_client_with(node, p, Duration::from_secs(5))
                    .and_then(|c| witness_key(&c, p))
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            (p.code.clone(), key)
        })
        .collect()
}

/// The witness keys the agreements pin for partner `p` now (the key in force last),
/// or `None` when no amendment pinned one.
fn pinned_witness_keys(p: &Partner) -> Result<Option<Vec<VerifierKey>>, Error> {
    if p.witness_keys.is_empty() {
        if p.witness_pinned {
            // Pinned once, none accepted now: no witness of its to believe, and not
            // one to learn from its node either.
            return Err(Error::Refused(format!(
                "the agreements pinned {}'s witness keys, and none is accepted now (revoked, or its grace ended): its cosignatures are not taken",
                p.code
            )));
        }
        return Ok(None);
    }
    p.witness_keys
        .iter()
        .map(|k| {
            VerifierKey::parse(k).map_err(|e| {
                Error::Input(format!("{}'s witness key in the agreement: {e}", p.code))
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// Partner `p`'s witness key (`GET /v1/witness`, over the pinned TLS).
fn witness_key(client: &reqwest::blocking::Client, p: &Partner) -> Result<VerifierKey, Error> {
    use std::io::Read;
    let url = format!("{}/v1/witness", p.url);
    let http = |e: reqwest::Error| Error::Http {
        url: url.clone(),
        msg: e.to_string(),
    };
    let resp = client
        .get(&url)
        .send()
        .and_then(|r| r.error_for_status())
        .map_err(http)?;
    // A verifier key is one short line: a partner's node sending more is not read.
    let mut text = String::new();
    resp.take(4096)
        .read_to_string(&mut text)
        .map_err(|e| Error::Http {
            url: url.clone(),
            msg: e.to_string(),
        })?;
    VerifierKey::parse(text.trim())
        .map_err(|e| Error::Input(format!("{}'s witness key: {e}", p.code)))
}

fn blocking_client(node: &Node, p: &Partner) -> Result<reqwest::blocking::Client, Error> {
    blocking_client_with(node, p, Duration::from_secs(30))
}

fn blocking_client_with(
    node: &Node,
    p: &Partner,
    timeout: Duration,
) -> Result<reqwest::blocking::Client, Error> {
    let tls = partners::tls_config(&node.home, p)?;
    reqwest::blocking::Client::builder()
        .use_preconfigured_tls(tls)
        .connect_timeout(Duration::from_secs(3))
        .timeout(timeout)
        .build()
        .map_err(|e| Error::Http {
            url: p.url.clone(),
            msg: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_witness_that_keeps_failing_is_asked_less_often_up_to_a_minute() {
        let secs: Vec<u64> = (1..=8).map(|n| super::backoff_after(n).as_secs()).collect();
        assert_eq!(secs, [0, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(super::backoff_after(u32::MAX).as_secs(), 60);
    }
}
