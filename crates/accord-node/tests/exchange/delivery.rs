//! Delivery, from a person's send to the receiver's open: receipts, the inbox's order,
//! witnessing, large objects through both spools, a receiver short of disk, a broken
//! delivery resumed, a partner down then back.

use crate::{as_pak_node, deliver_fetch_open, fast, pair, seal, wait_done, Pair};
use accord_node::home::Home;
use accord_node::sandbox;
use accord_node_api::client::Client;
use accord_node_api::wire;
use accord_test_support::{
    self as support, log_entries as entries, object_id, start, wait_cosigned,
};
use std::time::{Duration, Instant};

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
        wait_cosigned(home, partner, 0, Duration::from_secs(20));
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
    let sb = support::sandbox(&rt, tmp.path());
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
    let large_id = object_id(&std::fs::read(&large).unwrap());
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
    let id1 = object_id(&sent1);

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
    let id2 = object_id(&sent2);
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
    let sb = support::sandbox(&rt, tmp.path());
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
