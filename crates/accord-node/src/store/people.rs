//! The directory's tables: people and the credentials issued to them.

use super::{db, unix_now, Store};
use crate::Error;
use sqlx::any::AnyRow;
use sqlx::Row;

/// A person as the directory stores them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PersonRecord {
    /// Identifier, unique in the node.
    pub id: String,
    /// Name.
    pub name: String,
    /// The party that enrolled them (the node's party).
    pub party: String,
    /// Nationality (ISO 3166 trigraph).
    pub nationality: String,
    /// Clearance JSON, as the policies issue defines it.
    pub clearance: String,
    /// Agreement scopes the person works in.
    pub scopes: Vec<String>,
    /// `active` or `suspended`.
    pub status: String,
    /// `member` or `officer` ([`accord_agreement::Role`]).
    pub role: String,
}

impl PersonRecord {
    /// The person's role; a role this version does not know counts as a member's, the
    /// least.
    pub fn role(&self) -> accord_agreement::Role {
        accord_agreement::Role::parse(&self.role).unwrap_or_default()
    }
}

fn person_from_row(r: &AnyRow) -> Result<PersonRecord, Error> {
    let scopes: String = r.try_get("scopes").map_err(db)?;
    Ok(PersonRecord {
        id: r.try_get("id").map_err(db)?,
        name: r.try_get("name").map_err(db)?,
        party: r.try_get("party").map_err(db)?,
        nationality: r.try_get("nationality").map_err(db)?,
        clearance: r.try_get("clearance").map_err(db)?,
        scopes: scopes
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        status: r.try_get("status").map_err(db)?,
        role: r.try_get("role").map_err(db)?,
    })
}

impl Store {
    /// Enrol a person. Refuses an id already present.
    pub async fn add_person(&self, p: &PersonRecord) -> Result<(), Error> {
        let t = unix_now();
        let r = sqlx::query(
            "INSERT INTO people (id, name, party, nationality, clearance, scopes, status, created, updated, role) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&p.id)
        .bind(&p.name)
        .bind(&p.party)
        .bind(&p.nationality)
        .bind(&p.clearance)
        .bind(p.scopes.join(","))
        .bind(&p.status)
        .bind(t)
        .bind(t)
        .bind(&p.role)
        .execute(&self.writer)
        .await.map_err(db)?;
        if r.rows_affected() == 0 {
            return Err(Error::Exists(format!(
                "person `{}` is already enrolled",
                p.id
            )));
        }
        Ok(())
    }

    /// Remove a person and their credentials (used to undo a failed enrolment).
    pub async fn remove_person(&self, id: &str) -> Result<(), Error> {
        sqlx::query("DELETE FROM credentials WHERE person = $1")
            .bind(id)
            .execute(&self.writer)
            .await
            .map_err(db)?;
        sqlx::query("DELETE FROM opentdf_clients WHERE person = $1")
            .bind(id)
            .execute(&self.writer)
            .await
            .map_err(db)?;
        sqlx::query("DELETE FROM people WHERE id = $1")
            .bind(id)
            .execute(&self.writer)
            .await
            .map_err(db)?;
        Ok(())
    }

    /// One person.
    pub async fn person(&self, id: &str) -> Result<Option<PersonRecord>, Error> {
        let row = sqlx::query("SELECT * FROM people WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.as_ref().map(person_from_row).transpose()
    }

    /// Everyone, by id.
    pub async fn people(&self) -> Result<Vec<PersonRecord>, Error> {
        let rows = sqlx::query("SELECT * FROM people ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter().map(person_from_row).collect()
    }

    /// Revoke `person`'s credentials not revoked yet, or only the one whose certificate
    /// has the SHA-256 `fingerprint`; how many were revoked. A revoked credential is
    /// refused on the next request (`caller.rs` reads this table every time).
    pub async fn revoke_credentials(
        &self,
        person: &str,
        fingerprint: Option<&str>,
    ) -> Result<u64, Error> {
        let r = match fingerprint {
            None => sqlx::query(
                "UPDATE credentials SET revoked = $1 WHERE person = $2 AND revoked IS NULL",
            )
            .bind(unix_now())
            .bind(person),
            Some(f) => sqlx::query(
                "UPDATE credentials SET revoked = $1 WHERE person = $2 AND fingerprint = $3 AND revoked IS NULL",
            )
            .bind(unix_now())
            .bind(person)
            .bind(f),
        }
        .execute(&self.writer)
        .await
        .map_err(db)?;
        // A person's OpenTDF clients go with their credentials (all of them, not one).
        if fingerprint.is_none() {
            self.revoke_opentdf_clients(person).await?;
        }
        Ok(r.rows_affected())
    }

    /// Record a credential issued to `person`.
    pub async fn add_credential(
        &self,
        fingerprint: &str,
        person: &str,
        serial: &str,
        not_after: i64,
    ) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO credentials (fingerprint, person, serial, issued, not_after) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(fingerprint)
        .bind(person)
        .bind(serial)
        .bind(unix_now())
        .bind(not_after)
        .execute(&self.writer)
        .await.map_err(db)?;
        Ok(())
    }

    /// The person a client certificate (by SHA-256 fingerprint) was issued to, with the
    /// credential's expiry and revocation time.
    pub async fn person_by_credential(
        &self,
        fingerprint: &str,
    ) -> Result<Option<(PersonRecord, i64, Option<i64>)>, Error> {
        let row = sqlx::query(
            "SELECT p.id, p.name, p.party, p.nationality, p.clearance, p.scopes, p.status, p.role, \
             c.not_after, c.revoked FROM credentials c JOIN people p ON p.id = c.person \
             WHERE c.fingerprint = $1",
        )
        .bind(fingerprint)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        match row {
            None => Ok(None),
            Some(r) => Ok(Some((
                person_from_row(&r)?,
                r.try_get("not_after").map_err(db)?,
                r.try_get("revoked").map_err(db)?,
            ))),
        }
    }

    /// The active people whose last credential to expire (not revoked) expires between
    /// `from` and `until` (Unix seconds), with when: those who will lose access then
    /// unless an officer issues them a new one (`accord user renew`). A person who holds
    /// a longer-lived credential too is not among them.
    pub async fn credentials_expiring(
        &self,
        from: i64,
        until: i64,
    ) -> Result<Vec<(String, i64)>, Error> {
        let rows = sqlx::query(
            "SELECT p.id AS person, MAX(c.not_after) AS not_after FROM credentials c JOIN people p ON p.id = c.person WHERE c.revoked IS NULL AND p.status = 'active' GROUP BY p.id HAVING MAX(c.not_after) > $1 AND MAX(c.not_after) <= $2 ORDER BY 2",
        )
        .bind(from)
        .bind(until)
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("person").map_err(db)?,
                    r.try_get("not_after").map_err(db)?,
                ))
            })
            .collect()
    }
}
