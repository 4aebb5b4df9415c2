//! The equipment tables (migration `20261202000070_equipment.sql`): accounts, the
//! ledger of items, records and each item's history. Reads here; writes are
//! statements the component commits together ([`crate::store::Store::commit`]), so a
//! record, the ledger changes it makes and its history rows land in one transaction.

use crate::store::{db, Stmt, Store};
use crate::Error;
use accord_equipment::{AccountingClass, Condition, Item, ItemKey, Status};
use sqlx::any::AnyRow;
use sqlx::Row;

/// An account and its custodians.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Account {
    /// Its name (`USA-FMS-1`).
    pub id: String,
    /// The accountable custodian (a person of the node with the role `custodian`).
    pub custodian: String,
    /// Their alternate, when named.
    pub alternate: Option<String>,
    /// The label its items and records carry (JSON form).
    pub label: String,
    /// Unix seconds.
    pub created: i64,
}

impl Account {
    /// Whether `person` is its custodian or alternate.
    pub fn kept_by(&self, person: &str) -> bool {
        self.custodian == person || self.alternate.as_deref() == Some(person)
    }
}

/// An item in the ledger, with what only the node keeps of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerItem {
    /// The item.
    pub item: Item,
    /// The partner it was transferred to, when status is `transferred`.
    pub transferred_to: Option<String>,
    /// Its label (JSON form).
    pub label: String,
}

/// A record as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// Record id.
    pub id: String,
    /// Its kind.
    pub kind: String,
    /// The party that made it.
    pub origin: String,
    /// Its account.
    pub account: String,
    /// The partner it crosses to or came from.
    pub partner: Option<String>,
    /// The agreement.
    pub agreement: Option<String>,
    /// The record it answers.
    pub refers: Option<String>,
    /// Unix seconds (the record's own time).
    pub at: i64,
    /// Its digest.
    pub digest: String,
    /// `pending`, `done`, `open` or `answered`.
    pub state: String,
    /// When the partner took it, for a record that crosses.
    pub delivered: Option<i64>,
    /// When it was answered (a received transfer receipted, an incident acknowledged).
    pub answered: Option<i64>,
    /// Its label (JSON form).
    pub label: String,
    /// Who signs, in order.
    pub signers: Vec<String>,
    /// Who must sign next, while pending.
    pub next_signer: Option<String>,
    /// How many items it names.
    pub items: i64,
    /// What it did, in words.
    pub summary: String,
    /// The record's JSON (empty when read for a history, which does not need it).
    pub json: String,
}

impl StoredRecord {
    /// A record to store: `partner` is the party it goes to or came from.
    pub(crate) fn of(
        r: &accord_equipment::Record,
        partner: Option<String>,
        state: &str,
        digest: String,
        summary: String,
    ) -> StoredRecord {
        let b = &r.body;
        StoredRecord {
            id: b.id.clone(),
            kind: b.kind.as_str().into(),
            origin: b.party.clone(),
            account: b.account.clone(),
            partner,
            agreement: b.agreement.clone(),
            refers: b.refers.as_ref().map(|x| x.id.clone()),
            at: accord_agreement::Time::parse(&b.at)
                .map(|t| t.unix())
                .unwrap_or_default(),
            digest,
            state: state.into(),
            delivered: None,
            answered: None,
            label: b.label.clone(),
            signers: b.signers.clone(),
            next_signer: r.next_signer().map(String::from),
            items: b.items.len() as i64,
            summary,
            json: r.to_json(),
        }
    }
}

fn item_from_row(r: &AnyRow) -> Result<LedgerItem, Error> {
    let bad = |what: &str, v: String| {
        Error::Database(format!(
            "equipment_items holds {what} {v:?}, which this version does not know"
        ))
    };
    let class: String = r.try_get("class").map_err(db)?;
    let condition: String = r.try_get("condition").map_err(db)?;
    let status: String = r.try_get("status").map_err(db)?;
    Ok(LedgerItem {
        item: Item {
            key: ItemKey {
                nomenclature: r.try_get("nomenclature").map_err(db)?,
                serial: r.try_get("serial").map_err(db)?,
            },
            class: AccountingClass::parse(&class).map_err(|_| bad("class", class))?,
            case: r.try_get("loa").map_err(db)?,
            title_holder: r.try_get("title_holder").map_err(db)?,
            provider: r.try_get("provider").map_err(db)?,
            agreement: r.try_get("agreement").map_err(db)?,
            account: r.try_get("account").map_err(db)?,
            holder: r.try_get("holder").map_err(db)?,
            condition: Condition::parse(&condition).map_err(|_| bad("condition", condition))?,
            status: Status::parse(&status).map_err(|_| bad("status", status))?,
        },
        transferred_to: r.try_get("transferred_to").map_err(db)?,
        label: r.try_get("label").map_err(db)?,
    })
}

fn record_from_row(r: &AnyRow) -> Result<StoredRecord, Error> {
    Ok(StoredRecord {
        id: r.try_get("id").map_err(db)?,
        kind: r.try_get("kind").map_err(db)?,
        origin: r.try_get("origin").map_err(db)?,
        account: r.try_get("account").map_err(db)?,
        partner: r.try_get("partner").map_err(db)?,
        agreement: r.try_get("agreement").map_err(db)?,
        refers: r.try_get("refers").map_err(db)?,
        at: r.try_get("at").map_err(db)?,
        digest: r.try_get("digest").map_err(db)?,
        state: r.try_get("state").map_err(db)?,
        delivered: r.try_get("delivered").map_err(db)?,
        answered: r.try_get("answered").map_err(db)?,
        label: r.try_get("label").map_err(db)?,
        signers: r
            .try_get::<String, _>("signers")
            .map_err(db)?
            .split(',')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        next_signer: r.try_get("next_signer").map_err(db)?,
        items: r.try_get("items").map_err(db)?,
        summary: r.try_get("summary").map_err(db)?,
        json: r.try_get("record").map_err(db)?,
    })
}

const ITEM_COLUMNS: &str = "nomenclature, serial, class, loa, title_holder, provider, agreement, account, holder, condition, status, transferred_to, label";
const RECORD_COLUMNS: &str = "id, kind, origin, account, partner, agreement, refers, at, digest, state, delivered, answered, label, signers, next_signer, items, summary, record";

/// Which items to read.
pub enum Items<'a> {
    /// An account's.
    Account(&'a str),
    /// Those a provider transferred to this party under an agreement.
    From(&'a str, &'a str),
    /// Those this party transferred to a partner under an agreement.
    To(&'a str, &'a str),
    /// Every item.
    All,
}

impl Store {
    /// Every account.
    pub async fn equipment_accounts(&self) -> Result<Vec<Account>, Error> {
        let rows = sqlx::query(
            "SELECT id, custodian, alternate, label, created FROM equipment_accounts ORDER BY id",
        )
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok(Account {
                    id: r.try_get("id").map_err(db)?,
                    custodian: r.try_get("custodian").map_err(db)?,
                    alternate: r.try_get("alternate").map_err(db)?,
                    label: r.try_get("label").map_err(db)?,
                    created: r.try_get("created").map_err(db)?,
                })
            })
            .collect()
    }

    /// One account.
    pub async fn equipment_account(&self, id: &str) -> Result<Option<Account>, Error> {
        Ok(self
            .equipment_accounts()
            .await?
            .into_iter()
            .find(|a| a.id == id))
    }

    /// Items, ordered by nomenclature and serial.
    pub async fn equipment_items(&self, which: Items<'_>) -> Result<Vec<LedgerItem>, Error> {
        let (filter, a, b) = match which {
            Items::Account(a) => ("account = $1", Some(a), None),
            Items::From(p, ag) => ("provider = $1 AND agreement = $2", Some(p), Some(ag)),
            Items::To(p, ag) => ("transferred_to = $1 AND agreement = $2", Some(p), Some(ag)),
            Items::All => ("1 = 1", None, None),
        };
        let sql = format!(
            "SELECT {ITEM_COLUMNS} FROM equipment_items WHERE {filter} ORDER BY nomenclature, serial"
        );
        let mut q = sqlx::query(&sql);
        if let Some(a) = a {
            q = q.bind(a);
        }
        if let Some(b) = b {
            q = q.bind(b);
        }
        let rows = q.fetch_all(self.pool()).await.map_err(db)?;
        rows.iter().map(item_from_row).collect()
    }

    /// What an inventory of `account` expects to sight: the items on hand, with their
    /// holders and conditions. An account may hold 100,000 items, and reading them
    /// as rows costs some 9 µs each through the database driver; so the database joins
    /// them into one text (names hold no control characters: `check_name`), read as
    /// one value and split here.
    pub async fn equipment_on_hand(
        &self,
        account: &str,
    ) -> Result<Vec<accord_equipment::Sighting>, Error> {
        let sql = if self.sqlite {
            "SELECT group_concat(nomenclature || char(31) || serial || char(31) || COALESCE(holder, '') || char(31) || condition, char(30)) AS s \
             FROM equipment_items WHERE account = $1 AND status IN ('in-service', 'in-repair')"
        } else {
            "SELECT string_agg(nomenclature || chr(31) || serial || chr(31) || COALESCE(holder, '') || chr(31) || condition, chr(30)) AS s \
             FROM equipment_items WHERE account = $1 AND status IN ('in-service', 'in-repair')"
        };
        let row = sqlx::query(sql)
            .bind(account)
            .fetch_one(self.pool())
            .await
            .map_err(db)?;
        let all: Option<String> = row.try_get("s").map_err(db)?;
        let all = all.unwrap_or_default();
        all.split('\u{1e}')
            .filter(|r| !r.is_empty())
            .map(|r| {
                let mut f = r.split('\u{1f}');
                let mut next = || f.next().unwrap_or_default().to_string();
                let (nomenclature, serial, holder, condition) = (next(), next(), next(), next());
                Ok(accord_equipment::Sighting {
                    key: ItemKey {
                        nomenclature,
                        serial,
                    },
                    holder: (!holder.is_empty()).then_some(holder),
                    condition: Condition::parse(&condition).ok(),
                })
            })
            .collect()
    }

    /// One item.
    pub async fn equipment_item(&self, key: &ItemKey) -> Result<Option<LedgerItem>, Error> {
        let sql = format!(
            "SELECT {ITEM_COLUMNS} FROM equipment_items WHERE nomenclature = $1 AND serial = $2"
        );
        let row = sqlx::query(&sql)
            .bind(&key.nomenclature)
            .bind(&key.serial)
            .fetch_optional(self.pool())
            .await
            .map_err(db)?;
        row.as_ref().map(item_from_row).transpose()
    }

    /// Every item key held (to refuse a duplicate serial before anything is written).
    pub async fn equipment_keys(&self) -> Result<std::collections::HashSet<ItemKey>, Error> {
        let rows = sqlx::query("SELECT nomenclature, serial FROM equipment_items")
            .fetch_all(self.pool())
            .await
            .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok(ItemKey {
                    nomenclature: r.try_get("nomenclature").map_err(db)?,
                    serial: r.try_get("serial").map_err(db)?,
                })
            })
            .collect()
    }

    /// One record.
    pub async fn equipment_record(&self, id: &str) -> Result<Option<StoredRecord>, Error> {
        let sql = format!("SELECT {RECORD_COLUMNS} FROM equipment_records WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(db)?;
        row.as_ref().map(record_from_row).transpose()
    }

    /// The record answering `id`, when one does.
    pub async fn equipment_answer(&self, id: &str) -> Result<Option<StoredRecord>, Error> {
        let sql = format!(
            "SELECT {RECORD_COLUMNS} FROM equipment_records WHERE refers = $1 AND state <> 'pending' ORDER BY at LIMIT 1"
        );
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(db)?;
        row.as_ref().map(record_from_row).transpose()
    }

    /// Records, newest first: of `kind` when given, in `state` when given.
    pub async fn equipment_records(
        &self,
        kind: Option<&str>,
        state: Option<&str>,
        limit: i64,
    ) -> Result<Vec<StoredRecord>, Error> {
        let sql = format!(
            "SELECT {RECORD_COLUMNS} FROM equipment_records \
             WHERE ($1 = '' OR kind = $1) AND ($2 = '' OR state = $2) ORDER BY at DESC, id LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(kind.unwrap_or(""))
            .bind(state.unwrap_or(""))
            .bind(limit)
            .fetch_all(self.pool())
            .await
            .map_err(db)?;
        rows.iter().map(record_from_row).collect()
    }

    /// Records that cross and the partner has not taken yet, oldest first.
    pub async fn equipment_undelivered(&self, limit: i64) -> Result<Vec<StoredRecord>, Error> {
        let sql = format!(
            "SELECT {RECORD_COLUMNS} FROM equipment_records \
             WHERE crosses = 1 AND delivered IS NULL AND state <> 'pending' ORDER BY at, id LIMIT $1"
        );
        let rows = sqlx::query(&sql)
            .bind(limit)
            .fetch_all(self.pool())
            .await
            .map_err(db)?;
        rows.iter().map(record_from_row).collect()
    }

    /// An item's history: the records naming it, oldest first.
    pub async fn equipment_history(&self, key: &ItemKey) -> Result<Vec<StoredRecord>, Error> {
        // Without the records' JSON: a history shows what the columns hold.
        let sql = format!(
            "SELECT {}, '' AS record FROM equipment_history h JOIN equipment_records r ON r.id = h.record \
             WHERE h.nomenclature = $1 AND h.serial = $2 ORDER BY h.at, r.id",
            RECORD_COLUMNS
                .split(", ")
                .filter(|c| *c != "record")
                .map(|c| format!("r.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let rows = sqlx::query(&sql)
            .bind(&key.nomenclature)
            .bind(&key.serial)
            .fetch_all(self.pool())
            .await
            .map_err(db)?;
        rows.iter().map(record_from_row).collect()
    }

    /// A person's public signing keys (PEM), when issued.
    pub async fn signing_keys(&self, person: &str) -> Result<Option<String>, Error> {
        let row = sqlx::query("SELECT signing_keys FROM people WHERE id = $1")
            .bind(person)
            .fetch_optional(self.pool())
            .await
            .map_err(db)?;
        match row {
            None => Ok(None),
            Some(r) => r.try_get("signing_keys").map_err(db),
        }
    }

    /// Record `person`'s public signing keys (PEM), replacing any before.
    pub async fn set_signing_keys(&self, person: &str, pem: &str) -> Result<(), Error> {
        let n = self
            .commit(vec![Stmt::new(
                "UPDATE people SET signing_keys = $1 WHERE id = $2",
            )
            .text(pem)
            .text(person)])
            .await?;
        if n.first().copied().unwrap_or(0) == 0 {
            return Err(Error::NotFound(format!("no person `{person}`")));
        }
        Ok(())
    }
}

/// Rows in one `INSERT` of [`insert_items`] (14 values each: 896 bound values, under
/// SQLite's and PostgreSQL's limits).
const ROWS_PER_INSERT: usize = 64;

/// The statements adding `items`, many rows each: one statement per item made an
/// import of 100,000 rows 100,000 round trips.
pub(crate) fn insert_items(items: &[LedgerItem], now: i64) -> Vec<Stmt> {
    items
        .chunks(ROWS_PER_INSERT)
        .map(|chunk| {
            let mut sql = String::from(
                "INSERT INTO equipment_items (nomenclature, serial, class, loa, title_holder, provider, agreement, account, holder, condition, status, transferred_to, label, updated) VALUES ",
            );
            for r in 0..chunk.len() {
                let b = r * 14;
                if r > 0 {
                    sql.push(',');
                }
                sql.push('(');
                sql.push_str(
                    &(1..=14)
                        .map(|k| format!("${}", b + k))
                        .collect::<Vec<_>>()
                        .join(", "),
                );
                sql.push(')');
            }
            let mut st = Stmt::made(sql);
            for i in chunk {
                st = item_values(st, i, now);
            }
            st
        })
        .collect()
}

fn item_values(st: Stmt, i: &LedgerItem, now: i64) -> Stmt {
    st.text(&i.item.key.nomenclature)
        .text(&i.item.key.serial)
        .text(i.item.class.as_str())
        .opt_text(i.item.case.clone())
        .text(&i.item.title_holder)
        .opt_text(i.item.provider.clone())
        .opt_text(i.item.agreement.clone())
        .text(&i.item.account)
        .opt_text(i.item.holder.clone())
        .text(i.item.condition.as_str())
        .text(i.item.status.as_str())
        .opt_text(i.transferred_to.clone())
        .text(&i.label)
        .int(now)
}

/// The statement setting an item's holder, condition, status, transferee and agreement.
pub(crate) fn update_item(i: &LedgerItem, now: i64) -> Stmt {
    Stmt::new(
        "UPDATE equipment_items SET holder = $1, condition = $2, status = $3, transferred_to = $4, updated = $5, agreement = $8 \
         WHERE nomenclature = $6 AND serial = $7",
    )
    .opt_text(i.item.holder.clone())
    .text(i.item.condition.as_str())
    .text(i.item.status.as_str())
    .opt_text(i.transferred_to.clone())
    .int(now)
    .text(&i.item.key.nomenclature)
    .text(&i.item.key.serial)
    .opt_text(i.item.agreement.clone())
}

/// The statement storing a record.
pub(crate) fn insert_record(r: &StoredRecord, crosses: bool) -> Stmt {
    Stmt::new(
        "INSERT INTO equipment_records (id, kind, origin, account, partner, agreement, refers, at, digest, state, crosses, delivered, answered, label, signers, next_signer, items, summary, record) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL, NULL, $12, $13, $14, $15, $16, $17)",
    )
    .text(&r.id)
    .text(&r.kind)
    .text(&r.origin)
    .text(&r.account)
    .opt_text(r.partner.clone())
    .opt_text(r.agreement.clone())
    .opt_text(r.refers.clone())
    .int(r.at)
    .text(&r.digest)
    .text(&r.state)
    .int(i64::from(crosses))
    .text(&r.label)
    .text(r.signers.join(","))
    .opt_text(r.next_signer.clone())
    .int(r.items)
    .text(&r.summary)
    .text(&r.json)
}

/// The statement replacing a pending record's signatures, state and next signer.
pub(crate) fn update_record(r: &StoredRecord) -> Stmt {
    Stmt::new(
        "UPDATE equipment_records SET state = $1, record = $2, next_signer = $3, summary = $4 WHERE id = $5",
    )
    .text(&r.state)
    .text(&r.json)
    .opt_text(r.next_signer.clone())
    .text(&r.summary)
    .text(&r.id)
}

/// The statement marking a record answered.
pub(crate) fn answered(id: &str, now: i64) -> Stmt {
    Stmt::new("UPDATE equipment_records SET state = 'answered', answered = $1 WHERE id = $2")
        .int(now)
        .text(id)
}

/// The statement marking a record delivered.
pub(crate) fn delivered(id: &str, now: i64) -> Stmt {
    Stmt::new("UPDATE equipment_records SET delivered = $1 WHERE id = $2")
        .int(now)
        .text(id)
}

/// Where a record falls in the items' histories: microseconds since 1970 when it was
/// taken, so that records made in the same second keep their order (the node takes one
/// record at a time).
pub(crate) fn history_seq() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or_default()
}

/// Rows in one `INSERT` of [`history`].
const HISTORY_ROWS_PER_INSERT: usize = 200;

/// The statements adding a history row for each of `keys` naming `record` (`seq`:
/// [`history_seq`]), many rows each: an inventory of 100,000 serials names them all.
pub(crate) fn history<'a>(
    keys: impl Iterator<Item = &'a ItemKey>,
    seq: i64,
    record: &str,
) -> Vec<Stmt> {
    let keys: Vec<&ItemKey> = keys.collect();
    keys.chunks(HISTORY_ROWS_PER_INSERT)
        .map(|chunk| {
            let mut sql = String::from(
                "INSERT INTO equipment_history (nomenclature, serial, at, record) VALUES ",
            );
            for r in 0..chunk.len() {
                let b = r * 4;
                if r > 0 {
                    sql.push(',');
                }
                sql.push_str(&format!("(${}, ${}, ${}, ${})", b + 1, b + 2, b + 3, b + 4));
            }
            sql.push_str(" ON CONFLICT (nomenclature, serial, record) DO NOTHING");
            let mut st = Stmt::made(sql);
            for k in chunk {
                st = st
                    .text(&k.nomenclature)
                    .text(&k.serial)
                    .int(seq)
                    .text(record);
            }
            st
        })
        .collect()
}

/// The statement adding an account.
pub(crate) fn insert_account(a: &Account) -> Stmt {
    Stmt::new(
        "INSERT INTO equipment_accounts (id, custodian, alternate, label, created) VALUES ($1, $2, $3, $4, $5)",
    )
    .text(&a.id)
    .text(&a.custodian)
    .opt_text(a.alternate.clone())
    .text(&a.label)
    .int(a.created)
}
