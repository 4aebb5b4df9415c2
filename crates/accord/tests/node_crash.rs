//! A kill -9 of the node while rewraps are in flight (the real `accord` binary): after
//! restart the audit log verifies, is consistent with the checkpoint seen before the
//! crash, and every key share the node released has its permit entry in the log
//! (for that person and that object, at the log index the node answered with).
//!
//! With `ACCORD_TEST_POSTGRES=postgres://USER@HOST:PORT/DB` set (as `.ci/run` does), the
//! node's database is a fresh PostgreSQL database on that server.

use accord_node_api::client::{self, Client};
use accord_node_api::credential::Credential;
use accord_node_api::wire;
use accord_test_support::clearance::{LOW, MARKING, SECRET_EXERCISES as SECRET};
use accord_test_support::{database, free_port, policies};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Objects sealed before the crash.
const OBJECTS: usize = 3;
/// Objects in one rewrap request (the sealed objects, repeated).
const BULK: usize = 12;

fn accord(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_accord"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run accord")
}

fn ok(args: &[&str]) -> String {
    let o = accord(args);
    assert!(
        o.status.success(),
        "accord {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `accord serve --dir home`, its log lines appended to `log`.
fn serve(home: &Path, log: &Path) -> Child {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    Command::new(env!("CARGO_BIN_EXE_accord"))
        .args(["serve", "--dir", s(home)])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(f))
        .spawn()
        .expect("start accord serve")
}

/// Wait until the node answers an authenticated request (TLS, credential, database).
fn wait_ready(child: &mut Child, client: &Client, log: &Path) {
    let t = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            panic!(
                "accord serve exited ({st}): {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        if client.whoami().is_ok() {
            return;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "the node did not answer within 60 s: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A key share the node released to a client.
#[derive(Debug, Clone)]
struct Release {
    person: String,
    object: String,
    log_index: u64,
}

/// Rewraps from every client in a loop (each request asks for `manifests` repeated to
/// a bulk of [`BULK`] objects) until a share whose decision is at log index `target`
/// or later was released, then SIGKILL the node at a varying moment (mid-decision,
/// mid-fsync or mid-answer). Returns what was released; every client must have been
/// cut off by the kill, and nothing may fail before it.
fn rewrap_until_killed(
    node: &mut Child,
    clients: Vec<Client>,
    manifests: &[serde_json::Value],
    target: u64,
) -> Vec<Release> {
    let bulk: Vec<serde_json::Value> = manifests.iter().cycle().take(BULK).cloned().collect();
    let releases = Arc::new(Mutex::new(Vec::<Release>::new()));
    let killing = Arc::new(AtomicBool::new(false));
    let cut_off = Arc::new(AtomicUsize::new(0));
    let n = clients.len();
    let workers: Vec<_> = clients
        .into_iter()
        .map(|c| {
            let person = c.credential().person.clone();
            let bulk = bulk.clone();
            let (releases, killing, cut_off) = (releases.clone(), killing.clone(), cut_off.clone());
            std::thread::spawn(move || loop {
                match c.rewrap(bulk.clone()) {
                    Ok(results) => {
                        assert_eq!(results.len(), BULK);
                        for r in results {
                            if person == "clerk" {
                                assert_eq!(r.decision, "deny", "{r:?}");
                                assert!(r.shares.is_empty());
                                continue;
                            }
                            assert_eq!(r.decision, "permit", "{person}: {r:?}");
                            assert!(!r.shares.is_empty());
                            releases.lock().unwrap().push(Release {
                                person: person.clone(),
                                object: r.object_id,
                                log_index: r.log_index,
                            });
                        }
                    }
                    // The request the kill cut off (or one sent to a dead node).
                    Err(_) if killing.load(Ordering::SeqCst) => {
                        cut_off.fetch_add(1, Ordering::SeqCst);
                        return;
                    }
                    Err(e) => panic!("{person}: rewrap failed before the kill: {e}"),
                }
            })
        })
        .collect();
    let t = Instant::now();
    let reached = |r: &[Release]| r.iter().any(|x| x.log_index >= target);
    while !reached(&releases.lock().unwrap()) {
        assert!(t.elapsed() < Duration::from_secs(120), "too few releases");
        assert!(
            !workers.iter().any(|w| w.is_finished()),
            "a client stopped early"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(Duration::from_millis(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos() as u64
            % 40,
    ));
    killing.store(true, Ordering::SeqCst);
    node.kill().unwrap(); // SIGKILL
    node.wait().unwrap();
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(cut_off.load(Ordering::SeqCst), n);
    let r = releases.lock().unwrap().clone();
    assert!(reached(&r));
    r
}

#[test]
fn kill_9_during_rewraps_loses_no_log_entry_of_a_released_key() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("pak");
    let server_log = tmp.path().join("serve.log");
    let policies = policies();
    let listen = format!("127.0.0.1:{}", free_port());
    let db = database();
    let mut init = vec![
        "init",
        "--party",
        "PAK",
        "--dir",
        s(&home),
        "--policy",
        s(&policies),
        "--listen",
        &listen,
        // Rewraps take no disk reserve; the flag is checked to reach node.toml.
        "--disk-reserve-mib",
        "16",
    ];
    if let Some(db) = &db {
        init.extend(["--database", db.as_str()]);
    }
    ok(&init);
    let toml = std::fs::read_to_string(home.join("node.toml")).unwrap();
    assert!(toml.contains("disk_reserve_mib = 16"), "{toml}");
    let party: serde_json::Value =
        serde_json::from_str(&ok(&["node", "info", "--dir", s(&home)])).unwrap();
    let vkey = party["node"]["log_verifier_key"]
        .as_str()
        .unwrap()
        .to_string();

    // Two cleared people and one who is not (denials are logged too, nothing released).
    let mut creds: Vec<PathBuf> = Vec::new();
    for (id, clearance) in [("officer", SECRET), ("analyst", SECRET), ("clerk", LOW)] {
        let file = tmp.path().join(format!("{id}.json"));
        std::fs::write(&file, clearance).unwrap();
        let cred = tmp.path().join(format!("{id}.credential"));
        ok(&[
            "user",
            "add",
            "--dir",
            s(&home),
            "--id",
            id,
            "--name",
            id,
            "--nationality",
            "PAK",
            "--clearance",
            s(&file),
            "--scope",
            "EXERCISES",
            "-o",
            s(&cred),
        ]);
        creds.push(cred);
    }
    let client = |i: usize| Client::new(Credential::load(&creds[i]).unwrap()).unwrap();

    let mut node = serve(&home, &server_log);
    let officer = client(0);
    wait_ready(&mut node, &officer, &server_log);

    // Objects sealed through the node.
    let mut tdfs = Vec::new();
    for i in 0..OBJECTS {
        let mut out = Vec::new();
        client::seal(
            &officer,
            &wire::SealPlanRequest {
                marking: Some(MARKING.into()),
                label: None,
                agreement: None,
                choose_agreement: false,
            },
            format!("object {i}: exercise plan").repeat(100).as_bytes(),
            &mut out,
            accord_tdf::DEFAULT_SEGMENT_SIZE,
            None,
        )
        .unwrap();
        tdfs.push(out);
    }
    let manifests: Vec<serde_json::Value> = tdfs
        .iter()
        .map(|t| client::read_manifest(&mut std::io::Cursor::new(t)).unwrap())
        .collect();

    // The checkpoint before the crash, remembered: after the crash the log must be
    // consistent with it (no history rewritten).
    let state = tmp.path().join("verified.state");
    let log_dir = home.join("log");
    let verify = [
        "audit",
        "verify",
        "--log",
        s(&log_dir),
        "--key",
        &vkey,
        "--state",
        s(&state),
    ];
    ok(&verify);

    // Two crashes: rewraps in flight from three people at once until the node is
    // killed under them, then a restart on the same home. Each kill comes just after
    // the log passed a full tile (256 entries), so the journal replay on restart
    // usually completes that tile; the second crashes a node whose log was itself
    // re-published from its journal.
    let mut released = Vec::new();
    let mut published_at_kill = Vec::new();
    for (round, target) in [(0, 260), (1, 516)] {
        let clients: Vec<Client> = (0..creds.len()).map(client).collect();
        released.extend(rewrap_until_killed(&mut node, clients, &manifests, target));
        // What the published checkpoint covered at the kill (entries acknowledged
        // after it were only in the log's journal, published again on restart).
        let checkpoint = ok(&["audit", "checkpoint", "--log", s(&log_dir)]);
        published_at_kill.push((
            round,
            checkpoint.lines().nth(1).unwrap().parse::<u64>().unwrap(),
            released.iter().map(|r| r.log_index + 1).max().unwrap_or(0),
        ));
        // Restart: it serves again, and the log verifies and is consistent with the
        // checkpoint verified before the crash.
        node = serve(&home, &server_log);
        wait_ready(&mut node, &officer, &server_log);
        ok(&verify);
    }

    // Requests after the restart work: a bulk rewrap, and a whole open.
    let after = client(1).rewrap(manifests.clone()).unwrap();
    assert!(after
        .iter()
        .all(|r| r.decision == "permit" && !r.shares.is_empty()));
    let mut plain = Vec::new();
    let (_, opened) = client::open(
        &officer,
        &mut std::io::Cursor::new(&tdfs[0]),
        &mut plain,
        None,
        None,
    )
    .unwrap();
    assert_eq!(plain, "object 0: exercise plan".repeat(100).as_bytes());

    // A clean stop (SIGTERM) publishes the final checkpoint; then read the whole log.
    let st = Command::new("kill")
        .args(["-TERM", &node.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let st = node.wait().unwrap();
    assert!(
        st.success(),
        "accord serve after SIGTERM: {st}: {}",
        std::fs::read_to_string(&server_log).unwrap_or_default()
    );
    ok(&verify);
    let shown: serde_json::Value =
        serde_json::from_str(&ok(&["--json", "audit", "show", "--log", s(&log_dir)])).unwrap();
    let entries: Vec<serde_json::Value> = shown["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| serde_json::from_str(e["text"].as_str().unwrap()).unwrap())
        .collect();

    // Every share released, before the crash and after, has its permit entry where the
    // node said.
    let mut all = released.clone();
    all.extend(after.iter().map(|a| Release {
        person: "analyst".into(),
        object: a.object_id.clone(),
        log_index: a.log_index,
    }));
    all.push(Release {
        person: "officer".into(),
        object: opened.object_id.clone(),
        log_index: opened.log_index,
    });
    let mut checked = 0;
    for r in &all {
        let e = entries
            .get(r.log_index as usize)
            .unwrap_or_else(|| panic!("{r:?}: the log has only {} entries", entries.len()));
        assert_eq!(e["kind"], "rewrap", "{r:?}: {e}");
        assert_eq!(e["decision"], "permit", "{r:?}: {e}");
        assert_eq!(e["person"], r.person.as_str(), "{r:?}: {e}");
        assert_eq!(e["object"], r.object.as_str(), "{r:?}: {e}");
        assert_eq!(e["party"], "PAK");
        checked += 1;
    }
    assert_eq!(checked, released.len() + OBJECTS + 1);
    // And the clerk's denials are there too, releasing nothing.
    assert!(entries
        .iter()
        .any(|e| e["person"] == "clerk" && e["decision"] == "deny"));
    // Decisions logged (durable) whose answer the kill cut off: requests in flight.
    let answered: std::collections::HashSet<u64> = all.iter().map(|r| r.log_index).collect();
    assert_eq!(answered.len(), all.len(), "two releases name one log entry");
    let unanswered = entries
        .iter()
        .enumerate()
        .filter(|(i, e)| {
            e["decision"] == "permit" && e["kind"] == "rewrap" && !answered.contains(&(*i as u64))
        })
        .count();
    eprintln!(
        "{} shares released across two kills, all logged; (round, checkpoint at the kill, \
         entries the releases needed): {published_at_kill:?}; {unanswered} permits logged \
         but cut off; {} entries",
        released.len(),
        entries.len()
    );
}

/// A node that cannot start (its port is taken) says so and exits 2, and its audit log,
/// opened before the port was tried, is closed cleanly (this once panicked in the log's
/// drop inside the async runtime).
#[test]
fn serve_on_a_busy_port_fails_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("pak");
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = busy.local_addr().unwrap().to_string();
    let policies = policies();
    let db = database();
    let mut init = vec![
        "init",
        "--party",
        "PAK",
        "--dir",
        s(&home),
        "--policy",
        s(&policies),
        "--listen",
        &listen,
    ];
    if let Some(db) = &db {
        init.extend(["--database", db.as_str()]);
    }
    ok(&init);
    let o = accord(&["serve", "--dir", s(&home)]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains(&format!("cannot listen on {listen}")), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    // The log is unlocked and whole: it verifies, and another start gets as far.
    let info = accord(&["node", "info", "--dir", s(&home)]);
    assert!(
        String::from_utf8_lossy(&info.stderr).starts_with("database schema 2"),
        "{}",
        String::from_utf8_lossy(&info.stderr)
    );
    let party: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    let vkey = party["node"]["log_verifier_key"].as_str().unwrap();
    ok(&[
        "audit",
        "verify",
        "--log",
        s(&home.join("log")),
        "--key",
        vkey,
    ]);
    assert_eq!(accord(&["serve", "--dir", s(&home)]).status.code(), Some(2));
    drop(busy);
}

/// A person whose node is not running is told what to check, not only "connection
/// refused": that the node runs, that the address is the one it serves, the firewall.
#[test]
fn a_node_that_cannot_be_reached_gets_a_sentence_that_says_what_to_check() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("pak");
    let listen = format!("127.0.0.1:{}", free_port());
    let policies = policies();
    ok(&[
        "init",
        "--party",
        "PAK",
        "--dir",
        s(&home),
        "--policy",
        s(&policies),
        "--listen",
        &listen,
    ]);
    let clearance = tmp.path().join("clearance.json");
    std::fs::write(&clearance, SECRET).unwrap();
    let cred = tmp.path().join("pak-officer.credential");
    ok(&[
        "user",
        "add",
        "--dir",
        s(&home),
        "--id",
        "pak-officer",
        "--name",
        "pak-officer",
        "--nationality",
        "PAK",
        "--clearance",
        s(&clearance),
        "--scope",
        "EXERCISES",
        "-o",
        s(&cred),
    ]);
    // Never served: nothing listens at the node's address.
    for args in [
        vec!["inbox", "--credential", s(&cred)],
        vec!["outbox", "--credential", s(&cred)],
    ] {
        let o = accord(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(
            err.contains(&format!("cannot reach the PAK node at https://{listen}"))
                && err.contains("Check that the node is running"),
            "{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}
