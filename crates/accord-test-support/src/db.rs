//! The database of each node home a test makes.

/// The database for a new node home: `None` (the embedded SQLite file) unless
/// `ACCORD_TEST_POSTGRES` names a PostgreSQL server (`postgres://user@host:port/db`,
/// as `.ci/run` sets it for its second pass), then the URL of a fresh database made on
/// that server (the role needs CREATEDB), so that every test runs the same code against
/// PostgreSQL and no two node homes share a database.
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
