//! The console: the web pages a node serves to its own people on its HTTPS listener,
//! signed in by the certificate the node issued them (mutual TLS, as every API route).
//!
//! Each page is a thin edge over the same components the API uses: the inbox is the
//! person's inbox decided by the one decision, opening an object is the API's fetch and
//! rewrap (the same decisions, the same audit entries), people are changed through the
//! same officer's calls. Every page carries the classification banner of what it shows
//! ([`banner`]); every change is a form with a token ([`forms`]); every answer carries
//! the security headers ([`page::security_headers`]). Pages are plain HTML: reading
//! needs no JavaScript.

mod agreements;
mod audit;
mod banner;
mod equipment;
mod forms;
mod inbox;
mod open;
mod outbox;
mod page;
mod people;
mod send;
mod status;

use crate::caller::{Caller, Peer};
use crate::node::Node;
use crate::refusal::Refusal;
use accord_agreement::Duty;
use axum::extract::{DefaultBodyLimit, Extension, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::html;
use std::sync::Arc;

pub(crate) use banner::Banner;
pub use send::read_choice;

/// Forms carry a token and a few fields.
pub(crate) const FORM_BODY: usize = 16 << 10;

/// What every console handler holds.
pub(crate) struct Console {
    pub(crate) node: Arc<Node>,
    pub(crate) forms: forms::Forms,
    styles: String,
    /// One audit page reads the log at a time.
    pub(crate) audit_scan: tokio::sync::Semaphore,
    /// The partners' witness keys, as last asked of their nodes, and when.
    pub(crate) witness_keys: audit::WitnessKeys,
}

type Shared = State<Arc<Console>>;

/// Every (method, path) the console serves (the console's routes are not the API's:
/// `docs/node-api.yaml` does not list them).
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/console"),
    ("GET", "/console/inbox"),
    ("GET", "/console/inbox/{from}/{id}"),
    ("POST", "/console/inbox/{from}/{id}/open"),
    ("GET", "/console/send"),
    ("GET", "/console/send/marking"),
    ("POST", "/console/send"),
    ("GET", "/console/outbox"),
    ("GET", "/console/agreements"),
    ("POST", "/console/agreements"),
    ("GET", "/console/people"),
    ("POST", "/console/people"),
    ("POST", "/console/people/{id}/{field}"),
    ("GET", "/console/audit"),
    ("GET", "/console/audit/{index}"),
    ("GET", "/console/status"),
    ("GET", "/console/equipment"),
    ("GET", "/console/equipment/item"),
    ("GET", "/console/equipment/records"),
    ("GET", "/console/equipment/inventory"),
    ("POST", "/console/equipment/inventory"),
    ("GET", "/console/static/console.css"),
    ("GET", "/console/static/classes.css"),
    ("GET", "/console/static/console.js"),
];

/// The console's routes, with their security headers; none when no key for the form
/// tokens can be made (the system's random source failed).
pub(crate) fn router(node: Arc<Node>) -> Option<Router> {
    let console = Arc::new(Console {
        styles: banner::styles(node.policies()),
        node,
        forms: forms::Forms::new()?,
        audit_scan: tokio::sync::Semaphore::new(1),
        witness_keys: Default::default(),
    });
    Router::new()
        .route("/console", get(|| async { Redirect::to("/console/inbox") }))
        .route("/console/inbox", get(inbox::list))
        .route("/console/inbox/{from}/{id}", get(inbox::object))
        .route("/console/inbox/{from}/{id}/open", post(inbox::open))
        .route(
            "/console/send",
            get(send::form)
                .post(send::send)
                // The upload streams; its bound is the exchange's (MAX_OBJECT).
                .layer(DefaultBodyLimit::disable()),
        )
        .route("/console/send/marking", get(send::marking))
        .route("/console/outbox", get(outbox::list))
        .route(
            "/console/agreements",
            get(agreements::list)
                .post(agreements::load)
                .layer(DefaultBodyLimit::max(
                    crate::agreement_sync::MAX_AGREEMENT + FORM_BODY,
                )),
        )
        .route("/console/people", get(people::list).post(people::enrol))
        // `{field}`: `status` or `role`.
        .route("/console/people/{id}/{field}", post(people::change_field))
        .route("/console/audit", get(audit::list))
        .route("/console/audit/{index}", get(audit::entry))
        .route("/console/status", get(status::show))
        .route("/console/equipment", get(equipment::list))
        .route("/console/equipment/item", get(equipment::item))
        .route("/console/equipment/records", get(equipment::records))
        .route(
            "/console/equipment/inventory",
            get(equipment::inventory_page)
                .post(equipment::inventory)
                .layer(DefaultBodyLimit::max(equipment::INVENTORY_BODY)),
        )
        .route(
            "/console/static/console.css",
            get(|| async { css(page::CSS.to_string()) }),
        )
        .route(
            "/console/static/classes.css",
            get(|State(c): Shared| async move { css(c.styles.clone()) }),
        )
        .route(
            "/console/static/console.js",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
                    page::JS,
                )
                    .into_response()
            }),
        )
        .layer(DefaultBodyLimit::max(FORM_BODY))
        .layer(axum::middleware::from_fn(page::security_headers))
        .with_state(console)
        .into()
}

fn css(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], body).into_response()
}

impl Console {
    /// The person asking, allowed `duty`; or the page that says why not.
    pub(crate) async fn caller(&self, peer: &Peer, duty: Duty) -> Result<Caller, Response> {
        match self.node.authorize(peer, duty).await {
            Ok(c) => Ok(c),
            Err(r) => {
                // Who they are, when known, for the frame.
                let known = self.node.authenticate(peer).await.ok();
                Err(self.refused(known.as_ref(), "Refused", &r))
            }
        }
    }

    /// A refusal as a page: what was refused and every reason, in words.
    pub(crate) fn refused(&self, caller: Option<&Caller>, title: &str, r: &Refusal) -> Response {
        let status = StatusCode::from_u16(accord_node_api::http::status(r.kind))
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if r.kind.is_failure() {
            tracing::error!(error = %r.error, "console request failed");
        }
        let body = html! {
            div.refusal #refusal role="alert" {
                p { strong { "Refused: " } (r.error) }
                @if !r.reasons.is_empty() {
                    ul #reasons {
                        @for reason in &r.reasons {
                            li { code { (reason.rule.as_str()) } " — " (reason.text) }
                        }
                    }
                }
            }
            @if caller.is_none() {
                p { "Sign in with the certificate your node issued you: import your "
                    code { "ID.p12" } " file into the browser (see the README)." }
            }
        };
        self.page(status, caller, title, &self.node.banner([]), body)
    }

    /// A page of this node for `caller`.
    pub(crate) fn page(
        &self,
        status: StatusCode,
        caller: Option<&Caller>,
        title: &str,
        banner: &Banner,
        body: maud::Markup,
    ) -> Response {
        let viewer = page::Viewer {
            party: self.node.party(),
            caller,
        };
        page::respond(status, page::page(&viewer, title, banner, body))
    }

    /// A hidden token field for a form posting to `action`.
    pub(crate) fn token_field(&self, caller: &Caller, action: &str) -> maud::Markup {
        html! { input type="hidden" name=(forms::FIELD) value=(self.forms.token(&caller.fingerprint, action)); }
    }
}

/// Extractors every page takes.
pub(crate) type PeerExt = Extension<Peer>;
