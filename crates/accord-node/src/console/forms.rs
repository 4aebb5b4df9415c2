//! CSRF defence for the console's forms. A browser presents the person's certificate
//! to the node whichever site made it send the request, so a change made by a form must
//! prove it came from a page the node served to that person: every form carries a
//! token, an HMAC (key made when the node starts) over the person's credential, the
//! form's action and the hour; and a request whose `Origin` or `Sec-Fetch-Site` says it
//! came from elsewhere is refused before the token is looked at.

use accord_node_api::wire::Rule;
use accord_node_api::Kind;
use aws_lc_rs::hmac;
use axum::http::HeaderMap;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;

use crate::refusal::Refusal;

/// The name of the hidden field.
pub(crate) const FIELD: &str = "token";

/// A token is good for the hour it was made in and the next.
const HOUR: i64 = 3600;

/// The key of the node's form tokens (lost at restart: a form older than the restart
/// is refused and made again).
pub(crate) struct Forms {
    key: hmac::Key,
}

impl Forms {
    /// A new key; none when the system's random source fails (the node then does not
    /// start: a key anyone could guess would make every token forgeable).
    pub(crate) fn new() -> Option<Forms> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &rng).ok()?;
        Some(Forms { key })
    }

    fn tag(&self, credential: &str, action: &str, hour: i64) -> String {
        let msg = format!("accord-console-form\n{credential}\n{action}\n{hour}");
        B64.encode(hmac::sign(&self.key, msg.as_bytes()).as_ref())
    }

    /// The token of a form posting to `action`, for the person holding `credential`.
    pub(crate) fn token(&self, credential: &str, action: &str) -> String {
        self.tag(credential, action, crate::store::unix_now() / HOUR)
    }

    /// Check that a post comes from the node's own pages (`Sec-Fetch-Site`,
    /// `Origin`): before anything of its body is read.
    pub(crate) fn check_origin(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        let refuse = |why: &str| Refusal::new(Kind::Denied, Rule::Form, why.to_string());
        if let Some(site) = headers.get("sec-fetch-site") {
            if site.as_bytes() != b"same-origin" {
                return Err(refuse(
                    "the form was sent from another site (Sec-Fetch-Site): open the page on the node and send it from there",
                ));
            }
        }
        if let Some(origin) = headers.get(axum::http::header::ORIGIN) {
            let host = headers
                .get(axum::http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("");
            if origin.to_str().ok() != Some(&format!("https://{host}")) {
                return Err(refuse(
                    "the form was sent from another origin: open the page on the node and send it from there",
                ));
            }
        }
        Ok(())
    }

    /// Check a form post: same origin, and the token of this person and action.
    pub(crate) fn check(
        &self,
        headers: &HeaderMap,
        credential: &str,
        action: &str,
        token: Option<&str>,
    ) -> Result<(), Refusal> {
        let refuse = |why: &str| Refusal::new(Kind::Denied, Rule::Form, why.to_string());
        self.check_origin(headers)?;
        let Some(token) = token else {
            return Err(refuse(
                "the form carries no token: open the page again and send it from there",
            ));
        };
        let now = crate::store::unix_now() / HOUR;
        let good = [now, now - 1].iter().any(|h| {
            let want = self.tag(credential, action, *h);
            aws_lc_rs::constant_time::verify_slices_are_equal(want.as_bytes(), token.as_bytes())
                .is_ok()
        });
        if good {
            Ok(())
        } else {
            Err(refuse(
                "the form's token is not this page's (expired, for another person or another form): open the page again",
            ))
        }
    }
}

/// The last value of `key` in a query string's pairs, or "".
pub(crate) fn pick(pairs: &[(String, String)], key: &str) -> String {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

/// A query string's pairs (none when it does not read).
pub(crate) fn pairs(q: Option<&str>) -> Vec<(String, String)> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(q.unwrap_or("")).unwrap_or_default()
}

/// Check a form's origin and token; a refusal is in the audit log under `kind`, with
/// the form's action as its request.
pub(crate) async fn checked(
    c: &super::Console,
    headers: &HeaderMap,
    caller: &crate::caller::Caller,
    action: &str,
    token: Option<&str>,
    kind: crate::audit::EntryKind,
) -> Result<(), crate::refusal::Refusal> {
    match c.forms.check(headers, &caller.fingerprint, action, token) {
        Ok(()) => Ok(()),
        Err(e) => {
            c.node
                .log_refusal(kind, Some(caller), None, Some(action), &e)
                .await;
            Err(crate::refusal::Refusal { logged: true, ..e })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn a_token_is_for_one_person_and_one_form() {
        let f = Forms::new().unwrap();
        let h = headers(&[("host", "node:8443"), ("origin", "https://node:8443")]);
        let t = f.token("cred-a", "/console/people/x/status");
        assert!(f
            .check(&h, "cred-a", "/console/people/x/status", Some(&t))
            .is_ok());
        for (cred, action, tok) in [
            ("cred-b", "/console/people/x/status", Some(t.as_str())),
            ("cred-a", "/console/people/y/status", Some(t.as_str())),
            ("cred-a", "/console/people/x/status", None),
            ("cred-a", "/console/people/x/status", Some("")),
        ] {
            let e = f.check(&h, cred, action, tok).unwrap_err();
            assert_eq!(e.reasons[0].rule, Rule::Form);
        }
        // Another node's key (or this one's after a restart) does not make it.
        let other = Forms::new().unwrap();
        assert!(other
            .check(&h, "cred-a", "/console/people/x/status", Some(&t))
            .is_err());
    }

    #[test]
    fn another_site_is_refused_even_with_a_token() {
        let f = Forms::new().unwrap();
        let t = f.token("c", "/a");
        for h in [
            headers(&[("host", "node:8443"), ("origin", "https://evil.example")]),
            headers(&[("host", "node:8443"), ("origin", "null")]),
            headers(&[("host", "node:8443"), ("origin", "http://node:8443")]),
            headers(&[("host", "node:8443"), ("sec-fetch-site", "cross-site")]),
            headers(&[("host", "node:8443"), ("sec-fetch-site", "same-site")]),
        ] {
            assert!(f.check(&h, "c", "/a", Some(&t)).is_err(), "{h:?}");
        }
        let same = headers(&[("host", "node:8443"), ("sec-fetch-site", "same-origin")]);
        assert!(f.check(&same, "c", "/a", Some(&t)).is_ok());
    }
}
