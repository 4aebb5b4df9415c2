//! The OpenTDF routes: Connect unary at the edge (JSON or binary protobuf, gzip, the
//! Connect error body), then `crate::opentdf`. These callers carry no client
//! certificate, so the body budget of known callers does not apply: each body is
//! bounded (1 MiB before and after inflating), read within a time limit, under the
//! per-address limit on connections of callers the node does not know; and a rewrap's
//! token is checked before its body is read.

use crate::node::Node;
use accord_node_api::opentdf::connect::{inflate_gzip, Code, ConnectError};
use accord_node_api::opentdf::kas::{self as otkas, Codec};
use accord_node_api::opentdf::MAX_BODY;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use std::sync::Arc;
use std::time::Duration;

/// How long a stranger's body may take to arrive.
const BODY_TIME: Duration = Duration::from_secs(30);

/// A Connect error: its status and JSON body, whatever the request's codec.
fn connect_error(e: ConnectError) -> Response {
    let status = StatusCode::from_u16(e.code.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    if e.code == Code::Internal {
        tracing::error!(error = %e.message, "OpenTDF request failed");
    }
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        e.to_json(),
    )
        .into_response()
}

fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// The codec of a Connect request, from its content type.
fn codec(h: &HeaderMap) -> Result<Codec, ConnectError> {
    let ct = header_str(h, "content-type").unwrap_or("");
    Codec::from_content_type(ct).ok_or_else(|| ConnectError {
        code: Code::InvalidArgument,
        message: format!(
            "content type `{ct}`: send application/json or application/proto (Connect unary)"
        ),
    })
}

/// The body bound of the procedures whose requests are a few short strings
/// (PublicKey, GetWellKnownConfiguration): anyone may call them.
const SMALL_BODY: usize = 16 * 1024;

/// Read a Connect request body: at most `limit` bytes before and after inflating, on
/// time, inflated if gzip.
async fn read_body(h: &HeaderMap, body: Body, limit: usize) -> Result<Vec<u8>, ConnectError> {
    let bytes = match tokio::time::timeout(BODY_TIME, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(b)) => b,
        Ok(Err(_)) => {
            return Err(ConnectError {
                code: Code::ResourceExhausted,
                message: format!("the request body is over {limit} bytes, or broken off"),
            })
        }
        Err(_) => {
            return Err(ConnectError {
                code: Code::DeadlineExceeded,
                message: format!(
                    "the request body did not arrive within {} s",
                    BODY_TIME.as_secs()
                ),
            })
        }
    };
    match header_str(h, "content-encoding") {
        None | Some("identity") => Ok(bytes.to_vec()),
        Some("gzip") => inflate_gzip(&bytes, limit).map_err(|e| ConnectError {
            code: Code::InvalidArgument,
            message: format!("the gzip request body: {e}"),
        }),
        Some(other) => Err(ConnectError {
            code: Code::Unimplemented,
            message: format!("content encoding `{other}`: send gzip or identity"),
        }),
    }
}

fn reply(codec: Codec, bytes: Vec<u8>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(codec.content_type()),
        )],
        bytes,
    )
        .into_response()
}

fn json_or_404(v: Result<serde_json::Value, ConnectError>) -> Response {
    match v {
        Ok(v) => Json(v).into_response(),
        Err(e) => connect_error(e),
    }
}

/// The routes. A rewrap's body, read once its token is checked, claims its bound from
/// the node's shared body `budget` as a known caller's does.
pub(super) fn routes(node: Arc<Node>, budget: crate::admission::Budget) -> Router {
    Router::new()
        .route(
            "/.well-known/opentdf-configuration",
            get(|State(n): State<Arc<Node>>| async move {
                json_or_404(n.opentdf_configuration().await.map(serde_json::Value::Object))
            }),
        )
        .route(
            "/.well-known/openid-configuration",
            get(|State(n): State<Arc<Node>>| async move { json_or_404(n.openid_configuration()) }),
        )
        .route(
            "/oauth/jwks",
            get(|State(n): State<Arc<Node>>| async move { json_or_404(n.opentdf_jwks()) }),
        )
        .route(
            "/oauth/token",
            post(|State(n): State<Arc<Node>>, h: HeaderMap, body: Body| async move {
                let body = match tokio::time::timeout(
                    BODY_TIME,
                    axum::body::to_bytes(body, crate::opentdf::MAX_TOKEN_REQUEST),
                )
                .await
                {
                    Ok(Ok(b)) => b,
                    _ => {
                        return (
                            StatusCode::BAD_REQUEST,
                            Json(serde_json::json!({
                                "error": "invalid_request",
                                "error_description": format!("the body is over {} bytes, or did not arrive", crate::opentdf::MAX_TOKEN_REQUEST),
                            })),
                        )
                            .into_response()
                    }
                };
                let r = n
                    .opentdf_token(header_str(&h, "authorization"), header_str(&h, "dpop"), &body)
                    .await;
                let no_store = [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))];
                match r {
                    Ok(v) => (no_store, Json(v)).into_response(),
                    Err(e) => (
                        StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST),
                        no_store,
                        Json(e.body()),
                    )
                        .into_response(),
                }
            }),
        )
        .route(
            "/wellknownconfiguration.WellKnownService/GetWellKnownConfiguration",
            post(|State(n): State<Arc<Node>>, h: HeaderMap, body: Body| async move {
                let c = match codec(&h) {
                    Ok(c) => c,
                    Err(e) => return connect_error(e),
                };
                if let Err(e) = read_body(&h, body, SMALL_BODY).await {
                    return connect_error(e);
                }
                match n.opentdf_configuration().await {
                    Ok(m) => reply(c, otkas::encode_wellknown(c, &m)),
                    Err(e) => connect_error(e),
                }
            }),
        )
        .route(
            "/kas.AccessService/PublicKey",
            post(|State(n): State<Arc<Node>>, h: HeaderMap, body: Body| async move {
                let r = async {
                    let c = codec(&h)?;
                    let b = read_body(&h, body, SMALL_BODY).await?;
                    let req = otkas::decode_public_key_request(c, &b).map_err(|e| ConnectError {
                        code: Code::InvalidArgument,
                        message: e.to_string(),
                    })?;
                    let resp = n.opentdf_public_key(&req)?;
                    Ok::<_, ConnectError>(reply(c, otkas::encode_public_key_response(c, &resp)))
                }
                .await;
                r.unwrap_or_else(connect_error)
            }),
        )
        .route(
            "/kas.AccessService/Rewrap",
            post(move |State(n): State<Arc<Node>>, h: HeaderMap, body: Body| {
                let budget = budget.clone();
                async move {
                let r = async {
                    let c = codec(&h)?;
                    // Who asks, before a byte of the body is read.
                    let asker = n
                        .opentdf_authenticate(header_str(&h, "authorization"), header_str(&h, "dpop"))
                        .await?;
                    let read = async {
                        let _held = budget.hold(MAX_BODY).await.ok_or_else(|| ConnectError {
                            code: Code::Unavailable,
                            message: "the node is busy: try again shortly".into(),
                        })?;
                        let b = read_body(&h, body, MAX_BODY).await?;
                        otkas::decode_rewrap_request(c, &b).map_err(|e| ConnectError {
                            code: Code::InvalidArgument,
                            message: e.to_string(),
                        })
                    };
                    let req = match read.await {
                        Ok(r) => r,
                        Err(e) => {
                            n.opentdf_refused(&asker, &e).await;
                            return Err(e);
                        }
                    };
                    let resp = n.opentdf_rewrap(asker, &req).await?;
                    Ok::<_, ConnectError>(reply(c, otkas::encode_rewrap_response(c, &resp)))
                }
                .await;
                r.unwrap_or_else(connect_error)
                }
            }),
        )
        .with_state(node)
}
