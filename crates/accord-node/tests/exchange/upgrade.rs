//! What was kept before objects were held per sender.

use crate::{as_pak_node, deliver_direct, fast, pair, seal, sha256_hex, wait_done, MARKING};
use accord_node::home::Home;
use accord_node_api::client::Client;
use accord_test_support::{object_id, start, Pair};
use std::path::Path;
use std::time::{Duration, Instant};

/// Run `sql` on a node home's database (the node stopped).
fn run_sql(rt: &tokio::runtime::Runtime, home: &Home, sql: &str) {
    rt.block_on(async {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&home.layout.database_url(&home.config))
            .await
            .unwrap();
        sqlx::query(sql).execute(&pool).await.unwrap();
        pool.close().await;
    })
}

/// What was kept before objects were held per sender still works. The migration keeps
/// an inbox row as it was (its sender, no file name) under the new key, beside which
/// another sender's row under the same id now fits. And through the running nodes: an
/// object received before (its file `{id}.tdf`, its row naming no file) is fetched; a
/// send queued before (its file `{id}.{to}.tdf`) is delivered and its file removed.
#[test]
fn rows_kept_before_objects_were_held_per_sender_still_work() {
    let Pair {
        rt,
        tmp,
        sb,
        pak,
        usa,
        officer,
    } = pair();
    // The migration, on a database at the schema before it.
    rt.block_on(async {
        sqlx::any::install_default_drivers();
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let before = tmp.path().join("migrations-before");
        std::fs::create_dir_all(&before).unwrap();
        for e in std::fs::read_dir(&src).unwrap().flatten() {
            let name = e.file_name().into_string().unwrap();
            if name.as_str() < "20261123000040" {
                std::fs::copy(e.path(), before.join(&name)).unwrap();
            }
        }
        let url = format!(
            "sqlite://{}?mode=rwc",
            tmp.path().join("before.db").display()
        );
        let pool = sqlx::AnyPool::connect(&url).await.unwrap();
        sqlx::migrate::Migrator::new(before.as_path())
            .await
            .unwrap()
            .run(&pool)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO inbox (object_id, sender, agreement, marking, label, size, sha256, received, receipt) \
             VALUES ('x', 'PAK', 'A', 'M', 'L', 1, 'aa', 0, '{}')",
        )
        .execute(&pool)
        .await
        .unwrap();
        sqlx::migrate!("./migrations").run(&pool).await.unwrap();
        let r = sqlx::query("SELECT sender, sha256, file_name FROM inbox WHERE object_id = 'x'")
            .fetch_one(&pool)
            .await
            .unwrap();
        use sqlx::Row as _;
        assert_eq!(r.get::<String, _>("sender"), "PAK");
        assert_eq!(r.get::<String, _>("sha256"), "aa");
        assert_eq!(r.get::<Option<String>, _>("file_name"), None);
        sqlx::query(
            "INSERT INTO inbox (object_id, sender, agreement, marking, label, size, sha256, received, receipt) \
             VALUES ('x', 'GBR', 'A', 'M', 'L', 1, 'bb', 0, '{}')",
        )
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
    });

    // An object received on its own, then made to look as one kept before the
    // migration.
    let sent = std::fs::read(seal(&officer, MARKING, b"kept before", tmp.path())).unwrap();
    let id = object_id(&sent);
    let (_, as_pak) = as_pak_node(&rt, &sb, &pak);
    let (s, p) = deliver_direct(&rt, &as_pak, &usa, &id, sent.clone());
    assert_eq!(s, 200, "{p:?}");
    rt.block_on(usa.stop()).unwrap();
    let inbox = sb.usa.layout.blobs().join("inbox");
    std::fs::rename(
        inbox.join(format!("PAK.{id}.{}.tdf", sha256_hex(&sent))),
        inbox.join(format!("{id}.tdf")),
    )
    .unwrap();
    run_sql(
        &rt,
        &sb.usa,
        &format!("UPDATE inbox SET file_name = NULL WHERE object_id = '{id}'"),
    );
    // A send queued while USA is down, made to look as one queued before.
    let second = seal(&officer, MARKING, b"queued before", tmp.path());
    let queued = officer.send("USA", &second, None).unwrap();
    rt.block_on(pak.stop()).unwrap();
    let outbox = sb.pak.layout.blobs().join("outbox");
    std::fs::rename(
        outbox.join(format!("{}.USA.{}.tdf", queued.id, queued.sha256)),
        outbox.join(format!("{}.USA.tdf", queued.id)),
    )
    .unwrap();
    run_sql(
        &rt,
        &sb.pak,
        &format!(
            "UPDATE outbox SET file_name = NULL WHERE object_id = '{}'",
            queued.id
        ),
    );
    let usa = start(&rt, &sb.usa, fast());
    let pak = start(&rt, &sb.pak, fast());
    let us = Client::new(sb.credential("usa-officer").unwrap()).unwrap();
    let mut held = Vec::new();
    us.fetch(&id, &mut held).unwrap();
    assert!(held == sent, "the object kept before differs");
    let done = wait_done(&officer, 1);
    assert!(done.iter().all(|o| o.state == "delivered"), "{done:#?}");
    let mut held = Vec::new();
    us.fetch(&queued.id, &mut held).unwrap();
    assert!(held == std::fs::read(&second).unwrap());
    let t0 = Instant::now();
    while outbox.join(format!("{}.USA.tdf", queued.id)).exists() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the old file stayed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    rt.block_on(usa.stop()).unwrap();
    rt.block_on(pak.stop()).unwrap();
}
