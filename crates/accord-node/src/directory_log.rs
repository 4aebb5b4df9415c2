//! The directory's changes (and the node's own key changes) into the audit log. A change commits with its row in
//! `directory_changes` (`crate::store::DirectoryChange`), whoever made it; the running
//! node writes pending rows into the log, oldest first, and marks them. Officers'
//! changes through the node are written before the node answers; changes made with
//! `accord user ...` on the host are written within a second, or when the node starts.

use crate::entry_kind::EntryKind;
use crate::node::Node;
use crate::refusal::Refusal;
use crate::store::{Actor, DirectoryChange};
use std::sync::Arc;
use std::time::Duration;

/// How often the node looks for changes made on the command line.
const POLL: Duration = Duration::from_secs(1);

impl Node {
    /// Write every pending directory change into the audit log (one writer at a time,
    /// so that no change is written twice by two callers).
    pub(crate) async fn log_directory_changes(&self) -> Result<usize, Refusal> {
        let _one = self.directory_log_lock.lock().await;
        let mut written = 0;
        loop {
            let pending = self
                .store
                .directory_changes_pending()
                .await
                .map_err(Refusal::internal)?;
            if pending.is_empty() {
                return Ok(written);
            }
            let entries = pending.iter().map(|c| self.directory_entry(c)).collect();
            self.log_entries(entries).await?;
            let ids: Vec<String> = pending.iter().map(|c| c.id.clone()).collect();
            self.store
                .directory_changes_logged(&ids)
                .await
                .map_err(Refusal::internal)?;
            written += ids.len();
        }
    }

    fn directory_entry(&self, c: &DirectoryChange) -> Vec<u8> {
        let time = time::OffsetDateTime::from_unix_timestamp(c.at)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_default();
        let (person, credential) = match &c.actor {
            Actor::Officer { person, credential } => {
                (Some(person.as_str()), Some(credential.as_str()))
            }
            Actor::Operator => (None, None),
        };
        // A change to the node's own keys goes through the same journal, its kind
        // the subject (`kas`) and its change `key-rotate`: logged as a `key` entry.
        let (kind, change) = match c.change.strip_prefix("key-") {
            Some(change) => (EntryKind::Key, change),
            None => (EntryKind::Directory, c.change.as_str()),
        };
        crate::audit::AuditEntry {
            person,
            credential,
            request: Some(&c.id),
            subject: Some(&c.person),
            change: Some(change),
            detail: Some(&c.detail),
            ..self.entry_at(kind, time, true, &[])
        }
        .bytes()
    }
}

/// Write command-line changes into the log as they appear, until `stop` says so.
pub(crate) async fn log_loop(node: Arc<Node>, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        if let Err(e) = node.log_directory_changes().await {
            tracing::warn!(error = %e.error, "could not write directory changes into the audit log");
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = stop.changed() => return,
        }
    }
}
