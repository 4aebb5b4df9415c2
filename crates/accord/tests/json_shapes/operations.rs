//! The operator's commands: backup (plain and to a recovery key) of a running node,
//! restore and its check, a cut backup refused, and migrate with nothing to migrate.

use crate::{s, Checker};
use accord_node::server::ServeOptions;
use accord_test_support::Pair;

#[test]
fn backup_restore_and_migrate_print_as_their_schemas_say() {
    let c = Checker::new();
    let pair = Pair::start(ServeOptions::default);
    let dir = pair.tmp.path().to_path_buf();
    let pak = pair.sb.pak.layout.dir.clone();
    let v = c.run(
        "backup-keygen",
        &["backup", "keygen", "--out", s(&dir.join("recovery"))],
        0,
    );
    assert!(v["kid"].is_string(), "{v:#}");
    let plain = dir.join("pak.backup");
    let v = c.run("backup", &["backup", "--dir", s(&pak), "-o", s(&plain)], 0);
    assert_eq!(
        (v["party"].as_str(), &v["encrypted_to"]),
        (Some("PAK"), &serde_json::Value::Null),
        "{v:#}"
    );
    let sealed = dir.join("pak.backup.enc");
    let v = c.run(
        "backup",
        &[
            "backup",
            "--dir",
            s(&pak),
            "-o",
            s(&sealed),
            "--recovery-key",
            s(&dir.join("recovery/recovery.pub")),
        ],
        0,
    );
    assert!(v["encrypted_to"].is_string(), "{v:#}");
    let v = c.run("restore", &["restore", s(&plain), "--check"], 0);
    assert!(v["file"].is_string(), "{v:#}");
    // Into a fresh database when the node's is PostgreSQL (.ci/run's second pass).
    let restored = dir.join("restored");
    let signer = pak.join("party.json");
    let mut args = vec![
        "restore",
        s(&plain),
        "--dir",
        s(&restored),
        "--signer",
        s(&signer),
    ];
    let pg = accord_test_support::database();
    if let Some(url) = &pg {
        args.extend(["--database", url.as_str()]);
    }
    let v = c.run("restore", &args, 0);
    assert!(v["dir"].is_string(), "{v:#}");
    // A backup cut short: refused (1), in the error shape.
    let bytes = std::fs::read(&plain).unwrap();
    let cut = dir.join("cut.backup");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    c.error(&["restore", s(&cut), "--check"], 1);
    // The restored home is not running: migrate may look at it (nothing to migrate).
    let v = c.run(
        "node-migrate",
        &[
            "node",
            "migrate",
            "--dir",
            s(&dir.join("restored")),
            "--no-backup",
        ],
        0,
    );
    assert_eq!(v["schema"], v["schema_before"], "{v:#}");
    drop(pair);

    let used = c.used.into_inner().unwrap();
    for name in [
        "backup",
        "backup-keygen",
        "restore",
        "node-migrate",
        "error",
    ] {
        assert!(used.contains(name), "{name} was not checked");
    }
}
