//! The inbox in memory: every object received, with its label read once, so that a
//! person's inbox (the API's and the console's, 100,000 objects and more) is decided
//! without reading the database or parsing a label per object per request.
//!
//! Objects are only ever added (`ON CONFLICT DO NOTHING`, never updated or deleted), and
//! only by the node's own store, which counts the commits that add to the inbox; when
//! that count moved, the index follows the table by its count and the latest `arrival`:
//! new rows are read and appended; any other change (a count that does not add up)
//! reads it all again.
//! Each object carries a decision key: the label's policy, classification and
//! categories, which are all the decision reads of a label, so that a request decides
//! once per distinct key and agreement, not once per object.

use super::{db, rfc3339, Store};
use crate::Error;
use accord_node_api::exchange::InboxItem;
use accord_spif::{Label, PolicySet};
use sqlx::Row;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// One object of the inbox.
#[derive(Debug, Clone)]
pub(crate) struct Indexed {
    pub item: InboxItem,
    pub label: Arc<Label>,
    /// What the decision reads of the label ([`decision_key`]).
    pub key: u64,
}

/// The index and where it stands against the table.
#[derive(Default)]
pub(crate) struct InboxIndex {
    /// The store's inbox generation when the table was last read (None: never).
    generation: Option<u64>,
    count: i64,
    last_arrival: i64,
    rows: Arc<Vec<Indexed>>,
    labels: HashMap<String, (Arc<Label>, u64)>,
}

/// What the decision reads of a label: its policy, classification and categories
/// (`accord_agreement::decide` and the SPIF access decision read nothing else of it;
/// originator, dates and kind only travel with a translation).
pub(crate) fn decision_key(l: &Label) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    l.policy.id.hash(&mut h);
    l.classification.lacv.hash(&mut h);
    for c in &l.categories {
        c.tag_set_id.hash(&mut h);
        format!("{:?}", c.tag_type).hash(&mut h);
        c.lacv.hash(&mut h);
    }
    h.finish()
}

impl InboxIndex {
    /// The inbox as the table holds it now, oldest first. An object whose label does
    /// not read under the node's policies is left out (no one may see it).
    pub(crate) async fn get(
        &mut self,
        store: &Store,
        policies: &PolicySet,
    ) -> Result<Arc<Vec<Indexed>>, Error> {
        let generation = store
            .inbox_generation
            .load(std::sync::atomic::Ordering::Acquire);
        if self.generation == Some(generation) {
            return Ok(self.rows.clone());
        }
        let rows = self.read(store, policies).await?;
        self.generation = Some(generation);
        Ok(rows)
    }

    async fn read(
        &mut self,
        store: &Store,
        policies: &PolicySet,
    ) -> Result<Arc<Vec<Indexed>>, Error> {
        let row = sqlx::query("SELECT COUNT(*) AS n, MAX(arrival) AS a FROM inbox")
            .fetch_one(store.pool())
            .await
            .map_err(db)?;
        let count: i64 = row.try_get("n").map_err(db)?;
        let last: Option<i64> = row.try_get("a").map_err(db)?;
        let last = last.unwrap_or(0);
        if count == self.count && last == self.last_arrival {
            return Ok(self.rows.clone());
        }
        let (since, mut rows) = if count > self.count && last > self.last_arrival {
            (self.last_arrival, (*self.rows).clone())
        } else {
            (i64::MIN, Vec::new())
        };
        let fresh = sqlx::query(
            "SELECT object_id, sender, agreement, marking, label, size, received, arrival FROM inbox \
             WHERE arrival > $1 ORDER BY received, arrival, object_id, sender",
        )
        .bind(since)
        .fetch_all(store.pool())
        .await
        .map_err(db)?;
        let mut added = 0i64;
        for r in &fresh {
            added += 1;
            let text: String = r.try_get("label").map_err(db)?;
            let (label, key) = match self.labels.get(&text) {
                Some(x) => x.clone(),
                None => match Label::read(policies, "label", text.as_bytes()) {
                    Ok(l) => {
                        let key = decision_key(&l);
                        let v = (Arc::new(l), key);
                        self.labels.insert(text, v.clone());
                        v
                    }
                    Err(_) => continue,
                },
            };
            let size: i64 = r.try_get("size").map_err(db)?;
            let received: i64 = r.try_get("received").map_err(db)?;
            rows.push(Indexed {
                item: InboxItem {
                    id: r.try_get("object_id").map_err(db)?,
                    marking: r.try_get("marking").map_err(db)?,
                    from: r.try_get("sender").map_err(db)?,
                    received: rfc3339(received),
                    size: size as u64,
                    agreement: r.try_get("agreement").map_err(db)?,
                },
                label,
                key,
            });
        }
        if since != i64::MIN && self.count + added != count {
            // Rows came in out of `arrival` order, or went: read it all again.
            self.count = -1;
            self.last_arrival = -1;
            self.rows = Arc::new(Vec::new());
            return Box::pin(self.read(store, policies)).await;
        }
        self.count = count;
        self.last_arrival = last;
        self.rows = Arc::new(rows);
        Ok(self.rows.clone())
    }
}
