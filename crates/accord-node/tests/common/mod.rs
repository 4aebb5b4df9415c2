//! What the node tests share.

use std::path::{Path, PathBuf};

/// The repository's national policies (PAK, USA).
pub fn policies() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies")
}

/// A loopback port free right now (for a node's listen address and URL).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
