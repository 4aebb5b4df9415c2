//! A person's inbox: what partners sent that they may see, and fetching it.

use super::blobs::Stored;
use super::store::InboxRecord;
use crate::audit::EntryKind;
use crate::caller::Peer;
use crate::exchange::check_code;
use crate::exchange::check_object_id;
use crate::node::Node;
use crate::refusal::Refusal;
use crate::store::inbox_index::Indexed;
use accord_node_api::exchange::InboxItem;
use accord_node_api::wire::Reason;
use accord_node_api::Kind;
use accord_spif::Label;
/// What a person may see of the inbox: positions in the index, oldest first.
pub(crate) struct Visible {
    rows: std::sync::Arc<Vec<Indexed>>,
    idx: Vec<u32>,
}

impl Visible {
    /// The objects, oldest first.
    pub(crate) fn iter(&self) -> impl DoubleEndedIterator<Item = &Indexed> + '_ {
        self.idx.iter().map(|&i| &self.rows[i as usize])
    }
}

impl Node {
    /// `GET /v1/inbox`: what the person may see, oldest first.
    pub async fn inbox(&self, peer: &Peer) -> Result<Vec<InboxItem>, Refusal> {
        let caller = self.authenticate(peer).await?;
        Ok(self
            .inbox_of(&caller)
            .await?
            .iter()
            .map(|r| r.item.clone())
            .collect())
    }

    /// What `caller` may see of the inbox, oldest first, each with its label (the
    /// console marks its pages from them): every object decided for them by the one
    /// decision, as a fetch would be, once per distinct label and agreement.
    pub(crate) async fn inbox_of(
        &self,
        caller: &crate::caller::Caller,
    ) -> Result<Visible, Refusal> {
        let rows = self
            .inbox_index
            .lock()
            .await
            .get(&self.store, self.policies())
            .await
            .map_err(Refusal::internal)?;
        let person = match self.person(&caller.record) {
            Ok(p) => p,
            Err(_) => return Ok(Visible { rows, idx: vec![] }),
        };
        let held = self.agreements().await.map_err(Refusal::internal)?;
        let at = (self.clock)();
        let mut decided: std::collections::HashMap<(u64, &str), bool> =
            std::collections::HashMap::new();
        let mut idx = Vec::new();
        for (i, r) in rows.iter().enumerate() {
            let permit = *decided
                .entry((r.key, r.item.agreement.as_str()))
                .or_insert_with(|| {
                    self.decide(&person, &r.label, Some(&r.item.agreement), &held, at)
                        .0
                });
            if permit {
                idx.push(i as u32);
            }
        }
        drop(decided);
        Ok(Visible { rows, idx })
    }

    /// `GET /v1/inbox/{id}`: the object, if the person may see it. Objects are held per
    /// sender, and two partners may have sent objects under the same id: this gives
    /// the one the person may see; when they may see more than one, it refuses (409)
    /// naming the senders, and [`Node::fetch_from`] takes the one from a sender.
    pub async fn fetch(&self, peer: &Peer, id: &str) -> Result<Stored, Refusal> {
        self.fetch_from(peer, id, None).await
    }

    /// `GET /v1/inbox/{id}` from one sender (`from`, a party code), or from whichever
    /// sender's object under `id` the person may see (None; see [`Node::fetch`]).
    pub async fn fetch_from(
        &self,
        peer: &Peer,
        id: &str,
        from: Option<&str>,
    ) -> Result<Stored, Refusal> {
        let caller = self.authenticate(peer).await?;
        let r = self.fetch_as(&caller, id, from).await;
        self.answered(EntryKind::Fetch, &caller, r).await
    }

    pub(super) async fn fetch_as(
        &self,
        caller: &crate::caller::Caller,
        id: &str,
        from: Option<&str>,
    ) -> Result<Stored, Refusal> {
        check_object_id(id)?;
        if let Some(f) = from {
            check_code(f)?;
        }
        let recs: Vec<InboxRecord> = self
            .store
            .inbox_get_all(id)
            .await
            .map_err(Refusal::internal)?
            .into_iter()
            .filter(|r| from.is_none_or(|f| r.item.from == f))
            .collect();
        if recs.is_empty() {
            return Err(Refusal::new(
                Kind::NotFound,
                accord_node_api::wire::Rule::Request,
                match from {
                    Some(f) => format!("no object {id} from {f} in the inbox"),
                    None => format!("no object {id} in the inbox"),
                },
            ));
        }
        let person = self.person_of(caller)?;
        let held = self.agreements().await.map_err(Refusal::internal)?;
        let at = (self.clock)();
        let mut seen = Vec::new();
        let mut refused = Vec::new();
        for rec in recs {
            let decided = Label::read(self.policies(), "label", rec.label.as_bytes())
                .map_err(|e| {
                    vec![Reason::new(
                        accord_agreement::Rule::Translation,
                        e.to_string(),
                    )]
                })
                .and_then(|label| {
                    match self.decide(&person, &label, Some(&rec.item.agreement), &held, at) {
                        (true, _) => Ok(()),
                        (false, reasons) => Err(reasons),
                    }
                });
            match decided {
                Ok(()) => seen.push(rec),
                // The first refusal's reasons: the others' would say nothing more the
                // person may know.
                Err(reasons) if refused.is_empty() => refused = reasons,
                Err(_) => {}
            }
        }
        match seen.len() {
            // Logged as the route answers (every refusal of a known caller is); opening
            // would ask the KAS, which decides and logs again.
            0 => Err(Refusal {
                kind: Kind::Denied,
                error: format!("{} may not see object {id}", person.id),
                reasons: refused,
                logged: false,
            }),
            1 => self.stored_at(&seen[0]),
            _ => Err(Refusal::new(
                Kind::Conflict,
                accord_node_api::wire::Rule::Request,
                format!(
                    "{} objects were received under id {id}, from {}: name the sender to fetch one",
                    seen.len(),
                    seen.iter()
                        .map(|r| r.item.from.as_str())
                        .collect::<Vec<_>>()
                        .join(" and ")
                ),
            )),
        }
    }
}
