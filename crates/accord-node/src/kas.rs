//! The key access service: a rewrap request checked once (the person's and the
//! partner's route alike), each object decided, every decision durable in the audit log,
//! then the permitted shares released, sealed to the client's fresh key. The label
//! check and the share unwrapping are cached by their inputs.

use crate::agreements::Held;
use crate::audit::{AuditEntry, EntryKind};
use crate::caller::{Caller, Peer};
use crate::node::Node;
use crate::refusal::Refusal;
use crate::store::PersonRecord;
use accord_agreement::amendment::KeyKind;
use accord_agreement::{Person, Time};
use accord_keys::{KasPublicKey, VerifyingKey};
use accord_node_api::pki;
use accord_node_api::wire::{self, Reason};
use accord_node_api::Kind;
use accord_spif::Label;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rayon::prelude::*;
use std::sync::Arc;
use zeroize::Zeroizing;

/// The refusal of a rewrap request whose nonce was used before (a person's, or one a
/// partner node forwards).
pub(crate) fn replayed(nonce: &str) -> Refusal {
    Refusal::new(
        Kind::Denied,
        accord_node_api::wire::Rule::Request,
        format!(
            "replayed rewrap request: nonce {}… was already used",
            nonce.get(..16).unwrap_or(nonce)
        ),
    )
}

/// The refusal of a rewrap request issued more than [`wire::MAX_SKEW_SECS`] from this
/// node's clock (a person's, or one a partner node forwards): its nonce is kept only
/// for twice that, so an older request could otherwise be replayed.
pub(crate) fn stale(issued_at: i64) -> Option<Refusal> {
    let now = crate::store::unix_now();
    (issued_at.abs_diff(now) > wire::MAX_SKEW_SECS.unsigned_abs()).then(|| {
        Refusal::new(
            Kind::Denied,
            accord_node_api::wire::Rule::Request,
            format!(
                "the rewrap request was issued at {issued_at} but this node's clock says {now}: more than {} s apart (a stale or replayed request, or a wrong clock)",
                wire::MAX_SKEW_SECS
            ),
        )
    })
}

pub(crate) fn digest(parts: &[&[u8]]) -> [u8; 32] {
    let mut c = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for p in parts {
        c.update(&(p.len() as u64).to_be_bytes());
        c.update(p);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(c.finish().as_ref());
    out
}

/// The id an object decided from its policy's attributes is logged under: `sha256:` of
/// the policy as bound to the key. Not its uuid: anyone may seal an object under any
/// uuid, and only the policy is proven (by the binding) when a key is released.
pub(crate) fn object_id_of(policy_b64: &str) -> String {
    format!(
        "sha256:{}",
        hex::encode(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            policy_b64.as_bytes()
        ))
    )
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
    pub(crate) fn person_id(&self) -> Option<&str> {
        self.person.as_ref().ok().map(|r| r.id.as_str())
    }
}

/// What deciding an object needs besides the object.
#[derive(Clone, Copy)]
pub(crate) struct Context<'a> {
    pub(crate) person: &'a Result<Person, Reason>,
    pub(crate) requesting: &'a str,
    pub(crate) held: &'a [Held],
    pub(crate) trusted: &'a [VerifyingKey],
    /// The trusted signers' kids, joined: part of the verified-label cache key.
    pub(crate) signer_kids: &'a str,
    pub(crate) at: Time,
    /// When each object of the request that uses a revoked key of this KAS was first
    /// recorded here (by manifest digest): read before deciding.
    pub(crate) sealed: &'a crate::decision::Evidence,
}

/// The result of deciding one object, before it is logged.
pub(crate) struct Pending {
    /// The label was rebuilt from the policy's attributes (the object carries no label
    /// assertion): the audit entry says so.
    pub(crate) unsigned: bool,
    pub(crate) object_id: String,
    pub(crate) marking: String,
    pub(crate) agreement: Option<String>,
    pub(crate) reasons: Vec<Reason>,
    pub(crate) permit: bool,
    pub(crate) shares: Vec<(String, Zeroizing<Vec<u8>>)>,
}

impl Node {
    pub(crate) fn decide_object(
        &self,
        index: usize,
        manifest: &serde_json::Value,
        cx: &Context<'_>,
    ) -> Pending {
        let trusted = cx.trusted;
        let mut p = Pending {
            unsigned: false,
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
                        // Only when the label does not verify is the manifest read
                        // again: an object with no label assertion at all (an OpenTDF
                        // SDK sealed it) is decided from its policy's attributes, as
                        // the OpenTDF route decides it; any other is refused.
                        if let Ok(m) = accord_tdf::Manifest::parse(&bytes) {
                            let labelled = m.assertions.iter().any(|a| {
                                a.id == accord_tdf::assertion::LABEL_ID
                                    || a.id == accord_tdf::assertion::MARKING_ID
                            });
                            if !labelled {
                                return self.decide_unlabelled(p, &m, cx);
                            }
                            if let Ok(po) = m.policy_object() {
                                p.object_id = po.uuid;
                            }
                        }
                        p.reasons.push(Reason::new(
                            accord_node_api::wire::Rule::ObjectIntegrity,
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
                let marking = self.marking_of(&label, &verified.marking);
                let e = Arc::new((verified, label, marking));
                if let Ok(mut c) = self.caches.labels.lock() {
                    c.insert(key, e.clone());
                }
                e
            }
        };
        let (verified, label) = (&entry.0, &entry.1);
        p.object_id = verified.object_id.clone();
        p.marking = entry.2.clone();
        p.agreement = verified.agreement.clone();
        if let Some(why) = self.signer_out_of_place(verified, cx.held) {
            p.reasons.push(Reason::new(
                accord_node_api::wire::Rule::ObjectIntegrity,
                why,
            ));
            return p;
        }
        // A label signed by a key revoked as compromised vouches only for an object
        // shown to have existed before then: the decision comes before any unwrap.
        if let Some(r) = self.revoked_signer(verified, cx.held, cx.sealed) {
            p.reasons.push(r);
            return p;
        }
        self.decide_held(
            p,
            label,
            &verified.dissem,
            &verified.manifest.encryption_information,
            Some(&verified.manifest_digest),
            cx,
        )
    }

    /// Decide an object whose label `verified` holds no assertion of: the label its
    /// policy's attributes describe ([`Node::attribute_label`]), or a deny saying why
    /// there is none.
    fn decide_unlabelled(
        &self,
        mut p: Pending,
        m: &accord_tdf::Manifest,
        cx: &Context<'_>,
    ) -> Pending {
        p.unsigned = true;
        let ei = &m.encryption_information;
        let entry = match self.attribute_label(&ei.policy) {
            Ok(e) => e,
            Err((rule, why)) => {
                p.reasons.push(Reason::new(rule, why));
                return p;
            }
        };
        let (policy, label, agreement, marking) = &*entry;
        p.object_id = object_id_of(&ei.policy);
        p.marking = marking.clone();
        p.agreement = agreement.clone();
        self.decide_held(p, label, &policy.body.dissem, ei, None, cx)
    }

    /// The decision on an object whose label is known, then the shares of this KAS
    /// unwrapped if it permits.
    /// `digest` is the manifest digest its label's signature binds (none for an object
    /// whose label comes from its policy's attributes): what the evidence of when it
    /// was sealed is kept by.
    fn decide_held(
        &self,
        mut p: Pending,
        label: &Label,
        dissem: &[String],
        ei: &accord_tdf::manifest::EncryptionInformation,
        digest: Option<&str>,
        cx: &Context<'_>,
    ) -> Pending {
        let Context {
            person,
            requesting,
            held,
            at,
            ..
        } = *cx;
        let keys = self.own();
        let mine: Vec<_> = ei
            .key_access
            .iter()
            .filter(|k| keys.kas_key(&k.kid).is_some())
            .collect();
        if mine.is_empty() {
            p.reasons.push(Reason::new(
                accord_node_api::wire::Rule::KeyAccess,
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
        // A share released through a classical key access (RSA, ECDH) is bounded by
        // the classical ceiling, as for an OpenTDF client.
        let wrapping = if mine.iter().all(|k| {
            keys.kas_key(&k.kid)
                .is_some_and(|key| key.alg().is_post_quantum())
        }) {
            accord_agreement::Wrapping::PostQuantum
        } else {
            self.classical()
        };
        let (permit, reasons) = self.decide_for(
            person,
            label,
            p.agreement.as_deref(),
            requesting,
            dissem,
            held,
            at,
            wrapping,
        );
        p.reasons = reasons;
        if !permit {
            return p;
        }
        // A key of this KAS revoked as compromised serves only an object shown to have
        // existed before then.
        for kao in &mine {
            if let Some((compromised, why)) = keys.revocation(KeyKind::Kas, &kao.kid) {
                let sealed = digest
                    .and_then(|d| cx.sealed.get(d))
                    .map(|(t, e)| (*t, e.as_str()));
                let key = format!(
                    "the {} KAS key {}…",
                    self.party(),
                    kao.kid.get(..16).unwrap_or(&kao.kid)
                );
                if let Some(r) = accord_agreement::revoked_key(&key, compromised, why, sealed) {
                    p.reasons = crate::decision::convert(vec![r]);
                    return p;
                }
            }
        }
        // Unwrap only after the decision permits: a denied request never touches a key.
        for kao in mine {
            let Some(key) = keys.kas_key(&kao.kid) else {
                continue;
            };
            let unwrapped = self.unwrap_cached(key, kao, &ei.policy);
            match unwrapped {
                Ok(share) => {
                    if !p.shares.iter().any(|(sid, _)| sid == &kao.sid) {
                        p.shares.push((kao.sid.clone(), share));
                    }
                }
                Err(e) => {
                    // A key in a token that cannot be reached now says so (try again
                    // later); anything else is the object's.
                    let rule = match &e {
                        accord_tdf::Error::Keys(accord_keys::Error::Token(_)) => {
                            accord_node_api::wire::Rule::KeyAccess
                        }
                        _ => accord_node_api::wire::Rule::ObjectIntegrity,
                    };
                    p.shares.clear();
                    p.reasons = vec![Reason::new(rule, e.to_string())];
                    return p;
                }
            }
        }
        p.permit = true;
        p
    }

    /// The label `policy_b64`'s attributes describe, with the policy, the agreement it
    /// names and the marking; or the rule and reason why there is none (`manifest`:
    /// not a policy at all). Both routes of the KAS come here for an object without a
    /// label assertion. Valid labels are cached by the policy's digest.
    pub(crate) fn attribute_label(
        &self,
        policy_b64: &str,
    ) -> Result<Arc<crate::cache::AttributeLabel>, (wire::Rule, String)> {
        let key = digest(&[b"opentdf-policy", policy_b64.as_bytes()]);
        if let Some(e) = self
            .caches
            .attribute_labels
            .lock()
            .ok()
            .and_then(|mut c| c.get(&key))
        {
            return Ok(e);
        }
        // The policy: base64 of its JSON, exactly as in the manifest.
        let policy = B64
            .decode(policy_b64.as_bytes())
            .ok()
            .and_then(|b| serde_json::from_slice::<accord_tdf::manifest::PolicyObject>(&b).ok())
            .ok_or((
                wire::Rule::Manifest,
                "the policy is not base64 of a policy object".to_string(),
            ))?;
        let fqns: Vec<String> = policy
            .body
            .data_attributes
            .iter()
            .map(|a| a.attribute.clone())
            .collect();
        let a = accord_tdf::label_attributes(&fqns).map_err(|why| (wire::Rule::Label, why))?;
        let label = self
            .policies()
            .label_from_attributes(&a.policy, &a.classification, &a.categories)
            .map_err(|why| (wire::Rule::Label, why))?;
        let marking = self.marking_of(&label, "");
        let e = Arc::new((policy, label, a.agreement, marking));
        if let Ok(mut c) = self.caches.attribute_labels.lock() {
            c.insert(key, e.clone());
        }
        Ok(e)
    }

    /// Unwrap `kao`'s share with `key` and check its binding to `policy_b64`, or take
    /// it from the cache of that work (keyed by everything it depends on). Both routes
    /// of the KAS come here, only after the decision permits.
    pub(crate) fn unwrap_cached(
        &self,
        key: &accord_keys::KasPrivateKey,
        kao: &accord_tdf::manifest::KeyAccess,
        policy_b64: &str,
    ) -> Result<Zeroizing<Vec<u8>>, accord_tdf::Error> {
        let share_key = digest(&[
            kao.kid.as_bytes(),
            kao.sid.as_bytes(),
            kao.key_type.as_bytes(),
            kao.wrapped_key.as_bytes(),
            kao.ephemeral_public_key.as_bytes(),
            kao.policy_binding.to_string().as_bytes(),
            policy_b64.as_bytes(),
        ]);
        if let Some(s) = self
            .caches
            .shares
            .lock()
            .ok()
            .and_then(|mut c| c.get(&share_key))
        {
            return Ok(s);
        }
        accord_tdf::unwrap_share(key, kao, policy_b64).inspect(|s| {
            if let Ok(mut c) = self.caches.shares.lock() {
                c.insert(share_key, s.clone());
            }
        })
    }

    /// `POST /v1/kas/rewrap`: decide each object, make every decision durable in the
    /// audit log, then release the permitted shares wrapped to the client's key.
    pub async fn rewrap(
        self: &Arc<Self>,
        peer: &Peer,
        body: &[u8],
    ) -> Result<wire::RewrapResponse, Refusal> {
        let began = std::time::Instant::now();
        let caller = match self.authenticate(peer).await {
            Ok(c) => c,
            Err(r) => {
                let fp = peer.cert.as_ref().map(|c| hex::encode(pki::sha256(c)));
                if r.kind == Kind::Denied {
                    self.log_refusal(EntryKind::Rewrap, None, fp.as_deref(), None, &r)
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
        let r = self.answered(EntryKind::Rewrap, &caller, r).await;
        self.metrics.rewrap_took(began.elapsed().as_secs_f64());
        r
    }

    /// The evidence of when each of `objects` was sealed, for those with a key access
    /// object for a revoked key of this KAS or a label whose signer is revoked (none
    /// asked otherwise), by manifest digest. The label's signer is read ahead from its
    /// header, unverified: a header naming another key only leaves the object without
    /// evidence, and so refused.
    async fn sealed_evidence(
        &self,
        objects: &[serde_json::Value],
        held: &[Held],
    ) -> Result<crate::decision::Evidence, Refusal> {
        let keys = self.own();
        let mut out = std::collections::HashMap::new();
        let revoked: Vec<serde_json::Value> = objects
            .iter()
            .filter(|m| {
                let kas_revoked = m["encryptionInformation"]["keyAccess"]
                    .as_array()
                    .is_some_and(|kaos| {
                        kaos.iter().any(|k| {
                            k["kid"]
                                .as_str()
                                .is_some_and(|kid| keys.revocation(KeyKind::Kas, kid).is_some())
                        })
                    });
                kas_revoked
                    || accord_tdf::assertion::label_header_kid(m).is_some_and(|kid| {
                        self.key_revocation(KeyKind::Signing, &kid, None, held)
                            .is_some()
                    })
            })
            .cloned()
            .collect();
        if revoked.is_empty() {
            return Ok(out);
        }
        // Canonicalising manifests (up to 10 MB each) is CPU work: off the async workers.
        let digests: Vec<String> = tokio::task::spawn_blocking(move || {
            revoked
                .iter()
                .filter_map(|m| accord_tdf::assertion::manifest_digest(m).ok())
                .collect()
        })
        .await
        .map_err(Refusal::internal)?;
        for digest in digests {
            if let Some(s) = self
                .store
                .sealed(&digest)
                .await
                .map_err(Refusal::internal)?
            {
                if let Ok(t) = Time::from_unix(s.at) {
                    out.insert(digest, (t, s.evidence));
                }
            }
        }
        Ok(out)
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
        if let Some(why) = self.keys.unreadable() {
            return Err(Refusal::internal(why));
        }
        let at = (self.clock)();
        let sealed = self.sealed_evidence(&objects, &held).await?;

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
                            sealed: &sealed,
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
                    person: who.person_id(),
                    credential: who.credential.as_deref(),
                    object: Some(&p.object_id),
                    marking: (!p.marking.is_empty()).then_some(p.marking.as_str()),
                    agreement: p.agreement.as_deref(),
                    request: Some(nonce),
                    partner: who.partner.as_deref(),
                    detail: p
                        .unsigned
                        .then_some("label from the policy's attributes (unsigned)"),
                    ..self.entry_at(EntryKind::Rewrap, time.clone(), p.permit, &p.reasons)
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
                        accord_node_api::share::seal_share(&session[..], &p.object_id, sid, share)
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
                Kind::Denied,
                accord_node_api::wire::Rule::Request,
                "the rewrap request's signature does not verify with the credential's key",
            );
            self.log_refusal(EntryKind::Rewrap, Some(caller), None, None, &r)
                .await;
            return Err(Refusal { logged: true, ..r });
        }
        let req = wire::parse_rewrap_request(&req_bytes)?;
        if let Some(r) = stale(req.issued_at) {
            self.log_refusal(EntryKind::Rewrap, Some(caller), None, Some(&req.nonce), &r)
                .await;
            return Err(Refusal { logged: true, ..r });
        }
        let fresh = self
            .store
            .use_nonce(&req.nonce, &caller.record.id, crate::store::unix_now())
            .await
            .map_err(Refusal::internal)?;
        if !fresh {
            let r = replayed(&req.nonce);
            self.log_refusal(EntryKind::Rewrap, Some(caller), None, Some(&req.nonce), &r)
                .await;
            return Err(Refusal { logged: true, ..r });
        }
        let client_key = wire::rewrap_client_key(&req)?;
        Ok((req, client_key))
    }
}
