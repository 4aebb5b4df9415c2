//! The node's people as its officers see and change them, through the API and the
//! console alike: every call is authorised for [`Duty::ManagePeople`] first, and every
//! change is recorded with the officer who made it and written into the audit log before
//! the answer (the `directory_log` module).

use crate::caller::Peer;
use crate::node::Node;
use crate::refusal::Refusal;
use crate::store::{Actor, PersonRecord};
use accord_agreement::{Duty, Role};
use accord_node_api::wire::{self, Rule};
use accord_node_api::Kind;
use accord_spif::Clearance;

impl Node {
    /// `GET /v1/people`: everyone, by id.
    pub async fn people(&self, peer: &Peer) -> Result<Vec<wire::PersonView>, Refusal> {
        self.authorize(peer, Duty::ManagePeople).await?;
        let all = self.store.people().await.map_err(Refusal::internal)?;
        Ok(all.iter().map(|r| self.person_view(r)).collect())
    }

    /// One person as an officer sees them.
    pub(crate) fn person_view(&self, r: &PersonRecord) -> wire::PersonView {
        let classifications = Clearance::read(self.policies(), "clearance", r.clearance.as_bytes())
            .map(|c| c.classifications.iter().map(|x| x.name.clone()).collect())
            .unwrap_or_default();
        wire::PersonView {
            id: r.id.clone(),
            name: r.name.clone(),
            nationality: r.nationality.clone(),
            status: r.status.clone(),
            role: r.role().as_str().into(),
            scopes: r.scopes.clone(),
            classifications,
        }
    }

    /// `PUT /v1/people/{id}/status`: suspend or resume a person; in force on their next
    /// request. An officer may not suspend themselves (someone must be left to resume).
    pub async fn change_person_status(
        &self,
        peer: &Peer,
        id: &str,
        body: &[u8],
    ) -> Result<wire::PersonView, Refusal> {
        let officer = self.authorize(peer, Duty::ManagePeople).await?;
        let r = async {
            let change: wire::StatusChange = parse(body)?;
            let active = match change.status.as_str() {
                "active" => true,
                "suspended" => false,
                other => {
                    return Err(bad(format!(
                        "status `{other}` is not one of active, suspended"
                    )))
                }
            };
            if !active && id == officer.record.id {
                return Err(bad("an officer may not suspend themselves".into()));
            }
            let p = crate::directory::change_status(&self.store, id, active, actor(&officer))
                .await
                .map_err(not_found_or_internal)?;
            self.log_directory_changes().await?;
            Ok(self.person_view(&p))
        }
        .await;
        self.answered(crate::audit::EntryKind::Directory, &officer, r)
            .await
    }

    /// `PUT /v1/people/{id}/role`: give a person a role. An officer may not take their
    /// own office (someone must be left to give it back).
    pub async fn change_person_role(
        &self,
        peer: &Peer,
        id: &str,
        body: &[u8],
    ) -> Result<wire::PersonView, Refusal> {
        let officer = self.authorize(peer, Duty::ManagePeople).await?;
        let r = async {
            let change: wire::RoleChange = parse(body)?;
            let role = Role::parse(&change.role).map_err(bad)?;
            if role != Role::Officer && id == officer.record.id {
                return Err(bad("an officer may not take away their own role".into()));
            }
            let p = crate::directory::change_role(&self.store, id, role, actor(&officer))
                .await
                .map_err(not_found_or_internal)?;
            self.log_directory_changes().await?;
            Ok(self.person_view(&p))
        }
        .await;
        self.answered(crate::audit::EntryKind::Directory, &officer, r)
            .await
    }
}

fn actor(c: &crate::caller::Caller) -> Actor {
    Actor::Officer {
        person: c.record.id.clone(),
        credential: c.fingerprint.clone(),
    }
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Refusal> {
    serde_json::from_slice(body).map_err(|e| bad(format!("the request body: {e}")))
}

fn bad(msg: String) -> Refusal {
    Refusal::new(Kind::BadRequest, Rule::Request, msg)
}

fn not_found_or_internal(e: crate::Error) -> Refusal {
    match e {
        crate::Error::NotFound(m) => Refusal::new(Kind::NotFound, Rule::Request, m),
        e => Refusal::internal(e),
    }
}
