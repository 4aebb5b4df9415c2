//! The people page, for officers: everyone enrolled, suspending and resuming them,
//! changing their roles, and a link to each person's recent decisions. Each change is
//! the API's own call (`PUT /v1/people/{id}/status|role`): authorised for the officer,
//! recorded with them, in the audit log before the page answers.

use super::forms::checked;
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
    let policy = c.node.policies().get(&c.node.home.config.national_policy);
    let classes: Vec<&str> = policy
        .map(|p| {
            p.classifications
                .iter()
                .filter(|c| !c.obsolete)
                .map(|c| c.name.as_str())
                .collect()
        })
        .unwrap_or_default();
    // Restrictive categories a clearance may hold (the scopes are asked apart).
    let restrictive: Vec<(String, String)> = policy
        .map(|p| {
            p.categories
                .iter()
                .filter(|d| !d.obsolete && d.tag_type != accord_spif::TagType::Permissive)
                .filter_map(|d| {
                    let ts = &p.tag_sets.get(d.tag_set)?.name;
                    (ts != accord_agreement::decision::SCOPE_TAG_SET)
                        .then(|| (ts.clone(), d.name.clone()))
                })
                .collect()
        })
        .unwrap_or_default();
    let body = html! {
        details #enrol-form {
            summary { "Enrol a person" }
            form #enrol method="post" action=(ENROL) {
                (c.token_field(&caller, ENROL))
                p {
                    label { "Id " input type="text" name="id" required pattern="[A-Za-z0-9._@-]{1,64}"; } " "
                    label { "Name " input type="text" name="name" required; } " "
                    label { "Nationality " input type="text" name="nationality" value=(c.node.party()) size="3" required; }
                }
                p {
                    label { "Cleared up to " select name="classification" {
                        @for cl in &classes { option value=(cl) { (cl) } }
                    } }
                    @for (ts, v) in &restrictive {
                        " " label.cat { input type="checkbox" name="cat" value={(ts) "|" (v)}; " " (ts) ": " (v) }
                    }
                }
                p { "Scopes "
                    @for s in accord_agreement::Scope::ALL {
                        label.cat { input type="checkbox" name="scope" value=(s.as_str()); " " (s.as_str()) }
                    }
                }
                p {
                    label { "Role " select name="role" { @for r in Role::ALL { option value=(r.as_str()) { (r.as_str()) } } } }
                    " " button type="submit" #enrol-button { "Enrol and download the credentials" }
                }
                p { "The download holds the person's credential (ID.credential), its form for the browser (ID.p12) and the PKCS#12 passphrase (ID.p12.passphrase): hand them over, the passphrase apart." }
            }
        }
        p { (people.len()) " people." }
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

/// Where the enrolment form posts.
pub(crate) const ENROL: &str = "/console/people";

/// `POST /console/people`: enrol a person; the answer is a tar of their credential,
/// its PKCS#12 form and the passphrase, to hand over.
pub(crate) async fn enrol(
    State(c): State<Arc<Console>>,
    peer: PeerExt,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let caller = match c.caller(&peer, Duty::ManagePeople).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let pairs = super::forms::pairs(std::str::from_utf8(&body).ok());
    let pick = |k: &str| super::forms::pick(&pairs, k);
    let all = |k: &str| -> Vec<String> {
        pairs
            .iter()
            .filter(|(a, _)| a == k)
            .map(|(_, v)| v.clone())
            .collect()
    };
    let token = pick(super::forms::FIELD);
    if let Err(r) = checked(
        &c,
        &headers,
        &caller,
        ENROL,
        Some(&token),
        EntryKind::Directory,
    )
    .await
    {
        return c.refused(Some(&caller), "Enrol", &r);
    }
    let national = c.node.home.config.national_policy.clone();
    let nationality = pick("nationality").trim().to_ascii_uppercase();
    // The clearance: every classification up to the one chosen, releasable to the
    // person's nationality, the categories and scopes ticked.
    let classes: Vec<String> = c
        .node
        .policies()
        .get(&national)
        .map(|p| {
            let top = p
                .classifications
                .iter()
                .find(|x| x.name == pick("classification"))
                .map(|x| x.hierarchy)
                .unwrap_or(0);
            p.classifications
                .iter()
                .filter(|x| !x.obsolete && x.hierarchy <= top)
                .map(|x| x.name.clone())
                .collect()
        })
        .unwrap_or_default();
    let mut sets: Vec<(String, Vec<String>)> =
        vec![("Releasable To".into(), vec![nationality.clone()])];
    for v in all("cat") {
        if let Some((ts, val)) = v.split_once('|') {
            match sets.iter_mut().find(|(n, _)| n == ts) {
                Some((_, vals)) => vals.push(val.to_string()),
                None => sets.push((ts.to_string(), vec![val.to_string()])),
            }
        }
    }
    let scopes = all("scope");
    if !scopes.is_empty() {
        sets.push((
            accord_agreement::decision::SCOPE_TAG_SET.into(),
            scopes.clone(),
        ));
    }
    let clearance = serde_json::json!({
        "policy": {"name": national},
        "classifications": classes,
        "categories": sets.iter().map(|(t, v)| serde_json::json!({"tagSet": t, "values": v})).collect::<Vec<_>>(),
    })
    .to_string();
    let role = match Role::parse(&pick("role")) {
        Ok(r) => r,
        Err(e) => {
            return c.refused(
                Some(&caller),
                "Enrol",
                &crate::refusal::Refusal::new(
                    accord_node_api::Kind::BadRequest,
                    accord_node_api::wire::Rule::Request,
                    e,
                ),
            )
        }
    };
    let e = crate::directory::Enrolment {
        id: pick("id").trim().to_string(),
        name: pick("name"),
        nationality,
        clearance: (
            "the enrolment form's clearance".into(),
            clearance.into_bytes(),
        ),
        scopes,
        role,
    };
    let (person, credential) = match c.node.enrol(&peer, &e).await {
        Ok(x) => x,
        Err(r) => return c.refused(Some(&caller), "Enrol", &r),
    };
    match handover(&c, &person.id, &credential) {
        Ok(tar) => {
            let mut r = tar.to_vec().into_response();
            let h = r.headers_mut();
            h.insert(
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("application/x-tar"),
            );
            // The id is checked: letters, digits, '-', '_', '.', '@'.
            if let Ok(v) = axum::http::HeaderValue::from_str(&format!(
                "attachment; filename=\"{}-credentials.tar\"",
                person.id
            )) {
                h.insert(axum::http::header::CONTENT_DISPOSITION, v);
            }
            r
        }
        Err(e) => c.refused(
            Some(&caller),
            "Enrol",
            &crate::refusal::Refusal::internal(e),
        ),
    }
}

/// The files to hand over, in a tar (owner-only modes): `ID.credential`, `ID.p12` and
/// `ID.p12.passphrase`.
fn handover(
    c: &Console,
    id: &str,
    credential: &accord_node_api::credential::Credential,
) -> Result<zeroize::Zeroizing<Vec<u8>>, crate::Error> {
    let (p12, passphrase) = crate::directory::browser_credential(&c.node.home, credential, None)?;
    let mut pass = zeroize::Zeroizing::new(String::with_capacity(passphrase.len() + 1));
    pass.push_str(&passphrase);
    pass.push('\n');
    let cred_json = credential.unprotected().to_bytes();
    let mut tar = tar::Builder::new(Vec::new());
    for (name, bytes) in [
        (format!("{id}.credential"), cred_json.as_slice()),
        (format!("{id}.p12"), p12.as_slice()),
        (format!("{id}.p12.passphrase"), pass.as_bytes()),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o600);
        h.set_mtime(crate::store::unix_now().max(0) as u64);
        h.set_cksum();
        tar.append_data(&mut h, &name, bytes)
            .map_err(|e| crate::Error::Input(format!("the hand-over file: {e}")))?;
    }
    let out = tar
        .into_inner()
        .map_err(|e| crate::Error::Input(format!("the hand-over file: {e}")))?;
    Ok(zeroize::Zeroizing::new(out))
}

/// A change form.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct ChangeForm {
    token: Option<String>,
    status: Option<String>,
    role: Option<String>,
}

/// `POST /console/people/{id}/status` and `POST /console/people/{id}/role`: the form
/// made into the API's body for `PUT /v1/people/{id}/status|role`, and that call.
pub(crate) async fn change_field(
    State(c): State<Arc<Console>>,
    peer: PeerExt,
    headers: HeaderMap,
    Path((id, field)): Path<(String, String)>,
    Form(f): Form<ChangeForm>,
) -> Response {
    let status = match field.as_str() {
        "status" => true,
        "role" => false,
        _ => return (StatusCode::NOT_FOUND, "no such page").into_response(),
    };
    let action = format!("/console/people/{id}/{field}");
    change(
        &c,
        &peer,
        &headers,
        &action,
        f.token.as_deref(),
        || {
            if status {
                serde_json::to_vec(&wire::StatusChange {
                    status: f.status.clone().unwrap_or_default(),
                })
            } else {
                serde_json::to_vec(&wire::RoleChange {
                    role: f.role.clone().unwrap_or_default(),
                })
            }
        },
        |body| {
            let (c, peer, id) = (c.clone(), peer.0.clone(), id.clone());
            async move {
                if status {
                    c.node.change_person_status(&peer, &id, &body).await
                } else {
                    c.node.change_person_role(&peer, &id, &body).await
                }
            }
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
