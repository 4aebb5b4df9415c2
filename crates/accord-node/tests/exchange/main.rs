//! Exchange between two running nodes under an agreement in force: send, deliver with
//! a signed receipt, inbox, fetch, open; a partner down during sends (queued, then
//! delivered once each); and each refusal (not releasable, forged label assertion,
//! unpinned partner, agreement not in force) with its reasons, in both audit logs.
//!
//! One test binary in rooms: delivery from a person's send to the receiver's open
//! (`delivery`), what the receiver refuses and who is told what (`receiver`), one
//! object id sent several times or by several partners (`one_id`), and what was kept
//! before objects were held per sender (`upgrade`).

mod delivery;
mod one_id;
mod receiver;
mod upgrade;

use accord_node::partners::Partner;
use accord_node::sandbox::{self, Sandbox};
use accord_node::server::Running;
use accord_node_api::client::Client;
use accord_node_api::exchange::OutboxItem;
use accord_node_api::wire;
use accord_test_support::fast;
use accord_test_support::{as_node, open, seal_into, Pair};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The marking most tests seal under: releasable to both parties under the sandbox
/// agreement.
const MARKING: &str = "SECRET//REL TO USA, PAK//SCOPE EXERCISES";

/// The node's options with deliveries retried within 300 ms (4 at once), so that a
/// partner's return is seen quickly.
/// The sandbox's two nodes, delivering [`fast`].
fn pair() -> Pair {
    Pair::start(fast)
}

/// `text` sealed at the node of `c` under `marking` and the sandbox agreement, in
/// `dir/ID.tdf`.
fn seal(c: &Client, marking: &str, text: &[u8], dir: &Path) -> PathBuf {
    seal_into(c, marking, Some(sandbox::AGREEMENT_ID), text, dir)
}

/// Waits (30 s at most) until `c`'s outbox holds at least `n` entries and none is
/// queued any more: the outbox then.
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

/// PAK's node as USA knows it: PAK's entry among its partners in force (the partner
/// being USA, seen from PAK's agreements), and a client with PAK's node identity,
/// pinned as the agreement says.
fn as_pak_node(
    rt: &tokio::runtime::Runtime,
    sb: &Sandbox,
    pak: &Running,
) -> (Partner, reqwest::Client) {
    as_node(rt, pak, &sb.pak, "USA", Duration::from_secs(60))
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
    let plain = open(&us, &fetched).unwrap();
    assert!(
        plain == text,
        "the opened object differs from the plaintext"
    );
    receipt
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

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes))
}
