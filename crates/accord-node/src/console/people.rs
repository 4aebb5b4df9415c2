//! The people page, for officers: everyone enrolled, suspending and resuming them,
//! changing their roles, and a link to each person's recent decisions. Each change is
//! the API's own call (`PUT /v1/people/{id}/status|role`): authorised for the officer,
//! recorded with them, in the audit log before the page answers.

use super::inbox::checked;
use super::{Console, PeerExt};
use crate::audit::EntryKind;
use accord_agreement::{Duty, Role};
use accord_node_api::wire;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use std::sync::Arc;

/// `GET /console/people`.
pub(crate) async fn list(State(c): State<Arc<Console>>, peer: PeerExt) -> Response {
    let caller = match c.caller(&peer, Duty::ManagePeople).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let people = match c.node.people(&peer).await {
        Ok(p) => p,
        Err(r) => return c.refused(Some(&caller), "People", &r),
    };
    let body = html! {
        p { (people.len()) " people. Enrol people with " code { "accord user add --role member|officer" } " on the node's host." }
        table #people {
            thead { tr { th { "Person" } th { "Nationality" } th { "Clearance" } th { "Scopes" } th { "Status" } th { "Role" } th { "Decisions" } } }
            tbody {
                @for p in &people {
                    @let status_action = format!("/console/people/{}/status", p.id);
                    @let role_action = format!("/console/people/{}/role", p.id);
                    tr id={"person-" (p.id)} {
                        td { strong { (p.name) } br; code { (p.id) } }
                        td { (p.nationality) }
                        td { (p.classifications.join(", ")) }
                        td { (p.scopes.join(", ")) }
                        td {
                            span.status { (p.status) } " "
                            @if p.id != caller.record.id {
                                form.inline method="post" action=(status_action) {
                                    (c.token_field(&caller, &status_action))
                                    @if p.status == "active" {
                                        input type="hidden" name="status" value="suspended";
                                        button type="submit" .suspend { "Suspend" }
                                    } @else {
                                        input type="hidden" name="status" value="active";
                                        button type="submit" .resume { "Resume" }
                                    }
                                }
                            }
                        }
                        td {
                            @if p.id == caller.record.id {
                                span.role { (p.role) }
                            } @else {
                                form.inline method="post" action=(role_action) {
                                    (c.token_field(&caller, &role_action))
                                    select name="role" {
                                        @for r in Role::ALL { option value=(r.as_str()) selected[r.as_str() == p.role] { (r.as_str()) } }
                                    }
                                    " " button type="submit" .change-role { "Change" }
                                }
                            }
                        }
                        td { a href={"/console/audit?person=" (p.id)} { "recent decisions" } }
                    }
                }
            }
        }
    };
    c.page(
        StatusCode::OK,
        Some(&caller),
        "People",
        &c.node.banner([]),
        body,
    )
}

/// A change form.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct ChangeForm {
    token: Option<String>,
    status: Option<String>,
    role: Option<String>,
}

/// `POST /console/people/{id}/status`.
pub(crate) async fn status(
    State(c): State<Arc<Console>>,
    peer: PeerExt,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<ChangeForm>,
) -> Response {
    let action = format!("/console/people/{id}/status");
    change(
        &c,
        &peer,
        &headers,
        &action,
        f.token.as_deref(),
        || {
            serde_json::to_vec(&wire::StatusChange {
                status: f.status.clone().unwrap_or_default(),
            })
        },
        |body| {
            let (c, peer, id) = (c.clone(), peer.0.clone(), id.clone());
            async move { c.node.change_person_status(&peer, &id, &body).await }
        },
        &id,
    )
    .await
}

/// `POST /console/people/{id}/role`.
pub(crate) async fn role(
    State(c): State<Arc<Console>>,
    peer: PeerExt,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<ChangeForm>,
) -> Response {
    let action = format!("/console/people/{id}/role");
    change(
        &c,
        &peer,
        &headers,
        &action,
        f.token.as_deref(),
        || {
            serde_json::to_vec(&wire::RoleChange {
                role: f.role.clone().unwrap_or_default(),
            })
        },
        |body| {
            let (c, peer, id) = (c.clone(), peer.0.clone(), id.clone());
            async move { c.node.change_person_role(&peer, &id, &body).await }
        },
        &id,
    )
    .await
}

/// An officer's change: authorised, the form checked, then the API's call with the
/// body it takes; back to the people page.
#[allow(clippy::too_many_arguments)]
async fn change<B, F, Fut>(
    c: &Arc<Console>,
    peer: &PeerExt,
    headers: &HeaderMap,
    action: &str,
    token: Option<&str>,
    body: B,
    call: F,
    id: &str,
) -> Response
where
    B: FnOnce() -> serde_json::Result<Vec<u8>>,
    F: FnOnce(Vec<u8>) -> Fut,
    Fut: std::future::Future<Output = Result<wire::PersonView, crate::refusal::Refusal>>,
{
    let caller = match c.caller(peer, Duty::ManagePeople).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if let Err(r) = checked(c, headers, &caller, action, token, EntryKind::Directory).await {
        return c.refused(Some(&caller), "People", &r);
    }
    let Ok(body) = body() else {
        return c.refused(
            Some(&caller),
            "People",
            &crate::refusal::Refusal::internal("form"),
        );
    };
    match call(body).await {
        Ok(_) => Redirect::to(&format!("/console/people#person-{id}")).into_response(),
        Err(r) => c.refused(Some(&caller), "People", &r),
    }
}
