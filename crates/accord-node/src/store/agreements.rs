//! The agreements table: each agreement held, with its lifecycle records.

use super::{db, unix_now, Store};
use crate::Error;
use sqlx::Row;

/// A loaded agreement.
#[derive(Debug, Clone)]
pub struct AgreementRecord {
    /// Agreement id.
    pub id: String,
    /// The document, canonical JSON.
    pub document: String,
    /// Its number of lifecycle records.
    pub records: i64,
}

impl Store {
    /// Store an agreement: a new one (`held` `None`), or a later copy of the one held
    /// with `held` records. Whether it was stored: not when another writer stored a
    /// copy first (a partner's record arriving while an officer or a key rotation
    /// loads one), so that no copy overwrites records it does not hold.
    pub async fn put_agreement(
        &self,
        id: &str,
        document: &str,
        digest: &str,
        records: i64,
        held: Option<i64>,
    ) -> Result<bool, Error> {
        let done = match held {
            None => sqlx::query(
                "INSERT INTO agreements (id, document, digest, records, loaded) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(id)
            .bind(document)
            .bind(digest)
            .bind(records)
            .bind(unix_now())
            .execute(&self.writer)
            .await
            .map_err(db)?,
            Some(held) => sqlx::query(
                "UPDATE agreements SET document = $2, digest = $3, records = $4, loaded = $5 \
                 WHERE id = $1 AND records = $6",
            )
            .bind(id)
            .bind(document)
            .bind(digest)
            .bind(records)
            .bind(unix_now())
            .bind(held)
            .execute(&self.writer)
            .await
            .map_err(db)?,
        };
        Ok(done.rows_affected() == 1)
    }

    /// Every agreement loaded.
    pub async fn agreements(&self) -> Result<Vec<AgreementRecord>, Error> {
        let rows = sqlx::query("SELECT id, document, records FROM agreements ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok(AgreementRecord {
                    id: r.try_get("id").map_err(db)?,
                    document: r.try_get("document").map_err(db)?,
                    records: r.try_get("records").map_err(db)?,
                })
            })
            .collect()
    }

    /// A cheap fingerprint of the agreements table, to know when to reload.
    pub async fn agreements_version(&self) -> Result<(i64, i64), Error> {
        // CAST: PostgreSQL's SUM of BIGINT is NUMERIC, which the Any driver cannot
        // decode; COUNT is BIGINT on both.
        let r = sqlx::query(
            "SELECT COUNT(*) AS n, CAST(COALESCE(MAX(loaded), 0) AS BIGINT) AS t, \
             CAST(COALESCE(SUM(records), 0) AS BIGINT) AS s FROM agreements",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(db)?;
        let n: i64 = r.try_get("n").map_err(db)?;
        let t: i64 = r.try_get("t").map_err(db)?;
        let s: i64 = r.try_get("s").map_err(db)?;
        Ok((n * 1_000_003 + s, t))
    }
}
