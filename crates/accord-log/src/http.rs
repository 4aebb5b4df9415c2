//! HTTP: the witness `add-checkpoint` server and client, and a static-file style server
//! for a log's checkpoint and tiles (for embedding the log in a node).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::checkpoint::SignedCheckpoint;
use crate::merkle::consistency_proof;
use crate::note::{parse_signature_lines, Signature, VerifierKey};
use crate::source::{describe, install_crypto_provider, LogSource, TileNodes};
use crate::tile::Resource;
use crate::witness::{AddCheckpoint, Witness, MAX_REQUEST};
use crate::Error;

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(1)
}

async fn add_checkpoint(State(w): State<Arc<Witness>>, body: Bytes) -> Response {
    let r = tokio::task::spawn_blocking(move || w.add_checkpoint(&body, now_secs())).await;
    match r {
        Ok(r) => {
            let status =
                StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, [(header::CONTENT_TYPE, r.content_type)], r.body).into_response()
        }
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn witness_checkpoint(
    State(w): State<Arc<Witness>>,
    UrlPath(hash): UrlPath<String>,
) -> Response {
    match w.latest(&hash) {
        Some(b) => ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], b).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The witness HTTP API: `POST /add-checkpoint` and `GET /<origin hash>/checkpoint`.
pub fn witness_router(w: Arc<Witness>) -> Router {
    Router::new()
        .route("/add-checkpoint", post(add_checkpoint))
        .route("/{hash}/checkpoint", get(witness_checkpoint))
        .layer(DefaultBodyLimit::max(MAX_REQUEST))
        .with_state(w)
}

type SharedSource = Arc<dyn LogSource + Send + Sync>;

async fn serve_resource(src: SharedSource, path: String) -> Response {
    let is_checkpoint = path == "checkpoint";
    let r = tokio::task::spawn_blocking(move || src.fetch(&path)).await;
    match r {
        Ok(Ok(b)) => {
            let (ct, cache) = if is_checkpoint {
                ("text/plain; charset=utf-8", "no-cache")
            } else {
                (
                    "application/octet-stream",
                    "public, max-age=31536000, immutable",
                )
            };
            (
                [(header::CONTENT_TYPE, ct), (header::CACHE_CONTROL, cache)],
                b,
            )
                .into_response()
        }
        Ok(Err(Error::NotFound(_))) | Ok(Err(Error::Invalid(_))) => {
            StatusCode::NOT_FOUND.into_response()
        }
        _ => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// Serve a log's `checkpoint` and `tile/...` resources read from `src`, with the
/// content types and caching that c2sp.org/tlog-tiles asks for. Only the canonical
/// spelling of each resource is served ([`Resource::parse`] of the path as sent, never
/// percent-decoded): a gate in front of this router that decides on the same parse
/// sees exactly the resource that will be served.
pub fn log_router(src: SharedSource) -> Router {
    Router::new().fallback(move |req: axum::extract::Request| {
        let src = src.clone();
        async move {
            if !matches!(*req.method(), Method::GET | Method::HEAD) {
                return StatusCode::METHOD_NOT_ALLOWED.into_response();
            }
            match Resource::parse(req.uri().path()) {
                Ok(r) => serve_resource(src, r.path()).await,
                Err(_) => StatusCode::NOT_FOUND.into_response(),
            }
        }
    })
}

/// The outcome of submitting a checkpoint to a witness.
#[derive(Debug, Clone)]
pub struct Submission {
    /// Cosignatures by the witness key that verified.
    pub cosignatures: Vec<Signature>,
    /// The size the witness had cosigned before.
    pub previous_size: u64,
}

/// Submit `signed` (a checkpoint of the log published by `src`) to the witness at
/// `url` (its submission prefix), with a consistency proof from the size the witness
/// holds. Starts from `old_size_hint` and follows one 409 answer. Blocking.
pub fn submit_checkpoint(
    url: &str,
    witness_key: &VerifierKey,
    signed: &SignedCheckpoint,
    src: &dyn LogSource,
    old_size_hint: u64,
) -> Result<Submission, Error> {
    install_crypto_provider();
    let client = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| Error::Http {
            url: url.into(),
            msg: describe(&e),
        })?;
    submit_checkpoint_with(
        &client,
        url,
        std::slice::from_ref(witness_key),
        signed,
        src,
        old_size_hint,
    )
}

/// [`submit_checkpoint`] over TLS configured by the caller (a witness run by a partner
/// node, trusted by its pinned key rather than a public CA).
pub fn submit_checkpoint_with_tls(
    tls: rustls::ClientConfig,
    url: &str,
    witness_key: &VerifierKey,
    signed: &SignedCheckpoint,
    src: &dyn LogSource,
    old_size_hint: u64,
) -> Result<Submission, Error> {
    install_crypto_provider();
    let client = reqwest::blocking::Client::builder()
        .use_preconfigured_tls(tls)
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| Error::Http {
            url: url.into(),
            msg: describe(&e),
        })?;
    submit_checkpoint_with(
        &client,
        url,
        std::slice::from_ref(witness_key),
        signed,
        src,
        old_size_hint,
    )
}

/// [`submit_checkpoint`] with a client the caller built, the witness known by any of
/// `witness_keys` (its key and one it had, while a rotation's grace period runs): the
/// cosignatures by each of them are verified and kept, and there must be one. Blocking.
pub fn submit_checkpoint_with(
    client: &reqwest::blocking::Client,
    url: &str,
    witness_keys: &[VerifierKey],
    signed: &SignedCheckpoint,
    src: &dyn LogSource,
    old_size_hint: u64,
) -> Result<Submission, Error> {
    let endpoint = format!("{}/add-checkpoint", url.trim_end_matches('/'));
    let herr = |msg: String| Error::Http {
        url: endpoint.clone(),
        msg,
    };
    let size = signed.checkpoint.size;
    let mut old = old_size_hint.min(size);
    for attempt in 0..2 {
        let proof = if old == 0 {
            vec![]
        } else {
            consistency_proof(&mut TileNodes::new(src, size), old, size)?
        };
        let body = AddCheckpoint {
            old_size: old,
            proof,
            checkpoint: signed.note.to_bytes(),
        }
        .to_bytes();
        let resp = client
            .post(&endpoint)
            .body(body)
            .send()
            .map_err(|e| crate::source::transport_error(&endpoint, &e))?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().map_err(|e| herr(e.to_string()))?;
        if bytes.len() > MAX_REQUEST {
            return Err(herr("response too large".into()));
        }
        match status {
            200 => {
                let sigs = parse_signature_lines(&bytes)?;
                let mut mine: Vec<Signature> = Vec::new();
                for s in sigs {
                    let Some(k) = witness_keys
                        .iter()
                        .find(|k| s.name == k.name && s.key_id == k.key_id)
                    else {
                        continue;
                    };
                    k.verify(signed.note.text.as_bytes(), &s.raw[4..])?;
                    mine.push(s);
                }
                if mine.is_empty() {
                    return Err(Error::Signature(format!(
                        "the witness returned no cosignature by {}",
                        witness_keys
                            .iter()
                            .map(|k| k.to_string())
                            .collect::<Vec<_>>()
                            .join(" or ")
                    )));
                }
                return Ok(Submission {
                    cosignatures: mine,
                    previous_size: old,
                });
            }
            409 => {
                let text = String::from_utf8_lossy(&bytes);
                let held = crate::checkpoint::parse_decimal(text.trim_end_matches('\n'))
                    .ok_or_else(|| {
                        herr(format!("409 with a body that is not a tree size: {text:?}"))
                    })?;
                if held == old && held == size {
                    // c2sp.org/tlog-witness: a 409 at the very size the witness holds is
                    // a fork (another root at that size).
                    return Err(Error::WitnessRefused {
                        status: 409,
                        msg: format!("the witness cosigned another tree of size {size}: this log is a fork of the one it witnessed"),
                    });
                }
                if attempt > 0 {
                    break;
                }
                old = held;
                if old > size {
                    return Err(Error::WitnessRefused {
                        status: 409,
                        msg: format!("the witness has already cosigned size {old}, larger than this checkpoint's {size}: the log went backwards"),
                    });
                }
            }
            _ => {
                let text: String = String::from_utf8_lossy(&bytes).chars().take(500).collect();
                return Err(Error::WitnessRefused {
                    status,
                    msg: text.trim_end().to_string(),
                });
            }
        }
    }
    Err(Error::WitnessRefused {
        status: 409,
        msg: "the witness's size changed twice".into(),
    })
}
