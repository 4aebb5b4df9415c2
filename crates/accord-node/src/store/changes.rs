//! The directory's changes: one row per change to a person, committed with the change
//! itself, until the running node has written it into the audit log
//! (the `directory_log` module). A change to the node's own keys (`accord key rotate`,
//! made on the host while the node may run) takes the same way to the log: its
//! `person` is then the key's kind and its `change` starts with `key-`.

use super::{db, unix_now, Stmt, Store};
use crate::Error;
use sqlx::Row;

/// Who made a directory change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// An officer, through the node (API or console): their id and credential.
    Officer {
        /// The officer's person id.
        person: String,
        /// Their credential's SHA-256 fingerprint.
        credential: String,
    },
    /// The node's operator, with `accord user ...` on the node's host.
    Operator,
}

/// One change to a person, as the audit log records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryChange {
    /// Unique id (random hex): the audit entry names it, so that an entry written twice
    /// (the node stopped between writing and marking) is seen to be one change.
    pub id: String,
    /// Unix seconds.
    pub at: i64,
    /// Who made it.
    pub actor: Actor,
    /// The person changed (for a key change, the key's kind).
    pub person: String,
    /// `enrol`, `suspend`, `resume`, `role`, `renew`, `revoke`; `key-rotate`.
    pub change: String,
    /// What changed, in words (`member → officer`).
    pub detail: String,
}

impl DirectoryChange {
    /// A change made now.
    pub fn new(actor: Actor, person: &str, change: &str, detail: impl Into<String>) -> Self {
        let mut b = [0u8; 16];
        let _ = aws_lc_rs::rand::fill(&mut b);
        DirectoryChange {
            id: hex::encode(b),
            at: unix_now(),
            actor,
            person: person.to_string(),
            change: change.to_string(),
            detail: detail.into(),
        }
    }

    /// The statement recording it (committed with the change itself).
    pub(crate) fn stmt(&self) -> Stmt {
        let (actor, credential) = match &self.actor {
            Actor::Officer { person, credential } => {
                (Some(person.clone()), Some(credential.clone()))
            }
            Actor::Operator => (None, None),
        };
        Stmt::new(
            "INSERT INTO directory_changes (id, at, actor, credential, person, change, detail, logged) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)",
        )
        .text(&self.id)
        .int(self.at)
        .opt_text(actor)
        .opt_text(credential)
        .text(&self.person)
        .text(&self.change)
        .text(&self.detail)
    }
}

/// Most changes written into the log at once.
const BATCH: i64 = 256;

impl Store {
    /// Changes not yet in the audit log, oldest first.
    pub async fn directory_changes_pending(&self) -> Result<Vec<DirectoryChange>, Error> {
        let rows = sqlx::query(
            "SELECT id, at, actor, credential, person, change, detail FROM directory_changes \
             WHERE logged IS NULL ORDER BY at, id LIMIT $1",
        )
        .bind(BATCH)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| {
                let actor: Option<String> = r.try_get("actor").map_err(db)?;
                let credential: Option<String> = r.try_get("credential").map_err(db)?;
                Ok(DirectoryChange {
                    id: r.try_get("id").map_err(db)?,
                    at: r.try_get("at").map_err(db)?,
                    actor: match actor {
                        Some(person) => Actor::Officer {
                            person,
                            credential: credential.unwrap_or_default(),
                        },
                        None => Actor::Operator,
                    },
                    person: r.try_get("person").map_err(db)?,
                    change: r.try_get("change").map_err(db)?,
                    detail: r.try_get("detail").map_err(db)?,
                })
            })
            .collect()
    }

    /// Mark changes as written into the audit log.
    pub async fn directory_changes_logged(&self, ids: &[String]) -> Result<(), Error> {
        let now = unix_now();
        let stmts = ids
            .iter()
            .map(|id| {
                Stmt::new("UPDATE directory_changes SET logged = $1 WHERE id = $2")
                    .int(now)
                    .text(id)
            })
            .collect();
        self.commit(stmts).await.map(|_| ())
    }

    /// A person's status (`active`, `suspended`) changed, with its record.
    pub async fn change_status(
        &self,
        id: &str,
        status: &str,
        c: &DirectoryChange,
    ) -> Result<(), Error> {
        self.change_person(
            Stmt::new("UPDATE people SET status = $1, updated = $2 WHERE id = $3").text(status),
            id,
            c,
        )
        .await
    }

    /// A person's role changed, with its record.
    pub async fn change_role(
        &self,
        id: &str,
        role: accord_agreement::Role,
        c: &DirectoryChange,
    ) -> Result<(), Error> {
        self.change_person(
            Stmt::new("UPDATE people SET role = $1, updated = $2 WHERE id = $3")
                .text(role.as_str()),
            id,
            c,
        )
        .await
    }

    /// `update` (its value bound; the time and id bound here) and the change's record,
    /// committed together.
    async fn change_person(
        &self,
        update: Stmt,
        id: &str,
        c: &DirectoryChange,
    ) -> Result<(), Error> {
        let rows = self
            .commit(vec![update.int(unix_now()).text(id), c.stmt()])
            .await?;
        if rows.first() == Some(&0) {
            return Err(Error::NotFound(format!("no person `{id}` in this node")));
        }
        Ok(())
    }

    /// Record a change made by other statements already committed (an enrolment, a
    /// credential issued or revoked).
    pub async fn record_change(&self, c: &DirectoryChange) -> Result<(), Error> {
        self.commit(vec![c.stmt()]).await.map(|_| ())
    }
}
