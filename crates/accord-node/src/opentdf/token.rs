//! `POST /oauth/token`: client credentials exchanged for an access token (RFC 6749
//! section 4.4), bound to a DPoP key when the client proves one (RFC 9449).

use crate::home::DpopMode;
use crate::node::Node;
use crate::tokens::issuer::{self, Claims, Confirmation, CREDENTIAL_CLIENT};
use accord_node_api::opentdf::oidc;
use accord_node_api::opentdf::srt::{Curve, Jwk, Jws};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Value};

/// Longest life of a client assertion, seconds (the Go SDK makes them for 5 minutes).
pub const MAX_ASSERTION_LIFETIME: i64 = 300;

/// Largest token request body read (a form of a few fields).
pub const MAX_TOKEN_REQUEST: usize = 8 * 1024;

/// An OAuth 2.0 error answer (RFC 6749 section 5.2).
#[derive(Debug, Clone)]
pub struct OAuthError {
    /// The HTTP status.
    pub status: u16,
    /// The error code (`invalid_client`, ...).
    pub error: &'static str,
    /// What was wrong, in words.
    pub description: String,
}

impl OAuthError {
    fn new(status: u16, error: &'static str, description: impl Into<String>) -> OAuthError {
        OAuthError {
            status,
            error,
            description: description.into(),
        }
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        json!({ "error": self.error, "error_description": self.description })
    }
}

/// RFC 6749 section 2.3.1: the Basic credentials are form-urlencoded before base64.
fn basic(header: &str) -> Option<(String, String)> {
    let b = header
        .strip_prefix("Basic ")
        .or_else(|| header.strip_prefix("basic "))?;
    let raw = B64.decode(b.trim()).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (id, secret) = text.split_once(':')?;
    let dec = |s: &str| crate::store::percent_decode(&s.replace('+', " "));
    Some((dec(id), dec(secret)))
}

impl Node {
    /// `POST /oauth/token`.
    pub async fn opentdf_token(
        &self,
        authorization: Option<&str>,
        dpop: Option<&str>,
        body: &[u8],
    ) -> Result<Value, OAuthError> {
        let ot = self
            .opentdf()
            .map_err(|e| OAuthError::new(404, "invalid_request", e.message))?;
        if body.len() > MAX_TOKEN_REQUEST {
            return Err(OAuthError::new(
                413,
                "invalid_request",
                format!("the token request is over {MAX_TOKEN_REQUEST} bytes"),
            ));
        }
        let form: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(|e| {
            OAuthError::new(
                400,
                "invalid_request",
                format!("the body is not a form: {e}"),
            )
        })?;
        let field = |name: &str| -> Result<Option<&str>, OAuthError> {
            let mut it = form.iter().filter(|(k, _)| k == name);
            let first = it.next().map(|(_, v)| v.as_str());
            if it.next().is_some() {
                return Err(OAuthError::new(
                    400,
                    "invalid_request",
                    format!("`{name}` is given twice"),
                ));
            }
            Ok(first)
        };
        match field("grant_type")? {
            Some("client_credentials") => {}
            Some(g) => {
                return Err(OAuthError::new(
                    400,
                    "unsupported_grant_type",
                    format!("grant_type `{g}`: this issuer grants client_credentials only"),
                ))
            }
            None => {
                return Err(OAuthError::new(400, "invalid_request", "no grant_type"));
            }
        }
        let now = crate::store::unix_now();
        let (person, client_id) =
            match (field("client_assertion_type")?, field("client_assertion")?) {
                (None, None) => {
                    let c = self
                        .client_by_secret(
                            authorization,
                            field("client_id")?,
                            field("client_secret")?,
                        )
                        .await?;
                    (c.person, c.client_id)
                }
                (Some(t), Some(a)) => {
                    if t != oidc::JWT_BEARER {
                        return Err(OAuthError::new(
                            400,
                            "invalid_request",
                            format!("client_assertion_type must be {}", oidc::JWT_BEARER),
                        ));
                    }
                    if authorization.and_then(basic).is_some() || field("client_secret")?.is_some()
                    {
                        return Err(OAuthError::new(
                        400,
                        "invalid_request",
                        "the client authenticated twice (a client assertion and a secret): use one",
                    ));
                    }
                    let (person, fingerprint) = self
                        .client_by_assertion(ot, a, field("client_id")?, now)
                        .await?;
                    (person, format!("{CREDENTIAL_CLIENT}{fingerprint}"))
                }
                _ => {
                    return Err(OAuthError::new(
                        400,
                        "invalid_request",
                        "client_assertion and client_assertion_type go together (RFC 7523)",
                    ))
                }
            };
        let cnf =
            match dpop {
                Some(proof) => {
                    let proven = ot
                        .proofs
                        .check(proof, "POST", &self.token_endpoint(), None, None, now)
                        .map_err(|e| OAuthError::new(400, "invalid_dpop_proof", e))?;
                    Some(Confirmation { jkt: proven.jkt })
                }
                None if ot.config.dpop == DpopMode::Required => return Err(OAuthError::new(
                    400,
                    "invalid_dpop_proof",
                    "this node requires DPoP: send a DPoP proof with the token request (RFC 9449)",
                )),
                None => None,
            };
        let lifetime = ot.config.token_lifetime();
        let token_type = if cnf.is_some() { "DPoP" } else { "Bearer" };
        let claims = Claims {
            iss: self.issuer_url().to_string(),
            aud: super::kas_url(self.issuer_url()),
            sub: person,
            client_id,
            accord_party: self.party().to_string(),
            iat: now,
            exp: now + lifetime,
            jti: issuer::new_jti(),
            cnf,
        };
        let token = ot.issuer.issue(&claims).map_err(|e| {
            tracing::error!(error = %e, "token endpoint failed");
            OAuthError::new(500, "server_error", "the node failed to answer")
        })?;
        Ok(json!({
            "access_token": token,
            "token_type": token_type,
            "expires_in": lifetime,
        }))
    }
}

impl Node {
    /// Client authentication by secret (`client_secret_basic` or `_post`): the
    /// client, issued by this node and not revoked.
    async fn client_by_secret(
        &self,
        authorization: Option<&str>,
        form_id: Option<&str>,
        form_secret: Option<&str>,
    ) -> Result<crate::store::OpenTdfClient, OAuthError> {
        let (client_id, secret) = match (authorization.and_then(basic), form_id, form_secret) {
            (Some(_), _, Some(_)) => {
                return Err(OAuthError::new(
                    400,
                    "invalid_request",
                    "the client authenticated twice (Basic and client_secret): use one",
                ))
            }
            (Some((id, s)), _, None) => (id, s),
            (None, Some(id), Some(s)) => (id.to_string(), s.to_string()),
            _ => return Err(OAuthError::new(
                401,
                "invalid_client",
                "no client credentials (HTTP Basic, or client_id and client_secret in the form)",
            )),
        };
        let secret = zeroize::Zeroizing::new(secret);
        // A client id is the caller's to choose: kept to a bounded length.
        let shown = format!(
            "opentdf-client:{}",
            client_id.chars().take(128).collect::<String>()
        );
        let client = self.store.opentdf_client(&client_id).await.map_err(|e| {
            tracing::error!(error = %e, "token endpoint failed");
            OAuthError::new(500, "server_error", "the node failed to answer")
        })?;
        // One answer for an unknown client and a wrong secret. Each refusal is in the
        // audit log (kind `rewrap`, rule `credential`, as a refused credential on
        // Accord's own route): naming the person when the client is theirs, else as a
        // stranger's, within the strangers' rate.
        let failed = "client authentication failed: no such client, or the wrong secret";
        let client = match client {
            Some(c) if issuer::secret_matches(&secret, &c.secret_hash) => c,
            Some(c) => {
                self.log_token_refusal(Some(&c.person), &shown, "the wrong client secret", false)
                    .await;
                return Err(OAuthError::new(401, "invalid_client", failed));
            }
            None => {
                self.log_token_refusal(None, &shown, "no such client", false)
                    .await;
                return Err(OAuthError::new(401, "invalid_client", failed));
            }
        };
        if client.revoked.is_none() {
            return Ok(client);
        }
        self.log_token_refusal(
            Some(&client.person),
            &shown,
            "the client has been revoked",
            false,
        )
        .await;
        Err(OAuthError::new(
            401,
            "invalid_client",
            format!("client {client_id} has been revoked"),
        ))
    }

    /// Client authentication by a client assertion (`private_key_jwt`, RFC 7523)
    /// signed ES384 with a person's credential key, the credential's certificate in
    /// its `x5c`: the credential must stand (issued by this node, not revoked, not
    /// expired); `iss` and `sub` are the person's id; `aud` is the token endpoint (or
    /// the issuer); it lives at most [`MAX_ASSERTION_LIFETIME`] s; its `jti` is used
    /// once. The person's id and the credential's fingerprint.
    async fn client_by_assertion(
        &self,
        ot: &crate::tokens::OpenTdf,
        assertion: &str,
        form_id: Option<&str>,
        now: i64,
    ) -> Result<(String, String), OAuthError> {
        let refuse =
            |m: String| OAuthError::new(401, "invalid_client", format!("client assertion: {m}"));
        let jws = Jws::parse(assertion).map_err(|e| refuse(e.to_string()))?;
        if jws.alg() != "ES384" {
            return Err(refuse(format!(
                "signed {}: a credential key signs ES384",
                jws.alg()
            )));
        }
        let der = oidc::x5c_leaf(&jws).map_err(|e| refuse(e.to_string()))?;
        let fingerprint = hex::encode(accord_node_api::pki::sha256(&der));
        let record = match self.credential_standing(&fingerprint).await {
            Ok(r) => r,
            Err(r) if r.kind == accord_node_api::Kind::Internal => {
                return Err(OAuthError::new(
                    500,
                    "server_error",
                    "the node failed to answer",
                ))
            }
            Err(r) => {
                self.log_token_refusal(None, &fingerprint, &r.error, false)
                    .await;
                return Err(refuse(r.error));
            }
        };
        let signed = accord_node_api::pki::ec_point_of_cert(&der)
            .map_err(|e| e.to_string())
            .and_then(|p| Jwk::ec(Curve::P384, p).map_err(|e| e.to_string()))
            .and_then(|k| {
                jws.verify(&k).map_err(|_| {
                    "its signature does not verify with the credential's key".to_string()
                })
            });
        if let Err(m) = signed {
            // Anyone holding a copy of the certificate can get this far: a stranger's
            // refusal, within their rate, though it names the credential's person.
            self.log_token_refusal(Some(&record.id), &fingerprint, &m, false)
                .await;
            return Err(refuse(m));
        }
        // From here the caller holds the credential's key: a known caller, every
        // refusal logged.
        let claims = jws.claims();
        let checked = (|| {
            for name in ["iss", "sub"] {
                if oidc::string_claim(claims, name, 128)? != Some(record.id.as_str()) {
                    return Err(format!("`{name}` must be the person's id, {}", record.id));
                }
            }
            if form_id.is_some_and(|c| c != record.id) {
                return Err(format!("client_id must be the person's id, {}", record.id));
            }
            let endpoint = self.token_endpoint();
            let auds = oidc::audiences(claims);
            if !auds.contains(&endpoint.as_str()) && !auds.contains(&self.issuer_url()) {
                return Err(format!("`aud` must be {endpoint}"));
            }
            accord_node_api::opentdf::Times::read(claims)?.check(
                now,
                issuer::SKEW,
                MAX_ASSERTION_LIFETIME,
            )?;
            let jti = oidc::string_claim(claims, "jti", 256)?
                .filter(|j| !j.is_empty())
                .ok_or("`jti` is missing")?;
            ot.assertions
                .remember(&fingerprint, jti, now, "client assertion")
        })();
        match checked {
            Ok(()) => Ok((record.id, fingerprint)),
            Err(m) => {
                self.log_token_refusal(Some(&record.id), &fingerprint, &m, true)
                    .await;
                Err(refuse(m))
            }
        }
    }

    /// A refused token request in the audit log. `proven`: the caller proved it holds
    /// the person's key (a client assertion whose signature verified), so it is a known
    /// caller and always logged; else anyone may have sent it, and it is logged within
    /// the rate kept for callers the node does not know.
    async fn log_token_refusal(
        &self,
        person: Option<&str>,
        credential: &str,
        why: &str,
        proven: bool,
    ) {
        let reasons = [accord_node_api::wire::Reason::new(
            accord_node_api::wire::Rule::Credential,
            format!("OpenTDF token request: {why}"),
        )];
        // Anyone who knows a client id may try secrets: such refusals are within the
        // rate kept for callers the node does not know, the person's too.
        if !proven && !self.strangers.admit() {
            return;
        }
        let credential: String = credential.chars().take(160).collect();
        let entry = crate::audit::AuditEntry {
            person,
            credential: Some(&credential),
            detail: Some("OpenTDF token request"),
            ..self.entry(crate::entry_kind::EntryKind::Rewrap, false, &reasons)
        };
        if let Err(e) = self.appender.append(entry.bytes()).await {
            tracing::error!(error = %e, "could not log a refusal");
        }
    }
}
