//! A running node: its state (home, database, keys, audit log appender, clock,
//! agreements held, caches). The components are rooms of their own, each adding its
//! part of `Node` and importing this module for it (this module imports none of them):
//!
//! - `caller`: who is asking: a person by the certificate the node issued them, or a
//!   partner node by the TLS key an agreement pins;
//! - `decision`: the bridge to the one decision of `accord-agreement`, the trusted
//!   label signers, markings;
//! - `kas`: rewrap requests checked, decided, logged, then released;
//! - `labelling`: seal plans and label signing;
//! - `audit`: audit entries, and every refusal of a known caller logged;
//! - `opentdf`: the same KAS for OpenTDF clients (token, discovery, Connect rewrap);
//! - `exchange`, `crossborder`, `witnessing`, `agreement_sync`: federation with
//!   partner nodes.
//!
//! Every component answers with a `Refusal` (its own module; re-exported here).
//!
//! A rewrap, end to end: `server` (route) → `caller::authenticate` → `kas::rewrap`
//! (`checked_rewrap_request`, then `release`: `decide_object` per object, which calls
//! `decision::decide_for`, then `audit::log_entries` before anything is released).

use crate::agreements::{Cache, Held};
use crate::home::Home;
pub use crate::own_keys::OwnKeys;
use crate::store::Store;
use crate::Error;
use accord_agreement::Time;
use accord_log::Appender;
use accord_spif::PolicySet;
use std::sync::Arc;

pub use crate::refusal::Refusal;

/// The decision clock. The node uses the system clock; tests may set another (there is
/// no command-line or configuration way to do so).
pub type Clock = Arc<dyn Fn() -> Time + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(Time::now)
}

/// The node.
pub struct Node {
    /// Configuration and policies.
    pub home: Home,
    /// The database.
    pub store: Store,
    /// Its own keys (KAS, signing, party descriptor), re-read when rotated.
    pub(crate) keys: crate::own_keys::Keyring,
    pub(crate) appender: Appender,
    pub(crate) clock: Clock,
    agreements: tokio::sync::Mutex<Cache>,
    /// Wakes the delivery of the outbox when something is queued.
    pub(crate) outbox_ready: tokio::sync::Notify,
    /// HTTP clients to partner nodes.
    pub(crate) partner_clients: crate::partners::Clients,
    /// Serialises witness submissions from partners.
    pub(crate) witness_lock: tokio::sync::Mutex<()>,
    pub(crate) caches: crate::cache::Caches,
    /// Refusals of unrecognised callers that go into the audit log (rate-limited).
    pub(crate) strangers: crate::strangers::StrangerLog,
    /// What the node counts for its officers' monitoring.
    pub(crate) metrics: crate::metrics::Metrics,
    /// The latest probe of each partner's node (`GET /v1/status`).
    pub(crate) probes: crate::partners::Probes,
    /// One writer of directory changes into the audit log at a time.
    pub(crate) directory_log_lock: tokio::sync::Mutex<()>,
    /// The inbox in memory, its labels read once.
    pub(crate) inbox_index: tokio::sync::Mutex<crate::store::inbox_index::InboxIndex>,
    /// One change to the equipment ledger at a time: a record's checks against the
    /// ledger and its changes to it are then one step.
    pub(crate) equipment_lock: tokio::sync::Mutex<()>,
    /// Wakes the delivery of equipment records when one is complete.
    pub(crate) equipment_ready: tokio::sync::Notify,
    /// OpenTDF clients' state, when node.toml has `[opentdf]`.
    pub(crate) opentdf: Option<crate::tokens::OpenTdf>,
    /// The TLS certificate the server presents (switched by a TLS key rotation).
    pub(crate) server_cert: Arc<accord_node_api::tls::ServerCert>,
}

impl Node {
    /// Assemble a node from its home, database, log appender and clock.
    pub fn new(
        mut home: Home,
        store: Store,
        appender: Appender,
        clock: Clock,
    ) -> Result<Node, Error> {
        home.finish_tls_switch()?;
        let keys = crate::own_keys::Keyring::load(&home)?;
        let opentdf = crate::tokens::OpenTdf::load(&home)?;
        let server_cert = Arc::new(accord_node_api::tls::ServerCert::new(
            &std::fs::read_to_string(home.layout.key("tls.crt"))
                .map_err(|e| Error::io(home.layout.key("tls.crt"), e))?,
            &home.read_key("tls.key")?,
        )?);
        Ok(Node {
            home,
            store,
            keys,
            appender,
            clock,
            agreements: tokio::sync::Mutex::new(Cache::new()),
            outbox_ready: tokio::sync::Notify::new(),
            partner_clients: crate::partners::Clients::default(),
            witness_lock: tokio::sync::Mutex::new(()),
            caches: crate::cache::Caches::default(),
            strangers: crate::strangers::StrangerLog::new(),
            metrics: crate::metrics::Metrics::default(),
            probes: crate::partners::Probes::default(),
            directory_log_lock: tokio::sync::Mutex::new(()),
            inbox_index: tokio::sync::Mutex::new(Default::default()),
            equipment_lock: tokio::sync::Mutex::new(()),
            equipment_ready: tokio::sync::Notify::new(),
            opentdf,
            server_cert,
        })
    }

    /// The node's party code.
    pub fn party(&self) -> &str {
        &self.home.config.party
    }

    /// The policies.
    pub fn policies(&self) -> &PolicySet {
        &self.home.policies
    }

    /// The node's own keys now (one generation: a request takes it once and keeps it).
    pub fn own(&self) -> Arc<OwnKeys> {
        self.keys.get()
    }

    /// The agreements held now (and the node's own keys re-read if they were rotated:
    /// which agreements the node takes depends on them).
    pub async fn agreements(&self) -> Result<Arc<Vec<Held>>, Error> {
        self.agreements
            .lock()
            .await
            .get(&self.store, |now| {
                match now {
                    true => self.keys.refresh_now(&self.home),
                    false => self.keys.refresh(&self.home),
                }
                self.own()
            })
            .await
    }
}
