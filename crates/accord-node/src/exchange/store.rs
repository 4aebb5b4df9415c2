//! The exchange's tables: the outbox, the inbox and the receipts, and their rows.

use crate::exchange::check_object_id;
use crate::exchange::rfc3339;
use crate::receipt::Receipt;
use crate::refusal::Refusal;
use crate::store::Stmt;
use crate::store::Store;
use crate::wire::Reason;
use crate::Error;
use sqlx::any::AnyRow;
use sqlx::Row;
/// One object this node sends to a partner, and how its delivery stands.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct OutboxItem {
    /// Object id.
    pub id: String,
    /// The receiving party.
    pub to: String,
    /// Who sent it.
    pub person: String,
    /// The agreement.
    pub agreement: String,
    /// The label's marking.
    pub marking: String,
    /// Bytes.
    pub size: u64,
    /// SHA-256, hex.
    pub sha256: String,
    /// When it was queued (RFC 3339).
    pub queued: String,
    /// `queued`, `delivered` or `refused`.
    pub state: String,
    /// Delivery attempts made.
    pub attempts: u64,
    /// The last transport error, while retrying.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Why the partner (or this node) refused it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<Reason>,
    /// The partner's signed receipt, once delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<Receipt>,
    /// The queued file's name under `blobs/outbox/` (None: a row queued before files
    /// were named by their bytes). Not part of the API.
    #[serde(skip)]
    pub(crate) file_name: Option<String>,
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
    Receipt::from_stored(json, sigs).map_err(|e| Error::Database(format!("stored receipt: {e}")))
}

/// Store the signatures of batch receipts once (before the rows that refer to them).
pub(super) fn signature_stmts<'a>(receipts: impl IntoIterator<Item = &'a Receipt>) -> Vec<Stmt> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for r in receipts {
        if let (_, Some(sig)) = r.stored() {
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

pub(super) fn outbox_from_row(r: &AnyRow) -> Result<OutboxItem, Error> {
    let reasons: Option<String> = r.try_get("reasons")?;
    let receipt: Option<String> = r.try_get("receipt")?;
    let queued: i64 = r.try_get("queued")?;
    let size: i64 = r.try_get("size")?;
    let attempts: i64 = r.try_get("attempts")?;
    Ok(OutboxItem {
        id: r.try_get("object_id")?,
        to: r.try_get("recipient")?,
        person: r.try_get("person")?,
        agreement: r.try_get("agreement")?,
        marking: r.try_get("marking")?,
        size: size as u64,
        sha256: r.try_get("sha256")?,
        queued: rfc3339(queued / 1000),
        state: r.try_get("state")?,
        attempts: attempts as u64,
        last_error: r.try_get("last_error")?,
        reasons: reasons
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_default(),
        receipt: receipt.map(|s| receipt_from_row(r, &s)).transpose()?,
        file_name: r.try_get("file_name")?,
    })
}

/// What `accord inbox` lists for one received object.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InboxItem {
    /// Object id.
    pub id: String,
    /// The label's marking.
    pub marking: String,
    /// The sending party.
    pub from: String,
    /// When it was received (RFC 3339).
    pub received: String,
    /// Bytes.
    pub size: u64,
    /// The agreement.
    pub agreement: String,
}

/// Which outbox entries to list (`GET /v1/outbox?id=&state=&limit=`).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxFilter {
    /// One object.
    pub id: Option<String>,
    /// `queued`, `delivered` or `refused`.
    pub state: Option<String>,
    /// At most this many, the most recent.
    pub limit: Option<u64>,
}

impl OutboxFilter {
    pub(super) fn check(&self) -> Result<(), Refusal> {
        if let Some(id) = &self.id {
            check_object_id(id)?;
        }
        match self.state.as_deref() {
            None | Some("queued" | "delivered" | "refused") => Ok(()),
            Some(other) => Err(Refusal::new(
                400,
                crate::wire::Rule::Request,
                format!("state must be queued, delivered or refused, not {other:?}"),
            )),
        }
    }
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
    let received: i64 = r.try_get("received")?;
    let size: i64 = r.try_get("size")?;
    let receipt: String = r.try_get("receipt")?;
    Ok(InboxRecord {
        item: InboxItem {
            id: r.try_get("object_id")?,
            marking: r.try_get("marking")?,
            from: r.try_get("sender")?,
            received: rfc3339(received),
            size: size as u64,
            agreement: r.try_get("agreement")?,
        },
        label: r.try_get("label")?,
        sha256: r.try_get("sha256")?,
        receipt: receipt_from_row(r, &receipt)?,
        pack: match (
            r.try_get::<Option<String>, _>("pack")?,
            r.try_get::<Option<i64>, _>("pack_offset")?,
        ) {
            (Some(p), Some(o)) => Some((p, o as u64)),
            _ => None,
        },
        file_name: r.try_get("file_name")?,
    })
}

impl Store {
    pub(super) async fn outbox_get(&self, id: &str, to: &str) -> Result<Option<OutboxItem>, Error> {
        let sql = format!(
            "{} WHERE t.object_id = $1 AND t.recipient = $2",
            rows_of("outbox")
        );
        let row = sqlx::query(&sql)
            .bind(id)
            .bind(to)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(outbox_from_row).transpose()
    }

    /// Queue `o`: false when a row for its id and partner was there already (then
    /// nothing is written).
    pub(super) async fn outbox_insert(
        &self,
        o: &OutboxItem,
        queued_ms: i64,
    ) -> Result<bool, Error> {
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
    ) -> Result<Vec<OutboxItem>, Error> {
        let keys = sqlx::query(
            "SELECT object_id, recipient FROM outbox WHERE state = 'queued' AND next_attempt <= $1 ORDER BY next_attempt, queued LIMIT $2",
        )
        .bind(now)
        .bind((limit + skip.len()) as i64)
        .fetch_all(self.pool())
        .await?;
        let mut wanted = Vec::new();
        for r in &keys {
            let key: (String, String) = (r.try_get("object_id")?, r.try_get("recipient")?);
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
        let rows = q.fetch_all(self.pool()).await?;
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
            .await?;
        Ok(row.try_get::<Option<i64>, _>("n")?)
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
        let rows = q.bind(limit).fetch_all(self.pool()).await?;
        rows.iter().map(outbox_from_row).collect()
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
        let rows = q.fetch_all(self.pool()).await?;
        rows.iter()
            .map(|r| inbox_from_row(r).map(|rec| (rec.item.id.clone(), rec)))
            .collect()
    }

    /// The record of object `id` from `sender`, if one is held.
    pub(super) async fn inbox_get(
        &self,
        id: &str,
        sender: &str,
    ) -> Result<Option<InboxRecord>, Error> {
        let sql = format!(
            "{} WHERE t.object_id = $1 AND t.sender = $2",
            rows_of("inbox")
        );
        let row = sqlx::query(&sql)
            .bind(id)
            .bind(sender)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(inbox_from_row).transpose()
    }

    /// Every record held under object id `id` (one per sender), oldest first.
    pub(super) async fn inbox_get_all(&self, id: &str) -> Result<Vec<InboxRecord>, Error> {
        let sql = format!(
            "{} WHERE t.object_id = $1 ORDER BY t.received, t.arrival, t.sender",
            rows_of("inbox")
        );
        let rows = sqlx::query(&sql).bind(id).fetch_all(self.pool()).await?;
        rows.iter().map(inbox_from_row).collect()
    }

    /// Keep `r`: false when a record of the same id from the same sender was committed
    /// first (then nothing is written, and that one is what is held).
    pub(super) async fn inbox_insert(&self, r: &InboxRecord, received: i64) -> Result<bool, Error> {
        let rows = self
            .commit(vec![Self::inbox_insert_stmt(r, received)])
            .await?;
        Ok(rows.first() == Some(&1))
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
        let rows = self.commit(stmts).await?;
        Ok((0..rs.len())
            .map(|k| rows.get(skip + k) == Some(&1))
            .collect())
    }

    pub(super) fn inbox_insert_stmt(r: &InboxRecord, received: i64) -> Stmt {
        let stored = r.receipt.stored();
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
        let rows = sqlx::query(&sql).fetch_all(self.pool()).await?;
        rows.iter().map(inbox_from_row).collect()
    }
}
