//! When objects were sealed, as this node can show it (the `sealed` table): what a key
//! revoked as compromised since a time is judged by. Written when the node signs a
//! label and when it accepts a delivery; the first evidence of a manifest is kept.

use super::{db, Stmt, Store};
use crate::Error;
use sqlx::Row;

/// Evidence that an object existed at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// SHA-256 of its manifest without assertions, hex.
    pub manifest_digest: String,
    /// Its id (the policy's uuid).
    pub object_id: String,
    /// `label` (this node signed its label) or `receive` (a partner delivered it).
    pub evidence: String,
    /// When, Unix seconds.
    pub at: i64,
}

impl Store {
    /// Keep the evidence of each of `rows` whose manifest has none yet.
    pub async fn record_sealed(&self, rows: &[Sealed]) -> Result<(), Error> {
        if rows.is_empty() {
            return Ok(());
        }
        let stmts = rows
            .iter()
            .map(|s| {
                Stmt::new(
                    "INSERT INTO sealed (manifest_digest, object_id, evidence, at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (manifest_digest) DO NOTHING",
                )
                .text(&s.manifest_digest)
                .text(&s.object_id)
                .text(&s.evidence)
                .int(s.at)
            })
            .collect();
        self.commit(stmts).await.map(|_| ())
    }

    /// The evidence kept for the manifest with digest `manifest_digest`, if any.
    pub async fn sealed(&self, manifest_digest: &str) -> Result<Option<Sealed>, Error> {
        let row = sqlx::query(
            "SELECT manifest_digest, object_id, evidence, at FROM sealed WHERE manifest_digest = $1",
        )
        .bind(manifest_digest)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.map(|r| {
            Ok(Sealed {
                manifest_digest: r.try_get("manifest_digest").map_err(db)?,
                object_id: r.try_get("object_id").map_err(db)?,
                evidence: r.try_get("evidence").map_err(db)?,
                at: r.try_get("at").map_err(db)?,
            })
        })
        .transpose()
    }
}
