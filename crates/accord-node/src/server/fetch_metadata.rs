//! Requests another site makes a person's browser send are refused before any route
//! sees them. A person's certificate now lives in their browser (the console), and a
//! browser presents it to the node whichever page asked: without this, any page the
//! person visits could have the API label, fetch or page through the audit log in their
//! name (each a decision the audit log then pins on them).
//!
//! Browsers say where a request comes from (`Sec-Fetch-Site`, `Origin`); programs (the
//! `accord` command line, partner nodes, curl) send neither and are not concerned.
//! - The API (`/v1/`, `/log/`): a request from a browser must come from the node's own
//!   pages or be typed in the address bar (`same-origin`, `none`); an `Origin` must be
//!   the node's.
//! - The console (`/console/`): the same, except that following a link from elsewhere
//!   to a page (a top-level navigation to a document) is allowed: it is what the person
//!   did. Forms have their own check besides ([`crate::console`]).
//!
//! Such a refusal is not logged: the person did not make the request.

use super::routes::refusal;
use crate::refusal::Refusal;
use accord_node_api::wire::Rule;
use accord_node_api::Kind;
use axum::http::{header, HeaderMap, Method};
use axum::response::Response;

fn value<'a>(h: &'a HeaderMap, k: &str) -> Option<&'a [u8]> {
    h.get(k).map(|v| v.as_bytes())
}

/// Why a request from another site is refused, if it is.
pub(crate) fn cross_site(method: &Method, path: &str, h: &HeaderMap) -> Option<&'static str> {
    let site = value(h, "sec-fetch-site");
    let own = matches!(site, None | Some(b"same-origin") | Some(b"none"));
    let navigation = *method == Method::GET
        && value(h, "sec-fetch-mode") == Some(b"navigate")
        && value(h, "sec-fetch-dest") == Some(b"document");
    if path.starts_with("/console") {
        if !own && !navigation {
            return Some("a request another site made your browser send to the console is refused: open the console's pages yourself");
        }
    } else if !own {
        return Some("a request another site made your browser send to the node's API is refused");
    }
    if let Some(origin) = h.get(header::ORIGIN) {
        let host = h
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if origin.to_str().ok() != Some(&format!("https://{host}")) && !navigation {
            return Some("a request from another origin is refused");
        }
    }
    None
}

/// The layer: refuses what [`cross_site`] says.
pub(crate) async fn same_site_only(
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    // HTTP/2 carries the host in the request's authority, not a Host header.
    if !req.headers().contains_key(header::HOST) {
        if let Some(v) = req
            .uri()
            .authority()
            .and_then(|a| axum::http::HeaderValue::from_str(a.as_str()).ok())
        {
            req.headers_mut().insert(header::HOST, v);
        }
    }
    if let Some(why) = cross_site(req.method(), req.uri().path(), req.headers()) {
        return refusal(Refusal::new(Kind::Denied, Rule::Request, why));
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn h(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert("host", HeaderValue::from_static("node:8443"));
        for (k, v) in pairs {
            m.insert(*k, HeaderValue::from_static(v));
        }
        m
    }

    #[test]
    fn programs_and_the_nodes_own_pages_pass_other_sites_do_not() {
        let get = Method::GET;
        let post = Method::POST;
        // Programs send no fetch metadata.
        assert_eq!(cross_site(&post, "/v1/seal/sign", &h(&[])), None);
        assert_eq!(cross_site(&get, "/log/tile/entries/000", &h(&[])), None);
        // The node's own pages, and the address bar.
        assert_eq!(
            cross_site(
                &get,
                "/console/send/marking",
                &h(&[("sec-fetch-site", "same-origin")])
            ),
            None
        );
        assert_eq!(
            cross_site(&get, "/v1/inbox", &h(&[("sec-fetch-site", "none")])),
            None
        );
        // Another site's fetch, image, form or script, to the API or the console.
        for (m, path, hs) in [
            (
                &post,
                "/v1/seal/sign",
                h(&[
                    ("sec-fetch-site", "cross-site"),
                    ("sec-fetch-mode", "no-cors"),
                ]),
            ),
            (
                &get,
                "/v1/inbox/0b8f1c9e-2c57-4c43-9a77-5b0f5f3a2d10",
                h(&[
                    ("sec-fetch-site", "cross-site"),
                    ("sec-fetch-dest", "image"),
                ]),
            ),
            (
                &get,
                "/log/tile/entries/000",
                h(&[
                    ("sec-fetch-site", "same-site"),
                    ("sec-fetch-dest", "script"),
                ]),
            ),
            (
                &get,
                "/console/inbox/PAK/x",
                h(&[
                    ("sec-fetch-site", "cross-site"),
                    ("sec-fetch-mode", "no-cors"),
                    ("sec-fetch-dest", "image"),
                ]),
            ),
            (
                &post,
                "/console/send",
                h(&[
                    ("sec-fetch-site", "cross-site"),
                    ("sec-fetch-mode", "navigate"),
                    ("sec-fetch-dest", "document"),
                ]),
            ),
            (
                &get,
                "/console/audit",
                h(&[
                    ("sec-fetch-site", "cross-site"),
                    ("sec-fetch-mode", "cors"),
                    ("sec-fetch-dest", "empty"),
                ]),
            ),
            (
                &post,
                "/v1/seal/plan",
                h(&[("origin", "https://evil.example")]),
            ),
        ] {
            assert!(cross_site(m, path, &hs).is_some(), "{m} {path} {hs:?}");
        }
        // A link from elsewhere to a console page is the person's own navigation.
        let link = h(&[
            ("sec-fetch-site", "cross-site"),
            ("sec-fetch-mode", "navigate"),
            ("sec-fetch-dest", "document"),
        ]);
        assert_eq!(cross_site(&get, "/console/inbox", &link), None);
        assert!(cross_site(&get, "/v1/inbox", &link).is_some());
    }
}
