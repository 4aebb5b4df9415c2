//! What the node tests share.

use std::path::{Path, PathBuf};

/// The repository's national policies (PAK, USA).
#[allow(dead_code)]
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

/// A node home's audit log entries, as JSON, after checking the whole log verifies.
#[allow(dead_code)]
pub fn log_entries(home: &accord_node::home::Home) -> Vec<serde_json::Value> {
    use accord_log::tile::{entries_path, parse_bundle, tile_width, TILE_WIDTH};
    let vkey =
        accord_log::note::VerifierKey::parse(&home.party.node.as_ref().unwrap().log_verifier_key)
            .unwrap();
    let src = accord_log::source::DirSource::new(home.layout.log());
    let report = accord_log::verify::verify_log(&src, &vkey, &[], None, &mut |_, _| {}).unwrap();
    let size = report.entries;
    let mut v = Vec::new();
    for n in 0..size.div_ceil(TILE_WIDTH) {
        let w = tile_width(0, n, size);
        let path = entries_path(n, w);
        let data = accord_log::source::LogSource::fetch(&src, &path).unwrap();
        for e in parse_bundle(&path, &data, w).unwrap() {
            v.push(serde_json::from_slice(e).unwrap());
        }
    }
    v
}

/// The database for a new node home: `None` (the embedded SQLite file) unless
/// `ACCORD_TEST_POSTGRES` names a PostgreSQL server (`postgres://user@host:port/db`,
/// as `.ci/run` sets it), then a fresh database on that server, so that every test
/// runs the same code against PostgreSQL.
#[allow(dead_code)]
pub fn database() -> Option<String> {
    let server = std::env::var("ACCORD_TEST_POSTGRES")
        .ok()
        .filter(|s| !s.is_empty())?;
    let mut r = [0u8; 8];
    aws_lc_rs::rand::fill(&mut r).unwrap();
    let name = format!("accord_t_{}", hex::encode(r));
    let admin = server.clone();
    let create = format!("CREATE DATABASE {name}");
    // A thread of its own: callers may be inside a runtime already.
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(&admin)
                .await
                .unwrap_or_else(|e| panic!("ACCORD_TEST_POSTGRES={admin}: {e}"));
            sqlx::query(&create).execute(&mut c).await.unwrap();
            c.close().await.unwrap();
        })
    })
    .join()
    .unwrap();
    Some(with_database(&server, &name))
}

/// `url` with its database (path) replaced by `name`, query kept.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let start = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[start..].find('/').map_or(base.len(), |i| start + i);
    format!("{}/{name}{query}", &base[..host_end])
}

/// The sandbox's PAK and USA node homes in `dir` (loopback ports free now, databases
/// as [`database`] says), for 15 years, with no disk reserve.
#[allow(dead_code)]
pub fn sandbox(rt: &tokio::runtime::Runtime, dir: &Path) -> accord_node::sandbox::Sandbox {
    rt.block_on(accord_node::sandbox::create(
        dir,
        &accord_node::sandbox::SandboxOptions {
            pak_listen: format!("127.0.0.1:{}", free_port()),
            usa_listen: format!("127.0.0.1:{}", free_port()),
            databases: (database(), database()),
            years: 15,
            disk_reserve_mib: 0,
        },
    ))
    .unwrap()
}
