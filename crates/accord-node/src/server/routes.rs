//! The HTTP API's routes: the list checked against `docs/node-api.yaml`, and one thin
//! handler per route that parses what HTTP carries (path, query, headers), calls the
//! component, and spells its answer or its refusal in HTTP. The only place a refusal's
//! kind becomes a status (`accord_node_api::http`).

use crate::caller::Peer;
use crate::node::Node;
use crate::refusal::Refusal;
use accord_node_api::wire;
use accord_node_api::Kind;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Extension, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use std::sync::Arc;

/// A refusal in HTTP: its kind's status and the Problem body.
pub(super) fn refusal(r: Refusal) -> Response {
    let status = StatusCode::from_u16(accord_node_api::http::status(r.kind))
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if r.kind.is_failure() {
        tracing::error!(error = %r.error, "request failed");
    }
    (
        status,
        Json(wire::Problem {
            error: r.error,
            reasons: r.reasons,
        }),
    )
        .into_response()
}

/// A component's answer in HTTP: JSON, or the refusal.
pub(super) fn answer<T: serde::Serialize>(r: Result<T, Refusal>) -> Response {
    match r {
        Ok(v) => Json(v).into_response(),
        Err(e) => refusal(e),
    }
}

/// Every (method, path) [`router`] serves, paths written as in `docs/node-api.yaml`
/// (the `/log/` routes come from `accord_log::http::log_router`). `tests/openapi.rs`
/// checks this list against the `.route(` calls below, the running server and the
/// OpenAPI file: a new route needs a line here and its operation in the file.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/health"),
    ("GET", "/v1/party"),
    ("POST", "/v1/noop"),
    ("PUT", "/v1/noop"),
    ("GET", "/v1/whoami"),
    ("GET", "/v1/status"),
    ("GET", "/v1/trust"),
    ("GET", "/v1/people"),
    ("PUT", "/v1/people/{id}/status"),
    ("PUT", "/v1/people/{id}/role"),
    ("POST", "/v1/kas/rewrap"),
    ("POST", "/v1/kas/rewrap/partners"),
    ("POST", "/v1/fed/kas/rewrap"),
    ("POST", "/v1/seal/plan"),
    ("POST", "/v1/seal/sign"),
    ("PUT", "/v1/outbox/{to}/{id}"),
    ("GET", "/v1/outbox"),
    ("GET", "/v1/inbox"),
    ("GET", "/v1/inbox/{id}"),
    ("PUT", "/v1/fed/inbox/{id}"),
    ("GET", "/v1/fed/inbox/{id}/partial"),
    ("POST", "/v1/fed/inbox"),
    ("GET", "/v1/witness"),
    ("POST", "/v1/fed/witness/add-checkpoint"),
    ("GET", "/v1/fed/witness/checkpoint"),
    ("PUT", "/v1/fed/agreements/{id}"),
    ("GET", "/v1/equipment/accounts"),
    ("POST", "/v1/equipment/accounts"),
    ("POST", "/v1/equipment/accounts/{id}/import"),
    ("GET", "/v1/equipment/items"),
    ("GET", "/v1/equipment/item"),
    ("POST", "/v1/equipment/drafts"),
    ("GET", "/v1/equipment/records"),
    ("POST", "/v1/equipment/records"),
    ("GET", "/v1/equipment/records/{id}"),
    ("GET", "/v1/equipment/reconcile"),
    ("PUT", "/v1/fed/equipment/records/{id}"),
    ("GET", "/log/checkpoint"),
    ("GET", "/log/tile/{level}/{index}"),
    ("GET", "/log/tile/entries/{index}"),
    ("GET", "/.well-known/opentdf-configuration"),
    ("GET", "/.well-known/openid-configuration"),
    ("GET", "/oauth/jwks"),
    ("POST", "/oauth/token"),
    (
        "POST",
        "/wellknownconfiguration.WellKnownService/GetWellKnownConfiguration",
    ),
    ("POST", "/kas.AccessService/PublicKey"),
    ("POST", "/kas.AccessService/Rewrap"),
];

/// Body limits below the general [`wire::MAX_BODY`]: a seal plan carries a label, a
/// witness submission a checkpoint and a proof.
const SMALL_BODY: usize = 1 << 20;
/// A signing request carries two assertions and the object's manifest, which may be as
/// large as a container's (10 MB: one line per segment).
const SIGN_BODY: usize = 12 << 20;

/// The node's HTTP API. Every route that reads its whole body first claims it from
/// the node's shared `budget` ([`crate::admission`]).
pub fn router(node: Arc<Node>, budget: crate::admission::Budget) -> Result<Router, crate::Error> {
    let claim = |limit: usize| {
        axum::middleware::from_fn_with_state(
            (budget.clone(), limit, node.clone()),
            crate::admission::claim,
        )
    };
    let log_src: Arc<dyn accord_log::source::LogSource + Send + Sync> =
        Arc::new(accord_log::source::DirSource::new(node.home.layout.log()));
    let party_code = node.party().to_string();
    Ok(Router::new()
        .route(
            "/health",
            get(move || {
                let p = party_code.clone();
                async move { Json(serde_json::json!({"status": "ok", "party": p})) }
            }),
        )
        .route(
            "/v1/party",
            // Read at each request: a key rotation changes it while the node runs.
            get(|State(n): State<Arc<Node>>| async move {
                n.keys.refresh(&n.home);
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    n.own().party.to_json(),
                )
            }),
        )
        .route(
            "/v1/noop",
            post(
                |State(n): State<Arc<Node>>, Extension(p): Extension<Peer>, _b: Bytes| async move {
                    match n.authenticate(&p).await {
                        Ok(_) => StatusCode::NO_CONTENT.into_response(),
                        Err(e) => refusal(e),
                    }
                },
            )
            .layer::<_, std::convert::Infallible>(claim(wire::MAX_BODY)),
        )
        .route(
            "/v1/whoami",
            get(
                |State(n): State<Arc<Node>>, Extension(p): Extension<Peer>| async move {
                    answer(n.whoami(&p).await)
                },
            ),
        )
        .route(
            "/v1/status",
            get(
                |State(n): State<Arc<Node>>, Extension(p): Extension<Peer>| async move {
                    answer(n.status(&p).await)
                },
            ),
        )
        .route(
            "/v1/trust",
            get(
                |State(n): State<Arc<Node>>, Extension(p): Extension<Peer>| async move {
                    answer(n.trust(&p).await)
                },
            ),
        )
        .route(
            "/v1/people",
            get(
                |State(n): State<Arc<Node>>, Extension(p): Extension<Peer>| async move {
                    answer(n.people(&p).await)
                },
            ),
        )
        .route(
            "/v1/people/{id}/status",
            put(
                |State(n): State<Arc<Node>>,
                 Extension(p): Extension<Peer>,
                 Path((id,)): Path<(String,)>,
                 b: Bytes| async move {
                    answer(n.change_person_status(&p, &id, &b).await)
                },
            )
            .layer::<_, std::convert::Infallible>(claim(SMALL_BODY))
            .layer(DefaultBodyLimit::max(SMALL_BODY)),
        )
        .route(
            "/v1/people/{id}/role",
            put(
                |State(n): State<Arc<Node>>,
                 Extension(p): Extension<Peer>,
                 Path((id,)): Path<(String,)>,
                 b: Bytes| async move {
                    answer(n.change_person_role(&p, &id, &b).await)
                },
            )
            .layer::<_, std::convert::Infallible>(claim(SMALL_BODY))
            .layer(DefaultBodyLimit::max(SMALL_BODY)),
        )
        .route(
            "/v1/kas/rewrap",
            post(
                |State(n): State<Arc<Node>>, Extension(p): Extension<Peer>, b: Bytes| async move {
                    answer(n.rewrap(&p, &b).await)
                },
            )
            .layer::<_, std::convert::Infallible>(claim(wire::MAX_BODY)),
        )
        .route(
            "/v1/kas/rewrap/partners",
            post(
                |State(n): State<Arc<Node>>, Extension(p): Extension<Peer>, b: Bytes| async move {
                    answer(n.rewrap_partners(&p, &b).await)
                },
            )
            .layer::<_, std::convert::Infallible>(claim(wire::MAX_BODY)),
        )
        .route(
            "/v1/fed/kas/rewrap",
            post(
                |State(n): State<Arc<Node>>, Extension(p): Extension<Peer>, b: Bytes| async move {
                    answer(n.partner_rewrap(&p, &b).await)
                },
            )
            .layer::<_, std::convert::Infallible>(claim(wire::MAX_BODY)),
        )
        .route(
            "/v1/seal/plan",
            post(
                |State(n): State<Arc<Node>>, Extension(p): Extension<Peer>, b: Bytes| async move {
                    answer(n.seal_plan(&p, &b).await)
                },
            )
            .layer::<_, std::convert::Infallible>(claim(SMALL_BODY))
            .layer(DefaultBodyLimit::max(SMALL_BODY)),
        )
        .route(
            "/v1/seal/sign",
            post(
                |State(n): State<Arc<Node>>, Extension(p): Extension<Peer>, b: Bytes| async move {
                    answer(n.seal_sign(&p, b).await)
                },
            )
            .layer::<_, std::convert::Infallible>(claim(SIGN_BODY))
            .layer(DefaultBodyLimit::max(SIGN_BODY)),
        )
        .route(
            "/v1/outbox",
            get(
                |State(n): State<Arc<Node>>,
                 Extension(p): Extension<Peer>,
                 q: axum::extract::RawQuery| async move {
                    let filter: accord_node_api::exchange::OutboxFilter =
                        match query(q.0.as_deref().unwrap_or("")) {
                            Ok(f) => f,
                            Err(e) => return refusal(e),
                        };
                    answer(n.outbox(&p, &filter).await)
                },
            ),
        )
        .route(
            "/v1/inbox",
            get(
                |State(n): State<Arc<Node>>, Extension(p): Extension<Peer>| async move {
                    answer(n.inbox(&p).await)
                },
            ),
        )
        .route(
            "/v1/inbox/{id}",
            get(
                |State(n): State<Arc<Node>>,
                 Extension(p): Extension<Peer>,
                 Path((id,)): Path<(String,)>,
                 q: axum::extract::RawQuery| async move {
                    let q: accord_node_api::wire::FetchQuery =
                        match query(q.0.as_deref().unwrap_or("")) {
                            Ok(q) => q,
                            Err(e) => return refusal(e),
                        };
                    match n.fetch_from(&p, &id, q.from.as_deref()).await {
                        Ok(stored) => stream_file(&stored).await,
                        Err(e) => refusal(e),
                    }
                },
            ),
        )
        .route(
            "/v1/witness",
            get(|State(n): State<Arc<Node>>| async move {
                match n.witness_key().await {
                    Ok(k) => {
                        ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], k).into_response()
                    }
                    Err(e) => refusal(e),
                }
            }),
        )
        .route(
            "/v1/fed/witness/checkpoint",
            get(
                |State(n): State<Arc<Node>>, Extension(p): Extension<Peer>| async move {
                    match n.witnessed_checkpoint(&p).await {
                        Ok(b) => ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], b)
                            .into_response(),
                        Err(e) => refusal(e),
                    }
                },
            ),
        )
        .route(
            "/v1/fed/witness/add-checkpoint",
            post(
                |State(n): State<Arc<Node>>, Extension(p): Extension<Peer>, b: Bytes| async move {
                    match n.add_checkpoint(&p, b).await {
                        Ok(r) => (
                            StatusCode::from_u16(r.status)
                                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                            [(header::CONTENT_TYPE, r.content_type)],
                            r.body,
                        )
                            .into_response(),
                        Err(e) => refusal(e),
                    }
                },
            )
            .layer::<_, std::convert::Infallible>(claim(SMALL_BODY))
            .layer(DefaultBodyLimit::max(SMALL_BODY)),
        )
        .route(
            "/v1/fed/agreements/{id}",
            put(
                |State(n): State<Arc<Node>>,
                 Extension(p): Extension<Peer>,
                 Path((id,)): Path<(String,)>,
                 b: Bytes| async move { answer(n.receive_agreement(&p, &id, &b).await) },
            )
            .layer::<_, std::convert::Infallible>(claim(crate::agreement_sync::MAX_AGREEMENT))
            .layer(DefaultBodyLimit::max(crate::agreement_sync::MAX_AGREEMENT)),
        )
        .layer(DefaultBodyLimit::max(wire::MAX_BODY))
        // Sealed objects stream to disk with their own bound (exchange::MAX_OBJECT).
        // The floor for large uploads (benchmarks): streams and drops the body of one
        // of the node's people (a stranger's is never read).
        .route(
            "/v1/noop",
            put(
                |State(n): State<Arc<Node>>, Extension(p): Extension<Peer>, body: Body| async move {
                    if let Err(e) = n.authenticate(&p).await {
                        return refusal(e);
                    }
                    let mut stream = body.into_data_stream();
                    while let Some(chunk) = futures_util::StreamExt::next(&mut stream).await {
                        if chunk.is_err() {
                            return StatusCode::BAD_REQUEST.into_response();
                        }
                    }
                    StatusCode::NO_CONTENT.into_response()
                },
            ),
        )
        .route(
            "/v1/outbox/{to}/{id}",
            put(
                |State(n): State<Arc<Node>>,
                 Extension(p): Extension<Peer>,
                 Path((to, id)): Path<(String, String)>,
                 body: Body| async move {
                    match n.send(&p, &to, &id, body).await {
                        Ok(v) => (StatusCode::ACCEPTED, Json(v)).into_response(),
                        Err(e) => refusal(e),
                    }
                },
            ),
        )
        .route(
            "/v1/fed/inbox",
            post(
                |State(n): State<Arc<Node>>,
                 Extension(p): Extension<Peer>,
                 body: axum::body::Bytes| async move {
                    answer(n.receive_batch(&p, body).await)
                },
            )
            .layer::<_, std::convert::Infallible>(claim(wire::MAX_BODY))
            .layer(DefaultBodyLimit::max(wire::MAX_BODY)),
        )
        .route(
            "/v1/fed/inbox/{id}",
            put(
                |State(n): State<Arc<Node>>,
                 Extension(p): Extension<Peer>,
                 Path((id,)): Path<(String,)>,
                 headers: axum::http::HeaderMap,
                 body: Body| async move {
                    let resume = match headers.get(wire::RESUME_HEADER) {
                        None => None,
                        Some(v) => match wire::parse_resume(v.as_bytes()) {
                            Ok(n) => Some(n),
                            Err(e) => {
                                return refusal(Refusal::new(
                                    Kind::BadRequest,
                                    accord_node_api::wire::Rule::Request,
                                    e.0,
                                ))
                            }
                        },
                    };
                    answer(n.receive(&p, &id, resume, body).await)
                },
            ),
        )
        .route(
            "/v1/fed/inbox/{id}/partial",
            get(
                |State(n): State<Arc<Node>>,
                 Extension(p): Extension<Peer>,
                 Path((id,)): Path<(String,)>| async move {
                    answer(n.partial_offset(&p, &id).await)
                },
            ),
        )
        .with_state(node.clone())
        .merge(super::equipment::routes(node.clone(), budget.clone()))
        .merge(super::opentdf::routes(node.clone(), budget.clone()))
        .merge(crate::console::router(node.clone()).ok_or_else(|| {
            crate::Error::Crypto("no random key for the console's form tokens".into())
        })?)
        .nest_service(
            "/log",
            accord_log::http::log_router(log_src).layer(axum::middleware::from_fn_with_state(
                node,
                entries_for_known_callers,
            )),
        )
        .layer(axum::middleware::from_fn(
            super::fetch_metadata::same_site_only,
        )))
}

/// The log's checkpoint and hash tiles are public: they show only hashes, and
/// witnesses and auditors need them to check that the log only grows. Everything else
/// under `/log/` is not: entry bundles name people, credentials, markings, objects and
/// agreements, and go only to the node's officers (`Duty::ReadAudit`, as the console's
/// audit pages) and to partner nodes under an agreement in force.
///
/// The gate decides on the resource the log router will serve, parsed once from the
/// path as sent ([`accord_log::tile::Resource::parse`], which the router uses too and
/// which accepts only the canonical spelling): never on a substring of the path, so no
/// spelling of an entry bundle (percent-encoded, doubled slashes, dot segments) can be
/// public. What does not parse as a public resource needs a known caller.
async fn entries_for_known_callers(
    State(n): State<Arc<Node>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    // Only reads are guarded: the log router answers any other method 405, whoever asks.
    let read = matches!(
        *req.method(),
        axum::http::Method::GET | axum::http::Method::HEAD
    );
    let public = accord_log::tile::Resource::parse(req.uri().path()).is_ok_and(|r| r.is_public());
    if read && !public {
        let peer = req.extensions().get::<Peer>().cloned().unwrap_or_default();
        // A partner node (its witness, its auditors' reads through it), or one of the
        // node's officers: the same duty as the console's audit pages.
        if n.partner_of(&peer).await.is_err() {
            match n.authorize(&peer, accord_agreement::Duty::ReadAudit).await {
                Ok(_) => {}
                Err(r)
                    if r.kind == Kind::Unauthenticated
                        || r.reasons
                            .iter()
                            .any(|x| x.rule == accord_node_api::wire::Rule::Credential) =>
                {
                    return refusal(Refusal::new(
                        Kind::Denied,
                        accord_node_api::wire::Rule::Credential,
                        format!(
                            "the {} node's audit entries are for its officers and its partners: use an officer's credential it issued (--credential); the checkpoint and hash tiles are public",
                            n.party()
                        ),
                    ));
                }
                Err(r) => return refusal(r),
            }
        }
    }
    next.run(req).await
}

/// Parse a query string into `T` (its serde rules refuse unknown or repeated keys),
/// answering a 400 Problem that names what is wrong.
pub(super) fn query<T: serde::de::DeserializeOwned>(q: &str) -> Result<T, Refusal> {
    serde_urlencoded::from_str(q).map_err(|e| {
        let text = format!("query: {e}");
        Refusal {
            kind: Kind::BadRequest,
            error: text.clone(),
            reasons: vec![wire::Reason::new(
                accord_node_api::wire::Rule::Request,
                text,
            )],
            logged: false,
        }
    })
}

/// Stream a stored object (a file, or its part of a pack) as the answer.
async fn stream_file(stored: &crate::exchange::Stored) -> Response {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let opened = async {
        let mut f = tokio::fs::File::open(&stored.path).await?;
        f.seek(std::io::SeekFrom::Start(stored.offset)).await?;
        Ok::<_, std::io::Error>(f.take(stored.size))
    };
    match opened.await {
        Ok(f) => (
            [
                (header::CONTENT_TYPE, "application/zip".to_string()),
                (header::CONTENT_LENGTH, stored.size.to_string()),
            ],
            Body::from_stream(tokio_util::io::ReaderStream::with_capacity(f, 256 * 1024)),
        )
            .into_response(),
        Err(e) => refusal(Refusal {
            kind: Kind::Internal,
            error: format!("internal error: reading the object: {e}"),
            reasons: vec![],
            logged: false,
        }),
    }
}
