//! What the node's officers do through it, the API and the console alike: see and
//! change its people (authorised for [`Duty::ManagePeople`]; every change recorded with
//! the officer who made it and written into the audit log before the answer, by the
//! `directory_log` module), and load a new or renewed agreement
//! ([`Duty::ManageAgreements`]; the load in the audit log as an `agreement` entry).

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
        self.change_person(peer, id, body, |officer, body| {
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
            Ok(Change::Status(active))
        })
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
        self.change_person(peer, id, body, |officer, body| {
            let change: wire::RoleChange = parse(body)?;
            let role = Role::parse(&change.role).map_err(bad)?;
            if role != Role::Officer && id == officer.record.id {
                return Err(bad("an officer may not take away their own role".into()));
            }
            Ok(Change::Role(role))
        })
        .await
    }

    /// An officer's change to person `id`: authorised, `read` the body into the change,
    /// made and recorded with the officer, in the audit log before the answer; a
    /// refusal logged.
    async fn change_person(
        &self,
        peer: &Peer,
        id: &str,
        body: &[u8],
        read: impl FnOnce(&crate::caller::Caller, &[u8]) -> Result<Change, Refusal>,
    ) -> Result<wire::PersonView, Refusal> {
        let officer = self.authorize(peer, Duty::ManagePeople).await?;
        let r = async {
            let p = match read(&officer, body)? {
                Change::Status(active) => {
                    crate::directory::change_status(&self.store, id, active, actor(&officer)).await
                }
                Change::Role(role) => {
                    crate::directory::change_role(&self.store, id, role, actor(&officer)).await
                }
            }
            .map_err(not_found_or_internal)?;
            self.log_directory_changes().await?;
            Ok(self.person_view(&p))
        }
        .await;
        self.answered(crate::audit::EntryKind::Directory, &officer, r)
            .await
    }
}

impl Node {
    /// Enrol a person (the console's People page) and issue their credential: the
    /// checks of `accord user add`, the enrolment recorded with the officer and in the
    /// audit log before the answer.
    pub async fn enrol(
        &self,
        peer: &Peer,
        e: &crate::directory::Enrolment,
    ) -> Result<(PersonRecord, accord_node_api::credential::Credential), Refusal> {
        let officer = self.authorize(peer, Duty::ManagePeople).await?;
        let r = async {
            let done = crate::directory::enrol(&self.home, &self.store, e, actor(&officer))
                .await
                .map_err(|e| match e {
                    crate::Error::Input(m) | crate::Error::Exists(m) => bad(m),
                    crate::Error::Spif(e) => bad(e.to_string()),
                    e => Refusal::internal(e),
                })?;
            self.log_directory_changes().await?;
            Ok(done)
        }
        .await;
        self.answered(crate::audit::EntryKind::Directory, &officer, r)
            .await
    }

    /// Load an agreement document (TOML or JSON) an officer gives: every party must have
    /// signed it (`accord agreement load` without `--draft`), it must verify and name
    /// this node's party with its keys (`agreements::load`). The load, or its refusal,
    /// is in the audit log before the answer.
    pub async fn load_agreement(
        &self,
        peer: &Peer,
        text: &[u8],
    ) -> Result<crate::agreements::Loaded, Refusal> {
        let officer = self.authorize(peer, Duty::ManageAgreements).await?;
        let r = async {
            let text = std::str::from_utf8(text)
                .map_err(|_| bad("the agreement is not UTF-8 text".into()))?;
            let refused = |msg: String| Refusal::new(Kind::Denied, Rule::AgreementValid, msg);
            if let Some(msg) = crate::agreements::not_signed_by_all(text, (self.clock)()) {
                return Err(refused(msg));
            }
            let own = self.own();
            let loaded = crate::agreements::load(&self.store, &own.party, &own.history, text)
                .await
                .map_err(|e| match e {
                    crate::Error::Refused(m) => refused(m),
                    crate::Error::Input(m) => bad(m),
                    e => refused(e.to_string()),
                })?;
            let detail = format!(
                "agreement {} v{} loaded by an officer: {} ({} records)",
                loaded.id, loaded.version, loaded.outcome, loaded.records
            );
            let entry = crate::audit::AuditEntry {
                person: Some(&officer.record.id),
                credential: Some(&officer.fingerprint),
                agreement: Some(&loaded.id),
                detail: Some(&detail),
                ..self.entry(crate::audit::EntryKind::Agreement, true, &[])
            }
            .bytes();
            self.log_entries(vec![entry]).await?;
            Ok(loaded)
        }
        .await;
        self.answered(crate::audit::EntryKind::Agreement, &officer, r)
            .await
    }
}

/// What an officer changes of a person.
enum Change {
    Status(bool),
    Role(Role),
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
