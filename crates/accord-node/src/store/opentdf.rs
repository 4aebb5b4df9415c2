//! OpenTDF clients: the client credentials people exchange for access tokens.

use super::{db, unix_now, Store};
use crate::Error;
use sqlx::Row;

/// One client as stored.
#[derive(Debug, Clone)]
pub struct OpenTdfClient {
    /// The client id (public).
    pub client_id: String,
    /// The person it acts for.
    pub person: String,
    /// Hex SHA-256 of the secret.
    pub secret_hash: String,
    /// When revoked (Unix seconds).
    pub revoked: Option<i64>,
}

impl Store {
    /// Record a client issued to `person`.
    pub async fn add_opentdf_client(
        &self,
        client_id: &str,
        person: &str,
        secret_hash: &str,
    ) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO opentdf_clients (client_id, person, secret, created) VALUES ($1, $2, $3, $4)",
        )
        .bind(client_id)
        .bind(person)
        .bind(secret_hash)
        .bind(unix_now())
        .execute(&self.writer)
        .await
        .map_err(db)?;
        Ok(())
    }

    /// The client `client_id`, if issued.
    pub async fn opentdf_client(&self, client_id: &str) -> Result<Option<OpenTdfClient>, Error> {
        let row = sqlx::query(
            "SELECT client_id, person, secret, revoked FROM opentdf_clients WHERE client_id = $1",
        )
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.map(|r| {
            Ok(OpenTdfClient {
                client_id: r.try_get("client_id").map_err(db)?,
                person: r.try_get("person").map_err(db)?,
                secret_hash: r.try_get("secret").map_err(db)?,
                revoked: r.try_get("revoked").map_err(db)?,
            })
        })
        .transpose()
    }

    /// Revoke every client of `person` not revoked yet; how many.
    pub async fn revoke_opentdf_clients(&self, person: &str) -> Result<u64, Error> {
        let r = sqlx::query(
            "UPDATE opentdf_clients SET revoked = $1 WHERE person = $2 AND revoked IS NULL",
        )
        .bind(unix_now())
        .bind(person)
        .execute(&self.writer)
        .await
        .map_err(db)?;
        Ok(r.rows_affected())
    }
}
