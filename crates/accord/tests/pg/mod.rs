//! PostgreSQL for the CLI crate's node tests (`mod pg;`): `.ci/run` sets
//! `ACCORD_TEST_POSTGRES=postgres://USER@HOST:PORT/DB` for its second pass, and every
//! node home a test makes then gets a fresh database on that server.

use std::process::Command;

/// The database for a new node home: `None` (the embedded SQLite file) unless
/// `ACCORD_TEST_POSTGRES` is set, then the URL of a fresh database on that server
/// (made with `psql`, which must be on PATH; the role needs CREATEDB).
pub fn database() -> Option<String> {
    use std::hash::{BuildHasher, Hasher};
    let server = std::env::var("ACCORD_TEST_POSTGRES")
        .ok()
        .filter(|s| !s.is_empty())?;
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    let name = format!("accord_t_{:016x}", h.finish());
    let o = Command::new("psql")
        .args([
            server.as_str(),
            "-v",
            "ON_ERROR_STOP=1",
            "-qc",
            &format!("CREATE DATABASE {name}"),
        ])
        .output()
        .expect("ACCORD_TEST_POSTGRES is set: psql must be on PATH to create a database");
    assert!(
        o.status.success(),
        "psql {server}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let (base, query) = match server.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (server.as_str(), String::new()),
    };
    let start = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[start..].find('/').map_or(base.len(), |i| start + i);
    Some(format!("{}/{name}{query}", &base[..host_end]))
}
