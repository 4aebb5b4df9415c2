//! The frame of every console page: the classification banner at the top and the
//! bottom, the navigation the person's role allows, the title; and the security headers
//! every console answer carries.

use super::banner::Banner;
use crate::caller::Caller;
use accord_agreement::{Duty, Role};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

/// The pages, in the order the navigation shows them, with the duty each needs.
const NAV: &[(&str, &str, Duty)] = &[
    ("/console/inbox", "Inbox", Duty::Exchange),
    ("/console/send", "Seal and send", Duty::Exchange),
    ("/console/outbox", "Outbox", Duty::Exchange),
    ("/console/agreements", "Agreements", Duty::ReadAgreements),
    ("/console/equipment", "Equipment", Duty::ReadEquipment),
    ("/console/people", "People", Duty::ManagePeople),
    ("/console/audit", "Audit", Duty::ReadAudit),
    ("/console/status", "Status", Duty::ReadAgreements),
];

/// Who the page is for, as the frame shows them.
pub(crate) struct Viewer<'a> {
    pub party: &'a str,
    pub caller: Option<&'a Caller>,
}

/// A whole page: banners, navigation, title, body.
pub(crate) fn page(viewer: &Viewer, title: &str, banner: &Banner, body: Markup) -> Markup {
    let role = viewer
        .caller
        .map(|c| c.record.role())
        .unwrap_or(Role::Member);
    let active = viewer.caller.is_some_and(|c| c.record.status == "active");
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (banner.text) " — " (title) " — Accord " (viewer.party) }
                link rel="stylesheet" href="/console/static/console.css";
                link rel="stylesheet" href="/console/static/classes.css";
            }
            body {
                div #banner-top .banner .(banner.class) role="note" aria-label="classification of this page" { (banner.text) }
                header {
                    nav {
                        span.brand { "Accord " (viewer.party) }
                        @if viewer.caller.is_some() && active {
                            @for (href, name, duty) in NAV {
                                @if role.may(*duty).is_ok() {
                                    a href=(href) { (name) }
                                }
                            }
                        }
                        @if let Some(c) = viewer.caller {
                            span.who { (c.record.name) " (" (c.record.id) ", " (role) @if !active { ", suspended" } ")" }
                        }
                    }
                }
                main {
                    h1 { (title) }
                    (body)
                }
                div #banner-bottom .banner .(banner.class) role="note" aria-label="classification of this page" { (banner.text) }
            }
        }
    }
}

/// A page as an HTTP answer with the console's headers.
pub(crate) fn respond(status: StatusCode, markup: Markup) -> Response {
    let mut r = (status, markup.into_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r
}

/// The headers every console answer carries: a Content-Security-Policy that allows
/// only the node's own style sheets and scripts (no inline script or style, no
/// framing, forms only to the node), no caching of anything (pages show classified
/// metadata), no sniffing, no referrer beyond the node and no opener.
pub(crate) async fn security_headers(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    // (The Host header of an HTTP/2 request, which the form check compares `Origin`
    // with, is set from its authority by the server's fetch-metadata layer.)
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, k: &'static str, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    set(
        h,
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(h, "cache-control", "no-store");
    set(h, "pragma", "no-cache");
    set(h, "x-content-type-options", "nosniff");
    set(h, "x-frame-options", "DENY");
    // `same-origin`, not `no-referrer`: under `no-referrer` a browser sends a form
    // post's `Origin` as `null`, and the form check could not tell the node's own
    // pages from another site's. Nothing of a page leaves for another site either way.
    set(h, "referrer-policy", "same-origin");
    set(h, "cross-origin-opener-policy", "same-origin");
    set(h, "cross-origin-resource-policy", "same-origin");
    set(
        h,
        "permissions-policy",
        "camera=(), microphone=(), geolocation=(), interest-cohort=()",
    );
    set(h, "strict-transport-security", "max-age=31536000");
    r
}

/// Bytes as people read them.
pub(crate) fn size(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// The console's style sheet.
pub(crate) const CSS: &str = r#"
:root { font-family: system-ui, sans-serif; color: #1a1a1a; background: #fafafa; }
body { margin: 0; display: flex; flex-direction: column; min-height: 100vh; }
main { flex: 1; }
.banner { text-align: center; font-weight: 700; letter-spacing: .08em; padding: .35rem; font-size: 1rem; position: sticky; z-index: 10; }
#banner-top { top: 0; }
#banner-bottom { bottom: 0; }
header nav { display: flex; gap: 1rem; align-items: center; padding: .5rem 1rem; background: #24292f; }
header nav a { color: #fff; text-decoration: none; }
header nav a:hover, header nav a:focus { text-decoration: underline; }
header nav .brand { color: #fff; font-weight: 700; margin-right: 1rem; }
header nav .who { color: #d0d7de; margin-left: auto; }
main { padding: 1rem 1.5rem 2rem; max-width: 80rem; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0 1rem; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid #d0d7de; vertical-align: top; }
th { background: #eaeef2; }
.portion { display: inline-block; padding: .05rem .4rem; border-radius: .2rem; font-weight: 600; font-size: .85rem; }
.refusal { border: 2px solid #b00020; background: #fff0f0; padding: .75rem 1rem; }
.refusal li { margin: .25rem 0; }
.ok { color: #0a6b2e; font-weight: 700; }
.bad { color: #b00020; font-weight: 700; }
.warn { color: #8a5300; font-weight: 700; }
form.inline { display: inline; }
pre.content { background: #fff; border: 1px solid #d0d7de; padding: 1rem; white-space: pre-wrap; overflow-wrap: anywhere; }
.filters { display: flex; gap: .5rem; flex-wrap: wrap; align-items: end; margin-bottom: .5rem; }
.filters label { display: flex; flex-direction: column; font-size: .85rem; }
.pager { display: flex; gap: 1rem; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; }
dl.facts dt { font-weight: 600; }
code { overflow-wrap: anywhere; }
label.cat { margin-right: .9rem; white-space: nowrap; display: inline-block; }
select { max-width: 100%; }
fieldset { margin: 0 0 .75rem; }
#send select#agreement { max-width: 48rem; }
"#;

/// The console's only script: the upload's progress and the live marking of the seal
/// and send page. Everything works without it.
pub(crate) const JS: &str = r#"'use strict';
(function () {
  var form = document.getElementById('send');
  if (!form) { return; }
  var preview = document.getElementById('marking-preview');
  function query() {
    var p = new URLSearchParams();
    form.querySelectorAll('select[name=classification], input[name=cat]:checked').forEach(function (e) {
      p.append(e.name, e.value);
    });
    return p.toString();
  }
  function update() {
    fetch('/console/send/marking?' + query(), { credentials: 'same-origin' })
      .then(function (r) { return r.json(); })
      .then(function (v) {
        preview.textContent = v.marking || v.error;
        preview.className = v.marking ? 'portion ' + v.class : 'bad';
      });
  }
  document.getElementById('chooser').addEventListener('change', update);
  var preview_button = document.getElementById('preview');
  if (preview_button) { preview_button.hidden = true; }
  form.addEventListener('submit', function (ev) {
    if (ev.submitter && ev.submitter.id === 'preview') { return; }
    ev.preventDefault();
    var bar = document.getElementById('upload-progress');
    var status = document.getElementById('upload-status');
    var xhr = new XMLHttpRequest();
    xhr.open('POST', form.action);
    bar.hidden = false;
    xhr.upload.addEventListener('progress', function (e) {
      if (e.lengthComputable) {
        bar.value = Math.floor(100 * e.loaded / e.total);
        status.textContent = ' ' + bar.value + '% uploaded';
      }
    });
    xhr.upload.addEventListener('load', function () { status.textContent = ' sealing and sending…'; });
    xhr.addEventListener('load', function () {
      if (xhr.status === 200 && xhr.responseURL.indexOf('/console/outbox') >= 0) {
        window.location.assign(xhr.responseURL);
      } else {
        document.open();
        document.write(xhr.responseText);
        document.close();
      }
    });
    xhr.addEventListener('error', function () { status.textContent = ' the upload failed: the node did not answer'; });
    xhr.send(new FormData(form));
  });
})();
"#;
