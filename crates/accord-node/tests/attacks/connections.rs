//! What reaches the node over a connection: no spelling of an entry bundle's path
//! (finding 1), no held connection or declared body of an outsider (finding 3), no
//! trickled body of one of its people.

use crate::{pair, seal, Attacks, Raw};
use accord_node::sandbox;
use accord_node::server::ServeOptions;
use accord_node_api::client::Client;
use accord_node_api::wire;
use accord_test_support::{self as support, open};
use std::io::Read;
use std::time::Duration;

// ---------------------------------------------------------------- finding 1

/// Without a credential, no spelling of an entry bundle is served: percent-encoded
/// letters or slashes, doubled slashes, dot segments, leading zeros. The node's own
/// person reads the canonical one; other spellings are not served to anyone.
#[test]
fn audit_entries_leak_through_no_spelling_of_their_path() {
    let p = pair();
    let officer = p.client("pak-officer");
    seal(&officer, "SECRET//REL TO PAK//SCOPE EXERCISES", None);
    let size = p.pak.publish_log().unwrap();
    assert!(size > 0);
    let w = accord_log::tile::tile_width(0, 0, size);
    let cred = p.sb.credential("pak-officer").unwrap();
    let stranger = p.sb.credential("usa-officer").unwrap();
    let canonical = format!("/log/tile/entries/000.p/{w}");
    let (status, body) = Raw::get(&cred, Some(&cred), &canonical);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("pak-officer"));
    let body = body.clone();
    let spellings = [
        canonical.clone(),
        format!("/log/tile/%65ntries/000.p/{w}"),
        format!("/log/tile/entries%2F000.p/{w}"),
        format!("/log/tile/entries%2f000.p/{w}"),
        format!("/log/tile/entries/000%2Ep/{w}"),
        format!("/log/tile/entries/000.p%2F{w}"),
        format!("/log/%74ile/entries/000.p/{w}"),
        format!("/log/tile//entries/000.p/{w}"),
        format!("/log//tile/entries/000.p/{w}"),
        format!("/log/tile/./entries/000.p/{w}"),
        format!("/log/tile/0/../entries/000.p/{w}"),
        format!("/log/tile/entries/./000.p/{w}"),
        format!("/log/tile/entries/000.p/0{w}"),
        format!("/log/tile/ENTRIES/000.p/{w}"),
        format!("/log/tile/entries/000.p/{w}?x=1"),
        format!("/log/tile/entries/000.p/{w}#frag"),
        format!("/%6Cog/tile/entries/000.p/{w}"),
    ];
    for path in &spellings {
        for who in [None, Some(&stranger)] {
            let (status, leaked) = Raw::get(&cred, who, path);
            assert_ne!(
                status,
                200,
                "{path} answered {} bytes to {}",
                leaked.len(),
                if who.is_some() {
                    "a stranger"
                } else {
                    "anyone"
                }
            );
            assert!(!String::from_utf8_lossy(&leaked).contains("pak-officer"));
        }
        // To the node's own person, a spelling is either not served or is the same
        // resource: every spelling gets the canonical one's answer or none.
        let (status, got) = Raw::get(&cred, Some(&cred), path);
        assert!(
            status != 200 || got == body,
            "{path} answers other bytes than {canonical}"
        );
    }
    // The public parts stay public.
    assert_eq!(Raw::get(&cred, None, "/log/checkpoint").0, 200);
    assert_eq!(
        Raw::get(&cred, None, &format!("/log/tile/0/000.p/{w}")).0,
        200
    );
}

// ---------------------------------------------------------------- finding 3

/// Outsiders cannot stop the KAS: connections without a certificate (or with one the
/// node does not know) that declare 32 MiB bodies and send none claim nothing, so a
/// cleared person still opens at once; one address cannot hold more than its share
/// of connections; and the benchmark's no-op routes are not open to them.
#[test]
fn outsiders_cannot_hold_the_kas_or_the_node() {
    let p = pair();
    let officer = p.client("pak-officer");
    let tdf = seal(
        &officer,
        "SECRET//REL TO USA, PAK//SCOPE EXERCISES",
        Some(sandbox::AGREEMENT_ID),
    );
    let cred = p.sb.credential("pak-officer").unwrap();
    let stranger = p.sb.credential("usa-officer").unwrap();
    let mut held = Vec::new();
    for i in 0..16 {
        let who = (i % 2 == 1).then_some(&stranger);
        let mut raw = Raw::connect(&cred, who);
        raw.send(&format!(
            "POST /v1/kas/rewrap HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            wire::MAX_BODY
        ))
        .unwrap();
        held.push(raw);
    }
    for _ in 0..8 {
        let mut raw = Raw::connect(&cred, None);
        raw.send("PUT /v1/noop HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1073741824\r\n\r\n")
            .unwrap();
        held.push(raw);
    }
    std::thread::sleep(Duration::from_millis(300));
    let t0 = std::time::Instant::now();
    assert_eq!(
        open(&officer, &tdf).unwrap(),
        b"for the eyes it is released to"
    );
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "open took {:?} with outsiders holding connections",
        t0.elapsed()
    );
    // Each held request was answered at once, without its body being read.
    for raw in held.iter_mut() {
        let mut buf = [0u8; 64];
        let n = raw.tls.read(&mut buf).unwrap_or(0);
        let head = String::from_utf8_lossy(&buf[..n]);
        assert!(
            head.starts_with("HTTP/1.1 401") || head.starts_with("HTTP/1.1 403"),
            "{head:?}"
        );
    }
    drop(held);

    // One address holds at most its share of connections without a known certificate;
    // the node's people are not counted against it.
    let mut many = Vec::new();
    for _ in 0..accord_node::admission::MAX_STRANGER_CONNECTIONS_PER_ADDRESS + 8 {
        many.push(Raw::connect(&cred, None));
    }
    std::thread::sleep(Duration::from_millis(300));
    let mut open_ones = 0;
    for raw in many.iter_mut() {
        if raw
            .send("GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .is_ok()
        {
            let mut buf = [0u8; 32];
            if matches!(raw.tls.read(&mut buf), Ok(n) if n > 0) {
                open_ones += 1;
            }
        }
    }
    assert_eq!(
        open_ones,
        accord_node::admission::MAX_STRANGER_CONNECTIONS_PER_ADDRESS
    );
    assert_eq!(
        officer.whoami().unwrap().person,
        "pak-officer",
        "a known person connects while the address holds its share"
    );
    let _ = &p.usa;
}

/// Even one of the node's people cannot hold the body budget by trickling a body: past
/// the grace and the minimum rate, the request is answered 408 and its claim freed.
#[test]
fn a_trickled_body_is_cut_off() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let sb = support::sandbox(&rt, tmp.path());
    let opts = ServeOptions {
        admission: accord_node::admission::Admission {
            body_grace: Duration::from_secs(1),
            min_body_rate: 1 << 20,
            ..Default::default()
        },
        ..ServeOptions::default()
    };
    let pak = support::start(&rt, &sb.pak, opts);
    let cred = sb.credential("pak-officer").unwrap();
    let mut raw = Raw::connect(&cred, Some(&cred));
    raw.send(&format!(
        "POST /v1/kas/rewrap HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{{",
        1 << 20
    ))
    .unwrap();
    let t0 = std::time::Instant::now();
    let mut buf = [0u8; 256];
    let n = raw.tls.read(&mut buf).unwrap_or(0);
    let head = String::from_utf8_lossy(&buf[..n]);
    assert!(head.starts_with("HTTP/1.1 408"), "{head:?}");
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    // The person's next request goes through at once.
    let c = Client::new(cred).unwrap();
    assert_eq!(c.whoami().unwrap().person, "pak-officer");
    rt.block_on(pak.stop()).unwrap();
}
