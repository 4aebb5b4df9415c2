//! `kas.AccessService/Rewrap` for OpenTDF clients, through the one decision.
//!
//! 1. The access token names a person of this node (`issuer`); a DPoP-bound token needs
//!    its proof, and the proof's key must have signed the signed request token (SRT).
//! 2. Each policy of the request is an object: its label is rebuilt from the policy's
//!    attributes (`accord_tdf::label_attributes`, then the policy set), since an
//!    OpenTDF object carries no signed Accord label; a policy that yields no valid
//!    label, or none at all, is denied with the reason (never "no attributes, no
//!    restriction").
//! 3. [`Node::decide_for`] decides it with `Wrapping::Classical` (the return leg is RSA
//!    or ECDH), the same function `/v1/kas/rewrap` calls; only a permit unwraps, and the
//!    unwrap checks the policy binding, which ties the attributes to the key.
//! 4. Every decision is in the audit log (one entry per object) before any key leaves.

use super::session::Session;
use crate::entry_kind::EntryKind;
use crate::home::DpopMode;
use crate::node::Node;
use crate::tokens::external::Refused as Refused_;
use crate::tokens::issuer::{Confirmation, CREDENTIAL_CLIENT};
use accord_node_api::opentdf::connect::{Code, ConnectError};
use accord_node_api::opentdf::kas::{
    KeyAccess, KeyAccessRewrapResult, Outcome, PolicyRewrapResult, RewrapRequest, RewrapResponse,
    UnsignedRewrapRequest,
};
use accord_node_api::opentdf::oidc;
use accord_node_api::opentdf::srt::{self, SignedRequestToken};
use accord_node_api::wire::{Reason, Rule};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rayon::prelude::*;
use std::sync::Arc;
use zeroize::Zeroizing;

/// The error a KAO fails with when the decision denies it, as the platform words it
/// (SDKs look for `PermissionDenied`), followed by every reason.
fn denied(reasons: &[Reason]) -> String {
    let why: Vec<String> = reasons
        .iter()
        .map(|r| format!("{}: {}", r.rule.as_str(), r.text))
        .collect();
    format!(
        "permission_denied: request error\nrpc error: code = PermissionDenied desc = forbidden: {}",
        why.join("; ")
    )
}

/// The error of a KAO whose key does not unwrap or whose binding does not hold: the
/// platform's "bad request", which SDKs read as tampering.
const TAMPERED: &str =
    "invalid_argument: request error\nrpc error: code = InvalidArgument desc = bad request";

fn unauthenticated(message: impl Into<String>) -> ConnectError {
    ConnectError {
        code: Code::Unauthenticated,
        message: message.into(),
    }
}

/// A failure of the node itself: logged in full, answered without its details.
fn internal(e: impl std::fmt::Display) -> ConnectError {
    tracing::error!(error = %e, "OpenTDF request failed");
    ConnectError {
        code: Code::Internal,
        message: "the node failed to answer: its officer has the details in its log".into(),
    }
}

/// A refusal, and the person and credential the token named once it verified.
type Refused = (ConnectError, Option<(String, String)>);

/// Who a verified access token names, under which credential (as the audit log
/// names it), and the DPoP key it is bound to.
struct TokenHolder {
    person: String,
    credential: String,
    cnf: Option<Confirmation>,
}

fn invalid(message: impl Into<String>) -> ConnectError {
    ConnectError {
        code: Code::InvalidArgument,
        message: message.into(),
    }
}

/// The issuer an access token claims (`iss`), unverified: which issuer checks it.
fn token_issuer(token: &str) -> Option<String> {
    if token.len() > accord_node_api::opentdf::oidc::MAX_ACCESS_TOKEN {
        return None;
    }
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    Some(
        claims
            .get("iss")?
            .as_str()?
            .trim_end_matches('/')
            .to_string(),
    )
}

/// Who asked an OpenTDF rewrap, once the token is checked.
pub struct Asker {
    person: crate::store::PersonRecord,
    /// The credential the audit log names: `opentdf-client:ID`, a credential's
    /// fingerprint, or `oidc:CLIENT@ISSUER`.
    credential: String,
    /// The key that must have signed the SRT (the DPoP proof's), or none (Bearer).
    srt_key: Option<srt::Jwk>,
}

/// A key access object's key, unwrapped, or why it fails (the error text it answers).
type Unwrapped = Result<Zeroizing<Vec<u8>>, String>;

/// One object (one policy of the request) decided.
struct Decided {
    policy_id: String,
    object_id: String,
    marking: String,
    agreement: Option<String>,
    permit: bool,
    reasons: Vec<Reason>,
    /// Per key access object: its id and its key, or why it fails.
    kaos: Vec<(String, Unwrapped)>,
}

impl Node {
    /// Check the access token (and its DPoP proof) of an OpenTDF rewrap: done before
    /// its body is read. A caller the token does not name is refused as a stranger
    /// (logged within the strangers' rate); a person it names is refused in the audit
    /// log, like every refusal of a known caller.
    pub async fn opentdf_authenticate(
        &self,
        authorization: Option<&str>,
        dpop: Option<&str>,
    ) -> Result<Asker, ConnectError> {
        let (person, holder, token) = match self.opentdf_token_person(authorization).await {
            Ok(x) => x,
            Err((e, named)) => {
                if e.code == Code::Unauthenticated {
                    let (person, credential) = named.unzip();
                    self.log_opentdf_refusal(person.as_deref(), credential.as_deref(), &e)
                        .await;
                }
                return Err(e);
            }
        };
        match self.opentdf_proof(holder.cnf.as_ref(), &token, dpop) {
            Ok(srt_key) => Ok(Asker {
                person,
                credential: holder.credential,
                srt_key,
            }),
            Err(e) => {
                self.log_opentdf_refusal(Some(&person.id), Some(&holder.credential), &e)
                    .await;
                Err(e)
            }
        }
    }

    /// A refused OpenTDF request in the audit log (kind `rewrap`, rule `credential` for
    /// an authentication failure, else `request`): naming the person a verified token
    /// names, else as a stranger's, within the strangers' rate. Text the caller chose
    /// is not copied into the log beyond what the message bounds.
    pub(crate) async fn log_opentdf_refusal(
        &self,
        person: Option<&str>,
        credential: Option<&str>,
        e: &ConnectError,
    ) {
        if e.code == Code::Internal || (person.is_none() && !self.strangers.admit()) {
            return;
        }
        let rule = if e.code == Code::Unauthenticated {
            Rule::Credential
        } else {
            Rule::Request
        };
        let text: String = e.message.chars().take(400).collect();
        let reasons = [Reason::new(rule, text)];
        let credential = credential.map(|c| c.chars().take(160).collect::<String>());
        let entry = crate::audit::AuditEntry {
            person,
            credential: credential.as_deref(),
            detail: Some("OpenTDF rewrap"),
            ..self.entry(EntryKind::Rewrap, false, &reasons)
        };
        if let Err(le) = self.log_entries(vec![entry.bytes()]).await {
            tracing::error!(error = %le.error, "could not log a refusal");
        }
    }

    /// A refusal of `asker` after authentication (a body that does not read or
    /// decode), in the audit log.
    pub async fn opentdf_refused(&self, asker: &Asker, e: &ConnectError) {
        self.log_opentdf_refusal(Some(&asker.person.id), Some(&asker.credential), e)
            .await;
    }

    /// The person an access token names, once the token is checked (by the issuer
    /// its `iss` names: this node, or the external issuer node.toml trusts) and what
    /// it was issued under still stands, and the person's record.
    async fn opentdf_token_person(
        &self,
        authorization: Option<&str>,
    ) -> Result<(crate::store::PersonRecord, TokenHolder, String), Refused> {
        let ot = self.opentdf().map_err(|e| (e, None))?;
        let now = crate::store::unix_now();
        let token = authorization
            .and_then(|h| {
                h.strip_prefix("DPoP ")
                    .or_else(|| h.strip_prefix("Bearer "))
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(str::trim)
            .ok_or_else(|| {
                (
                    unauthenticated(format!(
                        "no access token: ask {} for one (client credentials) and send it as `Authorization: DPoP <token>`",
                        self.token_endpoint()
                    )),
                    None,
                )
            })?;
        // The node's own tokens first: an external issuer is never consulted for them.
        // The payload is decoded for its `iss` only when an external issuer is trusted.
        let external = ot.external.as_ref().filter(|x| {
            token_issuer(token).is_some_and(|i| {
                !oidc::same_issuer(&i, self.issuer_url()) && oidc::same_issuer(&i, x.issuer())
            })
        });
        let holder = match external {
            Some(x) => {
                let c = x.verify(token, now).await.map_err(|e| match e {
                    Refused_::Token(m) => (unauthenticated(m), None),
                    Refused_::Unavailable(m) => (
                        ConnectError {
                            code: Code::Unavailable,
                            message: m,
                        },
                        None,
                    ),
                })?;
                TokenHolder {
                    credential: format!("oidc:{}@{}", c.client, x.issuer()),
                    person: c.person,
                    cnf: c.cnf,
                }
            }
            None => self.own_token_holder(token, now).await?,
        };
        let person = self
            .store
            .person(&holder.person)
            .await
            .map_err(|e| (internal(e), None))?
            .ok_or_else(|| {
                (
                    unauthenticated(format!("token for unknown person {}", holder.person)),
                    None,
                )
            })?;
        Ok((person, holder, token.to_string()))
    }

    /// A token this node issued: its signature, issuer, audience and time; then what it
    /// was issued under must still stand: the OpenTDF client (not revoked, the
    /// person's), or the credential a client assertion was signed with (not revoked,
    /// not expired, the person's).
    async fn own_token_holder(&self, token: &str, now: i64) -> Result<TokenHolder, Refused> {
        let ot = self.opentdf().map_err(|e| (e, None))?;
        let claims = ot
            .issuer
            .verify(
                token,
                self.issuer_url(),
                &super::kas_url(self.issuer_url()),
                now,
            )
            .map_err(|e| (unauthenticated(e), None))?;
        let holder = TokenHolder {
            person: claims.sub.clone(),
            credential: match claims.client_id.strip_prefix(CREDENTIAL_CLIENT) {
                Some(fingerprint) => fingerprint.to_string(),
                None => format!("opentdf-client:{}", claims.client_id),
            },
            cnf: claims.cnf.clone(),
        };
        // From here the token is this node's: its refusals name the person.
        let named = Some((holder.person.clone(), holder.credential.clone()));
        if let Some(fingerprint) = claims.client_id.strip_prefix(CREDENTIAL_CLIENT) {
            let record = self
                .credential_standing(fingerprint)
                .await
                .map_err(|r| match r.kind {
                    accord_node_api::Kind::Internal => (internal(r.error), None),
                    _ => (unauthenticated(r.error), named.clone()),
                })?;
            if record.id != claims.sub {
                return Err((
                    unauthenticated("the token's credential is not its person's"),
                    named,
                ));
            }
            return Ok(holder);
        }
        let client = self
            .store
            .opentdf_client(&claims.client_id)
            .await
            .map_err(|e| (internal(e), None))?;
        match client {
            Some(c) if c.person == claims.sub && c.revoked.is_none() => Ok(holder),
            Some(c) if c.person == claims.sub => Err((
                unauthenticated(format!("client {} has been revoked", claims.client_id)),
                named,
            )),
            _ => Err((
                unauthenticated(format!(
                    "the token names client {} of {}, which this node did not issue",
                    claims.client_id, claims.sub
                )),
                named,
            )),
        }
    }

    /// The key that must have signed the SRT: the DPoP proof's, for a bound token (the
    /// proof checked); none for a Bearer token where the node takes them.
    fn opentdf_proof(
        &self,
        cnf: Option<&Confirmation>,
        token: &str,
        dpop: Option<&str>,
    ) -> Result<Option<srt::Jwk>, ConnectError> {
        let ot = self.opentdf()?;
        let now = crate::store::unix_now();
        match (cnf, dpop) {
            (Some(cnf), Some(proof)) => {
                let htu = format!("{}/kas.AccessService/Rewrap", self.issuer_url());
                let proven = ot
                    .proofs
                    .check(proof, "POST", &htu, Some(token), Some(&cnf.jkt), now)
                    .map_err(unauthenticated)?;
                Ok(Some(proven.jwk))
            }
            (Some(_), None) => Err(unauthenticated(
                "the token is bound to a DPoP key: send the request with a DPoP proof",
            )),
            (None, _) if ot.config.dpop == DpopMode::Required => Err(unauthenticated(
                "this node requires DPoP-bound tokens: ask the token endpoint with a DPoP proof",
            )),
            (None, _) => Ok(None),
        }
    }

    /// `POST /kas.AccessService/Rewrap`.
    pub async fn opentdf_rewrap(
        self: &Arc<Self>,
        asker: Asker,
        req: &RewrapRequest,
    ) -> Result<RewrapResponse, ConnectError> {
        let began = std::time::Instant::now();
        let now = crate::store::unix_now();
        let request_digest = hex::encode(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            req.signed_request_token.as_bytes(),
        ));
        let credential = asker.credential.clone();
        // The signed request token checked and its body parsed (CPU work: on the
        // blocking pool); a known person's malformed or unproven request is a refusal
        // in the log, as is a client key the return leg cannot use.
        let node = self.clone();
        let srt_key = asker.srt_key.clone();
        let token = req.signed_request_token.clone();
        let checked = tokio::task::spawn_blocking(move || {
            let (body, client) = node.opentdf_checked(srt_key.as_ref(), &token, now)?;
            let session = Session::new(&client).map_err(invalid)?;
            Ok::<_, ConnectError>((body, session))
        })
        .await
        .map_err(internal)
        .and_then(|r| r);
        let (body, session) = match checked {
            Ok(x) => x,
            Err(e) => {
                self.opentdf_refused(&asker, &e).await;
                return Err(e);
            }
        };

        let held = self.agreements().await.map_err(internal)?;
        if let Some(why) = self.keys.unreadable() {
            return Err(internal(why));
        }
        let at = (self.clock)();
        let person = self.person(&asker.person);
        // The decisions and unwraps: CPU work (up to 1,024 key access objects), on the
        // blocking pool, objects in parallel, as Accord's own route does.
        let node = self.clone();
        let requests = body.policy_requests();
        let decided: Vec<Decided> = tokio::task::spawn_blocking(move || {
            requests
                .par_iter()
                .map(|pr| node.opentdf_decide(pr, &person, &held, at))
                .collect()
        })
        .await
        .map_err(internal)?;

        // Durable first: one entry per object.
        let detail = if asker.srt_key.is_some() {
            "OpenTDF rewrap; signed request token verified with the DPoP key; label from the policy's attributes (unsigned)"
        } else {
            "OpenTDF rewrap; Bearer token, signed request token not verifiable; label from the policy's attributes (unsigned)"
        };
        let time = at.to_string();
        let entries: Vec<Vec<u8>> = decided
            .iter()
            .map(|d| {
                crate::audit::AuditEntry {
                    person: Some(&asker.person.id),
                    credential: Some(&credential),
                    object: Some(&d.object_id),
                    marking: (!d.marking.is_empty()).then_some(d.marking.as_str()),
                    agreement: d.agreement.as_deref(),
                    request: Some(&request_digest),
                    detail: Some(detail),
                    ..self.entry_at(EntryKind::Rewrap, time.clone(), d.permit, &d.reasons)
                }
                .bytes()
            })
            .collect();
        self.log_entries(entries)
            .await
            .map_err(|e| internal(e.error))?;

        // Then release.
        let mut responses = Vec::with_capacity(decided.len());
        for d in decided {
            let mut results = Vec::with_capacity(d.kaos.len());
            for (id, share) in d.kaos {
                let outcome = match share {
                    Ok(share) if d.permit => match session.wrap(&share) {
                        Ok(w) => Outcome::Wrapped(w),
                        Err(e) => Outcome::Error(format!("internal: {e}")),
                    },
                    Ok(_) => Outcome::Error(denied(&d.reasons)),
                    Err(e) => Outcome::Error(e),
                };
                results.push(KeyAccessRewrapResult {
                    key_access_object_id: id,
                    status: if matches!(outcome, Outcome::Wrapped(_)) {
                        "permit"
                    } else {
                        "fail"
                    }
                    .into(),
                    outcome,
                });
            }
            responses.push(PolicyRewrapResult {
                policy_id: d.policy_id,
                results,
            });
        }
        self.metrics.rewrap_took(began.elapsed().as_secs_f64());
        Ok(RewrapResponse {
            session_public_key: session.public_pem().to_string(),
            responses,
        })
    }

    /// The SRT checked (times, and its signature by the DPoP key when there is one),
    /// its body parsed, the client's key read.
    fn opentdf_checked(
        &self,
        srt_key: Option<&srt::Jwk>,
        signed_request_token: &str,
        now: i64,
    ) -> Result<(UnsignedRewrapRequest, srt::ClientKey), ConnectError> {
        let token = SignedRequestToken::parse(signed_request_token)
            .map_err(|e| invalid(format!("signed request token: {e}")))?;
        token
            .check_times(now)
            .map_err(|e| invalid(format!("signed request token: {e}")))?;
        if let Some(key) = srt_key {
            token.verify(key).map_err(|e| {
                unauthenticated(format!(
                    "the signed request token does not verify with the DPoP key: {e}"
                ))
            })?;
        }
        let body = UnsignedRewrapRequest::parse(token.request_body())
            .map_err(|e| invalid(format!("the signed request token's requestBody: {e}")))?;
        // Each object must name a key of its own: a policy decided with no key to
        // check its binding against would put an unproven object into the log.
        if let Some(p) = body
            .policy_requests()
            .iter()
            .find(|p| p.key_access_objects.is_empty())
        {
            let id: String = p.policy.id.chars().take(64).collect();
            return Err(invalid(format!("policy `{id}` names no key access object")));
        }
        let client = srt::client_key(&body.client_public_key)
            .map_err(|e| invalid(format!("clientPublicKey: {e}")))?;
        Ok((body, client))
    }

    /// Decide one policy of the request and unwrap its keys if permitted.
    fn opentdf_decide(
        &self,
        pr: &accord_node_api::opentdf::kas::PolicyRequest,
        person: &Result<accord_agreement::Person, Reason>,
        held: &[crate::agreements::Held],
        at: accord_agreement::Time,
    ) -> Decided {
        let mut d = Decided {
            policy_id: pr.policy.id.clone(),
            object_id: crate::kas::object_id_of(&pr.policy.body),
            marking: String::new(),
            agreement: None,
            permit: false,
            reasons: Vec::new(),
            kaos: Vec::new(),
        };
        let fail_all = |d: &mut Decided, why: &str| {
            d.kaos = pr
                .key_access_objects
                .iter()
                .map(|k| (k.key_access_object_id.clone(), Err(why.to_string())))
                .collect();
        };
        let entry = match self.attribute_label(&pr.policy.body) {
            Ok(e) => e,
            Err((rule, why)) => {
                let tampered = rule == Rule::Manifest;
                d.reasons.push(Reason::new(rule, why));
                let why = if tampered {
                    TAMPERED.to_string()
                } else {
                    denied(&d.reasons)
                };
                fail_all(&mut d, &why);
                return d;
            }
        };
        let (policy, label, agreement, marking) = &*entry;
        d.agreement = agreement.clone();
        d.marking = marking.clone();
        let person = match person {
            Ok(p) => p,
            Err(r) => {
                d.reasons.push(r.clone());
                let why = denied(&d.reasons);
                fail_all(&mut d, &why);
                return d;
            }
        };
        // Every KAO must be for this KAS before anything is decided.
        let own = self.own();
        let mut keys = Vec::new();
        for k in &pr.key_access_objects {
            match own.kas_key(&k.key_access_object.kid) {
                Some(key) => keys.push(key),
                None => {
                    d.reasons.push(Reason::new(
                        Rule::KeyAccess,
                        format!(
                            "key access object {} names kid `{}`, which is no key of the {} KAS",
                            k.key_access_object_id,
                            k.key_access_object.kid,
                            self.party()
                        ),
                    ));
                }
            }
        }
        if !d.reasons.is_empty() {
            let why = denied(&d.reasons);
            fail_all(&mut d, &why);
            return d;
        }
        let (permit, reasons) = self.decide_for(
            person,
            label,
            d.agreement.as_deref(),
            self.party(),
            &policy.body.dissem,
            held,
            at,
            self.classical(),
        );
        d.reasons = reasons;
        if !permit {
            let why = denied(&d.reasons);
            fail_all(&mut d, &why);
            return d;
        }
        // A revoked key serves only an object shown to have existed before its
        // compromise; an OpenTDF request carries no manifest to show it by.
        for k in &pr.key_access_objects {
            let kid = &k.key_access_object.kid;
            if let Some((compromised, why)) =
                own.revocation(accord_agreement::amendment::KeyKind::Kas, kid)
            {
                let key = format!(
                    "the {} KAS key {}…",
                    self.party(),
                    kid.get(..16).unwrap_or(kid)
                );
                if let Some(r) = accord_agreement::revoked_key(&key, compromised, why, None) {
                    d.reasons = vec![Reason::new(r.rule, r.text)];
                    let why = denied(&d.reasons);
                    fail_all(&mut d, &why);
                    return d;
                }
            }
        }
        // Unwrap only now: a denied request never touches a key.
        for (k, key) in pr.key_access_objects.iter().zip(keys) {
            let kao = to_manifest_kao(&k.key_access_object);
            match self.unwrap_cached(key, &kao, &pr.policy.body) {
                Ok(share) => d.kaos.push((k.key_access_object_id.clone(), Ok(share))),
                Err(e) => {
                    d.reasons = vec![Reason::new(Rule::ObjectIntegrity, e.to_string())];
                    fail_all(&mut d, TAMPERED);
                    return d;
                }
            }
        }
        d.permit = true;
        d
    }
}

/// A key access object as the SRT carries it, in the manifest's form.
fn to_manifest_kao(k: &KeyAccess) -> accord_tdf::manifest::KeyAccess {
    accord_tdf::manifest::KeyAccess {
        key_type: k.key_type.clone(),
        url: k.kas_url.clone(),
        protocol: k.protocol.clone(),
        wrapped_key: B64.encode(&k.wrapped_key),
        policy_binding: if k.policy_binding.algorithm.is_empty() {
            serde_json::json!({ "hash": k.policy_binding.hash })
        } else {
            serde_json::json!({ "alg": k.policy_binding.algorithm, "hash": k.policy_binding.hash })
        },
        encrypted_metadata: k.encrypted_metadata.clone(),
        kid: k.kid.clone(),
        sid: k.split_id.clone(),
        schema_version: String::new(),
        ephemeral_public_key: k.ephemeral_public_key.clone(),
    }
}
