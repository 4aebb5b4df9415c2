//! DPoP proofs (RFC 9449): a client proves it holds the key its access token is bound
//! to by signing each request's method and URL (and, with a token, the token's hash)
//! with it. The node checks the proof, remembers its `jti` while it could be replayed,
//! and, for a rewrap, checks the signed request token with the same key.

use accord_node_api::opentdf::srt::{self, Jwk};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

/// Largest proof read.
const MAX_PROOF: usize = 8 * 1024;
/// How long after its `iat` a proof is taken, seconds.
const PROOF_WINDOW: i64 = 300;
/// How far ahead of the node's clock a proof's `iat` may be, seconds.
const FUTURE_SKEW: i64 = 60;
/// Proofs remembered per window at most, in all; and per key. A proof older than the
/// window is refused by time, so a window's proofs are forgotten two windows later.
/// One key (one client) may fill only its own share: it cannot lock the others out.
const MAX_PER_WINDOW: usize = 400_000;
const MAX_PER_KEY: usize = 20_000;

/// A proof that checked.
pub(crate) struct Proven {
    /// The RFC 7638 thumbprint of its key.
    pub jkt: String,
    /// Its key.
    pub jwk: Jwk,
}

/// The proof ids seen within the last three windows, one generation per window,
/// dropped whole when it is three windows old (no scan). A proof is valid from at most
/// [`FUTURE_SKEW`] before its `iat` to [`PROOF_WINDOW`] after, so it is remembered for
/// as long as it could be replayed.
#[derive(Default)]
pub(crate) struct ReplayCache {
    seen: Mutex<Windows>,
}

/// Generations by window (`now / PROOF_WINDOW`), newest last.
#[derive(Default)]
struct Windows {
    generations: Vec<(i64, Generation)>,
}

#[derive(Default)]
struct Generation {
    ids: HashSet<String>,
    per_key: HashMap<String, usize>,
}

impl Windows {
    /// Drop the generations three windows old, and start the one for `now`.
    fn rotate(&mut self, now: i64) {
        let window = now.div_euclid(PROOF_WINDOW);
        self.generations
            .retain(|(w, _)| *w > window - 3 && *w <= window);
        if self.generations.last().is_none_or(|(w, _)| *w != window) {
            self.generations.push((window, Generation::default()));
        }
    }

    fn seen(&self, key: &str) -> bool {
        self.generations.iter().any(|(_, g)| g.ids.contains(key))
    }
}

impl ReplayCache {
    /// Check `proof` for a request of `method` to `url` at `now`, bound to
    /// `access_token` when there is one (`ath`), and signed by the key `bound` names
    /// (its thumbprint) when the token is bound to one: checked before the proof is
    /// remembered, so that nobody but the key's holder spends its share.
    pub(crate) fn check(
        &self,
        proof: &str,
        method: &str,
        url: &str,
        access_token: Option<&str>,
        bound: Option<&str>,
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
            let shown: String = htu.chars().take(100).collect();
            return Err(format!("the DPoP proof is for {shown}, not {url}"));
        }
        let iat = claims
            .get("iat")
            .and_then(|v| v.as_i64())
            .ok_or("the DPoP proof has no `iat`")?;
        if iat > now.saturating_add(FUTURE_SKEW) || iat < now.saturating_sub(PROOF_WINDOW) {
            return Err(format!(
                "the DPoP proof was made at {iat}: take proofs made within the last {PROOF_WINDOW} s by the node's clock ({now})"
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
        if bound.is_some_and(|b| b != jkt) {
            return Err(
                "the DPoP proof is signed by another key than the one the token is bound to".into(),
            );
        }
        self.remember(&jkt, jti, now, "DPoP proof")?;
        Ok(Proven { jkt, jwk })
    }
}

impl ReplayCache {
    /// Remember the id `jti` of a one-time token (`what`: "DPoP proof", "client
    /// assertion") signed by the key `owner` names, at `now`; refused when it was seen
    /// within the last windows (a replay) or when the window's share of `owner` (or
    /// of all) is spent. The token's time must have been checked first: it is
    /// remembered for as long as [`PROOF_WINDOW`] after its `iat` allows.
    pub(crate) fn remember(
        &self,
        owner: &str,
        jti: &str,
        now: i64,
        what: &str,
    ) -> Result<(), String> {
        let mut w = self
            .seen
            .lock()
            .map_err(|_| "the replay cache is unavailable")?;
        w.rotate(now);
        let key = format!("{owner}.{jti}");
        if w.seen(&key) {
            return Err(format!("the {what} `{jti}` was used before (a replay)"));
        }
        let Some((_, young)) = w.generations.last_mut() else {
            return Err("the replay cache is unavailable".into());
        };
        let mine = young.per_key.get(owner).copied().unwrap_or(0);
        if mine >= MAX_PER_KEY || young.ids.len() >= MAX_PER_WINDOW {
            return Err(format!(
                "too many {what}s from this key within the window: try again shortly"
            ));
        }
        young.ids.insert(key);
        *young.per_key.entry(owner.to_string()).or_insert(0) += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_forget_whole_generations_three_windows_on() {
        let mut w = Windows::default();
        w.rotate(1000);
        w.generations.last_mut().unwrap().1.ids.insert("a".into());
        w.rotate(1000 + PROOF_WINDOW);
        w.rotate(1000 + 2 * PROOF_WINDOW);
        assert!(w.seen("a"));
        w.rotate(1000 + 3 * PROOF_WINDOW);
        assert!(!w.seen("a"));
        w.generations.last_mut().unwrap().1.ids.insert("b".into());
        w.rotate(1000 + 10 * PROOF_WINDOW);
        assert!(!w.seen("b") && w.generations.len() == 1);
    }
}
