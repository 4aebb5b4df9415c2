//! Backups and restore with the real binary, on the sandbox's PAK and USA nodes as
//! separate `accord serve` processes (on PostgreSQL too when `ACCORD_TEST_POSTGRES`
//! names a server). A backup of PAK taken while objects flow both ways and people open
//! them restores into a home whose log verifies and holds everything answered before
//! it began; started once USA's witness has cosigned more of PAK's log, it is refused
//! (a fork), clearly. A backup of the running node taken after the traffic, then a
//! kill -9, then a restore into another directory: the restored node serves, nothing
//! sent, received or logged is lost, and USA's witness cosigns its new checkpoints. A
//! cut or changed backup, and a non-empty directory, are refused before anything is
//! written.

use accord_node::home::Home;
use accord_node_api::client::{self, Client};
use accord_node_api::wire;
use accord_test_support::{database, wait_cosigned};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_accord");
const MARKING: &str = "SECRET//REL TO USA, PAK//SCOPE OPERATIONS";

fn accord(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn ok(o: Output) -> Output {
    assert!(
        o.status.success(),
        "exit {:?}: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn serve(home: &Path) -> Child {
    accord_test_support::cli::serve(BIN, home)
}

use accord_test_support::cli::{terminate, wait_up};

fn kill(mut child: Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Seal `n` objects through `cred`'s node for the partner, into `dir`.
fn sealed(c: &Client, tag: &str, n: usize, dir: &Path) -> Vec<(String, PathBuf)> {
    (0..n)
        .map(|i| {
            let mut out = Vec::new();
            let s = client::seal(
                c,
                &wire::SealPlanRequest {
                    marking: Some(MARKING.into()),
                    label: None,
                    agreement: Some(accord_node::sandbox::AGREEMENT_ID.into()),
                    choose_agreement: false,
                },
                format!("{tag} report {i}").as_bytes(),
                &mut out,
                1 << 20,
                None,
            )
            .unwrap();
            let id = s.summary.manifest.policy_object().unwrap().uuid;
            let p = dir.join(format!("{tag}-{i}.tdf"));
            std::fs::write(&p, out).unwrap();
            (id, p)
        })
        .collect()
}

/// Open `file` through the node (a logged decision), retried while the node is busy.
fn open(c: &Client, file: &Path) -> Vec<u8> {
    let mut f = std::fs::File::open(file).unwrap();
    let mut out = Vec::new();
    client::open(c, &mut f, &mut out, None, None).unwrap();
    out
}

fn send(c: &Client, to: &str, file: &Path) {
    let t0 = Instant::now();
    while let Err(e) = c.send(to, file, None) {
        assert!(t0.elapsed() < Duration::from_secs(30), "send: {e}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Wait until every send of `c` is delivered; their ids.
fn all_delivered(c: &Client, n: usize) -> Vec<String> {
    let t0 = Instant::now();
    loop {
        let o = c.outbox().unwrap();
        if o.len() >= n && o.iter().all(|x| x.state == "delivered") {
            return o.into_iter().map(|x| x.id).collect();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "not all delivered: {:?}",
            o.iter().map(|x| &x.state).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn checkpoint_size(log: &Path) -> u64 {
    let text = std::fs::read_to_string(log.join("checkpoint")).unwrap();
    text.lines().nth(1).unwrap().parse().unwrap()
}

/// `accord restore` into `dir`, with a fresh database when the node's is PostgreSQL,
/// checked against the signer whose party.json is `signer`.
fn restore(file: &Path, dir: &Path, pg: bool, signer: &Path) -> Output {
    let mut args = vec![
        "restore".to_string(),
        file.display().to_string(),
        "--dir".into(),
        dir.display().to_string(),
        "--signer".into(),
        signer.display().to_string(),
    ];
    if pg {
        args.push("--database".into());
        args.push(database().unwrap());
    }
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    accord(&a)
}

/// A restored home is one the node could have crashed into: every object its database
/// holds received has its bytes and its `receive` permit in the log, every send its
/// `send` permit and its file while queued, each delivered one its `deliver` permit (the
/// log may be ahead of the database, never behind); at least `sent` and `received` of
/// each.
fn consistent(
    rt: &tokio::runtime::Runtime,
    home: &Home,
    entries: &[serde_json::Value],
    sent: usize,
    received: usize,
) {
    use sqlx::Row as _;
    let logged = |kind: &str, id: &str| {
        entries
            .iter()
            .any(|e| e["kind"] == kind && e["object"] == id && e["decision"] == "permit")
    };
    let url = home.layout.database_url(&home.config);
    rt.block_on(async {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&url).await.unwrap();
        let inbox = sqlx::query("SELECT object_id, file_name, pack FROM inbox")
            .fetch_all(&pool)
            .await
            .unwrap();
        assert!(inbox.len() >= received, "{} received", inbox.len());
        for r in &inbox {
            let id: String = r.get("object_id");
            assert!(logged("receive", &id), "no receive entry for {id}");
            let file = match (
                r.get::<Option<String>, _>("file_name"),
                r.get::<Option<String>, _>("pack"),
            ) {
                (Some(f), _) => home.layout.blobs().join("inbox").join(f),
                (None, Some(p)) => home.layout.blobs().join("packs").join(format!("{p}.pack")),
                (None, None) => panic!("{id}: no file"),
            };
            assert!(file.is_file(), "{id}: {} missing", file.display());
        }
        let outbox = sqlx::query("SELECT object_id, state, file_name FROM outbox")
            .fetch_all(&pool)
            .await
            .unwrap();
        assert!(outbox.len() >= sent, "{} sent", outbox.len());
        for r in &outbox {
            let id: String = r.get("object_id");
            let state: String = r.get("state");
            assert!(logged("send", &id), "no send entry for {id}");
            match state.as_str() {
                "delivered" => assert!(logged("deliver", &id), "no deliver entry for {id}"),
                "queued" => {
                    let f: String = r.get("file_name");
                    assert!(home.layout.blobs().join("outbox").join(&f).is_file(), "{f}");
                }
                other => panic!("{id}: {other}"),
            }
        }
        pool.close().await;
    });
}

#[test]
fn a_running_node_backed_up_killed_and_restored_loses_nothing_and_its_log_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sb = accord_test_support::sandbox(&rt, &tmp.path().join("sb"));
    let pg = sb.pak.config.database.is_some();
    let pak_dir = sb.pak.layout.dir.clone();
    // The officer's trusted copy of PAK's party.json (the agreements carry the same).
    let signer = tmp.path().join("pak-party.json");
    std::fs::copy(pak_dir.join("party.json"), &signer).unwrap();
    let pak_officer = Client::new(sb.credential("pak-officer").unwrap()).unwrap();
    let usa_officer = Client::new(sb.credential("usa-officer").unwrap()).unwrap();
    let pak = serve(&pak_dir);
    let mut usa = serve(&sb.usa.layout.dir);
    wait_up(&pak_officer);
    wait_up(&usa_officer);
    let files = tmp.path().join("objects");
    std::fs::create_dir_all(&files).unwrap();

    // Before any backup: objects each way, and opens at PAK (decisions logged).
    let from_pak = sealed(&pak_officer, "pak", 30, &files);
    let from_usa = sealed(&usa_officer, "usa", 30, &files);
    for (_, f) in &from_pak[..10] {
        send(&pak_officer, "USA", f);
    }
    for (_, f) in &from_usa[..10] {
        send(&usa_officer, "PAK", f);
    }
    for (_, f) in &from_pak[..5] {
        assert!(open(&pak_officer, f).starts_with(b"pak report"));
    }
    all_delivered(&pak_officer, 10);
    all_delivered(&usa_officer, 10);
    let before_first = wait_cosigned(&sb.pak, &sb.usa, 1, Duration::from_secs(30));

    // Backup 1, taken while objects flow both ways and people open them.
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = {
        let stop = stop.clone();
        let pak_c = Client::new(sb.credential("pak-officer").unwrap()).unwrap();
        let usa_c = Client::new(sb.credential("usa-officer").unwrap()).unwrap();
        let (fp, fu) = (from_pak[10..20].to_vec(), from_usa[10..20].to_vec());
        std::thread::spawn(move || {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) || i < 3 {
                if i < fp.len() {
                    send(&pak_c, "USA", &fp[i].1);
                    send(&usa_c, "PAK", &fu[i].1);
                }
                open(&pak_c, &fp[i % fp.len()].1);
                i += 1;
            }
            i.min(fp.len())
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let first = tmp.path().join("first.backup");
    let o = ok(accord(&[
        "--json",
        "backup",
        "--dir",
        pak_dir.to_str().unwrap(),
        "-o",
        first.to_str().unwrap(),
    ]));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["party"], "PAK");
    assert_eq!(j["database"], if pg { "postgres" } else { "sqlite" });
    assert!(j["log_size"].as_u64().unwrap() >= before_first, "{j}");
    stop.store(true, Ordering::Relaxed);
    let sent_during = traffic.join().unwrap();
    eprintln!("backup 1: {j}");

    // Its restore: a home whose log verifies and holds all that came before it.
    let r1 = tmp.path().join("restored-1");
    let o = ok(restore(&first, &r1, pg, &signer));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("witness has cosigned more"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let restored = Home::open(&r1).unwrap();
    let entries = accord_test_support::log_entries(&restored);
    assert!(entries.len() as u64 >= before_first);
    assert_eq!(entries.len() as u64, j["log_size"].as_u64().unwrap());
    consistent(&rt, &restored, &entries, 10, 10);

    // After the traffic: everything delivered, PAK's log cosigned by USA as it stands.
    let pak_ids = all_delivered(&pak_officer, 10 + sent_during);
    let usa_ids = all_delivered(&usa_officer, 10 + sent_during);
    std::thread::sleep(Duration::from_millis(500));
    let size = checkpoint_size(&pak_dir.join("log"));
    wait_cosigned(&sb.pak, &sb.usa, size, Duration::from_secs(30));
    assert!(size > j["log_size"].as_u64().unwrap());

    // USA goes down; three more sends wait in PAK's outbox.
    terminate(usa);
    let queued: Vec<String> = from_pak[26..29]
        .iter()
        .map(|(id, f)| {
            let item = pak_officer.send("USA", f, None).unwrap();
            assert_eq!(item.state, "queued");
            id.clone()
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));

    // Backup 2 of the running node, then kill -9.
    let second = tmp.path().join("second.backup");
    ok(accord(&[
        "backup",
        "--dir",
        pak_dir.to_str().unwrap(),
        "-o",
        second.to_str().unwrap(),
    ]));
    let o = accord(&[
        "backup",
        "--dir",
        pak_dir.to_str().unwrap(),
        "-o",
        second.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("give --force"));
    // The same, encrypted to a recovery key kept elsewhere.
    let rk = tmp.path().join("recovery");
    ok(accord(&["backup", "keygen", "--out", rk.to_str().unwrap()]));
    let sealed_backup = tmp.path().join("second.backup.enc");
    ok(accord(&[
        "backup",
        "--dir",
        pak_dir.to_str().unwrap(),
        "--recovery-key",
        rk.join("recovery.pub").to_str().unwrap(),
        "-o",
        sealed_backup.to_str().unwrap(),
    ]));
    kill(pak);
    let size_at_kill = checkpoint_size(&pak_dir.join("log"));
    usa = serve(&sb.usa.layout.dir);
    wait_up(&usa_officer);

    // A cut or changed backup, and a directory in use, are refused; nothing written.
    let bytes = std::fs::read(&second).unwrap();
    let cut = tmp.path().join("cut.backup");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    ok(accord(&["restore", second.to_str().unwrap(), "--check"]));
    ok(accord(&[
        "restore",
        second.to_str().unwrap(),
        "--check",
        "--signer",
        signer.to_str().unwrap(),
    ]));
    // A backup is taken for its party's node's signature, not for its own hashes: the
    // same backup checked against USA's keys is refused (1), and so is a restore
    // without a signer to check it against (2).
    let usa_party = sb.usa.layout.dir.join("party.json");
    let o = accord(&[
        "restore",
        second.to_str().unwrap(),
        "--check",
        "--signer",
        usa_party.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("not one the PAK node signed"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = accord(&[
        "restore",
        second.to_str().unwrap(),
        "--dir",
        tmp.path().join("r-unsigned").to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // An encrypted backup swapped for a plain one is refused, not read as plain.
    let o = accord(&[
        "restore",
        second.to_str().unwrap(),
        "--check",
        "--recovery-key",
        rk.join("recovery.key").to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = accord(&["restore", cut.to_str().unwrap(), "--check"]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = restore(&cut, &tmp.path().join("r-cut"), false, &signer);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!tmp.path().join("r-cut").exists());
    let mut changed = bytes.clone();
    changed[bytes.len() / 3] ^= 0x20;
    let bad = tmp.path().join("changed.backup");
    std::fs::write(&bad, &changed).unwrap();
    let o = restore(&bad, &tmp.path().join("r-bad"), false, &signer);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("damaged or was changed"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!tmp.path().join("r-bad").exists());
    let o = restore(&second, &r1, pg, &signer);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not empty"));

    // The older backup, started after USA's witness cosigned more: refused, clearly.
    let mut r1_node = accord_test_support::cli::serve_command(BIN, &r1)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = r1_node.try_wait().unwrap() {
            break s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the older backup served"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(r1_node.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(
        err.contains("went backwards") && err.contains("USA"),
        "{err}"
    );

    // The encrypted one needs its recovery key, and restores to the same log.
    let r3 = tmp.path().join("restored-3");
    let o = restore(&sealed_backup, &r3, false, &signer);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--recovery-key"));
    let mut args = vec![
        "--json".to_string(),
        "restore".into(),
        sealed_backup.display().to_string(),
        "--dir".into(),
        r3.display().to_string(),
        "--recovery-key".into(),
        rk.join("recovery.key").display().to_string(),
        "--signer".into(),
        signer.display().to_string(),
    ];
    if pg {
        args.extend(["--database".to_string(), database().unwrap()]);
    }
    let o = ok(accord(&args.iter().map(String::as_str).collect::<Vec<_>>()));
    let j3: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j3["log_size"], size_at_kill);
    let mut changed = std::fs::read(&sealed_backup).unwrap();
    let at = changed.len() / 2;
    changed[at] ^= 1;
    std::fs::write(&bad, &changed).unwrap();
    let o = accord(&[
        "restore",
        bad.to_str().unwrap(),
        "--dir",
        tmp.path().join("r-bad").to_str().unwrap(),
        "--recovery-key",
        rk.join("recovery.key").to_str().unwrap(),
        "--signer",
        signer.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("does not decrypt"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // --force over a home: a backup that fails leaves it as it was; one that restores
    // replaces it whole, with nothing left beside it.
    let listing = |d: &Path| {
        let mut v: Vec<_> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        v.sort();
        v
    };
    let before = listing(&r3);
    let before_party = std::fs::read(r3.join("party.json")).unwrap();
    let force = |file: &Path| {
        let mut args = vec![
            "restore".to_string(),
            file.display().to_string(),
            "--dir".into(),
            r3.display().to_string(),
            "--force".into(),
            "--signer".into(),
            signer.display().to_string(),
        ];
        if pg {
            args.extend(["--database".to_string(), database().unwrap()]);
        }
        accord(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let o = force(&cut);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        listing(&r3),
        before,
        "a failed --force restore changed the home"
    );
    ok(force(&second));
    assert_eq!(std::fs::read(r3.join("party.json")).unwrap(), before_party);
    let left: Vec<_> = listing(tmp.path())
        .into_iter()
        .filter(|n| n.to_string_lossy().starts_with(".restored-3."))
        .collect();
    assert!(left.is_empty(), "left beside the home: {left:?}");

    // Backup 2 restored into another directory, started: nothing lost.
    let r2 = tmp.path().join("restored-2");
    ok(restore(&second, &r2, pg, &signer));
    let restored = Home::open(&r2).unwrap();
    let entries = accord_test_support::log_entries(&restored);
    assert_eq!(entries.len() as u64, size_at_kill);
    consistent(&rt, &restored, &entries, pak_ids.len() + 3, usa_ids.len());
    let r2_node = serve(&r2);
    wait_up(&pak_officer);
    // Every send delivered, the three the backup held queued by the restored node, and
    // USA holds each once.
    let delivered = all_delivered(&pak_officer, pak_ids.len() + 3);
    assert_eq!(delivered.len(), pak_ids.len() + 3);
    for id in pak_ids.iter().chain(&queued) {
        assert!(delivered.contains(id), "{id}");
    }
    let held = usa_officer.inbox().unwrap();
    for id in pak_ids.iter().chain(&queued) {
        assert_eq!(held.iter().filter(|x| &x.id == id).count(), 1, "{id}");
    }
    let inbox = pak_officer.inbox().unwrap();
    assert_eq!(inbox.len(), usa_ids.len());
    for (id, f) in from_usa.iter().take(usa_ids.len()) {
        let mut got = Vec::new();
        pak_officer.fetch(id, &mut got).unwrap();
        assert_eq!(got, std::fs::read(f).unwrap(), "{id}");
    }
    let fetched = tmp.path().join("fetched.tdf");
    std::fs::write(&fetched, {
        let mut v = Vec::new();
        pak_officer.fetch(&from_usa[0].0, &mut v).unwrap();
        v
    })
    .unwrap();
    assert!(open(&pak_officer, &fetched).starts_with(b"usa report"));
    // Every entry logged before the kill is there, and the log goes on, witnessed.
    let entries = accord_test_support::log_entries(&restored);
    assert!(entries.len() as u64 >= size_at_kill);
    send(&pak_officer, "USA", &from_pak[25].1);
    all_delivered(&pak_officer, pak_ids.len() + 4);
    let grown = wait_cosigned(
        &restored,
        &sb.usa,
        size_at_kill + 2,
        Duration::from_secs(30),
    );
    assert!(grown >= size_at_kill + 2);
    terminate(r2_node);
    terminate(usa);
}
