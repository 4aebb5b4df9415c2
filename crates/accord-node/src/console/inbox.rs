//! The inbox page (what partners sent that the person may see, filtered and paged), an
//! object's page, and opening it.

use super::page::size;
use super::{Console, PeerExt};
use accord_agreement::Duty;
use axum::extract::{Form, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::html;
use std::sync::Arc;

/// Rows on one page of the inbox.
pub(crate) const PAGE: usize = 50;

/// The inbox's filters, as the form sends them (an empty field is no filter).
#[derive(Debug, Default)]
pub(crate) struct Filter {
    /// Words that the marking, id, sender or agreement must contain.
    q: String,
    /// One sender.
    from: String,
    /// One agreement.
    agreement: String,
    /// Page, from 1.
    page: Option<usize>,
}

/// Whether `hay` contains `needle`, ASCII letters in either case (markings, ids and
/// party codes are ASCII), without allocating: the inbox filters 100,000 objects.
fn contains_ignoring_case(hay: &str, needle: &str) -> bool {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    n.len() <= h.len() && h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

impl Filter {
    fn from_query(q: Option<&str>) -> Filter {
        let p = super::forms::pairs(q);
        Filter {
            q: super::forms::pick(&p, "q"),
            from: super::forms::pick(&p, "from"),
            agreement: super::forms::pick(&p, "agreement"),
            page: super::forms::pick(&p, "page").parse().ok(),
        }
    }

    fn keeps(&self, i: &accord_node_api::exchange::InboxItem) -> bool {
        let q = self.q.trim();
        (self.from.is_empty() || i.from == self.from)
            && (self.agreement.is_empty() || i.agreement == self.agreement)
            && (q.is_empty()
                || [&i.marking, &i.id, &i.from, &i.agreement]
                    .iter()
                    .any(|f| contains_ignoring_case(f, q)))
    }

    fn link(&self, page: usize) -> String {
        let q = serde_urlencoded::to_string([
            ("q", self.q.as_str()),
            ("from", self.from.as_str()),
            ("agreement", self.agreement.as_str()),
            ("page", &page.to_string()),
        ])
        .unwrap_or_default();
        format!("/console/inbox?{q}")
    }
}

/// `GET /console/inbox`.
pub(crate) async fn list(
    State(c): State<Arc<Console>>,
    peer: PeerExt,
    q: axum::extract::RawQuery,
) -> Response {
    let caller = match c.caller(&peer, Duty::Exchange).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    // A filter is read leniently: what it does not understand filters nothing.
    let f = Filter::from_query(q.0.as_deref());
    let visible = match c.node.inbox_of(&caller).await {
        Ok(v) => v,
        Err(r) => return c.refused(Some(&caller), "Inbox", &r),
    };
    // The senders and agreements of what the person may see, for the filters.
    let mut senders: Vec<&str> = Vec::new();
    let mut agreements: Vec<&str> = Vec::new();
    for r in visible.iter() {
        if !senders.contains(&r.item.from.as_str()) {
            senders.push(&r.item.from);
        }
        if !agreements.contains(&r.item.agreement.as_str()) {
            agreements.push(&r.item.agreement);
        }
    }
    senders.sort_unstable();
    agreements.sort_unstable();
    // Newest first, filtered; only the page shown is kept.
    let mut kept = 0usize;
    let first = (f.page.unwrap_or(1).max(1) - 1) * PAGE;
    let mut shown = Vec::with_capacity(PAGE);
    for r in visible.iter().rev().filter(|r| f.keeps(&r.item)) {
        if kept >= first && shown.len() < PAGE {
            shown.push(r);
        }
        kept += 1;
    }
    let pages = kept.div_ceil(PAGE).max(1);
    let page = f.page.unwrap_or(1).clamp(1, pages);
    if first >= kept && kept > 0 {
        // A page past the last: show the last.
        let last = (pages - 1) * PAGE;
        shown = visible
            .iter()
            .rev()
            .filter(|r| f.keeps(&r.item))
            .skip(last)
            .take(PAGE)
            .collect();
    }
    let banner = c.node.banner(shown.iter().map(|r| r.label.as_ref()));
    let body = html! {
        form.filters method="get" action="/console/inbox" {
            label { "Search" input type="search" name="q" value=(f.q); }
            label { "From" select name="from" {
                option value="" { "any" }
                @for s in &senders { option value=(s) selected[*s == f.from.as_str()] { (s) } }
            } }
            label { "Agreement" select name="agreement" {
                option value="" { "any" }
                @for a in &agreements { option value=(a) selected[*a == f.agreement.as_str()] { (a) } }
            } }
            button type="submit" { "Filter" }
        }
        p #count { (kept) " object(s)" @if pages > 1 { ", page " (page) " of " (pages) } }
        table #inbox {
            thead { tr { th { "Marking" } th { "Object" } th { "From" } th { "Received" } th { "Size" } th { "Agreement" } } }
            tbody {
                @for r in &shown {
                    @let (i, l) = (&r.item, r.label.as_ref());
                    tr {
                        td { span.portion.(c.node.portion_class(l)) { (i.marking) } }
                        td { a href={"/console/inbox/" (i.from) "/" (i.id)} { code { (i.id) } } }
                        td { (i.from) }
                        td { (i.received) }
                        td { (size(i.size)) }
                        td { (i.agreement) }
                    }
                }
            }
        }
        @if pages > 1 {
            nav.pager {
                @if page > 1 { a rel="prev" href=(f.link(page - 1)) { "← newer" } }
                @if page < pages { a rel="next" href=(f.link(page + 1)) { "older →" } }
            }
        }
    };
    c.page(StatusCode::OK, Some(&caller), "Inbox", &banner, body)
}

/// `GET /console/inbox/{from}/{id}`: the object's facts and how to open it; for an
/// object the person may not see, the fetch's refusal with every reason (the API's
/// fetch, its decision in the audit log).
pub(crate) async fn object(
    State(c): State<Arc<Console>>,
    peer: PeerExt,
    Path((from, id)): Path<(String, String)>,
) -> Response {
    let caller = match c.caller(&peer, Duty::Exchange).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let visible = match c.node.inbox_of(&caller).await {
        Ok(v) => v
            .iter()
            .find(|r| r.item.id == id && r.item.from == from)
            .map(|r| (r.item.clone(), r.label.clone())),
        Err(r) => return c.refused(Some(&caller), "Object", &r),
    };
    let Some((item, label)) = visible else {
        // Not one the person may see: say why, through the fetch decision.
        return match c.node.fetch_from(&peer, &id, Some(&from)).await {
            Err(r) => c.refused(Some(&caller), "Object", &r),
            Ok(_) => c.refused(
                Some(&caller),
                "Object",
                &crate::refusal::Refusal::new(
                    accord_node_api::Kind::NotFound,
                    accord_node_api::wire::Rule::Request,
                    "no such object in your inbox",
                ),
            ),
        };
    };
    let action = format!("/console/inbox/{from}/{id}/open");
    let body = html! {
        dl.facts {
            dt { "Marking" } dd { span.portion.(c.node.portion_class(label.as_ref())) #marking { (item.marking) } }
            dt { "Object" } dd { code { (item.id) } }
            dt { "From" } dd { (item.from) }
            dt { "Received" } dd { (item.received) }
            dt { "Size" } dd { (size(item.size)) " sealed" }
            dt { "Agreement" } dd { (item.agreement) }
        }
        form method="post" action=(action) {
            (c.token_field(&caller, &action))
            button type="submit" name="how" value="view" #view { "View" }
            " "
            button type="submit" name="how" value="download" #download { "Download" }
        }
        p { "Opening asks your node's key access service for the key, as "
            code { "accord open" } " does: the decision and its reasons go into the audit log." }
    };
    c.page(
        StatusCode::OK,
        Some(&caller),
        "Object",
        &c.node.banner([label.as_ref()]),
        body,
    )
}

/// The open form.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct OpenForm {
    token: Option<String>,
    how: Option<String>,
}

/// Largest plaintext shown in the page rather than downloaded.
const VIEW_MAX: u64 = 4 << 20;

/// `POST /console/inbox/{from}/{id}/open`: open it (the API's fetch and rewrap), then
/// show it or hand it over as a download.
pub(crate) async fn open(
    State(c): State<Arc<Console>>,
    peer: PeerExt,
    headers: HeaderMap,
    Path((from, id)): Path<(String, String)>,
    Form(form): Form<OpenForm>,
) -> Response {
    let caller = match c.caller(&peer, Duty::Exchange).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let action = format!("/console/inbox/{from}/{id}/open");
    if let Err(r) = super::forms::checked(
        &c,
        &headers,
        &caller,
        &action,
        form.token.as_deref(),
        crate::audit::EntryKind::Rewrap,
    )
    .await
    {
        return c.refused(Some(&caller), "Open", &r);
    }
    let download = form.how.as_deref() == Some("download");
    // What is viewed is opened in memory; a download, or an object too large to view,
    // in an unnamed temporary file.
    let in_memory = if download { 0 } else { VIEW_MAX };
    let opened = match c.node.open_for(&peer, &caller, &from, &id, in_memory).await {
        Ok(o) => o,
        Err(r) => return c.refused(Some(&caller), "Open", &r),
    };
    let (bytes, opened) = match opened.plaintext {
        super::open::Plaintext::File(_) => return self::download(&id, opened).await,
        super::open::Plaintext::Memory(ref b) if download || b.len() as u64 > VIEW_MAX => {
            return self::download(&id, opened).await
        }
        super::open::Plaintext::Memory(ref b) => (zeroize::Zeroizing::new(b.to_vec()), opened),
    };
    let text = std::str::from_utf8(&bytes).ok();
    let body = html! {
        dl.facts {
            dt { "Marking" } dd { span.portion.(c.node.portion_class(&opened.label)) #marking { (opened.marking) } }
            dt { "Object" } dd { code { (id) } " from " (from) }
            dt { "Size" } dd { (size(opened.size)) }
            dt { "Released" } dd { "audit log entry " (opened.log_index) }
        }
        @match text {
            Some(t) => pre.content #content { (t) },
            None => p { "This object is not text: use Download." },
        }
    };
    c.page(
        StatusCode::OK,
        Some(&caller),
        "Object opened",
        &c.node.banner([&opened.label]),
        body,
    )
}

async fn download(id: &str, opened: super::open::Opened) -> Response {
    let body = match opened.plaintext {
        super::open::Plaintext::File(file) => axum::body::Body::from_stream(
            tokio_util::io::ReaderStream::with_capacity(tokio::fs::File::from_std(file), 1 << 20),
        ),
        // Handed to the connection, which drops it when sent.
        super::open::Plaintext::Memory(b) => axum::body::Body::from(b.to_vec()),
    };
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(v) = HeaderValue::from_str(&opened.size.to_string()) {
        h.insert(header::CONTENT_LENGTH, v);
    }
    // The id is a checked UUID (the fetch refused anything else).
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{id}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&opened.marking) {
        h.insert("x-accord-marking", v);
    }
    r
}
