//! Exchange between two running nodes under an agreement in force: send, deliver with
//! a signed receipt, inbox, fetch, open; a partner down during sends (queued, then
//! delivered once each); and each refusal (not releasable, forged label assertion,
//! unpinned partner, agreement not in force) with its reasons, in both audit logs.

use accord_agreement::Time;
use accord_node::home::Home;
use accord_node::sandbox::{self, Sandbox, SandboxOptions};
use accord_node::server::{self, Running, ServeOptions};
use accord_node::DeliveryOptions;
use accord_node_api::client::{self, Client};
use accord_node_api::exchange::OutboxItem;
use accord_node_api::wire;
mod common;

use common::{free_port, log_entries as entries};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn fast() -> ServeOptions {
    ServeOptions {
        delivery: DeliveryOptions {
            retry_cap: Duration::from_millis(300),
            parallel: 4,
        },
        ..ServeOptions::default()
    }
}

fn sandbox(rt: &tokio::runtime::Runtime, dir: &Path) -> Sandbox {
    rt.block_on(sandbox::create(
        dir,
        &SandboxOptions {
            pak_listen: format!("127.0.0.1:{}", free_port()),
            usa_listen: format!("127.0.0.1:{}", free_port()),
            databases: (common::database(), common::database()),
            years: 15,
            disk_reserve_mib: 0,
        },
    ))
    .unwrap()
}

fn start(rt: &tokio::runtime::Runtime, home: &Home, opts: ServeOptions) -> Running {
    rt.block_on(server::start(&home.layout.dir, opts)).unwrap()
}

/// What most tests start from: the sandbox's PAK and USA nodes running, and PAK's
/// officer. (Fields drop in reverse: the runtime, which runs the nodes, last.)
struct Pair {
    rt: tokio::runtime::Runtime,
    tmp: tempfile::TempDir,
    sb: Sandbox,
    pak: Running,
    usa: Running,
    officer: Client,
}

fn pair() -> Pair {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let sb = sandbox(&rt, tmp.path());
    let pak = start(&rt, &sb.pak, fast());
    let usa = start(&rt, &sb.usa, fast());
    let officer = Client::new(sb.credential("pak-officer").unwrap()).unwrap();
    Pair {
        rt,
        tmp,
        sb,
        pak,
        usa,
        officer,
    }
}

fn seal(c: &Client, marking: &str, text: &[u8], dir: &Path) -> PathBuf {
    let mut out = Vec::new();
    let sealed = client::seal(
        c,
        &wire::SealPlanRequest {
            marking: Some(marking.into()),
            label: None,
            agreement: Some(sandbox::AGREEMENT_ID.into()),
        },
        text,
        &mut out,
        1 << 20,
        None,
    )
    .unwrap();
    let id = client::object_id(&serde_json::to_value(&sealed.summary.manifest).unwrap()).unwrap();
    let p = dir.join(format!("{id}.tdf"));
    std::fs::write(&p, out).unwrap();
    p
}

fn wait_done(c: &Client, n: usize) -> Vec<OutboxItem> {
    let t0 = Instant::now();
    loop {
        let out = c.outbox().unwrap();
        if out.len() >= n && out.iter().all(|o| o.state != "queued") {
            return out;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "not delivered: {out:#?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Wait until `home`'s published checkpoint covers its whole log and carries the
/// cosignature of `partner`'s witness, then verify the log with that witness required.
fn wait_cosigned(home: &Home, partner: &Home) {
    let wkey = std::fs::read_to_string(partner.layout.dir.join("witness/witness.vkey")).unwrap();
    let wkey = accord_log::note::VerifierKey::parse(wkey.trim()).unwrap();
    let vkey =
        accord_log::note::VerifierKey::parse(&home.party.node.as_ref().unwrap().log_verifier_key)
            .unwrap();
    let src = accord_log::source::DirSource::new(home.layout.log());
    let t0 = Instant::now();
    loop {
        match accord_log::verify::verify_log(
            &src,
            &vkey,
            std::slice::from_ref(&wkey),
            None,
            &mut |_, _| {},
        ) {
            Ok(r) if r.entries > 0 => return,
            other => assert!(
                t0.elapsed() < Duration::from_secs(20),
                "{} log never cosigned by {}: {other:?}",
                home.config.party,
                partner.config.party
            ),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// PAK's node as USA knows it: PAK's entry among its partners in force (the partner
/// being USA, seen from PAK's agreements), and a client with PAK's node identity,
/// pinned as the agreement says.
fn as_pak_node(
    rt: &tokio::runtime::Runtime,
    sb: &Sandbox,
    pak: &Running,
) -> (accord_node::partners::Partner, reqwest::Client) {
    let partner = accord_node::partners::in_force(
        &rt.block_on(pak.node.agreements()).unwrap(),
        "PAK",
        Time::now(),
    )
    .remove(0);
    let client = {
        let _g = rt.enter();
        accord_node::partners::client(&sb.pak, &partner, Duration::from_secs(60)).unwrap()
    };
    (partner, client)
}

/// Send `file` from PAK, wait for its delivery, check the receipt against USA's keys
/// from the agreement, fetch it back at USA (the same bytes) and open it there (the
/// same plaintext). Returns the receipt.
fn deliver_fetch_open(
    sb: &Sandbox,
    officer: &Client,
    file: &Path,
    text: &[u8],
) -> accord_node_api::receipt::Receipt {
    let sent = std::fs::read(file).unwrap();
    let queued = officer.send("USA", file, None).unwrap();
    assert_eq!(queued.state, "queued");
    let done = wait_done(officer, 1);
    assert_eq!(done[0].state, "delivered", "{done:#?}");
    let receipt = done[0].receipt.clone().unwrap();
    receipt
        .verify(&sb.agreement.body.party("USA").unwrap().signing_keys)
        .unwrap();
    assert_eq!(receipt.body.size, sent.len() as u64);
    let us = Client::new(sb.credential("usa-officer").unwrap()).unwrap();
    let mut fetched = Vec::new();
    us.fetch(&queued.id, &mut fetched).unwrap();
    assert!(
        fetched == sent,
        "the fetched object differs from the one sent"
    );
    let mut plain = Vec::new();
    client::open(
        &us,
        &mut std::io::Cursor::new(fetched),
        &mut plain,
        None,
        None,
    )
    .unwrap();
    assert!(
        plain == text,
        "the opened object differs from the plaintext"
    );
    receipt
}

#[test]
fn send_deliver_receipt_inbox_fetch_open() {
    let Pair {
        rt,
        tmp,
        sb,
        pak,
        usa,
        officer,
    } = pair();
    let file = seal(
        &officer,
        "SECRET//REL TO USA, PAK//SCOPE EXERCISES",
        b"joint exercise plan",
        tmp.path(),
    );
    let receipt = deliver_fetch_open(&sb, &officer, &file, b"joint exercise plan");
    let queued = officer.outbox().unwrap().remove(0);
    assert_eq!(queued.id, receipt.body.object_id);
    // Sending again is idempotent: the same entry, no second delivery.
    assert_eq!(officer.send("USA", &file, None).unwrap().state, "delivered");

    let us = Client::new(sb.credential("usa-officer").unwrap()).unwrap();
    let inbox = us.inbox().unwrap();
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].id, queued.id);
    assert_eq!(inbox[0].from, "PAK");
    assert_eq!(inbox[0].agreement, sandbox::AGREEMENT_ID);
    assert_eq!(inbox[0].marking, queued.marking);

    // The clerk sees nothing and may not fetch; the suspended officer neither.
    let clerk = Client::new(sb.credential("usa-clerk").unwrap()).unwrap();
    assert!(clerk.inbox().unwrap().is_empty());
    match clerk.fetch(&queued.id, &mut Vec::new()) {
        Err(accord_node::Error::Denied(r)) => {
            assert!(r.iter().any(|r| r.rule == "clearance"), "{r:?}")
        }
        other => panic!("clerk fetched: {other:?}"),
    }
    let suspended = Client::new(sb.credential("usa-suspended").unwrap()).unwrap();
    assert!(suspended.inbox().unwrap().is_empty());

    // The inbox lists objects in the order they arrived, also within one second (object
    // ids are random, so an order by id would rarely be this one).
    let mut sent_order = vec![queued.id.clone()];
    for k in 0..4 {
        let text = format!("exercise annex {k}");
        let f = seal(
            &officer,
            "SECRET//REL TO USA, PAK//SCOPE EXERCISES",
            text.as_bytes(),
            tmp.path(),
        );
        sent_order.push(officer.send("USA", &f, None).unwrap().id);
        wait_done(&officer, k + 2);
    }
    let listed: Vec<String> = us.inbox().unwrap().into_iter().map(|i| i.id).collect();
    assert_eq!(listed, sent_order);

    // Not releasable to USA: the sender's node refuses to queue it, with the reason.
    let national = seal(
        &officer,
        "SECRET//REL TO PAK//SCOPE EXERCISES",
        b"national only",
        tmp.path(),
    );
    match officer.send("USA", &national, None) {
        Err(accord_node::Error::Denied(r)) => {
            assert!(r.iter().any(|r| r.rule == "releasability"), "{r:?}")
        }
        other => panic!("sent: {other:?}"),
    }

    // Witnessing: each node's published checkpoint carries the partner's cosignature.
    for (home, partner) in [(&sb.pak, &sb.usa), (&sb.usa, &sb.pak)] {
        wait_cosigned(home, partner);
    }
    // A forked PAK log (same size, another root, signed with PAK's log key) is refused
    // by USA's witness.
    let pak_key = accord_log::writer::read_log_key(&sb.pak.layout.log()).unwrap();
    let origin = accord_log::writer::read_checkpoint(&sb.pak.layout.log())
        .unwrap()
        .checkpoint
        .origin;
    let (_, as_pak) = as_pak_node(&rt, &sb, &pak);
    let url = format!(
        "https://127.0.0.1:{}/v1/fed/witness/add-checkpoint",
        usa.addr.port()
    );
    let submit = |size: u64| {
        let text = accord_log::checkpoint::Checkpoint {
            origin: origin.clone(),
            size,
            root: [7u8; 32],
            extensions: vec![],
        }
        .to_text();
        let note = format!("{text}\n{}", pak_key.sign(&text, 1).line());
        let body = accord_log::witness::AddCheckpoint {
            old_size: size,
            proof: vec![],
            checkpoint: note.into_bytes(),
        }
        .to_bytes();
        rt.block_on(async {
            let r = as_pak.post(&url).body(body).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        })
    };
    // The witness answers 409 with the size it cosigned last; a checkpoint of that
    // size with another root is a fork.
    // PAK's own submissions may move the witness on in between: follow its answer.
    // A 409 naming the very size submitted is the fork (c2sp.org/tlog-witness).
    let mut sent = u64::MAX >> 2;
    let (mut status, mut text) = submit(sent);
    for _ in 0..20 {
        if status != 409 {
            break;
        }
        let held: u64 = text.trim().parse().unwrap();
        if held == sent {
            break;
        }
        sent = held;
        (status, text) = submit(held);
    }
    assert_eq!(status, 409, "{text}");
    assert_eq!(text.trim().parse::<u64>().ok(), Some(sent), "{text}");

    rt.block_on(usa.stop()).unwrap();
    rt.block_on(pak.stop()).unwrap();
    let pak_log = entries(&sb.pak);
    let kinds: Vec<(&str, &str)> = pak_log
        .iter()
        .map(|e| (e["kind"].as_str().unwrap(), e["decision"].as_str().unwrap()))
        .collect();
    assert!(kinds.contains(&("send", "permit")), "{kinds:?}");
    assert!(kinds.contains(&("deliver", "permit")), "{kinds:?}");
    assert!(kinds.contains(&("send", "deny")), "{kinds:?}");
    let usa_log = entries(&sb.usa);
    let rx = usa_log
        .iter()
        .find(|e| e["kind"] == "receive")
        .expect("a receive entry");
    assert_eq!(rx["decision"], "permit");
    assert_eq!(rx["partner"], "PAK");
    assert_eq!(rx["object"], queued.id.as_str());
}

/// An object larger than a batch takes and larger than a spool writes between syncs
/// streams alone through both spools (the person's upload at PAK, the delivery at
/// USA) and comes back byte for byte, its receipt naming its size and digest.
#[test]
fn a_large_object_streams_through_both_spools() {
    let Pair {
        rt,
        tmp,
        sb,
        pak,
        usa,
        officer,
    } = pair();
    // 72 MiB of plaintext that does not repeat: over two write-behind strides.
    let text = noise(72 << 20, 0x9e37_79b9_7f4a_7c15);
    let file = seal(
        &officer,
        "SECRET//REL TO USA, PAK//SCOPE EXERCISES",
        &text,
        tmp.path(),
    );
    let receipt = deliver_fetch_open(&sb, &officer, &file, &text);
    assert!(receipt.batch.is_none(), "a large object travels alone");
    let sent = std::fs::read(&file).unwrap();
    assert_eq!(
        receipt.body.sha256,
        hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &sent))
    );
    rt.block_on(usa.stop()).unwrap();
    rt.block_on(pak.stop()).unwrap();
}

/// Set `disk_reserve_mib` in a node home's node.toml.
fn set_disk_reserve(home: &Home, mib: u64) {
    let path = home.layout.config();
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| !l.starts_with("disk_reserve_mib"))
        .map(str::to_string)
        .collect();
    lines.push(format!("disk_reserve_mib = {mib}"));
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
}

/// A node whose disk is down to its reserve takes no more objects: partners' deliveries
/// (streamed and batched) and its own people's sends get 507 and say why; the partner
/// keeps them queued, and delivers each once when there is room again.
#[test]
fn a_node_short_of_disk_refuses_deliveries_until_there_is_room() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let sb = sandbox(&rt, tmp.path());
    // More than any disk has free: USA is "full".
    set_disk_reserve(&sb.usa, 1 << 40);
    let pak = start(&rt, &sb.pak, fast());
    let usa = start(&rt, &sb.usa, fast());
    let officer = Client::new(sb.credential("pak-officer").unwrap()).unwrap();
    let marking = "SECRET//REL TO USA, PAK//SCOPE TRAINING";
    let small = seal(&officer, marking, b"a small report", tmp.path());
    let large_text = noise(9 << 20, 7);
    let large = seal(&officer, marking, &large_text, tmp.path());
    for f in [&small, &large] {
        officer.send("USA", f, None).unwrap();
    }
    let t0 = Instant::now();
    while officer.outbox().unwrap().iter().any(|o| o.attempts < 2) {
        assert!(t0.elapsed() < Duration::from_secs(20), "no retries");
        std::thread::sleep(Duration::from_millis(50));
    }
    for o in officer.outbox().unwrap() {
        let e = o.last_error.clone().unwrap_or_default();
        assert_eq!(o.state, "queued", "{o:#?}");
        assert!(
            e.contains("507") && e.contains("free for its audit log"),
            "{}: {e}",
            o.id
        );
    }
    // USA's own people cannot queue anything there either, and are told why.
    let us = Client::new(sb.credential("usa-officer").unwrap()).unwrap();
    let theirs = seal(&us, marking, b"from USA", tmp.path());
    let e = us.send("PAK", &theirs, None).unwrap_err().to_string();
    assert!(e.contains("(507)") && e.contains("try again later"), "{e}");
    assert!(us.inbox().unwrap().is_empty());

    // Room again: both are delivered, once each.
    rt.block_on(usa.stop()).unwrap();
    set_disk_reserve(&sb.usa, 0);
    let usa = start(&rt, &sb.usa, fast());
    let done = wait_done(&officer, 2);
    assert!(done.iter().all(|o| o.state == "delivered"), "{done:#?}");
    let got = us.inbox().unwrap();
    assert_eq!(got.len(), 2);
    let mut fetched = Vec::new();
    let large_id = manifest_id(&std::fs::read(&large).unwrap());
    us.fetch(&large_id, &mut fetched).unwrap();
    assert_eq!(fetched, std::fs::read(&large).unwrap());
    rt.block_on(usa.stop()).unwrap();
    rt.block_on(pak.stop()).unwrap();
}

/// Random-looking bytes that do not repeat (so that no piece of them is mistaken for
/// another).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A large delivery that breaks off is kept in part by the receiver; the rest is sent
/// with `accord-resume-from`, and the receipt names the whole object. The node's own
/// delivery asks first and resumes too; an offset the receiver does not hold is a 416.
#[test]
fn a_broken_large_delivery_resumes_where_it_stopped() {
    let Pair {
        rt,
        tmp,
        sb,
        pak,
        usa,
        officer,
    } = pair();
    let marking = "SECRET//REL TO USA, PAK//SCOPE EXERCISES";
    let text1 = noise(24 << 20, 1);
    let file1 = seal(&officer, marking, &text1, tmp.path());
    let sent1 = std::fs::read(&file1).unwrap();
    let id1 = manifest_id(&sent1);

    // PAK's node, as the agreement pins it.
    let (_, as_pak) = as_pak_node(&rt, &sb, &pak);
    let base = format!("https://127.0.0.1:{}/v1/fed/inbox", usa.addr.port());
    // Send the first `cut` bytes of `bytes`, then fail the body as a broken link would.
    let broken = |id: &str, bytes: &[u8], cut: usize| {
        let pieces: Vec<Result<Vec<u8>, std::io::Error>> = bytes[..cut]
            .chunks(1 << 20)
            .map(|c| Ok(c.to_vec()))
            .chain(std::iter::once(Err(std::io::Error::other("link lost"))))
            .collect();
        let body = reqwest::Body::wrap_stream(futures_util::stream::iter(pieces));
        let url = format!("{base}/{id}");
        let len = bytes.len();
        let r = rt.block_on(async {
            as_pak
                .put(&url)
                .header("content-length", len)
                .body(body)
                .send()
                .await
        });
        assert!(
            r.as_ref().map(|r| !r.status().is_success()).unwrap_or(true),
            "a broken delivery was accepted: {r:?}"
        );
    };
    let held = |id: &str| -> u64 {
        rt.block_on(async {
            let r = as_pak
                .get(format!("{base}/{id}/partial"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            serde_json::from_slice::<wire::PartialDelivery>(&r.bytes().await.unwrap())
                .unwrap()
                .offset
        })
    };
    let wait_held = |id: &str| -> u64 {
        let t0 = Instant::now();
        loop {
            let n = held(id);
            if n > 0 || t0.elapsed() > Duration::from_secs(10) {
                return n;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let put_from = |id: &str, bytes: &[u8], from: u64| {
        let url = format!("{base}/{id}");
        let rest = bytes[from as usize..].to_vec();
        rt.block_on(async {
            let r = as_pak
                .put(&url)
                .header(wire::RESUME_HEADER, from)
                .body(rest)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.bytes().await.unwrap())
        })
    };

    broken(&id1, &sent1, 16 << 20);
    let offset = wait_held(&id1);
    assert!(
        (8 << 20..=16 << 20).contains(&offset),
        "kept {offset} bytes of the 16 MiB sent"
    );
    // An offset beyond what is held is refused, and says how to go on.
    let (status, body) = put_from(&id1, &sent1, offset + 1);
    assert_eq!(status, 416, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("send the object whole"));
    // That refusal dropped the partial that could not serve it: break off again.
    assert_eq!(held(&id1), 0);
    broken(&id1, &sent1, 16 << 20);
    let offset = wait_held(&id1);
    assert!(offset >= 8 << 20, "kept {offset} bytes");
    // The rest: the receipt is for the whole object.
    let (status, body) = put_from(&id1, &sent1, offset);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let receipt: accord_node_api::receipt::Receipt = serde_json::from_slice(&body).unwrap();
    receipt
        .verify(&sb.agreement.body.party("USA").unwrap().signing_keys)
        .unwrap();
    assert_eq!(receipt.body.object_id, id1);
    assert_eq!(receipt.body.size, sent1.len() as u64);
    assert_eq!(
        receipt.body.sha256,
        hex::encode(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            &sent1
        ))
    );
    assert_eq!(held(&id1), 0, "the partial is used up");
    let us = Client::new(sb.credential("usa-officer").unwrap()).unwrap();
    let mut fetched = Vec::new();
    us.fetch(&id1, &mut fetched).unwrap();
    assert!(
        fetched == sent1,
        "the resumed object differs from the one sent"
    );

    // The node's own delivery: a second object broke off earlier; PAK's delivery asks,
    // sends the rest, and the object arrives whole.
    let text2 = noise(24 << 20, 2);
    let file2 = seal(&officer, marking, &text2, tmp.path());
    let sent2 = std::fs::read(&file2).unwrap();
    let id2 = manifest_id(&sent2);
    broken(&id2, &sent2, 12 << 20);
    assert!(wait_held(&id2) >= 8 << 20);
    let receipt = deliver_fetch_open(&sb, &officer, &file2, &text2);
    assert_eq!(receipt.body.object_id, id2);
    assert_eq!(held(&id2), 0, "the partial is used up");

    rt.block_on(usa.stop()).unwrap();
    rt.block_on(pak.stop()).unwrap();
}

#[test]
fn partner_down_then_back_nothing_lost_nothing_twice() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let sb = sandbox(&rt, tmp.path());
    let pak = start(&rt, &sb.pak, fast());
    let officer = Client::new(sb.credential("pak-officer").unwrap()).unwrap();
    let mut ids = Vec::new();
    for i in 0..6 {
        let f = seal(
            &officer,
            "SECRET//REL TO USA, PAK//SCOPE TRAINING",
            format!("report {i}").as_bytes(),
            tmp.path(),
        );
        ids.push(officer.send("USA", &f, None).unwrap().id);
    }
    // USA is down: everything stays queued while attempts are made.
    let t0 = Instant::now();
    while officer.outbox().unwrap().iter().any(|o| o.attempts < 2) {
        assert!(t0.elapsed() < Duration::from_secs(20), "no retries");
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = officer.outbox().unwrap();
    assert!(
        out.iter()
            .all(|o| o.state == "queued" && o.last_error.is_some()),
        "{out:#?}"
    );

    // What a crashed spool would have left half-written is cleared when USA starts.
    let leftover = sb.usa.layout.blobs().join("tmp").join("0123abcd.part");
    std::fs::create_dir_all(leftover.parent().unwrap()).unwrap();
    std::fs::write(&leftover, b"half an object").unwrap();
    let usa = start(&rt, &sb.usa, fast());
    assert!(!leftover.exists(), "a stale spool file survived the start");
    let done = wait_done(&officer, 6);
    assert!(done.iter().all(|o| o.state == "delivered"), "{done:#?}");
    // What waited was delivered in batches: receipts signed once per batch, each
    // verifying alone with its inclusion proof.
    let usa_keys = &sb.agreement.body.party("USA").unwrap().signing_keys;
    for o in &done {
        o.receipt.as_ref().unwrap().verify(usa_keys).unwrap();
    }
    assert!(
        done.iter()
            .any(|o| o.receipt.as_ref().unwrap().batch.is_some()),
        "no batch delivery: {done:#?}"
    );
    // The outbox filters: by state, by object, the most recent few (oldest first).
    use accord_node_api::exchange::OutboxFilter;
    let f = |id: Option<&str>, state: Option<&str>, limit: Option<u64>| {
        officer.outbox_filtered(&OutboxFilter {
            id: id.map(str::to_string),
            state: state.map(str::to_string),
            limit,
        })
    };
    assert_eq!(f(None, Some("delivered"), None).unwrap().len(), 6);
    assert!(f(None, Some("queued"), None).unwrap().is_empty());
    let one = f(Some(&ids[2]), None, None).unwrap();
    assert_eq!((one.len(), one[0].id.as_str()), (1, ids[2].as_str()));
    let recent: Vec<String> = f(None, None, Some(2))
        .unwrap()
        .into_iter()
        .map(|o| o.id)
        .collect();
    let all: Vec<String> = done.iter().map(|o| o.id.clone()).collect();
    assert_eq!(recent, all[4..]);
    let e = f(None, Some("lost"), None).unwrap_err().to_string();
    assert!(
        e.contains("state must be queued, delivered or refused"),
        "{e}"
    );
    let us = Client::new(sb.credential("usa-officer").unwrap()).unwrap();
    let mut got: Vec<String> = us.inbox().unwrap().into_iter().map(|i| i.id).collect();
    got.sort();
    ids.sort();
    assert_eq!(got, ids);
    rt.block_on(usa.stop()).unwrap();
    rt.block_on(pak.stop()).unwrap();
    let receives = entries(&sb.usa)
        .iter()
        .filter(|e| e["kind"] == "receive" && e["decision"] == "permit")
        .count();
    assert_eq!(receives, 6);
}

/// PUT an object straight to USA's federation endpoint with `client`, as a partner would.
fn deliver_direct(
    rt: &tokio::runtime::Runtime,
    client: &reqwest::Client,
    usa: &Running,
    id: &str,
    bytes: Vec<u8>,
) -> (u16, wire::Problem) {
    let url = format!("https://127.0.0.1:{}/v1/fed/inbox/{id}", usa.addr.port());
    rt.block_on(async {
        let r = client.put(&url).body(bytes).send().await.unwrap();
        let s = r.status().as_u16();
        let b = r.bytes().await.unwrap();
        (
            s,
            serde_json::from_slice(&b).unwrap_or(wire::Problem {
                error: String::from_utf8_lossy(&b).into(),
                reasons: vec![],
            }),
        )
    })
}

fn manifest_id(bytes: &[u8]) -> String {
    client::object_id(&client::read_manifest(&mut std::io::Cursor::new(bytes)).unwrap()).unwrap()
}

#[test]
fn the_receiver_refuses_with_reasons() {
    let Pair {
        rt,
        tmp,
        sb,
        pak,
        usa,
        officer,
    } = pair();
    let good = std::fs::read(seal(
        &officer,
        "SECRET//REL TO USA, PAK//SCOPE EXERCISES",
        b"x",
        tmp.path(),
    ))
    .unwrap();
    let (partner, as_pak) = as_pak_node(&rt, &sb, &pak);

    // Not releasable to USA (the sender's node would refuse; a direct delivery is
    // refused by the receiver too).
    let national = std::fs::read(seal(
        &officer,
        "SECRET//REL TO PAK//SCOPE EXERCISES",
        b"y",
        tmp.path(),
    ))
    .unwrap();
    let (s, p) = deliver_direct(
        &rt,
        &as_pak,
        &usa,
        &manifest_id(&national),
        national.clone(),
    );
    assert_eq!(s, 403, "{p:?}");
    assert!(p.reasons.iter().any(|r| r.rule == "releasability"), "{p:?}");

    // A forged label assertion: signed by a key the agreement does not give PAK.
    let forged = {
        let mut set = accord_spif::PolicySet::new();
        set.load_path(&common::policies()).unwrap();
        let pol = set.find("PAK").unwrap();
        let label = pol
            .parse_marking("SECRET//REL TO USA, PAK//SCOPE EXERCISES", "")
            .unwrap();
        let rogue = accord_keys::SigningKey::generate(accord_keys::ClassicalAlg::Es384).unwrap();
        let kas = sb.usa.party.node.as_ref().unwrap().kas_keys[0]
            .key("kas")
            .unwrap();
        let mut out = Vec::new();
        accord_tdf::seal(
            &b"forged"[..],
            &mut out,
            &accord_tdf::SealOptions {
                recipients: vec![accord_tdf::Recipient {
                    kas,
                    url: sb.usa.config.url.clone(),
                    party: Some("USA".into()),
                }],
                require: vec![],
                signer: &rogue,
                label: accord_tdf::BoundLabel {
                    xml: label.to_stanag_xml(),
                    marking: pol.render(&label, "").unwrap().text,
                },
                segment_size: accord_tdf::DEFAULT_SEGMENT_SIZE,
                mime_type: String::new(),
                metadata: None,
                progress: None,
                agreement: Some(sandbox::AGREEMENT_ID.into()),
            },
        )
        .unwrap();
        out
    };
    let (s, p) = deliver_direct(&rt, &as_pak, &usa, &manifest_id(&forged), forged.clone());
    assert_eq!(s, 403, "{p:?}");
    assert_eq!(p.reasons[0].rule, "object-integrity", "{p:?}");

    // The same two in one batch with a good object: each gets its own answer, in order;
    // the good one is kept and receipted, the others refused with their reasons.
    let batch = wire::batch_body(&[
        (manifest_id(&good), good.clone()),
        (manifest_id(&national), national),
        (manifest_id(&forged), forged),
    ]);
    let url = format!("https://127.0.0.1:{}/v1/fed/inbox", usa.addr.port());
    let answer: wire::BatchResponse = rt.block_on(async {
        let r = as_pak
            .post(&url)
            .header("content-type", wire::BATCH_MEDIA_TYPE)
            .body(batch)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        serde_json::from_slice(&r.bytes().await.unwrap()).unwrap()
    });
    let r = &answer.results;
    assert_eq!(r.len(), 3);
    assert_eq!(r[0].id, manifest_id(&good));
    r[0].receipt
        .as_ref()
        .expect("the good object's receipt")
        .verify(&sb.agreement.body.party("USA").unwrap().signing_keys)
        .unwrap();
    assert_eq!(
        (r[1].status, r[1].reasons[0].rule.as_str()),
        (Some(403), "releasability")
    );
    assert_eq!(
        (r[2].status, r[2].reasons[0].rule.as_str()),
        (Some(403), "object-integrity")
    );
    assert!(r[1].receipt.is_none() && r[2].receipt.is_none());

    // An unpinned client: a person's credential is not a partner node.
    let person = {
        let c = sb.credential("pak-officer").unwrap();
        let tls = accord_node_api::tls::client_config(
            vec![partner.tls_spki_sha256.clone()],
            Some((&c.certificate, &c.private_key)),
        )
        .unwrap();
        let _g = rt.enter();
        reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .build()
            .unwrap()
    };
    let (s, p) = deliver_direct(&rt, &person, &usa, &manifest_id(&good), good.clone());
    assert_eq!(s, 403, "{p:?}");
    assert_eq!(p.reasons[0].rule, "partner", "{p:?}");

    // The agreement not in force at USA (its clock in 2060): refused both ways.
    rt.block_on(usa.stop()).unwrap();
    let later = ServeOptions {
        clock: Arc::new(|| Time::parse("2060-01-01T00:00:00Z").unwrap()),
        ..fast()
    };
    let usa = start(&rt, &sb.usa, later);
    let (s, p) = deliver_direct(&rt, &as_pak, &usa, &manifest_id(&good), good.clone());
    assert_eq!(s, 403, "{p:?}");
    assert_eq!(p.reasons[0].rule, "agreement-in-force", "{p:?}");

    rt.block_on(usa.stop()).unwrap();
    rt.block_on(pak.stop()).unwrap();
    let refused: Vec<String> = entries(&sb.usa)
        .iter()
        .filter(|e| e["kind"] == "receive" && e["decision"] == "deny")
        .map(|e| e["reasons"][0]["rule"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        refused,
        [
            "releasability",
            "object-integrity",
            "releasability",
            "object-integrity",
            "partner",
            "agreement-in-force"
        ]
    );
}

#[test]
fn originator_control_needs_both_kases() {
    let Pair {
        rt,
        tmp: _tmp,
        sb,
        pak,
        usa,
        officer,
    } = pair();
    let mut tdf = Vec::new();
    client::seal_required(
        &officer,
        &wire::SealPlanRequest {
            marking: Some("SECRET//REL TO USA, PAK//SCOPE OPERATIONS".into()),
            label: None,
            agreement: Some(sandbox::AGREEMENT_ID.into()),
        },
        &["PAK".into(), "USA".into()],
        &b"originator-controlled"[..],
        &mut tdf,
        1 << 20,
        None,
    )
    .unwrap();
    let manifest = client::read_manifest(&mut std::io::Cursor::new(&tdf)).unwrap();
    let mut sids: Vec<&str> = manifest["encryptionInformation"]["keyAccess"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["sid"].as_str().unwrap())
        .collect();
    sids.sort();
    assert_eq!(sids, ["PAK", "USA"]);
    let open = |c: &Client| {
        let mut out = Vec::new();
        client::open(
            c,
            &mut std::io::Cursor::new(tdf.clone()),
            &mut out,
            None,
            None,
        )
        .map(|_| out)
    };

    // The US officer opens: USA releases its share, PAK's KAS its own, asked by USA.
    let us = Client::new(sb.credential("usa-officer").unwrap()).unwrap();
    assert_eq!(open(&us).unwrap(), b"originator-controlled");
    // And the PAK officer: the USA KAS is asked the other way.
    assert_eq!(open(&officer).unwrap(), b"originator-controlled");
    // The clerk is refused (by USA, before PAK is asked).
    let clerk = Client::new(sb.credential("usa-clerk").unwrap()).unwrap();
    match open(&clerk) {
        Err(accord_node::Error::Denied(r)) => assert!(r.iter().any(|r| r.rule == "clearance")),
        other => panic!("clerk: {other:?}"),
    }
    // With PAK's node down, USA alone cannot open it.
    rt.block_on(pak.stop()).unwrap();
    let e = open(&us).unwrap_err().to_string();
    assert!(e.contains("PAK's KAS cannot be reached"), "{e}");
    rt.block_on(usa.stop()).unwrap();

    // PAK's log holds its decision for the US officer, asked through the USA node.
    let pak_log = entries(&sb.pak);
    let fwd = pak_log
        .iter()
        .find(|e| e["kind"] == "rewrap" && e["person"] == "usa-officer")
        .expect("PAK logged the cross-border rewrap");
    assert_eq!(fwd["decision"], "permit");
    assert_eq!(fwd["partner"], "USA");
    let usa_log = entries(&sb.usa);
    assert!(usa_log
        .iter()
        .any(|e| e["kind"] == "rewrap" && e["person"] == "pak-officer" && e["partner"] == "PAK"));
}

// ---------------------------------------------------------------- one id, several objects

const MARKING: &str = "SECRET//REL TO USA, PAK//SCOPE EXERCISES";

/// The three-party agreement of [`trio`].
const TRILATERAL: &str = "CISMOA-TRILATERAL";

fn signing_key(home: &Home) -> accord_keys::SigningKey {
    accord_keys::load_signing_key(&home.layout.key(accord_keys::SIGNING_KEY)).unwrap()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes))
}

/// `bytes`, a sealed object, with its label and marking assertions signed again by
/// `key`: the same object id, label and payload in other bytes (ECDSA signatures are
/// randomised), as anyone who holds the object can make with a key of their own.
fn resign(bytes: &[u8], key: &accord_keys::SigningKey) -> Vec<u8> {
    use accord_tdf::{assertion, zip};
    use base64::Engine as _;
    let mut cur = std::io::Cursor::new(bytes);
    let layout = zip::read_layout(&mut cur).unwrap();
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&zip::read_manifest(&mut cur, &layout).unwrap()).unwrap();
    let digest = assertion::manifest_digest(&manifest).unwrap();
    for a in manifest["assertions"].as_array_mut().unwrap() {
        let mut parsed: accord_tdf::manifest::Assertion =
            serde_json::from_value(a.clone()).unwrap();
        if parsed.id != assertion::LABEL_ID && parsed.id != assertion::MARKING_ID {
            continue;
        }
        // The aggregate the first signature bound: its claims hold it, followed by
        // the assertion's 32-byte hash.
        let claims = parsed.binding.signature.split('.').nth(1).unwrap();
        let claims: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(claims)
                .unwrap(),
        )
        .unwrap();
        let bound = base64::engine::general_purpose::STANDARD
            .decode(claims["assertionSig"].as_str().unwrap())
            .unwrap();
        assertion::sign(&mut parsed, &bound[..bound.len() - 32], &digest, key).unwrap();
        *a = serde_json::to_value(&parsed).unwrap();
    }
    let payload = &bytes[layout.payload.data_offset as usize..][..layout.payload.size as usize];
    let mut w = zip::ZipWriter::start(Vec::new()).unwrap();
    w.write_payload(payload).unwrap();
    let out = w.finish(&serde_json::to_vec(&manifest).unwrap()).unwrap();
    assert_eq!(manifest_id(&out), manifest_id(bytes));
    out
}

/// A person as their node sees them on a connection, to call the node directly.
fn person_peer(sb: &Sandbox, id: &str) -> accord_node::Peer {
    let c = sb.credential(id).unwrap();
    let der = accord_node_api::pki::pem_blocks(&c.certificate, "CERTIFICATE").unwrap();
    accord_node::Peer {
        cert: Some(Arc::new(der[0].to_vec())),
    }
}

/// Seal `text` at PAK under agreement `agreement`.
fn seal_under(c: &Client, text: &[u8], dir: &Path, agreement: &str) -> PathBuf {
    let mut out = Vec::new();
    client::seal(
        c,
        &wire::SealPlanRequest {
            marking: Some(MARKING.into()),
            label: None,
            agreement: Some(agreement.into()),
        },
        text,
        &mut out,
        1 << 20,
        None,
    )
    .unwrap();
    let p = dir.join(format!("{}.tdf", manifest_id(&out)));
    std::fs::write(&p, out).unwrap();
    p
}

/// PAK and USA running as in [`pair`], both also holding [`TRILATERAL`], a three-party
/// agreement with GBR (all five scopes, ceiling SECRET, both translations); and GBR's
/// node home. GBR's node is not started: a test acts as it, with its keys.
fn trio() -> (Pair, Home) {
    use accord_agreement::{Agreement, Body, Party, Scope, Translation};
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let sb = sandbox(&rt, tmp.path());
    let gbr_dir = tmp.path().join("gbr");
    rt.block_on(accord_node::home::init(
        &gbr_dir,
        &accord_node::home::InitOptions {
            party: "GBR".into(),
            name: None,
            authority: Some("Ministry of Defence".into()),
            policies: vec![sb.dir.join("policies").join("pak.xml")],
            listen: Some(format!("127.0.0.1:{}", free_port())),
            url: None,
            database: common::database(),
            disk_reserve_mib: Some(0),
        },
    ))
    .unwrap();
    let gbr = Home::open(&gbr_dir).unwrap();
    let start = Time::from_unix(Time::now().unix() - 86_400).unwrap();
    let homes = [&sb.pak, &sb.usa, &gbr];
    let mut a = Agreement::draft(Body {
        id: TRILATERAL.into(),
        title:
            "Trilateral agreement between Pakistan, the United States and the United Kingdom (test)"
                .into(),
        version: 1,
        predecessor: None,
        effective_from: start,
        expires: start.plus_years(15).unwrap(),
        scopes: Scope::ALL.to_vec(),
        ceiling: Some("SECRET".into()),
        translations: vec![
            Translation {
                from: "PAK".into(),
                to: "USA".into(),
            },
            Translation {
                from: "USA".into(),
                to: "PAK".into(),
            },
        ],
        terms: "Exchanges between the three parties' forces.".into(),
        parties: homes
            .iter()
            .map(|h| Party::from_descriptor(&h.party).unwrap())
            .collect(),
    })
    .unwrap();
    for h in homes {
        a.approve(&signing_key(h), "approved", start).unwrap();
    }
    for h in homes {
        a.sign(&signing_key(h), start).unwrap();
    }
    let text = a.to_toml().unwrap();
    for h in [&sb.pak, &sb.usa] {
        rt.block_on(async {
            let s = h.store().await.unwrap();
            accord_node::agreements::load(&s, &h.party, &text)
                .await
                .unwrap();
            s.close().await;
        });
    }
    let pak = start_node(&rt, &sb.pak);
    let usa = start_node(&rt, &sb.usa);
    let officer = Client::new(sb.credential("pak-officer").unwrap()).unwrap();
    (
        Pair {
            rt,
            tmp,
            sb,
            pak,
            usa,
            officer,
        },
        gbr,
    )
}

fn start_node(rt: &tokio::runtime::Runtime, home: &Home) -> Running {
    start(rt, home, fast())
}

/// Under a three-party agreement PAK sends an object to USA. GBR, which can learn the
/// object's id (PAK may send it to GBR too), delivers an object of its own, validly
/// signed by GBR, under that id to USA first. USA holds objects per sender: PAK's
/// delivery still gets its receipt (it was a 409 that PAK took as final, and PAK's
/// object was never delivered); the inbox lists both with their senders; a fetch by
/// id alone says which senders there are to choose from, and naming one gives its
/// bytes.
#[test]
fn another_partners_object_under_the_same_id_does_not_keep_out_the_senders() {
    let (
        Pair {
            rt,
            tmp,
            sb,
            pak,
            usa,
            officer,
        },
        gbr,
    ) = trio();
    let file = seal_under(&officer, b"trilateral plan", tmp.path(), TRILATERAL);
    let ours = std::fs::read(&file).unwrap();
    let id = manifest_id(&ours);
    let theirs = resign(&ours, &signing_key(&gbr));
    let usa_as_partner = accord_node::partners::in_force(
        &rt.block_on(pak.node.agreements()).unwrap(),
        "PAK",
        Time::now(),
    )
    .into_iter()
    .find(|p| p.code == "USA")
    .unwrap();
    let as_gbr = {
        let _g = rt.enter();
        accord_node::partners::client(&gbr, &usa_as_partner, Duration::from_secs(60)).unwrap()
    };
    let (s, p) = deliver_direct(&rt, &as_gbr, &usa, &id, theirs.clone());
    assert_eq!(s, 200, "{p:?}");

    // PAK's own delivery, through its node: delivered with a receipt for its bytes.
    officer.send("USA", &file, None).unwrap();
    let done = wait_done(&officer, 1);
    assert_eq!(done[0].state, "delivered", "{done:#?}");
    let receipt = done[0].receipt.clone().unwrap();
    assert_eq!(
        (receipt.body.from.as_str(), receipt.body.sha256.clone()),
        ("PAK", sha256_hex(&ours))
    );
    // GBR again: its own receipt again; other bytes from GBR under the id it holds: a
    // conflict, GBR's own.
    let (s, _) = deliver_direct(&rt, &as_gbr, &usa, &id, theirs.clone());
    assert_eq!(s, 200);
    let (s, p) = deliver_direct(&rt, &as_gbr, &usa, &id, resign(&ours, &signing_key(&gbr)));
    assert_eq!(s, 409, "{p:?}");
    assert!(p.error.contains("from GBR is held here already"), "{p:?}");
    let gbr_conflict = p.error;

    // USA's inbox lists both, each with its sender.
    let us = Client::new(sb.credential("usa-officer").unwrap()).unwrap();
    let mut from: Vec<String> = us
        .inbox()
        .unwrap()
        .into_iter()
        .filter(|i| i.id == id)
        .map(|i| i.from)
        .collect();
    from.sort();
    assert_eq!(from, ["GBR", "PAK"]);
    // By id alone the node cannot choose for the person: a 409 naming the senders.
    match us.fetch(&id, &mut Vec::new()) {
        Err(accord_node::Error::NodeRefused { status, error, .. }) => {
            assert_eq!(status, 409, "{error}");
            assert!(
                error.contains("from PAK and GBR") || error.contains("from GBR and PAK"),
                "{error}"
            );
        }
        other => panic!("fetched by id alone: {other:?}"),
    }
    // Naming the sender (`GET /v1/inbox/{id}?from=CODE`) gives that sender's bytes.
    for (sender, bytes) in [("PAK", &ours), ("GBR", &theirs)] {
        let mut got = Vec::new();
        us.fetch_from(&id, Some(sender), &mut got).unwrap();
        assert!(got == *bytes, "{sender}'s object differs");
    }
    let e = us
        .fetch_from(&id, Some("pak"), &mut Vec::new())
        .unwrap_err();
    assert!(e.to_string().contains("three capital letters"), "{e}");
    // The clerk may see neither.
    let clerk = person_peer(&sb, "usa-clerk");
    let e = rt
        .block_on(usa.node.fetch_from(&clerk, &id, None))
        .unwrap_err();
    assert_eq!(e.kind, accord_node_api::Kind::Denied, "{}", e.error);

    rt.block_on(usa.stop()).unwrap();
    rt.block_on(pak.stop()).unwrap();
    let mut permits: Vec<String> = entries(&sb.usa)
        .iter()
        .filter(|e| e["kind"] == "receive" && e["decision"] == "permit" && e["object"] == *id)
        .map(|e| e["partner"].as_str().unwrap().to_string())
        .collect();
    permits.sort();
    assert_eq!(permits, ["GBR", "PAK"]);
    // GBR's conflict is a refusal of a partner, logged like any other.
    assert!(
        entries(&sb.usa).iter().any(|e| e["kind"] == "receive"
            && e["decision"] == "deny"
            && e["partner"] == "GBR"
            && e["object"] == *id
            && e["reasons"][0]["text"] == *gbr_conflict),
        "GBR's conflict is not logged"
    );
}

/// Deliveries of one id from one partner, racing each other with different bytes (on
/// their own and in batches): exactly one is kept and receipted, the others are refused
/// (409) and each refusal is logged, and what USA holds is the bytes of the one receipt
/// it gave. (All used to pass the check for a held id before any was kept, each got a
/// signed receipt, and the last file moved into place won, whatever the row said.)
#[test]
fn racing_deliveries_of_one_id_get_one_receipt_for_the_bytes_held() {
    let Pair {
        rt,
        tmp,
        sb,
        pak,
        usa,
        officer,
    } = pair();
    let key = signing_key(&sb.pak);
    let original = std::fs::read(seal(&officer, MARKING, b"raced", tmp.path())).unwrap();
    let id = manifest_id(&original);
    let variants: Vec<Vec<u8>> = (0..8).map(|_| resign(&original, &key)).collect();
    let (_, as_pak) = as_pak_node(&rt, &sb, &pak);
    let base = format!("https://127.0.0.1:{}/v1/fed/inbox", usa.addr.port());
    // Each answer: the receipt, or the status and error. Even ones alone, odd ones in a
    // batch (of one: a batch may not name an id twice).
    type Answer = Result<accord_node_api::receipt::Receipt, (u16, String)>;
    let answers: Vec<Answer> = rt.block_on(futures_util::future::join_all(
        variants.iter().enumerate().map(|(k, v)| {
            let (client, base, id, body) = (as_pak.clone(), base.clone(), id.clone(), v.clone());
            async move {
                if k % 2 == 0 {
                    let r = client
                        .put(format!("{base}/{id}"))
                        .body(body)
                        .send()
                        .await
                        .unwrap();
                    let status = r.status().as_u16();
                    let bytes = r.bytes().await.unwrap();
                    if status == 200 {
                        Ok(serde_json::from_slice(&bytes).unwrap())
                    } else {
                        Err((status, String::from_utf8_lossy(&bytes).into_owned()))
                    }
                } else {
                    let r = client
                        .post(&base)
                        .header("content-type", wire::BATCH_MEDIA_TYPE)
                        .body(wire::batch_body(&[(id, body)]))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 200);
                    let mut a: wire::BatchResponse =
                        serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
                    let one = a.results.remove(0);
                    match one.receipt {
                        Some(receipt) => Ok(receipt),
                        None => Err((one.status.unwrap_or(0), one.error.unwrap_or_default())),
                    }
                }
            }
        }),
    ));
    let kept: Vec<usize> = (0..answers.len()).filter(|&k| answers[k].is_ok()).collect();
    assert_eq!(kept.len(), 1, "receipted: {kept:?}");
    for a in &answers {
        if let Err((s, text)) = a {
            assert!(
                *s == 409 && text.contains("held here already"),
                "{s} {text}"
            );
        }
    }
    let receipt = answers[kept[0]].as_ref().unwrap();
    receipt
        .verify(&sb.agreement.body.party("USA").unwrap().signing_keys)
        .unwrap();
    assert_eq!(receipt.body.sha256, sha256_hex(&variants[kept[0]]));
    let us = Client::new(sb.credential("usa-officer").unwrap()).unwrap();
    let mut held = Vec::new();
    us.fetch(&id, &mut held).unwrap();
    assert!(
        held == variants[kept[0]],
        "USA holds other bytes than it receipted"
    );
    // What was kept is held in one place: a single delivery's file, or a pack.
    let files = std::fs::read_dir(sb.usa.layout.blobs().join("inbox"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert!(files <= 1, "{files} files in the inbox");

    rt.block_on(usa.stop()).unwrap();
    rt.block_on(pak.stop()).unwrap();
    let conflicts = entries(&sb.usa)
        .iter()
        .filter(|e| {
            e["kind"] == "receive"
                && e["decision"] == "deny"
                && e["object"] == *id
                && e["partner"] == "PAK"
                && e["reasons"][0]["text"]
                    .as_str()
                    .is_some_and(|t| t.contains("held here already"))
        })
        .count();
    assert_eq!(conflicts, answers.len() - 1);
}

/// Sends of one id to one partner racing each other with different bytes: one row is
/// kept, its file holds its bytes (the others' files never overwrite it), every sender
/// is answered with that row, and it is delivered with a receipt for those bytes (the
/// file used to be whichever was moved last, the receipt then never matched the row,
/// and the delivery was retried forever).
#[test]
fn racing_sends_of_one_id_keep_the_file_of_the_row_kept() {
    let Pair {
        rt,
        tmp,
        sb,
        pak,
        usa,
        officer,
    } = pair();
    let key = signing_key(&sb.pak);
    let original = std::fs::read(seal(&officer, MARKING, b"sent twice", tmp.path())).unwrap();
    let variants: Vec<(PathBuf, Vec<u8>)> = (0..6)
        .map(|k| {
            let bytes = resign(&original, &key);
            let p = tmp.path().join(format!("variant-{k}.tdf"));
            std::fs::write(&p, &bytes).unwrap();
            (p, bytes)
        })
        .collect();
    let answers: Vec<OutboxItem> = std::thread::scope(|s| {
        let threads: Vec<_> = variants
            .iter()
            .map(|(p, _)| s.spawn(|| officer.send("USA", p, None).unwrap()))
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let queued = &answers[0].sha256;
    assert!(
        answers.iter().all(|a| &a.sha256 == queued),
        "the senders were answered with different entries: {answers:#?}"
    );
    let bytes = &variants
        .iter()
        .find(|(_, b)| &sha256_hex(b) == queued)
        .unwrap()
        .1;
    let done = wait_done(&officer, 1);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].state, "delivered", "{done:#?}");
    assert_eq!(&done[0].receipt.as_ref().unwrap().body.sha256, queued);
    let us = Client::new(sb.credential("usa-officer").unwrap()).unwrap();
    let mut held = Vec::new();
    us.fetch(&answers[0].id, &mut held).unwrap();
    assert!(&held == bytes, "USA holds other bytes than were queued");
    // Only the kept file stays behind until delivered, then none.
    let t0 = Instant::now();
    let outbox = sb.pak.layout.blobs().join("outbox");
    while std::fs::read_dir(&outbox).unwrap().count() > 0 {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "files left in the outbox"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    rt.block_on(usa.stop()).unwrap();
    rt.block_on(pak.stop()).unwrap();
}

/// Someone else sending an object already queued for that partner gets a 409 that says
/// nothing of that send (it used to be answered with the other person's entry: who
/// sent it, its marking, its receipt); the person who sent it, sending again, gets
/// their own entry.
#[test]
fn a_send_is_shown_only_to_its_sender() {
    let Pair {
        rt,
        tmp,
        sb,
        pak,
        usa,
        officer: _,
    } = pair();
    // At USA: the officer sends an object to PAK, and the clerk sends the same one.
    let us = Client::new(sb.credential("usa-officer").unwrap()).unwrap();
    let theirs = seal(&us, MARKING, b"from USA", tmp.path());
    let sent = us.send("PAK", &theirs, None).unwrap();
    let clerk = Client::new(sb.credential("usa-clerk").unwrap()).unwrap();
    match clerk.send("PAK", &theirs, None) {
        Err(accord_node::Error::NodeRefused { status, error, .. }) => {
            assert_eq!(status, 409, "{error}");
            assert!(
                error.contains("already sent to PAK by someone else"),
                "{error}"
            );
            assert!(
                !error.contains("usa-officer") && !error.contains(&sent.marking),
                "{error}"
            );
        }
        other => panic!("the clerk was answered {other:?}"),
    }
    // The officer sending again is answered with their own entry.
    let again = us.send("PAK", &theirs, None).unwrap();
    assert_eq!((again.person.as_str(), again.id), ("usa-officer", sent.id));

    rt.block_on(usa.stop()).unwrap();
    rt.block_on(pak.stop()).unwrap();
}

/// A delivery from a caller that is not a partner. With no client certificate it
/// leaves no entry in the audit log: it is no identity, and anyone may connect without
/// one (each such request used to write a durable entry holding the raw path). With a
/// certificate no agreement pins, it is logged with the certificate's fingerprint, and
/// the object id only when it is one. A partner's refusals are all logged, their
/// reasons cut to a bounded length.
#[test]
fn only_accountable_refusals_are_logged_and_never_at_the_callers_length() {
    let Pair {
        rt,
        tmp,
        sb,
        pak,
        usa,
        officer,
    } = pair();
    let good = std::fs::read(seal(&officer, MARKING, b"x", tmp.path())).unwrap();
    let id = manifest_id(&good);
    let usa_pin = sb.usa.party.node.as_ref().unwrap().tls_spki_sha256.clone();
    let client_as = |identity: Option<(&str, &str)>| {
        let tls = accord_node_api::tls::client_config(vec![usa_pin.clone()], identity).unwrap();
        let _g = rt.enter();
        reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .build()
            .unwrap()
    };
    let anonymous = client_as(None);
    let cred = sb.credential("pak-officer").unwrap();
    let stranger = client_as(Some((&cred.certificate, &cred.private_key)));
    let fingerprint =
        sha256_hex(&accord_node_api::pki::pem_blocks(&cred.certificate, "CERTIFICATE").unwrap()[0]);
    let (_, as_pak) = as_pak_node(&rt, &sb, &pak);
    let chosen = format!("chosen-by-the-caller-{}", "x".repeat(1000));
    let batch = |client: &reqwest::Client| {
        rt.block_on(async {
            client
                .post(format!(
                    "https://127.0.0.1:{}/v1/fed/inbox",
                    usa.addr.port()
                ))
                .header("content-type", wire::BATCH_MEDIA_TYPE)
                .body(wire::batch_body(&[(id.clone(), good.clone())]))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    };
    for path in [&id, &chosen] {
        assert_eq!(
            deliver_direct(&rt, &anonymous, &usa, path, good.clone()).0,
            403
        );
        assert_eq!(
            deliver_direct(&rt, &stranger, &usa, path, good.clone()).0,
            403
        );
    }
    assert_eq!(batch(&anonymous), 403);
    assert_eq!(batch(&stranger), 403);
    // A partner's delivery under a path that is no object id: refused, and logged.
    let (s, p) = deliver_direct(&rt, &as_pak, &usa, &chosen, good.clone());
    assert_eq!(s, 400, "{p:?}");

    rt.block_on(usa.stop()).unwrap();
    rt.block_on(pak.stop()).unwrap();
    let denies: Vec<serde_json::Value> = entries(&sb.usa)
        .into_iter()
        .filter(|e| e["kind"] == "receive" && e["decision"] == "deny")
        .collect();
    // The stranger's three, each with its certificate; none from the anonymous caller.
    let strangers: Vec<&serde_json::Value> =
        denies.iter().filter(|e| e["partner"].is_null()).collect();
    assert_eq!(strangers.len(), 3, "{strangers:#?}");
    for e in &strangers {
        assert_eq!(e["credential"], *fingerprint, "{e}");
        assert_eq!(e["reasons"][0]["rule"], "partner", "{e}");
        assert!(!e.to_string().contains("chosen-by-the-caller"), "{e}");
    }
    let objects: Vec<&serde_json::Value> = strangers.iter().map(|e| &e["object"]).collect();
    assert_eq!(
        objects,
        [
            &serde_json::json!(id),
            &serde_json::Value::Null,
            &serde_json::Value::Null
        ]
    );
    // The partner's: logged, without the path as its object, its reason cut short.
    let partners: Vec<&serde_json::Value> =
        denies.iter().filter(|e| e["partner"] == "PAK").collect();
    assert_eq!(partners.len(), 1, "{partners:#?}");
    assert!(partners[0]["object"].is_null());
    let text = partners[0]["reasons"][0]["text"].as_str().unwrap();
    assert!(
        text.len() <= 520 && text.ends_with('…') && text.contains("chosen-by-the-caller"),
        "{text}"
    );
}

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
    let id = manifest_id(&sent);
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
