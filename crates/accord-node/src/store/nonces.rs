//! The KAS's replay guard: each rewrap nonce, kept while a request carrying it could
//! still be on time.

use super::{db, Stmt, Store};
use crate::Error;

impl Store {
    /// Use a rewrap nonce: false when it was used before (a replay).
    pub async fn use_nonce(&self, nonce: &str, person: &str, at: i64) -> Result<bool, Error> {
        let rows = self
            .commit(vec![Stmt::new(
                "INSERT INTO rewrap_nonces (nonce, person, seen) VALUES ($1, $2, $3) ON CONFLICT (nonce) DO NOTHING",
            )
            .text(nonce)
            .text(person)
            .int(at)])
            .await?;
        Ok(rows.first() == Some(&1))
    }

    /// Forget nonces seen before `before` (requests that old are refused by time).
    pub async fn prune_nonces(&self, before: i64) -> Result<u64, Error> {
        let r = sqlx::query("DELETE FROM rewrap_nonces WHERE seen < $1")
            .bind(before)
            .execute(&self.writer)
            .await
            .map_err(db)?;
        Ok(r.rows_affected())
    }
}
