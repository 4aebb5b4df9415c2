//! Upgrades with the real binary: a node whose database is at the schema before this
//! accord's (every migration but the newest applied, as the accord before the newest
//! migration left it) is not served nor used until `accord node migrate` upgrades it,
//! which takes a backup first (or is told `--no-backup`); the backup restores to the old
//! schema, the upgraded node serves, and what the old database held is kept.
//!
//! Accord has not been released: there is no database of a release to keep as a
//! fixture. The one before is made from the migrations in the tree, all but the last,
//! which is exactly what a binary one migration older made. (On PostgreSQL too when
//! `ACCORD_TEST_POSTGRES` names a server.)

use accord_node_api::client::Client;
use accord_node_api::credential::Credential;
use accord_test_support::{database, free_port, policies};
use sqlx::Row as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_accord");

fn accord(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n{}{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The migrations in the tree, oldest first: (version, file).
fn migrations() -> Vec<(i64, PathBuf)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../accord-node/migrations");
    let mut v: Vec<(i64, PathBuf)> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| {
            let name = e.file_name().into_string().unwrap();
            (name.split('_').next().unwrap().parse().unwrap(), e.path())
        })
        .collect();
    v.sort();
    v
}

async fn run(url: &str, sql: &str) {
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    sqlx::query(sql).execute(&pool).await.unwrap();
    pool.close().await;
}

#[test]
fn a_database_of_the_schema_before_is_upgraded_only_after_a_backup() {
    sqlx::any::install_default_drivers();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("pak");
    let listen = format!("127.0.0.1:{}", free_port());
    let db = database();
    let mut init = vec![
        "init".to_string(),
        "--party".into(),
        "PAK".into(),
        "--dir".into(),
        home.display().to_string(),
        "--policy".into(),
        policies().display().to_string(),
        "--listen".into(),
        listen,
    ];
    if let Some(u) = &db {
        init.extend(["--database".to_string(), u.clone()]);
    }
    let o = accord(&init.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(o.status.success(), "{}", text(&o));

    // The database as the accord before the newest migration made it, holding a
    // received object's row.
    let all = migrations();
    let (newest, previous) = (all[all.len() - 1].0, all[all.len() - 2].0);
    let before = tmp.path().join("migrations-before");
    std::fs::create_dir_all(&before).unwrap();
    for (_, f) in &all[..all.len() - 1] {
        std::fs::copy(f, before.join(f.file_name().unwrap())).unwrap();
    }
    let url = match &db {
        None => {
            std::fs::remove_file(home.join("node.db")).unwrap();
            format!("sqlite://{}?mode=rwc", home.join("node.db").display())
        }
        Some(old) => {
            let fresh = database().unwrap();
            let toml = std::fs::read_to_string(home.join("node.toml")).unwrap();
            std::fs::remove_file(home.join("node.toml")).unwrap();
            std::fs::write(home.join("node.toml"), toml.replace(old, &fresh)).unwrap();
            fresh
        }
    };
    rt.block_on(async {
        let pool = sqlx::AnyPool::connect(&url).await.unwrap();
        sqlx::migrate::Migrator::new(before.as_path())
            .await
            .unwrap()
            .run(&pool)
            .await
            .unwrap();
        pool.close().await;
        run(
            &url,
            "INSERT INTO inbox (object_id, sender, agreement, marking, label, size, sha256, received, receipt) \
             VALUES ('kept', 'USA', 'A', 'M', 'L', 1, 'aa', 0, '{}')",
        )
        .await;
    });
    let dir = home.to_str().unwrap();
    let o = accord(&["node", "info", "--dir", dir]);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(&format!(
            "database schema {previous} (this accord knows up to {newest})"
        )),
        "{}",
        text(&o)
    );

    // Not served, not used: the message names the command to run.
    for args in [
        vec!["serve", "--dir", dir],
        vec!["user", "list", "--dir", dir],
    ] {
        let o = Command::new(BIN)
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let t = text(&o);
        assert_eq!(o.status.code(), Some(2), "{t}");
        assert!(
            t.contains(&format!(
                "the database has schema {previous}, older than this accord's ({newest})"
            )) && t.contains(&format!("accord node migrate --dir {dir} --backup FILE")),
            "{t}"
        );
    }
    // Neither a backup nor --no-backup: a usage error, nothing migrated.
    let o = accord(&["node", "migrate", "--dir", dir]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));

    // Migrated after a backup.
    let backup = tmp.path().join("pre-upgrade.backup");
    let o = accord(&[
        "--json",
        "node",
        "migrate",
        "--dir",
        dir,
        "--backup",
        backup.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["schema_before"], previous);
    assert_eq!(j["schema"], newest);
    let o = accord(&["node", "migrate", "--dir", dir, "--no-backup"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("nothing to migrate"),
        "{}",
        text(&o)
    );
    rt.block_on(async {
        let pool = sqlx::AnyPool::connect(&url).await.unwrap();
        let r = sqlx::query("SELECT sender, arrival FROM inbox WHERE object_id = 'kept'")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(r.get::<String, _>("sender"), "USA");
        assert_eq!(r.get::<i64, _>("arrival"), 0);
        pool.close().await;
    });

    // The backup taken first holds the old schema, to go back to.
    let restored = tmp.path().join("restored");
    let mut args = vec![
        "--json".to_string(),
        "restore".into(),
        backup.display().to_string(),
        "--dir".into(),
        restored.display().to_string(),
        "--signer".into(),
        home.join("party.json").display().to_string(),
    ];
    if db.is_some() {
        args.extend(["--database".to_string(), database().unwrap()]);
    }
    let o = accord(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(o.status.success(), "{}", text(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["schema"], previous);

    // The upgraded node serves.
    std::fs::write(
        tmp.path().join("clearance.json"),
        r#"{"policy": {"name": "PAK"}, "classifications": ["UNCLASSIFIED", "RESTRICTED"], "categories": []}"#,
    )
    .unwrap();
    let cred = tmp.path().join("officer.credential");
    let o = accord(&[
        "user",
        "add",
        "--dir",
        dir,
        "--id",
        "officer",
        "--name",
        "Maj. A. Khan",
        "--nationality",
        "PAK",
        "--clearance",
        tmp.path().join("clearance.json").to_str().unwrap(),
        "-o",
        cred.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let mut node = Command::new(BIN)
        .args(["serve", "--dir", dir])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let c = Client::new(Credential::load(&cred).unwrap()).unwrap();
    let t0 = Instant::now();
    while c.whoami().is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the node did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = Command::new("kill")
        .args(["-TERM", &node.id().to_string()])
        .status();
    assert!(node.wait().unwrap().success());
}
