//! The equipment routes (`/v1/equipment/...`, `/v1/fed/equipment/...`): thin, as every
//! route: parse what HTTP carries, call `crate::equipment`, spell the answer.

use super::routes::{answer, query, refusal};
use crate::caller::Peer;
use crate::node::Node;
use crate::refusal::Refusal;
use accord_equipment::ItemKey;
use accord_node_api::wire::{self, Rule};
use accord_node_api::Kind;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Extension, Path, RawQuery, State};
use axum::routing::{get, post, put};
use axum::Router;
use std::sync::Arc;

/// The routes' bodies: a draft or an account is small; a record of a whole account's
/// items, or a CSV import, is not.
const SMALL: usize = 1 << 20;
const RECORD: usize = accord_equipment::record::MAX_RECORD;
const IMPORT: usize = crate::equipment::MAX_IMPORT;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountQuery {
    account: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordsQuery {
    kind: Option<String>,
    state: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ReconcileQuery {
    partner: String,
    agreement: String,
}

fn json<T: serde::de::DeserializeOwned>(b: &[u8]) -> Result<T, Refusal> {
    serde_json::from_slice(b).map_err(|e| {
        Refusal::new(
            Kind::BadRequest,
            Rule::Request,
            format!("the request body: {e}"),
        )
    })
}

/// The routes, with the node's state and body budget applied.
pub(super) fn routes(node: Arc<Node>, budget: crate::admission::Budget) -> Router {
    let claim = |limit: usize| {
        axum::middleware::from_fn_with_state(
            (budget.clone(), limit, node.clone()),
            crate::admission::claim,
        )
    };
    Router::new()
        .route(
            "/v1/equipment/accounts",
            get(|State(n): State<Arc<Node>>, Extension(p): Extension<Peer>| async move { answer(n.equipment_accounts(&p).await) })
                .post(|State(n): State<Arc<Node>>, Extension(p): Extension<Peer>, b: Bytes| async move {
                    match json::<wire::AccountNew>(&b) {
                        Ok(req) => answer(n.equipment_open_account(&p, &req).await),
                        Err(e) => refusal(e),
                    }
                })
                .layer::<_, std::convert::Infallible>(claim(SMALL))
                .layer(DefaultBodyLimit::max(SMALL)),
        )
        .route(
            "/v1/equipment/accounts/{id}/import",
            post(|State(n): State<Arc<Node>>, Extension(p): Extension<Peer>, Path((id,)): Path<(String,)>, b: Bytes| async move {
                answer(n.equipment_import(&p, &id, &b).await)
            })
            .layer::<_, std::convert::Infallible>(claim(IMPORT))
            .layer(DefaultBodyLimit::max(IMPORT)),
        )
        .route(
            "/v1/equipment/items",
            get(|State(n): State<Arc<Node>>, Extension(p): Extension<Peer>, q: RawQuery| async move {
                match query::<AccountQuery>(q.0.as_deref().unwrap_or("")) {
                    Ok(q) => answer(n.equipment_items(&p, q.account.as_deref()).await),
                    Err(e) => refusal(e),
                }
            }),
        )
        .route(
            "/v1/equipment/item",
            get(|State(n): State<Arc<Node>>, Extension(p): Extension<Peer>, q: RawQuery| async move {
                match query::<ItemKey>(q.0.as_deref().unwrap_or("")) {
                    Ok(k) => match k.check("item") {
                        Ok(()) => answer(n.equipment_item(&p, &k).await),
                        Err(e) => refusal(Refusal::new(Kind::BadRequest, Rule::Request, e.to_string())),
                    },
                    Err(e) => refusal(e),
                }
            }),
        )
        .route(
            "/v1/equipment/drafts",
            post(|State(n): State<Arc<Node>>, Extension(p): Extension<Peer>, b: Bytes| async move {
                match json::<wire::Draft>(&b) {
                    Ok(d) => answer(n.equipment_draft(&p, &d).await),
                    Err(e) => refusal(e),
                }
            })
            .layer::<_, std::convert::Infallible>(claim(RECORD))
            .layer(DefaultBodyLimit::max(RECORD)),
        )
        .route(
            "/v1/equipment/records",
            get(|State(n): State<Arc<Node>>, Extension(p): Extension<Peer>, q: RawQuery| async move {
                match query::<RecordsQuery>(q.0.as_deref().unwrap_or("")) {
                    Ok(q) => answer(n.equipment_records(&p, q.kind.as_deref(), q.state.as_deref()).await),
                    Err(e) => refusal(e),
                }
            })
            .post(|State(n): State<Arc<Node>>, Extension(p): Extension<Peer>, b: Bytes| async move {
                answer(n.equipment_submit(&p, &b).await)
            })
            .layer::<_, std::convert::Infallible>(claim(RECORD))
            .layer(DefaultBodyLimit::max(RECORD)),
        )
        .route(
            "/v1/equipment/records/{id}",
            get(|State(n): State<Arc<Node>>, Extension(p): Extension<Peer>, Path((id,)): Path<(String,)>| async move {
                answer(n.equipment_record(&p, &id).await)
            }),
        )
        .route(
            "/v1/equipment/reconcile",
            get(|State(n): State<Arc<Node>>, Extension(p): Extension<Peer>, q: RawQuery| async move {
                match query::<ReconcileQuery>(q.0.as_deref().unwrap_or("")) {
                    Ok(q) => answer(n.equipment_reconcile(&p, &q.partner, &q.agreement).await),
                    Err(e) => refusal(e),
                }
            }),
        )
        .route(
            "/v1/fed/equipment/records/{id}",
            put(|State(n): State<Arc<Node>>, Extension(p): Extension<Peer>, Path((id,)): Path<(String,)>, b: Bytes| async move {
                answer(n.equipment_receive(&p, &id, &b).await)
            })
            .layer::<_, std::convert::Infallible>(claim(RECORD))
            .layer(DefaultBodyLimit::max(RECORD)),
        )
        .with_state(node)
}
