//! Exchange of sealed objects between partner nodes: a person sends an object to a
//! partner party (the outbox), the node delivers it with retries, the partner's node
//! checks and keeps it (the inbox) and answers with a signed receipt, kept on both
//! sides. Objects stream to and from disk: they may be larger than memory.
//!
//! Both ends decide. The sender's node refuses to queue what the agreement does not
//! allow or what the person could not read themselves; the receiver checks again with
//! its own policies and the sender's key from the agreement, since it trusts nothing
//! the sender says. Every decision, either way, goes to that node's audit log.
//!
//! Delivery is at least once, acceptance idempotent by object id (a retried delivery of
//! the same bytes gets the same receipt), so the pair is exactly once: a crash of
//! either node, or a partner that is down, loses nothing and duplicates nothing.

use crate::agreements::Held;
use crate::node::{AuditEntry, Node, Peer, Refusal};
use crate::partners::{self, Partner};
use crate::receipt::{Receipt, ReceiptBody};
use crate::store::Store;
use crate::wire::{self, Reason};
use crate::Error;
use accord_agreement::Time;
use accord_spif::Label;
use accord_tdf::VerifiedLabel;
use futures_util::StreamExt;
use sqlx::any::AnyRow;
use sqlx::Row;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Largest sealed object a node accepts (64 GiB).
pub const MAX_OBJECT: u64 = 64 << 30;

/// Delivery retry schedule: the first retry after `RETRY_FIRST`, doubling up to the
/// cap in [`DeliveryOptions`].
const RETRY_FIRST_MS: i64 = 250;

/// How the node delivers its outbox.
#[derive(Debug, Clone)]
pub struct DeliveryOptions {
    /// The longest wait between two attempts.
    pub retry_cap: Duration,
    /// Deliveries in flight at once.
    pub parallel: usize,
}

impl Default for DeliveryOptions {
    fn default() -> Self {
        DeliveryOptions {
            retry_cap: Duration::from_secs(60),
            parallel: 8,
        }
    }
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// An object id is a UUID: checked before it names a file.
pub fn check_object_id(id: &str) -> Result<(), Refusal> {
    let ok = id.len() == 36
        && id.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit() && !b.is_ascii_uppercase(),
        });
    if ok {
        Ok(())
    } else {
        Err(Refusal::new(
            400,
            "request",
            format!("object id {id:?} is not a lower-case UUID"),
        ))
    }
}

fn check_code(code: &str) -> Result<(), Refusal> {
    accord_keys::party::check_party_code(code)
        .map_err(|e| Refusal::new(400, "request", e.to_string()))
}

// ---------------------------------------------------------------- blob store

fn blob_dir(node: &Node, sub: &str) -> PathBuf {
    node.home.layout.blobs().join(sub)
}

fn outbox_path(node: &Node, id: &str, to: &str) -> PathBuf {
    blob_dir(node, "outbox").join(format!("{id}.{to}.tdf"))
}

fn inbox_path(node: &Node, id: &str) -> PathBuf {
    blob_dir(node, "inbox").join(format!("{id}.tdf"))
}

/// A body being written to `blobs/tmp/`, removed unless kept.
struct Spooled {
    path: PathBuf,
    size: u64,
    sha256: String,
    keep: bool,
}

impl Drop for Spooled {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl Spooled {
    /// Move into place durably (file data was synced when spooled; the rename is made
    /// durable by syncing the directory).
    async fn keep_as(mut self, to: &Path) -> Result<(), Refusal> {
        if let Some(dir) = to.parent() {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(Refusal::internal)?;
        }
        tokio::fs::rename(&self.path, to)
            .await
            .map_err(Refusal::internal)?;
        self.keep = true;
        if let Some(dir) = to.parent() {
            let dir = dir.to_path_buf();
            let _ = tokio::task::spawn_blocking(move || {
                std::fs::File::open(&dir).and_then(|d| d.sync_all())
            })
            .await;
        }
        Ok(())
    }
}

/// The size of the pieces the network side hands to the spool writer.
const SPOOL_PIECE: usize = 1 << 20;

/// Give the writer `pending` (waiting off the async threads if its queue is full);
/// false when the writer has stopped (its error is reported when it is joined).
async fn hand_over(tx: &std::sync::mpsc::SyncSender<Vec<u8>>, pending: &mut Vec<u8>) -> bool {
    let piece = std::mem::replace(pending, Vec::with_capacity(SPOOL_PIECE));
    match tx.try_send(piece) {
        Ok(()) => true,
        Err(std::sync::mpsc::TrySendError::Full(piece)) => {
            let tx = tx.clone();
            tokio::task::spawn_blocking(move || tx.send(piece).is_ok())
                .await
                .unwrap_or(false)
        }
        Err(std::sync::mpsc::TrySendError::Disconnected(_)) => false,
    }
}

async fn spool(node: &Node, body: axum::body::Body, limit: u64) -> Result<Spooled, Refusal> {
    let dir = blob_dir(node, "tmp");
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(Refusal::internal)?;
    let mut name = [0u8; 16];
    aws_lc_rs::rand::fill(&mut name).map_err(|_| Refusal::internal("random"))?;
    let mut sp = Spooled {
        path: dir.join(format!("{}.part", hex::encode(name))),
        size: 0,
        sha256: String::new(),
        keep: false,
    };
    // The network side reads and bounds; a thread of its own hashes and writes, so that
    // TLS and HTTP keep receiving while the disk writes (a bounded queue of 1 MiB-ish
    // chunks between them keeps memory flat).
    let path = sp.path.clone();
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(8);
    let writer = tokio::task::spawn_blocking(move || -> std::io::Result<String> {
        use std::io::Write as _;
        let mut file = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&path)?);
        let mut hash = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        for chunk in rx {
            hash.update(&chunk);
            file.write_all(&chunk)?;
        }
        let file = file.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(hex::encode(hash.finish().as_ref()))
    });
    let mut stream = body.into_data_stream();
    let mut failed = None;
    let mut pending: Vec<u8> = Vec::with_capacity(SPOOL_PIECE);
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                failed = Some(Refusal::new(
                    400,
                    "request",
                    format!("reading the object: {e}"),
                ));
                break;
            }
        };
        sp.size += chunk.len() as u64;
        if sp.size > limit {
            failed = Some(Refusal::new(
                413,
                "request",
                format!("the object is larger than {limit} bytes"),
            ));
            break;
        }
        // Gather the small network chunks into 1 MiB pieces for the writer.
        pending.extend_from_slice(&chunk);
        if pending.len() >= SPOOL_PIECE && !hand_over(&tx, &mut pending).await {
            break;
        }
    }
    if failed.is_none() && !pending.is_empty() {
        hand_over(&tx, &mut pending).await;
    }
    drop(tx);
    let written = writer.await.map_err(Refusal::internal)?;
    if let Some(f) = failed {
        return Err(f);
    }
    sp.sha256 = written.map_err(Refusal::internal)?;
    Ok(sp)
}

/// Read and verify the label of a spooled object (blocking: zip and signatures).
async fn examine(
    path: &Path,
    trusted: Vec<accord_keys::VerifyingKey>,
) -> Result<VerifiedLabel, Reason> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut f = std::fs::File::open(&path)
            .map_err(|e| Reason::new("object-integrity", format!("reading the object: {e}")))?;
        let manifest = crate::client::read_manifest(&mut f)
            .map_err(|e| Reason::new("object-integrity", e.to_string()))?;
        let bytes = serde_json::to_vec(&manifest).unwrap_or_default();
        accord_tdf::verify_label(&bytes, &trusted)
            .map_err(|e| Reason::new("object-integrity", e.to_string()))
    })
    .await
    .unwrap_or_else(|e| Err(Reason::new("object-integrity", e.to_string())))
}

// ---------------------------------------------------------------- database

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
}

fn outbox_from_row(r: &AnyRow) -> Result<OutboxItem, Error> {
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
        receipt: receipt.and_then(|s| serde_json::from_str(&s).ok()),
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
    fn check(&self) -> Result<(), Refusal> {
        if let Some(id) = &self.id {
            check_object_id(id)?;
        }
        match self.state.as_deref() {
            None | Some("queued" | "delivered" | "refused") => Ok(()),
            Some(other) => Err(Refusal::new(
                400,
                "request",
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
}

fn inbox_from_row(r: &AnyRow) -> Result<InboxRecord, Error> {
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
        receipt: serde_json::from_str(&receipt)
            .map_err(|e| Error::Database(format!("stored receipt: {e}")))?,
    })
}

impl Store {
    async fn outbox_get(&self, id: &str, to: &str) -> Result<Option<OutboxItem>, Error> {
        let row = sqlx::query("SELECT * FROM outbox WHERE object_id = $1 AND recipient = $2")
            .bind(id)
            .bind(to)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(outbox_from_row).transpose()
    }

    async fn outbox_insert(&self, o: &OutboxItem, queued_ms: i64) -> Result<bool, Error> {
        let r = sqlx::query(
            "INSERT INTO outbox (object_id, recipient, person, agreement, marking, size, sha256, queued, state, attempts, next_attempt) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'queued', 0, $9) ON CONFLICT (object_id, recipient) DO NOTHING",
        )
        .bind(&o.id)
        .bind(&o.to)
        .bind(&o.person)
        .bind(&o.agreement)
        .bind(&o.marking)
        .bind(o.size as i64)
        .bind(&o.sha256)
        .bind(queued_ms)
        .bind(queued_ms)
        .execute(self.pool())
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Objects whose delivery is due, oldest first.
    async fn outbox_due(&self, now: i64, limit: i64) -> Result<Vec<OutboxItem>, Error> {
        let rows = sqlx::query(
            "SELECT * FROM outbox WHERE state = 'queued' AND next_attempt <= $1 ORDER BY next_attempt, queued LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(outbox_from_row).collect()
    }

    async fn outbox_next_due(&self) -> Result<Option<i64>, Error> {
        let row = sqlx::query("SELECT MIN(next_attempt) AS n FROM outbox WHERE state = 'queued'")
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get::<Option<i64>, _>("n")?)
    }

    async fn outbox_retry(&self, id: &str, to: &str, next: i64, error: &str) -> Result<(), Error> {
        sqlx::query(
            "UPDATE outbox SET attempts = attempts + 1, next_attempt = $1, last_error = $2 WHERE object_id = $3 AND recipient = $4",
        )
        .bind(next)
        .bind(error)
        .bind(id)
        .bind(to)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn outbox_finish(
        &self,
        id: &str,
        to: &str,
        state: &str,
        reasons: &[Reason],
        receipt: Option<&Receipt>,
    ) -> Result<(), Error> {
        sqlx::query(
            "UPDATE outbox SET state = $1, attempts = attempts + 1, reasons = $2, receipt = $3, last_error = NULL, done = $4 \
             WHERE object_id = $5 AND recipient = $6",
        )
        .bind(state)
        .bind(serde_json::to_string(reasons).unwrap_or_default())
        .bind(receipt.map(Receipt::to_json))
        .bind(crate::store::unix_now())
        .bind(id)
        .bind(to)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// What `person` sent (every send when `person` is None) matching `filter`, oldest
    /// first; with a limit, the most recent ones.
    pub async fn outbox(
        &self,
        person: Option<&str>,
        filter: &OutboxFilter,
    ) -> Result<Vec<OutboxItem>, Error> {
        // Fixed SQL with optional terms: `($n IS NULL OR col = $n)` keeps one prepared
        // statement per query and the same text on SQLite and PostgreSQL.
        let limit = filter
            .limit
            .map_or(i64::MAX, |l| l.min(i64::MAX as u64) as i64);
        let rows = sqlx::query(
            "SELECT * FROM (SELECT * FROM outbox \
               WHERE ($1 = '' OR person = $1) AND ($2 = '' OR object_id = $2) AND ($3 = '' OR state = $3) \
               ORDER BY queued DESC, object_id DESC LIMIT $4) AS recent \
             ORDER BY queued, object_id",
        )
        .bind(person.unwrap_or(""))
        .bind(filter.id.as_deref().unwrap_or(""))
        .bind(filter.state.as_deref().unwrap_or(""))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(outbox_from_row).collect()
    }

    async fn inbox_get(&self, id: &str) -> Result<Option<InboxRecord>, Error> {
        let row = sqlx::query("SELECT * FROM inbox WHERE object_id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(inbox_from_row).transpose()
    }

    async fn inbox_insert(&self, r: &InboxRecord, received: i64) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO inbox (object_id, sender, agreement, marking, label, size, sha256, received, receipt) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (object_id) DO NOTHING",
        )
        .bind(&r.item.id)
        .bind(&r.item.from)
        .bind(&r.item.agreement)
        .bind(&r.item.marking)
        .bind(&r.label)
        .bind(r.item.size as i64)
        .bind(&r.sha256)
        .bind(received)
        .bind(r.receipt.to_json())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Everything received, oldest first.
    pub async fn inbox(&self) -> Result<Vec<InboxRecord>, Error> {
        let rows = sqlx::query("SELECT * FROM inbox ORDER BY received, object_id")
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(inbox_from_row).collect()
    }
}

// ---------------------------------------------------------------- decisions

/// What an exchange decision is about, for its audit entry.
struct Event<'a> {
    kind: &'a str,
    person: Option<&'a str>,
    object: &'a str,
    marking: Option<&'a str>,
    agreement: Option<&'a str>,
    partner: Option<&'a str>,
}

impl Node {
    /// The audit entry of an exchange decision.
    fn audit(&self, e: &Event<'_>, permit: bool, reasons: &[Reason]) -> Vec<u8> {
        AuditEntry {
            kind: e.kind,
            time: (self.clock)().to_string(),
            party: self.party(),
            person: e.person,
            credential: None,
            decision: if permit { "permit" } else { "deny" },
            object: Some(e.object),
            marking: e.marking,
            agreement: e.agreement,
            request: None,
            partner: e.partner,
            reasons,
        }
        .bytes()
    }

    fn transfer_reasons(
        &self,
        held: &[Held],
        agreement: &str,
        label: &Label,
        from: &str,
        to: &str,
        at: Time,
    ) -> (bool, Vec<Reason>) {
        let Some(h) = held.iter().find(|h| h.agreement.body.id == agreement) else {
            return (
                false,
                vec![Reason::new(
                    "agreement-in-force",
                    format!(
                        "agreement {agreement} is not loaded at the {} node",
                        self.party()
                    ),
                )],
            );
        };
        let checked = h.checked();
        let d = accord_agreement::admit(
            self.policies(),
            &accord_agreement::Transfer {
                label,
                agreement: &checked,
                from,
                to,
                at,
            },
        );
        (d.permit, crate::node::convert(d.reasons))
    }

    /// `PUT /v1/outbox/{to}/{id}`: a person sends a sealed object to a partner party.
    pub async fn send(
        self: &Arc<Self>,
        peer: &Peer,
        to: &str,
        id: &str,
        body: axum::body::Body,
    ) -> Result<OutboxItem, Refusal> {
        let caller = self.authenticate(peer).await?;
        check_code(to)?;
        check_object_id(id)?;
        if to == self.party() {
            return Err(Refusal::new(
                400,
                "request",
                format!("{to} is this node's own party: send to a partner"),
            ));
        }
        if let Some(o) = self
            .store
            .outbox_get(id, to)
            .await
            .map_err(Refusal::internal)?
        {
            // Already sent: read and drop the body so the client sees the answer.
            let mut stream = body.into_data_stream();
            while let Some(Ok(_)) = stream.next().await {}
            return Ok(o);
        }
        let held = self.agreements().await.map_err(Refusal::internal)?;
        let at = (self.clock)();
        let partner = partners::in_force(&held, self.party(), at)
            .into_iter()
            .find(|p| p.code == to)
            .ok_or_else(|| {
                Refusal::new(
                    403,
                    "agreement-in-force",
                    format!(
                        "{} holds no agreement in force with {to} that names {to}'s node",
                        self.party()
                    ),
                )
            })?;
        let sp = spool(self, body, MAX_OBJECT).await?;
        let trusted = self
            .trusted_signers(&held)
            .into_iter()
            .map(|(_, k)| k)
            .collect();
        let v = examine(&sp.path, trusted).await.map_err(|r| Refusal {
            status: 422,
            error: r.text.clone(),
            reasons: vec![r],
        })?;
        if v.object_id != id {
            return Err(Refusal::new(
                400,
                "request",
                format!("the object's id is {}, not {id}", v.object_id),
            ));
        }
        let Some(agreement) = v.agreement.clone() else {
            return Err(Refusal::new(
                422,
                "agreement-in-force",
                "the object names no agreement: seal it with --agreement to exchange it",
            ));
        };
        let label = Label::read(
            self.policies(),
            "the object's label",
            v.label_xml.as_bytes(),
        )
        .map_err(|e| Refusal::new(422, "translation", e.to_string()))?;
        let person = self.person(&caller.record).map_err(|r| Refusal {
            status: 403,
            error: r.text.clone(),
            reasons: vec![r],
        })?;
        let (ok_send, mut reasons) =
            self.transfer_reasons(&held, &agreement, &label, self.party(), to, at);
        let (ok_read, read_reasons) = self.decide(&person, &label, Some(&agreement), &held, at);
        if !ok_read {
            reasons.extend(read_reasons);
        }
        if !partner.agreements.contains(&agreement) {
            reasons.push(Reason::new(
                "agreement-in-force",
                format!("agreement {agreement} is not in force with {to}"),
            ));
        }
        let permit = ok_send && ok_read && partner.agreements.contains(&agreement);
        let entry = self.audit(
            &Event {
                kind: "send",
                person: Some(&caller.record.id),
                object: id,
                marking: Some(&v.marking),
                agreement: Some(&agreement),
                partner: Some(to),
            },
            permit,
            &reasons,
        );
        self.log_entries(vec![entry]).await?;
        if !permit {
            return Err(Refusal {
                status: 403,
                error: format!("{} may not send this object to {to}", caller.record.id),
                reasons,
            });
        }
        let item = OutboxItem {
            id: id.to_string(),
            to: to.to_string(),
            person: caller.record.id.clone(),
            agreement,
            marking: v.marking.clone(),
            size: sp.size,
            sha256: sp.sha256.clone(),
            queued: rfc3339(crate::store::unix_now()),
            state: "queued".into(),
            attempts: 0,
            last_error: None,
            reasons: vec![],
            receipt: None,
        };
        sp.keep_as(&outbox_path(self, id, to)).await?;
        self.store
            .outbox_insert(&item, now_ms())
            .await
            .map_err(Refusal::internal)?;
        self.outbox_ready.notify_one();
        Ok(item)
    }

    /// `GET /v1/outbox`: what the person sent, and how each delivery stands.
    pub async fn outbox(
        &self,
        peer: &Peer,
        filter: &OutboxFilter,
    ) -> Result<Vec<OutboxItem>, Refusal> {
        let caller = self.authenticate(peer).await?;
        filter.check()?;
        self.store
            .outbox(Some(&caller.record.id), filter)
            .await
            .map_err(Refusal::internal)
    }

    /// `PUT /v1/fed/inbox/{id}`: a partner node delivers an object.
    pub async fn receive(
        self: &Arc<Self>,
        peer: &Peer,
        id: &str,
        body: axum::body::Body,
    ) -> Result<Receipt, Refusal> {
        let partner = match self.partner_of(peer).await {
            Ok(p) => p,
            Err(r) => {
                let entry = self.audit(
                    &Event {
                        kind: "receive",
                        person: None,
                        object: id,
                        marking: None,
                        agreement: None,
                        partner: None,
                    },
                    false,
                    &r.reasons,
                );
                let _ = self.log_entries(vec![entry]).await;
                return Err(r);
            }
        };
        check_object_id(id)?;
        let sp = spool(self, body, MAX_OBJECT).await?;
        if let Some(held_rec) = self.store.inbox_get(id).await.map_err(Refusal::internal)? {
            if held_rec.sha256 == sp.sha256 && held_rec.item.from == partner.code {
                return Ok(held_rec.receipt);
            }
            return Err(Refusal::new(
                409,
                "request",
                format!(
                    "object {id} is already held here with different content or from another party"
                ),
            ));
        }
        let held = self.agreements().await.map_err(Refusal::internal)?;
        let at = (self.clock)();
        match self.admit_delivery(&held, &partner, id, &sp, at).await {
            Ok((label_xml, marking, agreement)) => {
                let entry = self.audit(
                    &Event {
                        kind: "receive",
                        person: None,
                        object: id,
                        marking: Some(&marking),
                        agreement: Some(&agreement),
                        partner: Some(&partner.code),
                    },
                    true,
                    &[],
                );
                let (size, sha256) = (sp.size, sp.sha256.clone());
                sp.keep_as(&inbox_path(self, id)).await?;
                let range = self.log_entries(vec![entry]).await?;
                let received = crate::store::unix_now();
                let receipt = Receipt::sign(
                    ReceiptBody {
                        object_id: id.to_string(),
                        sha256: sha256.clone(),
                        size,
                        from: partner.code.clone(),
                        to: self.party().to_string(),
                        agreement: agreement.clone(),
                        received: rfc3339(received),
                        log_index: range.start,
                    },
                    &self.signing,
                )
                .map_err(Refusal::internal)?;
                let rec = InboxRecord {
                    item: InboxItem {
                        id: id.to_string(),
                        marking,
                        from: partner.code.clone(),
                        received: rfc3339(received),
                        size,
                        agreement,
                    },
                    label: label_xml,
                    sha256,
                    receipt: receipt.clone(),
                };
                self.store
                    .inbox_insert(&rec, received)
                    .await
                    .map_err(Refusal::internal)?;
                tracing::info!(object = %id, from = %partner.code, size, "received");
                Ok(receipt)
            }
            Err((marking, agreement, reasons)) => {
                let entry = self.audit(
                    &Event {
                        kind: "receive",
                        person: None,
                        object: id,
                        marking: marking.as_deref(),
                        agreement: agreement.as_deref(),
                        partner: Some(&partner.code),
                    },
                    false,
                    &reasons,
                );
                self.log_entries(vec![entry]).await?;
                Err(Refusal {
                    status: 403,
                    error: format!("{} refuses object {id} from {}", self.party(), partner.code),
                    reasons,
                })
            }
        }
    }

    /// The receiver's checks; on refusal, what is known of the object and why.
    #[allow(clippy::type_complexity)]
    async fn admit_delivery(
        &self,
        held: &[Held],
        partner: &Partner,
        id: &str,
        sp: &Spooled,
        at: Time,
    ) -> Result<(String, String, String), (Option<String>, Option<String>, Vec<Reason>)> {
        // Only the sender's own key may have signed the label.
        let trusted: Vec<accord_keys::VerifyingKey> =
            accord_keys::VerifyingKey::from_spki_der(&partner.signing_keys.ecdsa_p384)
                .into_iter()
                .collect();
        let v = examine(&sp.path, trusted)
            .await
            .map_err(|r| (None, None, vec![r]))?;
        let marking = Some(v.marking.clone());
        if v.object_id != id {
            return Err((
                marking,
                v.agreement.clone(),
                vec![Reason::new(
                    "object-integrity",
                    format!("delivered as {id} but the object's id is {}", v.object_id),
                )],
            ));
        }
        let Some(agreement) = v.agreement.clone() else {
            return Err((
                marking,
                None,
                vec![Reason::new(
                    "agreement-in-force",
                    "the object names no agreement",
                )],
            ));
        };
        if !partner.agreements.contains(&agreement) {
            return Err((
                marking,
                Some(agreement.clone()),
                vec![Reason::new(
                    "agreement-in-force",
                    format!(
                        "agreement {agreement} is not in force between {} and {}",
                        partner.code,
                        self.party()
                    ),
                )],
            ));
        }
        let label = Label::read(
            self.policies(),
            "the object's label",
            v.label_xml.as_bytes(),
        )
        .map_err(|e| {
            (
                marking.clone(),
                Some(agreement.clone()),
                vec![Reason::new(
                    "translation",
                    format!("the label cannot be read here: {e}"),
                )],
            )
        })?;
        let (ok, reasons) =
            self.transfer_reasons(held, &agreement, &label, &partner.code, self.party(), at);
        if !ok {
            return Err((marking, Some(agreement), reasons));
        }
        Ok((v.label_xml, v.marking, agreement))
    }

    /// `GET /v1/inbox`: what the person may see, oldest first.
    pub async fn inbox(&self, peer: &Peer) -> Result<Vec<InboxItem>, Refusal> {
        let caller = self.authenticate(peer).await?;
        let person = match self.person(&caller.record) {
            Ok(p) => p,
            Err(_) => return Ok(vec![]),
        };
        let held = self.agreements().await.map_err(Refusal::internal)?;
        let at = (self.clock)();
        let all = self.store.inbox().await.map_err(Refusal::internal)?;
        Ok(all
            .into_iter()
            .filter(|r| {
                Label::read(self.policies(), "label", r.label.as_bytes())
                    .map(|l| {
                        self.decide(&person, &l, Some(&r.item.agreement), &held, at)
                            .0
                    })
                    .unwrap_or(false)
            })
            .map(|r| r.item)
            .collect())
    }

    /// `GET /v1/inbox/{id}`: the object, if the person may see it.
    pub async fn fetch(&self, peer: &Peer, id: &str) -> Result<(PathBuf, u64), Refusal> {
        let caller = self.authenticate(peer).await?;
        check_object_id(id)?;
        let not_found = || Refusal::new(404, "request", format!("no object {id} in the inbox"));
        let rec = self
            .store
            .inbox_get(id)
            .await
            .map_err(Refusal::internal)?
            .ok_or_else(not_found)?;
        let person = self.person(&caller.record).map_err(|r| Refusal {
            status: 403,
            error: r.text.clone(),
            reasons: vec![r],
        })?;
        let held = self.agreements().await.map_err(Refusal::internal)?;
        let label = Label::read(self.policies(), "label", rec.label.as_bytes())
            .map_err(|e| Refusal::new(403, "translation", e.to_string()))?;
        let (ok, reasons) = self.decide(
            &person,
            &label,
            Some(&rec.item.agreement),
            &held,
            (self.clock)(),
        );
        if !ok {
            // Not logged: fetching gives only ciphertext; opening asks the KAS, which logs.
            return Err(Refusal {
                status: 403,
                error: format!("{} may not see object {id}", person.id),
                reasons,
            });
        }
        Ok((inbox_path(self, id), rec.item.size))
    }
}

// ---------------------------------------------------------------- delivery

fn backoff(attempts: u64, cap: Duration) -> i64 {
    let ms = RETRY_FIRST_MS.saturating_mul(1i64 << attempts.min(20));
    ms.min(cap.as_millis() as i64)
}

/// Deliver the outbox until `stop` turns true.
pub async fn deliver_loop(
    node: Arc<Node>,
    opts: DeliveryOptions,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        if *stop.borrow() {
            return;
        }
        let due = match node.store.outbox_due(now_ms(), 64).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "reading the outbox");
                vec![]
            }
        };
        if due.is_empty() {
            let wait = match node.store.outbox_next_due().await {
                Ok(Some(t)) => Duration::from_millis((t - now_ms()).clamp(10, 1000) as u64),
                _ => Duration::from_secs(1),
            };
            tokio::select! {
                _ = stop.changed() => {}
                _ = node.outbox_ready.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
            continue;
        }
        futures_util::stream::iter(due)
            .for_each_concurrent(opts.parallel.max(1), |item| {
                let node = node.clone();
                let cap = opts.retry_cap;
                async move {
                    deliver_one(&node, item, cap).await;
                }
            })
            .await;
    }
}

enum Outcome {
    Delivered(Receipt),
    Refused(Vec<Reason>),
    Retry(String),
}

async fn deliver_one(node: &Arc<Node>, item: OutboxItem, cap: Duration) {
    let outcome = attempt(node, &item).await;
    let (id, to) = (item.id.as_str(), item.to.as_str());
    let (state, reasons, receipt) = match &outcome {
        Outcome::Retry(e) => {
            let next = now_ms() + backoff(item.attempts, cap);
            tracing::debug!(object = %id, %to, error = %e, attempts = item.attempts + 1, "delivery will be retried");
            if let Err(e) = node.store.outbox_retry(id, to, next, e).await {
                tracing::error!(error = %e, "recording a delivery attempt");
            }
            return;
        }
        Outcome::Delivered(r) => ("delivered", &[][..], Some(r)),
        Outcome::Refused(reasons) => ("refused", &reasons[..], None),
    };
    let entry = node.audit(
        &Event {
            kind: "deliver",
            person: Some(&item.person),
            object: id,
            marking: Some(&item.marking),
            agreement: Some(&item.agreement),
            partner: Some(to),
        },
        receipt.is_some(),
        reasons,
    );
    if let Err(e) = node.log_entries(vec![entry]).await {
        tracing::error!(error = %e.error, "audit log");
        return;
    }
    if receipt.is_some() {
        tracing::info!(object = %id, %to, "delivered");
    } else {
        tracing::warn!(object = %id, %to, "delivery refused");
    }
    if let Err(e) = node
        .store
        .outbox_finish(id, to, state, reasons, receipt)
        .await
    {
        tracing::error!(error = %e, "recording a delivery");
    }
    let _ = tokio::fs::remove_file(outbox_path(node, id, to)).await;
}

async fn attempt(node: &Arc<Node>, item: &OutboxItem) -> Outcome {
    let held = match node.agreements().await {
        Ok(h) => h,
        Err(e) => return Outcome::Retry(e.to_string()),
    };
    let at = (node.clock)();
    let Some(partner) = partners::in_force(&held, node.party(), at)
        .into_iter()
        .find(|p| p.code == item.to && p.agreements.contains(&item.agreement))
    else {
        return Outcome::Refused(vec![Reason::new(
            "agreement-in-force",
            format!(
                "agreement {} is no longer in force with {}: the delivery is stopped",
                item.agreement, item.to
            ),
        )]);
    };
    let client = match node.partner_clients.get(&node.home, &partner) {
        Ok(c) => c,
        Err(e) => return Outcome::Retry(e.to_string()),
    };
    let path = outbox_path(node, &item.id, &item.to);
    let file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) => {
            return Outcome::Refused(vec![Reason::new(
                "object-integrity",
                format!("the queued object {} is gone: {e}", path.display()),
            )])
        }
    };
    let url = format!("{}/v1/fed/inbox/{}", partner.url, item.id);
    let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::with_capacity(
        file,
        256 * 1024,
    ));
    let resp = match client
        .put(&url)
        .header("content-type", "application/zip")
        .header("content-length", item.size)
        .body(body)
        .send()
        .await
    {
        Ok(r) => r,
        Err(e) => return Outcome::Retry(format!("{url}: {}", crate::client::describe(&e))),
    };
    let status = resp.status();
    let bytes = match resp.bytes().await {
        Ok(b) => b,
        Err(e) => return Outcome::Retry(format!("{url}: {e}")),
    };
    if status.is_success() {
        let receipt: Receipt = match serde_json::from_slice(&bytes) {
            Ok(r) => r,
            Err(e) => return Outcome::Retry(format!("{url}: the receipt does not parse: {e}")),
        };
        if let Err(e) = receipt.verify(&partner.signing_keys) {
            return Outcome::Retry(e.to_string());
        }
        let b = &receipt.body;
        if b.object_id != item.id
            || b.sha256 != item.sha256
            || b.size != item.size
            || b.from != node.party()
            || b.to != item.to
        {
            return Outcome::Retry(format!(
                "{url}: the receipt is for another object or party ({} {} {}→{})",
                b.object_id, b.sha256, b.from, b.to
            ));
        }
        return Outcome::Delivered(receipt);
    }
    let problem: Option<wire::Problem> = serde_json::from_slice(&bytes).ok();
    match status.as_u16() {
        400 | 403 | 409 | 413 | 422 => Outcome::Refused(match problem {
            Some(p) if !p.reasons.is_empty() => p.reasons,
            Some(p) => vec![Reason::new("partner", p.error)],
            None => vec![Reason::new("partner", format!("{url}: status {status}"))],
        }),
        _ => Outcome::Retry(format!(
            "{url}: status {status}{}",
            problem
                .map(|p| format!(": {}", p.error))
                .unwrap_or_default()
        )),
    }
}
