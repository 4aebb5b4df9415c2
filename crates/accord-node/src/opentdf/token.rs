//! `POST /oauth/token`: client credentials exchanged for an access token (RFC 6749
//! section 4.4), bound to a DPoP key when the client proves one (RFC 9449).

use crate::home::DpopMode;
use crate::node::Node;
use crate::tokens::issuer::{self, Claims, Confirmation};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Value};

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
        let (client_id, secret) = match (
            authorization.and_then(basic),
            field("client_id")?,
            field("client_secret")?,
        ) {
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
                self.log_token_refusal(Some(&c.person), &client_id, "the wrong client secret")
                    .await;
                return Err(OAuthError::new(401, "invalid_client", failed));
            }
            None => {
                self.log_token_refusal(None, &client_id, "no such client")
                    .await;
                return Err(OAuthError::new(401, "invalid_client", failed));
            }
        };
        if client.revoked.is_some() {
            self.log_token_refusal(
                Some(&client.person),
                &client_id,
                "the client has been revoked",
            )
            .await;
            return Err(OAuthError::new(
                401,
                "invalid_client",
                format!("client {client_id} has been revoked"),
            ));
        }
        let now = crate::store::unix_now();
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
            sub: client.person.clone(),
            client_id: client.client_id.clone(),
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
    /// A refused token request in the audit log.
    async fn log_token_refusal(&self, person: Option<&str>, client_id: &str, why: &str) {
        let reasons = [accord_node_api::wire::Reason::new(
            accord_node_api::wire::Rule::Credential,
            format!("OpenTDF token request: {why}"),
        )];
        // Anyone who knows a client id may try secrets: every refusal is within the
        // rate kept for callers the node does not know, the person's too.
        if !self.strangers.admit() {
            return;
        }
        // A client id is the caller's to choose: kept to a bounded length.
        let credential = format!(
            "opentdf-client:{}",
            client_id.chars().take(128).collect::<String>()
        );
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
