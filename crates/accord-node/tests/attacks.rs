//! The attack review's findings (issue 15), driven through running nodes as an attacker
//! would: a raw TLS client writing its own request lines, a person of one party asking
//! through another, a person of the wrong nationality, an outsider holding connections,
//! a stripped assertion, malformed requests from a known person. Each test failed on
//! the code before the fix; each checks the variants an attacker would try next.

use accord_agreement::Time;
use accord_node::directory::{self, Enrolment};
use accord_node::home::Home;
use accord_node::sandbox::{self, Sandbox};
use accord_node::server::{self, Running, ServeOptions};
use accord_node_api::client::{self, Client};
use accord_node_api::credential::Credential;
use accord_node_api::wire;
mod common;

use common::log_entries;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

struct Pair {
    rt: tokio::runtime::Runtime,
    _tmp: tempfile::TempDir,
    sb: Sandbox,
    pak: Running,
    usa: Running,
}

fn pair() -> Pair {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let sb = common::sandbox(&rt, tmp.path());
    let start = |h: &Home| {
        rt.block_on(server::start(&h.layout.dir, ServeOptions::default()))
            .unwrap()
    };
    let pak = start(&sb.pak);
    let usa = start(&sb.usa);
    Pair {
        rt,
        _tmp: tmp,
        sb,
        pak,
        usa,
    }
}

impl Pair {
    fn client(&self, id: &str) -> Client {
        Client::new(self.sb.credential(id).unwrap()).unwrap()
    }

    /// Enrol `id` at `home` with `nationality` and a SECRET clearance under the
    /// node's national policy (Releasable To both parties, every scope).
    fn enrol(&self, home: &Home, id: &str, nationality: &str) -> Client {
        let party = home.config.party.clone();
        let classes: &[&str] = if party == "PAK" {
            &["UNCLASSIFIED", "RESTRICTED", "CONFIDENTIAL", "SECRET"]
        } else {
            &["UNCLASSIFIED", "CONFIDENTIAL", "SECRET"]
        };
        let clearance = serde_json::json!({
            "policy": {"name": party},
            "classifications": classes,
            "categories": [
                {"tagSet": "Releasable To", "values": ["PAK", "USA"]},
                {"tagSet": "Scope", "values": ["EXERCISES", "OPERATIONS", "TRAINING", "BASING", "EQUIPMENT"]}
            ]
        });
        let (_, cred) = self
            .rt
            .block_on(directory::add(
                home,
                &Enrolment {
                    id: id.into(),
                    name: format!("{id} name"),
                    nationality: nationality.into(),
                    clearance: ("clearance.json".into(), clearance.to_string().into_bytes()),
                    scopes: vec!["EXERCISES".into(), "OPERATIONS".into()],
                },
            ))
            .unwrap();
        Client::new(cred).unwrap()
    }

    /// Every entry of `home`'s audit log, once its published checkpoint covers them.
    fn entries(&self, running: &Running, home: &Home) -> Vec<serde_json::Value> {
        running.publish_log().unwrap();
        log_entries(home)
    }
}

/// Seal `marking` at the node of `c`, under the sandbox agreement or nationally.
fn seal(c: &Client, marking: &str, agreement: Option<&str>) -> Vec<u8> {
    let mut out = Vec::new();
    client::seal(
        c,
        &wire::SealPlanRequest {
            marking: Some(marking.into()),
            label: None,
            agreement: agreement.map(str::to_string),
        },
        &b"for the eyes it is released to"[..],
        &mut out,
        1 << 20,
        None,
    )
    .unwrap();
    out
}

fn manifest(tdf: &[u8]) -> serde_json::Value {
    client::read_manifest(&mut std::io::Cursor::new(tdf)).unwrap()
}

fn open(c: &Client, tdf: &[u8]) -> Result<Vec<u8>, accord_node::Error> {
    let mut out = Vec::new();
    client::open(c, &mut std::io::Cursor::new(tdf), &mut out, None, None).map(|_| out)
}

fn rules(reasons: &[wire::Reason]) -> Vec<&str> {
    reasons.iter().map(|r| r.rule.as_str()).collect()
}

/// A raw TLS connection to a node (pinned), presenting `identity` if given: the
/// request line and headers are written as given, byte for byte, so no client library
/// normalises a path an attacker would send as is.
struct Raw {
    tls: rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>,
}

impl Raw {
    fn connect(cred: &Credential, identity: Option<&Credential>) -> Raw {
        let cfg = accord_node_api::tls::client_config(
            vec![cred.node_tls_spki_sha256.clone()],
            identity.map(|c| (c.certificate.as_str(), c.private_key.as_str())),
        )
        .unwrap();
        let mut cfg = cfg;
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        let addr = cred
            .node_url
            .trim_start_matches("https://")
            .trim_end_matches('/')
            .to_string();
        let tcp = std::net::TcpStream::connect(&addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let conn = rustls::ClientConnection::new(
            Arc::new(cfg),
            rustls::pki_types::ServerName::try_from("localhost").unwrap(),
        )
        .unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        // Complete the handshake now (a server that drops the connection shows here).
        let _ = tls.conn.complete_io(&mut tls.sock);
        Raw { tls }
    }

    fn send(&mut self, head: &str) -> std::io::Result<()> {
        self.tls.write_all(head.as_bytes())?;
        self.tls.flush()
    }

    /// One request, `Connection: close`: the status and the body.
    fn get(cred: &Credential, identity: Option<&Credential>, path: &str) -> (u16, Vec<u8>) {
        let mut raw = Raw::connect(cred, identity);
        raw.send(&format!(
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        ))
        .unwrap();
        let mut buf = Vec::new();
        let _ = raw.tls.read_to_end(&mut buf);
        let text = String::from_utf8_lossy(&buf);
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("GET {path}: no status in {text:?}"));
        let body = buf
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|i| buf[i + 4..].to_vec())
            .unwrap_or_default();
        (status, body)
    }
}

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

// ---------------------------------------------------------------- finding 2

/// A person of PAK nationality enrolled at USA asks, through USA, for an object PAK
/// released to PAK only: PAK's KAS denies, naming releasability to the requesting
/// party, as the exchange route refuses to send it to USA. One rule, both routes.
#[test]
fn a_partner_route_releases_nothing_the_label_keeps_from_the_asking_party() {
    let p = pair();
    let officer = p.client("pak-officer");
    let tdf = seal(
        &officer,
        "SECRET//REL TO PAK//SCOPE EXERCISES",
        Some(sandbox::AGREEMENT_ID),
    );
    let insider = p.enrol(&p.sb.usa, "usa-pak-national", "PAK");
    let got = insider.rewrap_partners(vec![manifest(&tdf)]);
    let released = got.expect("PAK's KAS answers with its decision");
    assert_eq!(released.len(), 1);
    assert_eq!(released[0].decision, "deny", "{:?}", released[0].reasons);
    assert!(released[0].shares.is_empty());
    assert!(
        released[0]
            .reasons
            .iter()
            .any(|r| r.rule == "releasability" && r.text.contains("requesting party USA")),
        "{:?}",
        released[0].reasons
    );
    // Opening through the client fails too, whichever KAS it asks.
    assert!(open(&insider, &tdf).is_err());

    // The exchange route refuses the same object to USA with the same rule.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rel-pak.tdf");
    std::fs::write(&file, &tdf).unwrap();
    match officer.send("USA", &file, None) {
        Err(accord_node::Error::Denied(r)) => {
            assert!(rules(&r).contains(&"releasability"), "{r:?}")
        }
        other => panic!("send to USA: {other:?}"),
    }
    // PAK's log holds the partner route's deny, for the person USA asked for.
    let logged = p.entries(&p.pak, &p.sb.pak);
    assert!(logged.iter().any(|e| e["kind"] == "rewrap"
        && e["person"] == "usa-pak-national"
        && e["partner"] == "USA"
        && e["decision"] == "deny"));
    let _ = &p.usa;
}

// ---------------------------------------------------------------- finding 4

/// At PAK, a person of USA nationality with a PAK SECRET clearance: a national
/// `REL TO PAK` object is denied for releasability, exactly as the same label is
/// under the agreement. A PAK national is permitted both.
#[test]
fn national_decisions_weigh_nationality_as_agreement_decisions_do() {
    let p = pair();
    let officer = p.client("pak-officer");
    let foreigner = p.enrol(&p.sb.pak, "pak-usa-national", "USA");
    let national = seal(&officer, "SECRET//REL TO PAK//SCOPE EXERCISES", None);
    let under = seal(
        &officer,
        "SECRET//REL TO PAK//SCOPE EXERCISES",
        Some(sandbox::AGREEMENT_ID),
    );
    for (what, tdf) in [("national", &national), ("under the agreement", &under)] {
        let r = foreigner.rewrap(vec![manifest(tdf)]).unwrap();
        assert_eq!(r[0].decision, "deny", "{what}: {:?}", r[0].reasons);
        assert!(
            rules(&r[0].reasons).contains(&"releasability"),
            "{what}: {:?}",
            r[0].reasons
        );
        assert_eq!(
            open(&officer, tdf).unwrap(),
            b"for the eyes it is released to"
        );
    }
    // A label with no Releasable To is national to PAK: still not for a USA national.
    let bare = seal(&officer, "SECRET//SCOPE EXERCISES", None);
    let r = foreigner.rewrap(vec![manifest(&bare)]).unwrap();
    assert_eq!(r[0].decision, "deny", "{:?}", r[0].reasons);
    assert!(rules(&r[0].reasons).contains(&"releasability"));
    assert!(open(&officer, &bare).is_ok());
}

// ---------------------------------------------------------------- finding 6

/// An object whose marking assertion was stripped, or replaced by one signed by
/// another key, is refused before anything is released, and the inbox and log never
/// show an empty marking.
#[test]
fn a_stripped_or_foreign_marking_is_refused() {
    let p = pair();
    let officer = p.client("pak-officer");
    let tdf = seal(
        &officer,
        "SECRET//REL TO USA, PAK//SCOPE EXERCISES",
        Some(sandbox::AGREEMENT_ID),
    );
    let mut stripped = manifest(&tdf);
    stripped["assertions"]
        .as_array_mut()
        .unwrap()
        .retain(|a| a["id"] != accord_tdf::assertion::MARKING_ID);
    let r = officer.rewrap(vec![stripped]).unwrap();
    assert_eq!(r[0].decision, "deny");
    assert!(r[0].shares.is_empty());
    assert!(
        r[0].reasons
            .iter()
            .any(|x| x.rule == "object-integrity" && x.text.contains("marking")),
        "{:?}",
        r[0].reasons
    );
    // The whole object is refused at the receiving node too (sent as it is, with the
    // manifest rewritten in the container).
    let entries = p.entries(&p.pak, &p.sb.pak);
    for e in entries.iter().filter(|e| e["kind"] == "rewrap") {
        assert!(
            e["marking"].is_null() || e["marking"].as_str().is_some_and(|m| !m.is_empty()),
            "{e}"
        );
    }
    let _ = &p.usa;
}

// ---------------------------------------------------------------- finding 7 and 8

/// A known person's refusals are all in the audit log: a malformed body, no objects, a
/// classical return key; and a nonce used once is refused again in upper case.
#[test]
fn every_refusal_of_a_known_person_is_logged_and_nonces_are_normalised() {
    let p = pair();
    let officer = p.client("pak-officer");
    let tdf = seal(
        &officer,
        "SECRET//REL TO USA, PAK//SCOPE EXERCISES",
        Some(sandbox::AGREEMENT_ID),
    );
    let cred = p.sb.credential("pak-officer").unwrap();
    let http = {
        let tls = accord_node_api::tls::client_config(
            vec![cred.node_tls_spki_sha256.clone()],
            Some((&cred.certificate, &cred.private_key)),
        )
        .unwrap();
        reqwest::blocking::Client::builder()
            .use_preconfigured_tls(tls)
            .build()
            .unwrap()
    };
    let url = format!("{}/v1/kas/rewrap", cred.node_url.trim_end_matches('/'));
    let post = |body: Vec<u8>| {
        let r = http
            .post(&url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .unwrap();
        (r.status().as_u16(), r.text().unwrap())
    };
    let request = |nonce: String, key: String, objects: Vec<serde_json::Value>| {
        let req = wire::RewrapRequest {
            nonce,
            issued_at: time::OffsetDateTime::now_utc().unix_timestamp(),
            client_public_key: key,
            objects,
        };
        serde_json::to_vec(&officer.signed_rewrap_body(&req).unwrap()).unwrap()
    };
    let hybrid = accord_keys::KasPrivateKey::generate(accord_keys::KasAlg::HybridP384MlKem1024)
        .unwrap()
        .public_key()
        .to_pem();
    let classical = accord_keys::KasPrivateKey::generate(accord_keys::KasAlg::EcP384)
        .unwrap()
        .public_key()
        .to_pem();
    let nonce = |b: u8| hex::encode([b; 32]);

    let (s, t) = post(b"{not json".to_vec());
    assert_eq!(s, 400, "{t}");
    let (s, t) = post(request(nonce(1), hybrid.clone(), vec![]));
    assert_eq!(s, 400, "{t}");
    let (s, t) = post(request(nonce(2), classical, vec![manifest(&tdf)]));
    assert_eq!(s, 400, "{t}");
    // A nonce, once used, is used in any case of its hex digits.
    let (s, t) = post(request(nonce(0xab), hybrid.clone(), vec![manifest(&tdf)]));
    assert_eq!(s, 200, "{t}");
    let (s, t) = post(request(
        nonce(0xab).to_ascii_uppercase(),
        hybrid.clone(),
        vec![manifest(&tdf)],
    ));
    assert_eq!(s, 403, "{t}");
    assert!(t.contains("replayed"), "{t}");

    let logged: Vec<_> = p
        .entries(&p.pak, &p.sb.pak)
        .into_iter()
        .filter(|e| e["kind"] == "rewrap" && e["person"] == "pak-officer")
        .collect();
    let denies: Vec<String> = logged
        .iter()
        .filter(|e| e["decision"] == "deny")
        .map(|e| e["reasons"].to_string())
        .collect();
    // Malformed, no objects, classical key, replay: four refusals, each logged.
    assert_eq!(denies.len(), 4, "{denies:#?}");
    assert!(denies.iter().any(|r| r.contains("hybrid")), "{denies:#?}");
    assert!(denies.iter().any(|r| r.contains("replayed")), "{denies:#?}");
    let _ = &p.usa;
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
    let _ = (&p.usa, Time::now(), Path::new("."));
}

/// A partner node's refusals are logged as a person's are: a malformed forwarded
/// rewrap, and one with a classical return key, each leave a deny entry naming the
/// partner at the KAS that refused it.
#[test]
fn every_refusal_of_a_partner_node_is_logged() {
    let p = pair();
    let pak = accord_node::partners::in_force(
        &p.rt.block_on(p.usa.node.agreements()).unwrap(),
        "USA",
        Time::now(),
    )
    .into_iter()
    .find(|x| x.code == "PAK")
    .unwrap();
    let as_usa = {
        let _g = p.rt.enter();
        accord_node::partners::client(&p.sb.usa, &pak, Duration::from_secs(30)).unwrap()
    };
    let url = format!("{}/v1/fed/kas/rewrap", pak.url);
    let post = |body: Vec<u8>| {
        p.rt.block_on(async {
            let r = as_usa
                .post(&url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        })
    };
    let (s, t) = post(b"{\"person\":".to_vec());
    assert_eq!(s, 400, "{t}");
    let (s, t) = post(b"{}".to_vec());
    assert_eq!(s, 400, "{t}");
    let denies: Vec<_> = p
        .entries(&p.pak, &p.sb.pak)
        .into_iter()
        .filter(|e| e["kind"] == "rewrap" && e["partner"] == "USA" && e["decision"] == "deny")
        .collect();
    assert_eq!(denies.len(), 2, "{denies:#?}");
    let _ = Path::new(".");
}

/// Wait until `home`'s published checkpoint covers its whole log and carries the
/// cosignature of `partner`'s witness; its size.
fn wait_cosigned(running: &Running, home: &Home, partner: &Home) -> u64 {
    let wkey = std::fs::read_to_string(partner.layout.dir.join("witness/witness.vkey")).unwrap();
    let wkey = accord_log::note::VerifierKey::parse(wkey.trim()).unwrap();
    let vkey =
        accord_log::note::VerifierKey::parse(&home.party.node.as_ref().unwrap().log_verifier_key)
            .unwrap();
    let size = running.publish_log().unwrap();
    let src = accord_log::source::DirSource::new(home.layout.log());
    let t0 = std::time::Instant::now();
    loop {
        match accord_log::verify::verify_log(
            &src,
            &vkey,
            std::slice::from_ref(&wkey),
            None,
            &mut |_, _| {},
        ) {
            Ok(r) if r.entries >= size => return r.entries,
            other => assert!(
                t0.elapsed() < Duration::from_secs(30),
                "never cosigned: {other:?}"
            ),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if e.file_type().unwrap().is_dir() {
            copy_dir(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// A node restarted on its audit log restored from an older copy (behind what USA's
/// witness cosigned) refuses to serve, saying so; on the log USA witnessed it serves.
#[test]
fn a_node_on_a_rolled_back_log_refuses_to_serve() {
    let Pair {
        rt,
        _tmp,
        sb,
        pak,
        usa,
    } = pair();
    let officer = Client::new(sb.credential("pak-officer").unwrap()).unwrap();
    seal(&officer, "SECRET//REL TO PAK//SCOPE EXERCISES", None);
    let first = wait_cosigned(&pak, &sb.pak, &sb.usa);
    rt.block_on(pak.stop()).unwrap();
    let backup = _tmp.path().join("pak-log-backup");
    copy_dir(&sb.pak.layout.log(), &backup);

    let start = || rt.block_on(server::start(&sb.pak.layout.dir, ServeOptions::default()));
    let pak = start().expect("the log USA witnessed serves");
    for _ in 0..3 {
        seal(&officer, "SECRET//REL TO PAK//SCOPE EXERCISES", None);
    }
    let later = wait_cosigned(&pak, &sb.pak, &sb.usa);
    assert!(later > first, "{later} > {first}");
    rt.block_on(pak.stop()).unwrap();
    let witnessed = _tmp.path().join("pak-log-witnessed");
    copy_dir(&sb.pak.layout.log(), &witnessed);

    // The log as it was at `first` entries.
    std::fs::remove_dir_all(sb.pak.layout.log()).unwrap();
    copy_dir(&backup, &sb.pak.layout.log());
    let e = match start() {
        Ok(_) => panic!("a node on a rolled-back log served"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("rolled back") && e.contains("USA"), "{e}");
    assert!(e.contains("went backwards"), "{e}");

    // The variant: the old copy grown to the witnessed size with other entries (a fork
    // with the node's own log key): refused too.
    let log =
        accord_log::Log::open(&sb.pak.layout.log(), accord_log::LogOptions::default()).unwrap();
    let forged: Vec<Vec<u8>> = (first..later)
        .map(|i| format!("{{\"kind\":\"forged\",\"n\":{i}}}").into_bytes())
        .collect();
    log.appender().append_many_blocking(forged).unwrap();
    assert_eq!(log.close().unwrap().checkpoint.size, later);
    let e = match start() {
        Ok(_) => panic!("a node on a forked log served"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("rolled back") && e.contains("fork"), "{e}");

    // A partner cannot stop a node by claiming a larger tree: USA's witness state for
    // PAK's log replaced by a checkpoint of size 1,000,000 signed by another key. PAK,
    // on the log USA witnessed, serves.
    std::fs::remove_dir_all(sb.pak.layout.log()).unwrap();
    copy_dir(&witnessed, &sb.pak.layout.log());
    let origin = accord_log::writer::read_checkpoint(&sb.pak.layout.log())
        .unwrap()
        .checkpoint
        .origin;
    let liar =
        accord_log::note::SigningKey::generate(&origin, accord_log::note::TYPE_ED25519).unwrap();
    let claim = accord_log::checkpoint::Checkpoint {
        origin: origin.clone(),
        size: 1_000_000,
        root: [9u8; 32],
        extensions: vec![],
    }
    .to_text();
    let note = accord_log::note::Note {
        text: claim.clone(),
        signatures: vec![liar.sign(&claim, 0)],
    };
    let state =
        sb.usa
            .layout
            .dir
            .join("witness/state")
            .join(hex::encode(aws_lc_rs::digest::digest(
                &aws_lc_rs::digest::SHA256,
                origin.as_bytes(),
            )));
    assert!(state.exists(), "USA's witness holds PAK's log");
    std::fs::write(&state, note.to_bytes()).unwrap();
    let pak = start().expect("a partner's unsigned claim stops nothing");
    rt.block_on(pak.stop()).unwrap();
    rt.block_on(usa.stop()).unwrap();
}

/// A termination loaded at PAK reaches USA over federation, verified and loaded there:
/// USA then seals nothing more under the agreement, and its log records the copy it
/// took from PAK's node.
#[test]
fn a_termination_at_one_node_reaches_the_partner() {
    let p = pair();
    let held = p.rt.block_on(p.pak.node.agreements()).unwrap();
    let mut doc = held
        .iter()
        .find(|h| h.agreement.body.id == sandbox::AGREEMENT_ID)
        .unwrap()
        .agreement
        .clone();
    let before = doc.records.len();
    let key = accord_keys::load_signing_key(&p.sb.pak.layout.key("signing.key")).unwrap();
    let now = Time::now();
    doc.terminate(&key, Time::from_unix(now.unix() + 2).unwrap(), now)
        .unwrap();
    // The officer loads it at PAK only, as `accord agreement load` does.
    let store = p.rt.block_on(p.sb.pak.store()).unwrap();
    p.rt.block_on(accord_node::agreements::load(
        &store,
        &p.sb.pak.party,
        &doc.to_toml().unwrap(),
    ))
    .unwrap();
    p.rt.block_on(store.close());

    // USA learns of it without anyone loading it there.
    let t0 = std::time::Instant::now();
    loop {
        let usa_held = p.rt.block_on(p.usa.node.agreements()).unwrap();
        let records = usa_held
            .iter()
            .find(|h| h.agreement.body.id == sandbox::AGREEMENT_ID)
            .map(|h| h.agreement.records.len())
            .unwrap();
        if records > before {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "USA never got PAK's termination"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(2500));
    let us = p.client("usa-officer");
    let plan = us.seal_plan(&wire::SealPlanRequest {
        marking: Some("SECRET//REL TO USA, PAK//SCOPE EXERCISES".into()),
        label: None,
        agreement: Some(sandbox::AGREEMENT_ID.into()),
    });
    match plan {
        Err(accord_node::Error::Denied(r)) => {
            assert!(rules(&r).contains(&"agreement-in-force"), "{r:?}")
        }
        other => panic!("USA sealed under a terminated agreement: {other:?}"),
    }
    let logged = p.entries(&p.usa, &p.sb.usa);
    assert!(logged.iter().any(|e| e["kind"] == "agreement"
        && e["partner"] == "PAK"
        && e["decision"] == "permit"
        && e["agreement"] == sandbox::AGREEMENT_ID));
}

/// Even one of the node's people cannot hold the body budget by trickling a body: past
/// the grace and the minimum rate, the request is answered 408 and its claim freed.
#[test]
fn a_trickled_body_is_cut_off() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let sb = common::sandbox(&rt, tmp.path());
    let opts = ServeOptions {
        admission: accord_node::admission::Admission {
            body_grace: Duration::from_secs(1),
            min_body_rate: 1 << 20,
            ..Default::default()
        },
        ..ServeOptions::default()
    };
    let pak = rt
        .block_on(server::start(&sb.pak.layout.dir, opts))
        .unwrap();
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

/// A renewal is a new agreement, the receiving party's to enter: offered by the
/// partner's node before the receiver's party signed it, it is refused (and logged);
/// once both parties signed it, it is taken.
#[test]
fn a_renewal_comes_over_federation_only_once_signed_by_the_receiver() {
    let p = pair();
    let held = p.rt.block_on(p.usa.node.agreements()).unwrap();
    let current = held
        .iter()
        .find(|h| h.agreement.body.id == sandbox::AGREEMENT_ID)
        .unwrap()
        .agreement
        .clone();
    let pak_key = accord_keys::load_signing_key(&p.sb.pak.layout.key("signing.key")).unwrap();
    let usa_key = accord_keys::load_signing_key(&p.sb.usa.layout.key("signing.key")).unwrap();
    let now = Time::now();
    let mut renewal = current
        .renew(5, None, Some("CISMOA-SANDBOX-RENEWED".into()))
        .unwrap();
    renewal.approve(&pak_key, "PAK cabinet", now).unwrap();
    renewal.sign(&pak_key, now).unwrap();

    // PAK's node offers it, as its offer loop would.
    let usa_as_seen_by_pak = accord_node::partners::in_force(
        &p.rt.block_on(p.pak.node.agreements()).unwrap(),
        "PAK",
        Time::now(),
    )
    .into_iter()
    .find(|x| x.code == "USA")
    .unwrap();
    let as_pak = {
        let _g = p.rt.enter();
        accord_node::partners::client(&p.sb.pak, &usa_as_seen_by_pak, Duration::from_secs(30))
            .unwrap()
    };
    let offer = |doc: &accord_agreement::Agreement| {
        let url = format!(
            "{}/v1/fed/agreements/{}",
            usa_as_seen_by_pak.url, doc.body.id
        );
        let body = doc.to_canonical_json().unwrap();
        p.rt.block_on(async {
            let r = as_pak
                .put(&url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        })
    };
    let (s, t) = offer(&renewal);
    assert_eq!(s, 422, "{t}");
    assert!(t.contains("USA has not signed"), "{t}");
    renewal.approve(&usa_key, "USA DoD", now).unwrap();
    renewal.sign(&usa_key, now).unwrap();
    let (s, t) = offer(&renewal);
    assert_eq!(s, 200, "{t}");
    assert!(t.contains("\"new\""), "{t}");
    let logged = p.entries(&p.usa, &p.sb.usa);
    let taken: Vec<_> = logged
        .iter()
        .filter(|e| e["kind"] == "agreement" && e["agreement"] == "CISMOA-SANDBOX-RENEWED")
        .map(|e| e["decision"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(taken, ["deny", "permit"]);
}
