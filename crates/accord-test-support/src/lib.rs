//! What the tests and benchmarks of `accord-node` and `accord` share, written once: the
//! sandbox's pair of running nodes, node homes with people enrolled, a fresh database
//! per node home (PostgreSQL when `ACCORD_TEST_POSTGRES` names a server), a node's
//! audit log entries, a partner node's client, sealing through a node or offline, the
//! machine rates the benchmarks compare with, and a headless Chromium signed in with a
//! person's client certificate for the web console's tests ([`browser`]).
//!
//! Not published: a dev-dependency only. Everything here panics on failure, as a test
//! fixture does, with the error in the message; [`browser`] returns its errors (the
//! WebDriver command that failed and why) for the test to assert on or unwrap.

#![forbid(unsafe_code)]

pub mod bench;
pub mod browser;
pub mod clearance;
pub mod cli;
mod db;
mod log;
mod nodes;
pub mod oidc;
pub mod opentdf;
mod seal;
pub mod softhsm;

pub use db::database;
pub use log::{log_entries, published_checkpoint, signatures_named, wait_cosigned};
pub use nodes::{
    as_node, assert_held_once, countersign, custodian, fast, fast_ahead, init_home, init_options,
    load_agreement, log_when_asked, make_node, pak_usa_translations, person_http, sandbox,
    sandbox_options, send_delivered, send_refused, signing_key, start, wait, Pair,
};
pub use seal::{
    kas_recipient, manifest, object_id, open, pak_label, seal, seal_into, seal_offline,
};

use std::path::{Path, PathBuf};

/// The repository's national policies (`policies/`: PAK, USA), which the node homes the
/// tests make are given.
pub fn policies() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies")
}

/// A loopback port free right now, for a node's listen address (its URL goes into
/// party.json and agreements, so `127.0.0.1:0` will not do). Another process may take
/// it before the node binds it; on a test machine that is rare enough. The same port is
/// never handed out twice in one process: the system may give a port released a moment
/// ago to the next bind, and two homes of one test would then share it.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}
