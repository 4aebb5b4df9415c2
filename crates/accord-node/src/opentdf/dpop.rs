//! DPoP proofs (RFC 9449): a client proves it holds the key its access token is bound
//! to by signing each request's method and URL (and, with a token, the token's hash)
//! with it. The node checks the proof, remembers its `jti` while it could be replayed,
//! and, for a rewrap, checks the signed request token with the same key.

use accord_node_api::opentdf::srt::{self, Jwk};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use std::collections::HashMap;
use std::sync::Mutex;

/// Largest proof read.
const MAX_PROOF: usize = 8 * 1024;
/// How far a proof's `iat` may be from the node's clock, seconds.
const PROOF_WINDOW: i64 = 300;
/// Proof ids remembered at most (oldest dropped first when full; a proof older than
/// the window is refused by time anyway).
const MAX_REMEMBERED: usize = 200_000;

/// A proof that checked.
pub(crate) struct Proven {
    /// The RFC 7638 thumbprint of its key.
    pub jkt: String,
    /// Its key.
    pub jwk: Jwk,
}

/// The proof ids seen within the window.
#[derive(Default)]
pub(crate) struct ReplayCache {
    seen: Mutex<HashMap<String, i64>>,
}

impl ReplayCache {
    /// Check `proof` for a request of `method` to `url` at `now`, bound to
    /// `access_token` when there is one (`ath`).
    pub(crate) fn check(
        &self,
        proof: &str,
        method: &str,
        url: &str,
        access_token: Option<&str>,
        now: i64,
    ) -> Result<Proven, String> {
        if proof.len() > MAX_PROOF {
            return Err(format!("the DPoP proof is over {MAX_PROOF} bytes"));
        }
        let jws = srt::Jws::parse(proof).map_err(|e| format!("the DPoP proof: {e}"))?;
        if jws.header_str("typ") != Some("dpop+jwt") {
            return Err("the DPoP proof's `typ` is not `dpop+jwt`".into());
        }
        let jwk = jws
            .header()
            .get("jwk")
            .ok_or("the DPoP proof's header carries no `jwk`")
            .and_then(|v| {
                Jwk::from_value(v)
                    .map_err(|_| "the DPoP proof's `jwk` is not a public RSA or EC key")
            })
            .map_err(|e| e.to_string())?;
        jws.verify(&jwk)
            .map_err(|e| format!("the DPoP proof's signature: {e}"))?;
        let claims = jws.claims();
        let text = |name: &str| claims.get(name).and_then(|v| v.as_str());
        if text("htm") != Some(method) {
            return Err(format!(
                "the DPoP proof is for method {}, not {method}",
                text("htm").unwrap_or("(none)")
            ));
        }
        let htu = text("htu").unwrap_or("");
        let htu = htu.split(['?', '#']).next().unwrap_or("");
        if htu.trim_end_matches('/') != url.trim_end_matches('/') {
            return Err(format!("the DPoP proof is for {htu}, not {url}"));
        }
        let iat = claims
            .get("iat")
            .and_then(|v| v.as_i64())
            .ok_or("the DPoP proof has no `iat`")?;
        if (iat - now).abs() > PROOF_WINDOW {
            return Err(format!(
                "the DPoP proof was made at {iat}, more than {PROOF_WINDOW} s from the node's clock ({now})"
            ));
        }
        if let Some(token) = access_token {
            let ath = B64URL.encode(aws_lc_rs::digest::digest(
                &aws_lc_rs::digest::SHA256,
                token.as_bytes(),
            ));
            if text("ath") != Some(ath.as_str()) {
                return Err("the DPoP proof's `ath` is not the hash of this access token".into());
            }
        }
        let jti = text("jti")
            .filter(|j| !j.is_empty() && j.len() <= 256)
            .ok_or("the DPoP proof has no `jti` (1 to 256 characters)")?;
        let jkt = jwk.thumbprint();
        let key = format!("{jkt}.{jti}");
        let mut seen = self
            .seen
            .lock()
            .map_err(|_| "the replay cache is unavailable")?;
        if seen.len() >= MAX_REMEMBERED {
            seen.retain(|_, t| *t >= now - PROOF_WINDOW);
            if seen.len() >= MAX_REMEMBERED {
                return Err("too many DPoP proofs within the window: try again shortly".into());
            }
        }
        if seen.insert(key, iat).is_some() {
            return Err(format!("the DPoP proof `{jti}` was used before (a replay)"));
        }
        Ok(Proven { jkt, jwk })
    }
}
