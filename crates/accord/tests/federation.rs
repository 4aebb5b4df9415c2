//! Federation with the real binary: `accord quickstart --no-serve` end to end, then the
//! two parties' nodes as separate `accord serve` processes on separate loopback
//! addresses, 200 sends with a kill -9 of each node in the middle, and afterwards the
//! receiver holds each object exactly once while the sender shows each receipted. The
//! CLI's send, inbox --json, fetch and open run against the same processes, with the
//! exit code of each kind of refusal (README, "Exit codes"). The sandbox's path has a
//! space in it, so that the commands quickstart prints are checked for quoting.

use accord_node_api::client::{self, Client};
use accord_node_api::credential::Credential;
use accord_node_api::wire;
use accord_test_support::cli::describe as text;
use accord_test_support::cli::terminate;

fn serve(home: &Path) -> Child {
    accord_test_support::cli::serve(BIN, home)
}

fn wait_up(cred: &Credential) {
    accord_test_support::cli::wait_up(&Client::new(cred.clone()).unwrap())
}
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_accord");

fn accord(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).output().unwrap()
}

#[test]
fn quickstart_then_separate_processes_and_kill_9_during_200_sends() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("sand box");
    let out = accord(&[
        "quickstart",
        "--dir",
        dir.to_str().unwrap(),
        "--no-serve",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "quickstart failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["ok"], true, "{summary:#}");
    // Each log's witnessed checkpoint covers the story's decisions: PAK's label, send
    // and delivery; USA's receipt, the officer's open and the two refusals.
    let entries = |step: &str| {
        summary["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["step"] == step)
            .unwrap_or_else(|| panic!("no step {step}: {summary:#}"))["facts"]["entries"]
            .as_u64()
            .unwrap()
    };
    assert!(entries("log-PAK") >= 3, "{summary:#}");
    assert!(entries("log-USA") >= 4, "{summary:#}");
    for id in ["pak-officer", "usa-officer", "usa-clerk", "usa-suspended"] {
        assert!(dir.join(format!("credentials/{id}.credential")).exists());
    }
    let cred = |id: &str| -> PathBuf { dir.join(format!("credentials/{id}.credential")) };
    let pak_officer = Credential::load(&cred("pak-officer")).unwrap();
    let usa_officer = Credential::load(&cred("usa-officer")).unwrap();
    let pak_ip = pak_officer.node_url.clone();
    let usa_ip = usa_officer.node_url.clone();
    eprintln!("PAK at {pak_ip}, USA at {usa_ip}");

    // The two nodes as separate processes.
    let mut pak = serve(&dir.join("pak"));
    let mut usa = serve(&dir.join("usa"));
    wait_up(&pak_officer);
    wait_up(&usa_officer);

    // Through the CLI: seal, send and wait for the receipt.
    let plain = tmp.path().join("brief.txt");
    std::fs::write(&plain, "training brief").unwrap();
    let sealed = tmp.path().join("brief.tdf");
    let pak_cred = cred("pak-officer");
    let o = accord(&[
        "seal",
        "--credential",
        pak_cred.to_str().unwrap(),
        "--label",
        "CONFIDENTIAL//REL TO USA, PAK//SCOPE TRAINING",
        "--agreement",
        "CISMOA-SANDBOX",
        plain.to_str().unwrap(),
        "-o",
        sealed.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Without --agreement the node chooses the one agreement that covers the label, and
    // the command says which; --national asks for none.
    let chosen = tmp.path().join("chosen.tdf");
    let seal_chosen = |extra: &[&str]| {
        let mut args = vec!["seal", "--credential", pak_cred.to_str().unwrap()];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[
            "--label",
            "CONFIDENTIAL//REL TO USA, PAK//SCOPE TRAINING",
            plain.to_str().unwrap(),
            "-o",
            chosen.to_str().unwrap(),
        ]);
        let o = accord(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        o
    };
    let o = seal_chosen(&[]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("under agreement CISMOA-SANDBOX"), "{e}");
    assert!(
        e.contains("key access: PAK, USA; agreement CISMOA-SANDBOX"),
        "{e}"
    );
    std::fs::remove_file(&chosen).unwrap();
    let o = accord(&[
        "--json",
        "seal",
        "--credential",
        pak_cred.to_str().unwrap(),
        "--national",
        "--label",
        "CONFIDENTIAL//REL TO USA, PAK//SCOPE TRAINING",
        plain.to_str().unwrap(),
        "-o",
        chosen.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["agreement"], serde_json::Value::Null);
    assert_eq!(j["agreement_chosen"], false);
    assert_eq!(j["key_access"].as_array().unwrap().len(), 1, "{j}");
    let o = accord(&[
        "send",
        "--credential",
        pak_cred.to_str().unwrap(),
        "--to",
        "USA",
        sealed.to_str().unwrap(),
        "--wait",
        "30",
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let sent: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(sent["state"], "delivered", "{sent:#}");
    let id = sent["id"].as_str().unwrap().to_string();
    let usa_cred = cred("usa-officer");
    let o = accord(&[
        "inbox",
        "--credential",
        usa_cred.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success());
    let inbox: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let item = inbox
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == id.as_str())
        .expect("the sent object in the inbox");
    let mut keys: Vec<&str> = item
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        ["agreement", "from", "id", "marking", "received", "size"]
    );
    let fetched = tmp.path().join("fetched.tdf");
    let o = accord(&[
        "fetch",
        "--credential",
        usa_cred.to_str().unwrap(),
        &id,
        "-o",
        fetched.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let opened = tmp.path().join("opened.txt");
    let o = accord(&[
        "open",
        "--credential",
        usa_cred.to_str().unwrap(),
        fetched.to_str().unwrap(),
        "-o",
        opened.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read_to_string(&opened).unwrap(), "training brief");
    let clerk = cred("usa-clerk");
    let o = accord(&[
        "open",
        "--credential",
        clerk.to_str().unwrap(),
        fetched.to_str().unwrap(),
        "-o",
        tmp.path().join("no.txt").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&o.stderr).contains("[clearance]"));

    refusals_exit_as_documented(tmp.path(), &dir, &id, &fetched);

    // Already sent: the quickstart's document and the brief.
    let before = Client::new(pak_officer.clone())
        .unwrap()
        .outbox()
        .unwrap()
        .len();
    assert_eq!(before, 2);
    let total = before + 200;

    // 200 objects, sealed at PAK.
    let sealer = Client::new(pak_officer.clone()).unwrap();
    let seal_as = |marking: &str, text: &str| {
        let mut out = Vec::new();
        let s = client::seal(
            &sealer,
            &wire::SealPlanRequest {
                marking: Some(marking.into()),
                label: None,
                agreement: Some("CISMOA-SANDBOX".into()),
                choose_agreement: false,
            },
            text.as_bytes(),
            &mut out,
            1 << 20,
            None,
        )
        .unwrap();
        let id = s.summary.manifest.policy_object().unwrap().uuid;
        let p = tmp.path().join(format!("{id}.tdf"));
        std::fs::write(&p, out).unwrap();
        (id, p)
    };
    let files: Vec<(String, PathBuf)> = (0..200)
        .map(|i| {
            seal_as(
                "SECRET//REL TO USA, PAK//SCOPE OPERATIONS",
                &format!("situation report {i}"),
            )
        })
        .collect();

    // Send them; kill -9 USA after 60, bring it back after 100; kill -9 PAK after 150.
    let mut i = 0;
    let mut failing_since: Option<Instant> = None;
    while i < files.len() {
        if i == 60 {
            usa.kill().unwrap();
            usa.wait().unwrap();
        }
        if i == 100 {
            usa = serve(&dir.join("usa"));
        }
        if i == 150 {
            pak.kill().unwrap();
            pak.wait().unwrap();
            pak = serve(&dir.join("pak"));
            wait_up(&pak_officer);
        }
        match Client::new(pak_officer.clone())
            .unwrap()
            .send("USA", &files[i].1, None)
        {
            Ok(_) => {
                i += 1;
                failing_since = None;
            }
            Err(e) => {
                // Retried while a node restarts, but not for ever (a full disk, say).
                let since = *failing_since.get_or_insert_with(Instant::now);
                assert!(
                    since.elapsed() < Duration::from_secs(60),
                    "send {i} kept failing for 60 s: {e}"
                );
                eprintln!("send {i} failed, retrying: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    wait_up(&usa_officer);

    // Everything delivered exactly once, each with its receipt.
    let t0 = Instant::now();
    let outbox = loop {
        let o = Client::new(pak_officer.clone()).unwrap().outbox().unwrap();
        let done = o.iter().filter(|x| x.state == "delivered").count();
        if done == total {
            break o;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(180),
            "{done} of {total} delivered; not delivered: {:?}",
            o.iter()
                .filter(|x| x.state != "delivered")
                .map(|x| (&x.state, x.attempts, &x.last_error))
                .take(3)
                .collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let usa_keys = accord_agreement::Agreement::parse(
        &std::fs::read_to_string(dir.join("agreement.toml")).unwrap(),
    )
    .unwrap()
    .body
    .party("USA")
    .unwrap()
    .signing_keys
    .clone();
    for o in &outbox {
        let r = o.receipt.as_ref().expect("a receipt");
        r.verify(&usa_keys).unwrap();
        assert_eq!(r.body.object_id, o.id);
    }
    let inbox = Client::new(usa_officer.clone()).unwrap().inbox().unwrap();
    assert_eq!(inbox.len(), total);
    let mut ids: Vec<&str> = inbox.iter().map(|i| i.id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), total);
    for (id, _) in &files {
        assert!(ids.contains(&id.as_str()), "{id} missing at USA");
    }
    // Each is held intact (small objects are kept in batch pack files): the bytes USA
    // serves are the bytes PAK was given.
    let us = Client::new(usa_officer.clone()).unwrap();
    for (id, path) in &files {
        let mut got = Vec::new();
        us.fetch(id, &mut got).unwrap();
        assert!(got == std::fs::read(path).unwrap(), "{id} differs at USA");
    }

    // Several files in one `accord send`: three go through, the one not releasable to
    // USA is refused by PAK with its reason, and the exit code says so (1).
    let many: Vec<(String, PathBuf)> = vec![
        seal_as("SECRET//REL TO USA, PAK//SCOPE OPERATIONS", "one"),
        seal_as("SECRET//REL TO USA, PAK//SCOPE OPERATIONS", "two"),
        seal_as("SECRET//REL TO PAK//SCOPE OPERATIONS", "national"),
        seal_as("CONFIDENTIAL//REL TO USA, PAK//SCOPE TRAINING", "three"),
    ];
    let mut argv = vec![
        "send".to_string(),
        "--credential".into(),
        pak_cred.to_str().unwrap().into(),
        "--to".into(),
        "USA".into(),
        "--wait".into(),
        "60".into(),
        "--json".into(),
    ];
    argv.extend(many.iter().map(|(_, p)| p.to_str().unwrap().to_string()));
    let o = accord(&argv.iter().map(|a| a.as_str()).collect::<Vec<_>>());
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let sent: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let sent = sent.as_array().expect("an array for several files");
    assert_eq!(sent.len(), 4);
    for (i, (id, path)) in many.iter().enumerate() {
        assert_eq!(sent[i]["file"], path.to_str().unwrap());
        if i == 2 {
            assert_eq!(sent[i]["state"], "refused", "{:#}", sent[i]);
            assert_eq!(
                sent[i]["reasons"][0]["rule"], "releasability",
                "{:#}",
                sent[i]
            );
        } else {
            assert_eq!(sent[i]["state"], "delivered", "{:#}", sent[i]);
            assert_eq!(sent[i]["id"], id.as_str());
        }
    }
    assert!(String::from_utf8_lossy(&o.stderr).contains("[releasability]"));
    let inbox = us.inbox().unwrap();
    for (i, (id, _)) in many.iter().enumerate() {
        assert_eq!(inbox.iter().any(|x| &x.id == id), i != 2, "{id}");
    }

    // Originator control: an object both KASes must release. With PAK's node down, the
    // USA officer gets no key (3), told which KAS could not be reached.
    let split = tmp.path().join("split.tdf");
    let o = accord(&[
        "seal",
        "--credential",
        pak_cred.to_str().unwrap(),
        "--label",
        "SECRET//REL TO USA, PAK//SCOPE OPERATIONS",
        "--agreement",
        "CISMOA-SANDBOX",
        "--require",
        "PAK,USA",
        plain.to_str().unwrap(),
        "-o",
        split.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    terminate(pak);
    let o = accord(&[
        "open",
        "--credential",
        usa_cred.to_str().unwrap(),
        split.to_str().unwrap(),
        "-o",
        tmp.path().join("split.txt").to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(err.contains("no key released"), "{err}");
    assert!(err.contains("PAK's KAS cannot be reached"), "{err}");
    assert!(!tmp.path().join("split.txt").exists());
    terminate(usa);

    // Run again on its own sandbox: reused, and the commands it prints quote the path
    // with the space.
    let o = accord(&["quickstart", "--dir", dir.to_str().unwrap(), "--no-serve"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("reusing the sandbox"));
    let quoted = format!("'{}'", cred("usa-officer").display());
    assert!(
        out.contains(&format!("accord inbox --credential {quoted}\n")),
        "{out}"
    );
    // A node home is not a sandbox: refused (2), and left as it was.
    let policy = dir.join("pak/policies/pak.xml");
    let before = std::fs::read(&policy).unwrap();
    let o = accord(&[
        "quickstart",
        "--dir",
        dir.join("pak").to_str().unwrap(),
        "--no-serve",
    ]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("looks like a node home (it has node.toml"));
    assert_eq!(std::fs::read(&policy).unwrap(), before);
    assert!(!dir.join("pak/pak").exists());
}

/// Each kind of refusal, through the CLI, with the exit code README documents: a
/// refusal with reasons is 1 (3 for `open`: no key released), a malformed request
/// caught before it is sent is 2.
fn refusals_exit_as_documented(tmp: &Path, dir: &Path, id: &str, fetched: &Path) {
    let cred = |id: &str| -> PathBuf { dir.join(format!("credentials/{id}.credential")) };
    // A credential the USA node did not issue (PAK's, pointed at the USA node).
    let usa = Credential::load(&cred("usa-officer")).unwrap();
    let mut foreign = Credential::load(&cred("pak-officer")).unwrap();
    foreign.party = usa.party.clone();
    foreign.node_url = usa.node_url.clone();
    foreign.node_tls_spki_sha256 = usa.node_tls_spki_sha256.clone();
    foreign.node_certificate = usa.node_certificate.clone();
    let foreign_path = tmp.join("foreign.credential");
    foreign.save(&foreign_path).unwrap();
    let f = foreign_path.to_str().unwrap();
    let o = accord(&["inbox", "--credential", f]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("[credential]"),
        "{}",
        text(&o)
    );
    let o = accord(&["outbox", "--credential", f]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = tmp.join("foreign.tdf");
    let o = accord(&["fetch", "--credential", f, id, "-o", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("[credential]"),
        "{}",
        text(&o)
    );
    assert!(!out.exists());
    let o = accord(&[
        "open",
        "--credential",
        f,
        fetched.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));

    // Sealing: the node refuses the clerk a SECRET label (1).
    let plain = tmp.join("refused.txt");
    std::fs::write(&plain, "not for the clerk").unwrap();
    let o = accord(&[
        "seal",
        "--credential",
        cred("usa-clerk").to_str().unwrap(),
        "--label",
        "SECRET//REL TO USA, PAK//SCOPE TRAINING",
        plain.to_str().unwrap(),
        "-o",
        tmp.join("clerk.tdf").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("[clearance]"),
        "{}",
        text(&o)
    );
    // ...and USA gets no key access to a label not releasable to it, so it cannot be
    // required (1).
    let pak = cred("pak-officer");
    let o = accord(&[
        "seal",
        "--credential",
        pak.to_str().unwrap(),
        "--label",
        "SECRET//REL TO PAK//SCOPE TRAINING",
        "--agreement",
        "CISMOA-SANDBOX",
        "--require",
        "PAK,USA",
        plain.to_str().unwrap(),
        "-o",
        tmp.join("national.tdf").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("USA is required but gets no key access"),
        "{}",
        text(&o)
    );

    // Sending: an object that names no agreement (sealed --national) is refused by the
    // node (1); to one's own party is a usage error (2), caught before anything is sent.
    let loose = tmp.join("no-agreement.tdf");
    let o = accord(&[
        "seal",
        "--credential",
        pak.to_str().unwrap(),
        "--national",
        "--label",
        "CONFIDENTIAL//REL TO USA, PAK//SCOPE TRAINING",
        plain.to_str().unwrap(),
        "-o",
        loose.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = accord(&[
        "send",
        "--credential",
        pak.to_str().unwrap(),
        "--to",
        "USA",
        loose.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("names no agreement"),
        "{}",
        text(&o)
    );
    let o = accord(&[
        "--json",
        "send",
        "--credential",
        pak.to_str().unwrap(),
        "--to",
        "USA",
        loose.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["state"], "refused", "{v:#}");
    assert_eq!(v["reasons"][0]["rule"], "agreement-in-force", "{v:#}");
    let o = accord(&[
        "send",
        "--credential",
        pak.to_str().unwrap(),
        "--to",
        "PAK",
        loose.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("your own party"),
        "{}",
        text(&o)
    );
    // Nothing was refused after it was queued: the outbox says so in words.
    let o = accord(&[
        "outbox",
        "--credential",
        pak.to_str().unwrap(),
        "--state",
        "refused",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "nothing refused\n");
}
