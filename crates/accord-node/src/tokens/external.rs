//! An external OpenID Connect issuer (`[opentdf.issuer]`): the node takes the access
//! tokens it signs as it takes its own, with a claim naming a person of the node.
//!
//! The issuer's discovery document and key set are fetched over https when first
//! needed (not at start: a node whose issuer is down still serves its own tokens and
//! Accord's routes), kept for [`REFRESH`], and fetched again early when a token names
//! a key the set does not hold (the issuer rotated), at most once per
//! [`REFETCH_AT_MOST`] so that tokens naming random keys cannot make the node hammer
//! the issuer. While the issuer cannot be reached, the keys last fetched stay in use
//! for [`STALE_FOR`].
//!
//! A token of the issuer grants nothing by itself, as the node's own: the person it
//! names is read from the directory on every request, suspended or unknown people are
//! refused, and the decision is the node's.

use crate::home::IssuerConfig;
use crate::tokens::issuer::Confirmation;
use crate::Error;
use accord_node_api::opentdf::oidc::{self, JwkSet, ProviderMetadata, DISCOVERY_PATH};
use accord_node_api::opentdf::srt::Jwk;
use serde_json::Value;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// How long a fetched key set is used before it is fetched again (the platform's
/// JWKS cache refreshes every 15 minutes).
pub(crate) const REFRESH: Duration = Duration::from_secs(15 * 60);
/// Least time between two fetches caused by an unknown key id.
pub(crate) const REFETCH_AT_MOST: Duration = Duration::from_secs(60);
/// How long keys fetched before stay in use while the issuer cannot be reached.
pub(crate) const STALE_FOR: Duration = Duration::from_secs(24 * 3600);
/// Clock skew allowed on the issuer's tokens (the platform's default `TokenSkew`).
pub(crate) const SKEW: i64 = 60;
/// Longest lifetime (`exp − iat`) of a token taken from the issuer: a day.
pub(crate) const MAX_LIFETIME: i64 = 24 * 3600;
/// How long one fetch may take.
const FETCH_TIME: Duration = Duration::from_secs(10);

/// Why a token of the external issuer is not taken.
#[derive(Debug)]
pub(crate) enum Refused {
    /// The token is wrong: answered `unauthenticated`.
    Token(String),
    /// The issuer's keys cannot be had: answered `unavailable` (try again).
    Unavailable(String),
}

/// What a checked token of the issuer says.
#[derive(Debug, Clone)]
pub(crate) struct ExternalClaims {
    /// The id of the person of this node it names (the person claim).
    pub person: String,
    /// The client the issuer gave it to (`azp`, else `client_id`), for the audit log.
    pub client: String,
    /// The DPoP key it is bound to.
    pub cnf: Option<Confirmation>,
}

/// The answer while the issuer's keys cannot be had: what went wrong is in the node's
/// log, not told to a caller who may be anyone.
fn unavailable() -> Refused {
    Refused::Unavailable(
        "the identity provider's keys cannot be had now: try again later (the node's officer has the details in its log)".into(),
    )
}

/// The discovery document and key set, as last fetched.
struct Fetched {
    metadata: ProviderMetadata,
    keys: JwkSet,
    at: Instant,
}

/// The external issuer of a running node.
pub(crate) struct External {
    config: IssuerConfig,
    client: reqwest::Client,
    fetched: RwLock<Option<Arc<Fetched>>>,
    /// Held while fetching: one fetch at a time; the others wait and use its result.
    /// It holds when the last fetch was tried, failed or not: no two tries within
    /// [`REFETCH_AT_MOST`], so that neither tokens naming made-up keys nor an issuer
    /// that is down turn requests into fetches.
    fetching: tokio::sync::Mutex<Option<Instant>>,
}

impl std::fmt::Debug for External {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "External({})", self.config.issuer())
    }
}

impl External {
    /// The issuer `config` names, for a node whose home is `home_dir` (where a relative
    /// `ca_file` is). Nothing is fetched yet.
    pub(crate) fn new(config: &IssuerConfig, home_dir: &Path) -> Result<External, Error> {
        let builder = reqwest::Client::builder()
            .https_only(true)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .timeout(FETCH_TIME);
        let builder = match &config.ca_file {
            Some(f) => {
                let path = home_dir.join(f);
                let pem = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
                let tls = accord_node_api::tls::roots_client_config(&pem).map_err(|e| {
                    Error::Input(format!("[opentdf.issuer] ca_file {}: {e}", path.display()))
                })?;
                builder.use_preconfigured_tls(tls)
            }
            None => {
                accord_node_api::tls::provider();
                builder
            }
        };
        let client = builder.build().map_err(|e| Error::Http {
            url: config.discovery.clone(),
            msg: e.to_string(),
        })?;
        Ok(External {
            config: config.clone(),
            client,
            fetched: RwLock::new(None),
            fetching: tokio::sync::Mutex::new(None),
        })
    }

    /// The issuer's URL.
    pub(crate) fn issuer(&self) -> &str {
        self.config.issuer()
    }

    /// The discovery document, fetched if never yet and not tried within
    /// [`REFETCH_AT_MOST`] (for the node's own discovery document, which points OpenTDF
    /// clients at the issuer's token endpoint).
    pub(crate) async fn metadata(&self) -> Option<ProviderMetadata> {
        if let Some(f) = self.current() {
            return Some(f.metadata.clone());
        }
        self.refresh(|_| true)
            .await
            .ok()
            .map(|f| f.metadata.clone())
    }

    /// Fetch the discovery document and key set now: the document and how many keys
    /// the node can verify with, or why they cannot be had.
    pub(crate) async fn fetch_now(&self) -> Result<(ProviderMetadata, usize), String> {
        let f = self.fetch().await?;
        Ok((f.metadata, f.keys.keys.len()))
    }

    fn current(&self) -> Option<Arc<Fetched>> {
        self.fetched.read().ok().and_then(|f| f.clone())
    }

    /// Fetch again when `needed` says so of what is held (always when nothing is):
    /// under the fetching lock, so that concurrent callers make one fetch. A failed
    /// fetch leaves what was held, usable for [`STALE_FOR`].
    async fn refresh(&self, needed: impl Fn(&Fetched) -> bool) -> Result<Arc<Fetched>, Refused> {
        let _one = self.fetching.lock().await;
        let held = self.current();
        if let Some(f) = &held {
            if !needed(f) {
                return Ok(f.clone());
            }
        }
        match self.fetch().await {
            Ok(f) => {
                let f = Arc::new(f);
                if let Ok(mut w) = self.fetched.write() {
                    *w = Some(f.clone());
                }
                Ok(f)
            }
            Err(e) => {
                tracing::warn!(issuer = %self.issuer(), error = %e, "could not fetch the OpenID issuer's keys");
                match held {
                    Some(f) if f.at.elapsed() < STALE_FOR => Ok(f),
                    _ => Err(unavailable()),
                }
            }
        }
    }

    async fn fetch(&self) -> Result<Fetched, String> {
        let url = format!("{}{DISCOVERY_PATH}", self.issuer());
        let body = self.get(&url, oidc::MAX_METADATA).await?;
        let metadata = ProviderMetadata::parse(&body, self.issuer()).map_err(|e| e.to_string())?;
        let body = self.get(&metadata.jwks_uri, oidc::MAX_JWKS).await?;
        let keys = JwkSet::parse(&body).map_err(|e| e.to_string())?;
        tracing::info!(issuer = %self.issuer(), keys = keys.keys.len(), skipped = keys.skipped, "fetched the OpenID issuer's keys");
        Ok(Fetched {
            metadata,
            keys,
            at: Instant::now(),
        })
    }

    /// GET `url`, at most `limit` bytes.
    async fn get(&self, url: &str, limit: usize) -> Result<Vec<u8>, String> {
        let mut r = self
            .client
            .get(url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| format!("{url}: {}", accord_node_api::tls::describe(&e)))?;
        if !r.status().is_success() {
            return Err(format!("{url}: HTTP {}", r.status()));
        }
        if r.content_length().is_some_and(|n| n > limit as u64) {
            return Err(format!("{url}: the answer is over {limit} bytes"));
        }
        let mut body = Vec::new();
        while let Some(chunk) = r.chunk().await.map_err(|e| format!("{url}: {e}"))? {
            if body.len() + chunk.len() > limit {
                return Err(format!("{url}: the answer is over {limit} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// The key a token signed with `alg` under `kid` names.
    async fn key(&self, kid: Option<&str>, alg: &str) -> Result<Jwk, Refused> {
        let found = |f: &Fetched| f.keys.find(kid, alg).map(|k| k.jwk.clone());
        if let Some(f) = self.current() {
            if f.at.elapsed() < REFRESH {
                if let Some(k) = found(&f) {
                    return Ok(k);
                }
            }
        }
        let f = self
            .refresh(|f| {
                f.at.elapsed() >= REFRESH
                    || (found(f).is_none() && f.at.elapsed() >= REFETCH_AT_MOST)
            })
            .await?;
        found(&f).ok_or_else(|| {
            let kid: String = kid.unwrap_or("(none)").chars().take(64).collect();
            Refused::Token(format!(
                "the access token names key {kid} for {alg}, which the issuer {} does not publish",
                self.issuer()
            ))
        })
    }

    /// Check a token this issuer signed (its `iss` already read as this issuer's): the
    /// signature with the issuer's key, the audience, the times with [`SKEW`], and the
    /// person claim.
    pub(crate) async fn verify(&self, token: &str, now: i64) -> Result<ExternalClaims, Refused> {
        let bad = |m: String| Refused::Token(format!("the access token: {m}"));
        let jws = oidc::parse_access_token(token).map_err(|e| bad(e.to_string()))?;
        let claims = jws.claims();
        let iss = oidc::string_claim(claims, "iss", 2048).map_err(bad)?;
        if !iss.is_some_and(|i| oidc::same_issuer(i, self.issuer())) {
            return Err(bad(format!("it is not from the issuer {}", self.issuer())));
        }
        let key = self.key(jws.header_str("kid"), jws.alg()).await?;
        jws.verify(&key).map_err(|e| bad(e.to_string()))?;
        if !oidc::audiences(claims).contains(&self.config.audience.as_str()) {
            return Err(bad(format!(
                "it is not for this node: its audience does not include {}",
                self.config.audience
            )));
        }
        accord_node_api::opentdf::Times::read(claims)
            .and_then(|t| t.check(now, SKEW, MAX_LIFETIME))
            .map_err(bad)?;
        let claim = self.config.person_claim.as_str();
        let person = oidc::string_claim(claims, claim, 128)
            .map_err(bad)?
            .filter(|p| !p.is_empty())
            .ok_or_else(|| bad(format!("claim `{claim}` (the person) is missing")))?
            .to_string();
        let client = oidc::string_claim(claims, "azp", 128)
            .ok()
            .flatten()
            .or_else(|| oidc::string_claim(claims, "client_id", 128).ok().flatten())
            .unwrap_or("unnamed")
            .to_string();
        let cnf = match claims.get("cnf") {
            None | Some(Value::Null) => None,
            Some(c) => Some(Confirmation {
                jkt: c
                    .get("jkt")
                    .and_then(Value::as_str)
                    .filter(|j| j.len() <= 128)
                    .ok_or_else(|| bad("claim `cnf` has no `jkt` string".into()))?
                    .to_string(),
            }),
        };
        Ok(ExternalClaims {
            person,
            client,
            cnf,
        })
    }
}
