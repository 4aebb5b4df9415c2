//! The exchange's tables: the outbox, the inbox and the receipts, and their rows.

use crate::exchange::rfc3339;
use crate::store::db;
use crate::store::Stmt;
use crate::store::Store;
use crate::Error;
use accord_node_api::exchange::{InboxItem, OutboxFilter, OutboxItem};
use accord_node_api::receipt::Receipt;
use sqlx::any::AnyRow;
use sqlx::Row;
/// An outbox row: the object as the API shows it, and the file the node keeps it in.
#[derive(Debug, Clone)]
pub struct OutboxRow {
    /// What `GET /v1/outbox` shows.
    pub item: OutboxItem,
    /// The queued file's name under `blobs/outbox/` (None: a row queued before files
    /// were named by their bytes).
    pub file_name: Option<String>,
}

impl std::ops::Deref for OutboxRow {
    type Target = OutboxItem;
    fn deref(&self) -> &OutboxItem {
        &self.item
    }
}

/// The signatures of a batch's receipts, stored once.
#[derive(Debug, Clone)]
pub(crate) struct StoredSignatures {
    /// SHA-256 (hex) of `ecdsa_p384 \n ml_dsa_87`: the key rows refer to.
    pub(crate) digest: String,
    pub(crate) ecdsa_p384: String,
    pub(crate) ml_dsa_87: String,
}

/// How a node stores it: a batch receipt without its two signatures (kept once for
/// the whole batch, under the returned key), any other receipt whole.
pub(crate) fn stored(receipt: &Receipt) -> (String, Option<StoredSignatures>) {
    if receipt.batch.is_none() {
        return (receipt.to_json(), None);
    }
    let sigs = StoredSignatures {
        digest: hex::encode(
            aws_lc_rs::digest::digest(
                &aws_lc_rs::digest::SHA256,
                format!("{}\n{}", receipt.ecdsa_p384, receipt.ml_dsa_87).as_bytes(),
            )
            .as_ref(),
        ),
        ecdsa_p384: receipt.ecdsa_p384.clone(),
        ml_dsa_87: receipt.ml_dsa_87.clone(),
    };
    let bare = Receipt {
        ecdsa_p384: String::new(),
        ml_dsa_87: String::new(),
        ..receipt.clone()
    };
    (bare.to_json(), Some(sigs))
}

/// The receipt back from what [`stored`] made and the signatures kept
/// under its key (when it has one).
pub(crate) fn from_stored(json: &str, sigs: Option<(String, String)>) -> Result<Receipt, String> {
    let mut r: Receipt = serde_json::from_str(json).map_err(|e| e.to_string())?;
    if let Some((ecdsa_p384, ml_dsa_87)) = sigs {
        r.ecdsa_p384 = ecdsa_p384;
        r.ml_dsa_87 = ml_dsa_87;
    }
    if r.ecdsa_p384.is_empty() || r.ml_dsa_87.is_empty() {
        return Err("its batch's signatures are missing".into());
    }
    Ok(r)
}

/// `$1, $2, … $n`: the parameters of an `IN (…)` list.
pub(super) fn placeholders(n: usize) -> String {
    (1..=n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The rows of `table` with the batch signatures their receipts refer to.
/// The `arrival` of an object taken in now: nanoseconds since the epoch, or one more
/// than the last one given when the clock has not moved on (or went back), so that it
/// grows with every object, in the order the node took them in.
pub(super) fn next_arrival() -> i64 {
    use std::sync::atomic::{AtomicI64, Ordering};
    static LAST: AtomicI64 = AtomicI64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(last.saturating_add(1));
        match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}

pub(super) fn rows_of(table: &str) -> String {
    format!(
        "SELECT t.*, s.ecdsa_p384 AS sig_ecdsa_p384, s.ml_dsa_87 AS sig_ml_dsa_87 \
         FROM {table} t LEFT JOIN receipt_signatures s ON s.digest = t.receipt_sig"
    )
}

/// A stored receipt, with its batch's signatures when the query joined them.
pub(super) fn receipt_from_row(r: &AnyRow, json: &str) -> Result<Receipt, Error> {
    let sigs = match (
        r.try_get::<Option<String>, _>("sig_ecdsa_p384")
            .ok()
            .flatten(),
        r.try_get::<Option<String>, _>("sig_ml_dsa_87")
            .ok()
            .flatten(),
    ) {
        (Some(e), Some(m)) => Some((e, m)),
        _ => None,
    };
    from_stored(json, sigs).map_err(|e| Error::Database(format!("stored receipt: {e}")))
}

/// Store the signatures of batch receipts once (before the rows that refer to them).
pub(super) fn signature_stmts<'a>(receipts: impl IntoIterator<Item = &'a Receipt>) -> Vec<Stmt> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for r in receipts {
        if let (_, Some(sig)) = stored(r) {
            if seen.insert(sig.digest.clone()) {
                out.push(
                    Stmt::new(
                        "INSERT INTO receipt_signatures (digest, ecdsa_p384, ml_dsa_87) VALUES ($1, $2, $3) \
                         ON CONFLICT (digest) DO NOTHING",
                    )
                    .text(sig.digest)
                    .text(sig.ecdsa_p384)
                    .text(sig.ml_dsa_87),
                );
            }
        }
    }
    out
}

pub(super) fn outbox_from_row(r: &AnyRow) -> Result<OutboxRow, Error> {
    let reasons: Option<String> = r.try_get("reasons").map_err(db)?;
    let receipt: Option<String> = r.try_get("receipt").map_err(db)?;
    let queued: i64 = r.try_get("queued").map_err(db)?;
    let size: i64 = r.try_get("size").map_err(db)?;
    let attempts: i64 = r.try_get("attempts").map_err(db)?;
    let item = OutboxItem {
        id: r.try_get("object_id").map_err(db)?,
        to: r.try_get("recipient").map_err(db)?,
        person: r.try_get("person").map_err(db)?,
        agreement: r.try_get("agreement").map_err(db)?,
        marking: r.try_get("marking").map_err(db)?,
        size: size as u64,
        sha256: r.try_get("sha256").map_err(db)?,
        queued: rfc3339(queued / 1000),
        state: r.try_get("state").map_err(db)?,
        attempts: attempts as u64,
        last_error: r.try_get("last_error").map_err(db)?,
        reasons: reasons
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_default(),
        receipt: receipt.map(|s| receipt_from_row(r, &s)).transpose()?,
    };
    Ok(OutboxRow {
        item,
        file_name: r.try_get("file_name").map_err(db)?,
    })
}

/// One object this node received from a partner.
#[derive(Debug, Clone)]
pub struct InboxRecord {
    /// What `accord inbox` shows.
    pub item: InboxItem,
    /// The label XML (the originator's policy).
    pub label: String,
    /// SHA-256, hex.
    pub sha256: String,
    /// The signed receipt this node gave.
    pub receipt: Receipt,
    /// The pack file and offset, when the object came in a batch.
    pub pack: Option<(String, u64)>,
    /// The object's file under `blobs/inbox/`, when it came on its own (None for one
    /// kept before files were named by sender and bytes: `{id}.tdf`).
    pub file_name: Option<String>,
}

pub(super) fn inbox_from_row(r: &AnyRow) -> Result<InboxRecord, Error> {
    let received: i64 = r.try_get("received").map_err(db)?;
    let size: i64 = r.try_get("size").map_err(db)?;
    let receipt: String = r.try_get("receipt").map_err(db)?;
    Ok(InboxRecord {
        item: InboxItem {
            id: r.try_get("object_id").map_err(db)?,
            marking: r.try_get("marking").map_err(db)?,
            from: r.try_get("sender").map_err(db)?,
            received: rfc3339(received),
            size: size as u64,
            agreement: r.try_get("agreement").map_err(db)?,
        },
        label: r.try_get("label").map_err(db)?,
        sha256: r.try_get("sha256").map_err(db)?,
        receipt: receipt_from_row(r, &receipt)?,
        pack: match (
            r.try_get::<Option<String>, _>("pack").map_err(db)?,
            r.try_get::<Option<i64>, _>("pack_offset").map_err(db)?,
        ) {
            (Some(p), Some(o)) => Some((p, o as u64)),
            _ => None,
        },
        file_name: r.try_get("file_name").map_err(db)?,
    })
}

impl Store {
    pub(super) async fn outbox_get(&self, id: &str, to: &str) -> Result<Option<OutboxRow>, Error> {
        let sql = format!(
            "{} WHERE t.object_id = $1 AND t.recipient = $2",
            rows_of("outbox")
        );
        let row = sqlx::query(&sql)
            .bind(id)
            .bind(to)
            .fetch_optional(self.pool())
            .await
            .map_err(db)?;
        row.as_ref().map(outbox_from_row).transpose()
    }

    /// Queue `o`: false when a row for its id and partner was there already (then
    /// nothing is written).
    pub(super) async fn outbox_insert(&self, o: &OutboxRow, queued_ms: i64) -> Result<bool, Error> {
        let rows = self
            .commit(vec![Stmt::new(
                "INSERT INTO outbox (object_id, recipient, person, agreement, marking, size, sha256, queued, state, attempts, next_attempt, file_name) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'queued', 0, $9, $10) ON CONFLICT (object_id, recipient) DO NOTHING",
            )
            .text(&o.id)
            .text(&o.to)
            .text(&o.person)
            .text(&o.agreement)
            .text(&o.marking)
            .int(o.size as i64)
            .text(&o.sha256)
            .int(queued_ms)
            .int(queued_ms)
            .opt_text(o.file_name.clone())])
            .await?;
        Ok(rows.first() == Some(&1))
    }

    /// Objects whose delivery is due, oldest first.
    /// Objects whose delivery is due and not in `skip` (deliveries under way), oldest
    /// first, at most `limit`. The keys are read first, then only the rows wanted: the
    /// loop asks whenever a delivery ends, while most due objects are under way.
    pub(super) async fn outbox_due(
        &self,
        now: i64,
        limit: usize,
        skip: &std::collections::HashSet<(String, String)>,
    ) -> Result<Vec<OutboxRow>, Error> {
        let keys = sqlx::query(
            "SELECT object_id, recipient FROM outbox WHERE state = 'queued' AND next_attempt <= $1 ORDER BY next_attempt, queued LIMIT $2",
        )
        .bind(now)
        .bind((limit + skip.len()) as i64)
        .fetch_all(self.pool())
        .await.map_err(db)?;
        let mut wanted = Vec::new();
        for r in &keys {
            let key: (String, String) = (
                r.try_get("object_id").map_err(db)?,
                r.try_get("recipient").map_err(db)?,
            );
            if !skip.contains(&key) {
                wanted.push(key);
                if wanted.len() == limit {
                    break;
                }
            }
        }
        if wanted.is_empty() {
            return Ok(vec![]);
        }
        let sql = format!(
            "SELECT * FROM outbox WHERE object_id IN ({}) ORDER BY next_attempt, queued",
            placeholders(wanted.len())
        );
        let mut q = sqlx::query(&sql);
        for (id, _) in &wanted {
            q = q.bind(id.as_str());
        }
        let rows = q.fetch_all(self.pool()).await.map_err(db)?;
        let wanted: std::collections::HashSet<(String, String)> = wanted.into_iter().collect();
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let item = outbox_from_row(r)?;
            if item.state == "queued" && wanted.contains(&(item.id.clone(), item.to.clone())) {
                out.push(item);
            }
        }
        Ok(out)
    }

    pub(super) async fn outbox_next_due(&self) -> Result<Option<i64>, Error> {
        let row = sqlx::query("SELECT MIN(next_attempt) AS n FROM outbox WHERE state = 'queued'")
            .fetch_one(self.pool())
            .await
            .map_err(db)?;
        row.try_get::<Option<i64>, _>("n").map_err(db)
    }

    /// How many objects the outbox holds, by partner and state (for the metrics).
    pub(crate) async fn outbox_counts(&self) -> Result<Vec<(String, String, i64)>, Error> {
        let rows = sqlx::query(
            "SELECT recipient, state, COUNT(*) AS n FROM outbox GROUP BY recipient, state ORDER BY recipient, state",
        )
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("recipient").map_err(db)?,
                    r.try_get("state").map_err(db)?,
                    r.try_get("n").map_err(db)?,
                ))
            })
            .collect()
    }

    /// What `person` sent to one partner, as `GET /v1/status` shows it: objects queued,
    /// refused and delivered, when the latest delivery ended, and the latest error of a
    /// queued one. Only the person's own sends, as `GET /v1/outbox` shows them: other
    /// people's traffic is theirs.
    pub(crate) async fn outbox_for_partner(
        &self,
        partner: &str,
        person: &str,
    ) -> Result<PartnerOutbox, Error> {
        let rows = sqlx::query(
            "SELECT state, COUNT(*) AS n, MAX(done) AS last_done FROM outbox WHERE recipient = $1 AND person = $2 GROUP BY state",
        )
        .bind(partner)
        .bind(person)
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        let mut out = PartnerOutbox::default();
        for r in &rows {
            let state: String = r.try_get("state").map_err(db)?;
            let n = r.try_get::<i64, _>("n").map_err(db)?.max(0) as u64;
            match state.as_str() {
                "queued" => out.queued = n,
                "refused" => out.refused = n,
                "delivered" => {
                    out.delivered = n;
                    out.last_delivery = r.try_get::<Option<i64>, _>("last_done").map_err(db)?;
                }
                _ => {}
            }
        }
        if out.queued > 0 {
            out.last_error = sqlx::query(
                "SELECT last_error FROM outbox WHERE recipient = $1 AND person = $2 AND state = 'queued' AND last_error IS NOT NULL ORDER BY next_attempt DESC LIMIT 1",
            )
            .bind(partner)
            .bind(person)
            .fetch_optional(self.pool())
            .await
            .map_err(db)?
            .map(|r| r.try_get::<String, _>("last_error"))
            .transpose()
            .map_err(db)?;
        }
        Ok(out)
    }

    /// What `person` sent (every send when `person` is None) matching `filter`, oldest
    /// first; with a limit, the most recent ones.
    pub async fn outbox(
        &self,
        person: Option<&str>,
        filter: &OutboxFilter,
    ) -> Result<Vec<OutboxItem>, Error> {
        // Only the terms asked for, so that the database can use its indexes (the
        // primary key for an id, (state, next_attempt) for a state): a person polling
        // for what is still queued must not cost a scan of every receipt ever kept.
        let limit = filter
            .limit
            .map_or(i64::MAX, |l| l.min(i64::MAX as u64) as i64);
        let mut terms = Vec::new();
        let mut values = Vec::new();
        for (column, value) in [
            ("person", person),
            ("object_id", filter.id.as_deref()),
            ("state", filter.state.as_deref()),
        ] {
            if let Some(v) = value {
                values.push(v);
                terms.push(format!("t.{column} = ${}", values.len()));
            }
        }
        let sql = format!(
            "SELECT * FROM ({} {} ORDER BY t.queued DESC, t.object_id DESC LIMIT ${}) AS recent \
             ORDER BY queued, object_id",
            rows_of("outbox"),
            if terms.is_empty() {
                String::new()
            } else {
                format!("WHERE {}", terms.join(" AND "))
            },
            values.len() + 1
        );
        let mut q = sqlx::query(&sql);
        for v in values {
            q = q.bind(v);
        }
        let rows = q.bind(limit).fetch_all(self.pool()).await.map_err(db)?;
        rows.iter()
            .map(|r| outbox_from_row(r).map(|row| row.item))
            .collect()
    }

    /// The records held for any of `ids` from `sender` (one query for a batch), by id.
    pub(super) async fn inbox_get_many(
        &self,
        ids: &[&str],
        sender: &str,
    ) -> Result<std::collections::HashMap<String, InboxRecord>, Error> {
        if ids.is_empty() {
            return Ok(Default::default());
        }
        let sql = format!(
            "{} WHERE t.sender = $1 AND t.object_id IN ({})",
            rows_of("inbox"),
            (2..ids.len() + 2)
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut q = sqlx::query(&sql).bind(sender);
        for id in ids {
            q = q.bind(*id);
        }
        let rows = q.fetch_all(self.pool()).await.map_err(db)?;
        rows.iter()
            .map(|r| inbox_from_row(r).map(|rec| (rec.item.id.clone(), rec)))
            .collect()
    }

    /// Every record held under object id `id` (one per sender), oldest first.
    pub(super) async fn inbox_get_all(&self, id: &str) -> Result<Vec<InboxRecord>, Error> {
        let sql = format!(
            "{} WHERE t.object_id = $1 ORDER BY t.received, t.arrival, t.sender",
            rows_of("inbox")
        );
        let rows = sqlx::query(&sql)
            .bind(id)
            .fetch_all(self.pool())
            .await
            .map_err(db)?;
        rows.iter().map(inbox_from_row).collect()
    }

    /// Insert the records of a batch in one commit; for each, whether it was the one
    /// kept (false: a record of the same id from the same sender was there first).
    pub(super) async fn inbox_insert_many(
        &self,
        rs: &[InboxRecord],
        received: i64,
    ) -> Result<Vec<bool>, Error> {
        let mut stmts = signature_stmts(rs.iter().map(|r| &r.receipt));
        let skip = stmts.len();
        stmts.extend(rs.iter().map(|r| Self::inbox_insert_stmt(r, received)));
        let rows = self.commit(stmts).await;
        // Counted whatever the outcome: the index then asks the database.
        self.inbox_generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        let rows = rows?;
        Ok((0..rs.len())
            .map(|k| rows.get(skip + k) == Some(&1))
            .collect())
    }

    pub(super) fn inbox_insert_stmt(r: &InboxRecord, received: i64) -> Stmt {
        let stored = stored(&r.receipt);
        Stmt::new(
            "INSERT INTO inbox (object_id, sender, agreement, marking, label, size, sha256, received, receipt, pack, pack_offset, receipt_sig, file_name, arrival) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT (object_id, sender) DO NOTHING",
        )
        .text(&r.item.id)
        .text(&r.item.from)
        .text(&r.item.agreement)
        .text(&r.item.marking)
        .text(&r.label)
        .int(r.item.size as i64)
        .text(&r.sha256)
        .int(received)
        .text(stored.0)
        .opt_text(r.pack.as_ref().map(|(p, _)| p.clone()))
        .opt_int(r.pack.as_ref().map(|(_, o)| *o as i64))
        .opt_text(stored.1.map(|s| s.digest))
        .opt_text(r.file_name.clone())
        .int(next_arrival())
    }

    /// Everything received, oldest first.
    pub async fn inbox(&self) -> Result<Vec<InboxRecord>, Error> {
        let sql = format!(
            "{} ORDER BY t.received, t.arrival, t.object_id, t.sender",
            rows_of("inbox")
        );
        let rows = sqlx::query(&sql).fetch_all(self.pool()).await.map_err(db)?;
        rows.iter().map(inbox_from_row).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::{from_stored, stored};
    use accord_agreement::Signer;
    use accord_node_api::receipt::{Receipt, ReceiptBody};

    fn body() -> ReceiptBody {
        ReceiptBody {
            object_id: "0b8f1c9e-2c57-4c43-9a77-5b0f5f3a2d10".into(),
            sha256: "00".repeat(32),
            size: 10240,
            from: "PAK".into(),
            to: "USA".into(),
            agreement: "CISMOA-2026".into(),
            received: "2026-11-23T18:00:00Z".into(),
            log_index: 7,
        }
    }

    #[test]
    fn stored_batch_receipts_keep_their_signatures_once_and_come_back_whole() {
        let key = accord_keys::SigningKey::generate(accord_keys::ClassicalAlg::Es384).unwrap();
        let keys = Signer::public_keys(&key).unwrap();
        let single = Receipt::sign(body(), &key).unwrap();
        let (json, sig) = stored(&single);
        assert!(sig.is_none());
        assert_eq!(from_stored(&json, None).unwrap(), single);
        let rs =
            Receipt::sign_batch(vec![body(), ReceiptBody { size: 1, ..body() }], &key).unwrap();
        let (a, b) = (stored(&rs[0]), stored(&rs[1]));
        let (sa, sb) = (a.1.unwrap(), b.1.unwrap());
        assert_eq!(sa.digest, sb.digest, "one batch, one stored pair");
        assert!(
            !a.0.contains(&rs[0].ml_dsa_87),
            "the row holds no signature"
        );
        let back = from_stored(&a.0, Some((sa.ecdsa_p384, sa.ml_dsa_87))).unwrap();
        assert_eq!(back, rs[0]);
        back.verify(&keys).unwrap();
        let e = from_stored(&b.0, None).unwrap_err();
        assert!(e.contains("signatures are missing"), "{e}");
    }
}

/// One partner's outbox, counted ([`Store::outbox_for_partner`]).
#[derive(Debug, Default)]
pub(crate) struct PartnerOutbox {
    pub queued: u64,
    pub refused: u64,
    pub delivered: u64,
    /// Unix seconds.
    pub last_delivery: Option<i64>,
    pub last_error: Option<String>,
}
