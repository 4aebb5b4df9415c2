//! The party node end to end through its public interface: a node home made by
//! `init`, people enrolled with credentials, the node serving HTTPS on loopback, and
//! people sealing and opening through it with real mTLS, real KAS rewrap and the
//! audit log.

use accord_node::directory;
use accord_node::home::Home;
use accord_node::server::{self, ServeOptions};
use accord_node_api::client::{self, Client};
use accord_node_api::wire;
use accord_test_support::clearance::{LOW, MARKING, SECRET};
use accord_test_support::{make_node, open};

fn seal(client: &Client, text: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    client::seal(
        client,
        &wire::SealPlanRequest {
            marking: Some(MARKING.into()),
            label: None,
            agreement: None,
            choose_agreement: false,
        },
        text,
        &mut out,
        accord_tdf::DEFAULT_SEGMENT_SIZE,
        None,
    )
    .unwrap();
    out
}

fn denied_rules(r: Result<Vec<u8>, accord_node::Error>) -> Vec<String> {
    match r {
        Err(accord_node::Error::Denied(reasons)) => {
            reasons.into_iter().map(|r| r.rule.to_string()).collect()
        }
        other => panic!("expected a denial, got {other:?}"),
    }
}

#[test]
fn seal_open_and_denials_through_the_running_node() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pak");
    let creds = make_node(
        &rt,
        &dir,
        "PAK",
        &[("officer", SECRET), ("clerk", LOW), ("other", SECRET)],
    );
    let running = rt
        .block_on(server::start(&dir, ServeOptions::default()))
        .unwrap();

    let officer = Client::new(creds[0].clone()).unwrap();
    let clerk = Client::new(creds[1].clone()).unwrap();
    let other = Client::new(creds[2].clone()).unwrap();
    assert_eq!(officer.whoami().unwrap().person, "officer");

    // A cleared person seals and opens.
    let plain = b"exercise plan, phase 2".repeat(1000);
    let tdf = seal(&officer, &plain);
    assert_eq!(open(&officer, &tdf).unwrap(), plain);

    // Not cleared for SECRET.
    assert_eq!(denied_rules(open(&clerk, &tdf)), vec!["clearance"]);
    // The clerk may not apply a label they could not read.
    let mut sink = Vec::new();
    let r = client::seal(
        &clerk,
        &wire::SealPlanRequest {
            marking: Some(MARKING.into()),
            label: None,
            agreement: None,
            choose_agreement: false,
        },
        &b"x"[..],
        &mut sink,
        1 << 20,
        None,
    );
    assert!(matches!(r, Err(accord_node::Error::Denied(_))), "{r:?}");

    // Suspended, then resumed.
    let home = Home::open(&dir).unwrap();
    rt.block_on(directory::set_status(&home, "other", false))
        .unwrap();
    assert_eq!(denied_rules(open(&other, &tdf)), vec!["person-active"]);
    rt.block_on(directory::set_status(&home, "other", true))
        .unwrap();
    assert_eq!(open(&other, &tdf).unwrap(), plain);

    // A tampered object: the label's marking assertion altered.
    let manifest = client::read_manifest(&mut std::io::Cursor::new(tdf.clone())).unwrap();
    let mut bad = manifest.clone();
    bad["assertions"][1]["statement"]["value"] = serde_json::json!("UNCLASSIFIED");
    let rel = officer.rewrap(vec![bad]).unwrap();
    assert_eq!(rel[0].decision, "deny");
    assert_eq!(rel[0].reasons[0].rule, "object-integrity");
    assert!(rel[0].shares.is_empty());

    // A replayed rewrap request.
    let eph =
        accord_keys::KasPrivateKey::generate(accord_keys::KasAlg::HybridP384MlKem1024).unwrap();
    let req = wire::RewrapRequest {
        nonce: "ab".repeat(32),
        issued_at: time::OffsetDateTime::now_utc().unix_timestamp(),
        client_public_key: eph.public_key().to_pem(),
        objects: vec![manifest.clone()],
    };
    let body = officer.signed_rewrap_body(&req).unwrap();
    let first = officer.send_rewrap_body(&body).unwrap();
    assert_eq!(first.results[0].decision, "permit");
    match officer.send_rewrap_body(&body) {
        Err(accord_node::Error::Denied(r)) => {
            assert_eq!(r[0].rule, "request");
            assert!(r[0].text.contains("replayed"), "{}", r[0].text);
        }
        other => panic!("replay accepted: {other:?}"),
    }
    // A request signed by someone else's key than the credential's.
    let mut forged = officer
        .signed_rewrap_body(&wire::RewrapRequest {
            nonce: "cd".repeat(32),
            ..req.clone()
        })
        .unwrap();
    forged.signature = clerk
        .signed_rewrap_body(&wire::RewrapRequest {
            nonce: "cd".repeat(32),
            ..req
        })
        .unwrap()
        .signature;
    assert!(matches!(
        officer.send_rewrap_body(&forged),
        Err(accord_node::Error::Denied(_))
    ));

    // A credential from another node.
    let dir2 = tmp.path().join("pak2");
    let foreign = make_node(&rt, &dir2, "PAK", &[("officer", SECRET)]);
    let mut stray = foreign[0].clone();
    stray.node_url = creds[0].node_url.clone();
    stray.node_tls_spki_sha256 = creds[0].node_tls_spki_sha256.clone();
    let stray = Client::new(stray).unwrap();
    assert_eq!(denied_rules(open(&stray, &tdf)), vec!["credential"]);

    // A node certificate that is not the pinned one is refused by the client: with a
    // format 1 credential (the pin alone), and with a format 2 one whose CA is another
    // node's. With its own node's CA, a credential trusts the certificate that CA
    // issued for the node's name whatever the pin (the node may have a new key).
    let mut wrong_pin = creds[0].clone();
    wrong_pin.node_tls_spki_sha256 = "00".repeat(32);
    let mut v1 = wrong_pin.clone();
    v1.accord_credential = 1;
    v1.node_ca_certificate = None;
    let e = open(&Client::new(v1).unwrap(), &tdf).unwrap_err();
    assert!(e.to_string().contains("not the one pinned"), "{e}");
    let mut other_ca = wrong_pin.clone();
    other_ca.node_ca_certificate = foreign[0].node_ca_certificate.clone();
    let e = open(&Client::new(other_ca).unwrap(), &tdf).unwrap_err();
    assert!(e.to_string().contains("not the one pinned"), "{e}");
    assert_eq!(open(&Client::new(wrong_pin).unwrap(), &tdf).unwrap(), plain);

    // Every decision is in the audit log, which verifies.
    rt.block_on(running.stop()).unwrap();
    let log = dir.join("log");
    let vkey =
        accord_log::note::VerifierKey::parse(&home.party.node.as_ref().unwrap().log_verifier_key)
            .unwrap();
    let src = accord_log::source::DirSource::new(&log);
    let report = accord_log::verify::verify_log(&src, &vkey, &[], None, &mut |_, _| {}).unwrap();
    // Three enrolments, the suspension and the resumption (directory changes made on
    // the command line, written by the node), then the decisions: label, open, clerk's
    // open, clerk's refused label, suspended, resumed, tampered, replay x2, forged,
    // stray credential, the open through the node CA.
    assert_eq!(report.entries, 17);
}

/// The node holds a bounded amount of request body in memory at once: with the budget
/// taken by a body still arriving (from one of its people: a stranger claims nothing,
/// tests/attacks/connections.rs), the next request waits, then gets 503 with
/// Retry-After before its body is read; when the budget is free again requests go
/// through. A seal plan over its own 1 MiB limit gets 413.
#[test]
fn request_bodies_held_at_once_are_bounded() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pak");
    let creds = make_node(&rt, &dir, "PAK", &[("officer", SECRET)]);
    let opts = ServeOptions {
        admission: accord_node::admission::Admission {
            budget: 1 << 20,
            wait: std::time::Duration::from_millis(300),
            ..Default::default()
        },
        ..ServeOptions::default()
    };
    let running = rt.block_on(server::start(&dir, opts)).unwrap();
    let url = creds[0].node_url.clone();
    let pin = creds[0].node_tls_spki_sha256.clone();

    // A person's client starts a 1 MiB rewrap body and stops sending.
    let (release, hold) = tokio::sync::oneshot::channel::<()>();
    let anonymous = reqwest::Client::builder()
        .use_preconfigured_tls(
            accord_node_api::tls::client_config(
                vec![pin],
                Some((&creds[0].certificate, &creds[0].private_key)),
            )
            .unwrap(),
        )
        .build()
        .unwrap();
    let stalled = {
        let first: Result<Vec<u8>, std::io::Error> = Ok(vec![b'{'; 1024]);
        let rest = futures_util::stream::once(async move {
            let _ = hold.await;
            Err::<Vec<u8>, _>(std::io::Error::other("the client gave up"))
        });
        let body = reqwest::Body::wrap_stream(futures_util::StreamExt::chain(
            futures_util::stream::iter([first]),
            rest,
        ));
        let req = anonymous
            .post(format!("{url}/v1/kas/rewrap"))
            .header("content-length", (1u64 << 20).to_string())
            .body(body)
            .send();
        rt.spawn(req)
    };
    std::thread::sleep(std::time::Duration::from_millis(300));

    // A person's seal plan now waits for room, and is told to come back.
    let officer = Client::new(creds[0].clone()).unwrap();
    let plan = wire::SealPlanRequest {
        marking: Some(MARKING.into()),
        label: None,
        agreement: None,
        choose_agreement: false,
    };
    let t0 = std::time::Instant::now();
    match officer.seal_plan(&plan) {
        Err(accord_node::Error::NodeRefused { status, error, .. }) => {
            assert_eq!(status, 503, "{error}");
            assert!(error.contains("busy"), "{error}");
        }
        other => panic!("expected 503, got {other:?}"),
    }
    assert!(t0.elapsed() >= std::time::Duration::from_millis(250));

    // The stalled body gives up: the budget is free again.
    release.send(()).unwrap();
    let _ = rt.block_on(stalled);
    officer.seal_plan(&plan).unwrap();

    // A seal plan has a limit of its own, far below the bulk routes'.
    let big = wire::SealPlanRequest {
        marking: None,
        label: Some("x".repeat(2 << 20)),
        agreement: None,
        choose_agreement: false,
    };
    let e = officer.seal_plan(&big).unwrap_err().to_string();
    assert!(e.contains("413"), "{e}");
    rt.block_on(running.stop()).unwrap();
}

/// The metrics listener: `/metrics` in Prometheus text format, read with a parser of
/// that format (not by pattern), counting the decisions made through the API (a permit
/// and a refusal with its rule), the rewraps' latency, and the outbox by partner; the
/// HTTPS API does not serve it.
#[test]
fn metrics_count_what_the_node_decided_and_a_prometheus_parser_reads_them() {
    use accord_test_support::{seal_into, Pair};
    let p = Pair::start(|| ServeOptions {
        metrics_listen: Some("127.0.0.1:0".into()),
        ..ServeOptions::default()
    });
    let usa_officer = Client::new(p.sb.credential("usa-officer").unwrap()).unwrap();
    let usa_clerk = Client::new(p.sb.credential("usa-clerk").unwrap()).unwrap();
    let marking = "SECRET//REL TO USA, PAK//SCOPE EXERCISES";
    let file = seal_into(
        &p.officer,
        marking,
        Some(accord_node::sandbox::AGREEMENT_ID),
        b"counted",
        p.tmp.path(),
    );
    let tdf = std::fs::read(&file).unwrap();
    assert_eq!(open(&usa_officer, &tdf).unwrap(), b"counted");
    assert_eq!(denied_rules(open(&usa_clerk, &tdf)), ["clearance"]);
    p.officer.send("USA", &file, None).unwrap();

    let scrape = |addr: std::net::SocketAddr| {
        let resp = reqwest::blocking::get(format!("http://{addr}/metrics")).unwrap();
        assert!(resp.status().is_success());
        let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
        assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
        let text = resp.text().unwrap();
        let lines = text.lines().map(|l| Ok(l.to_string()));
        prometheus_parse::Scrape::parse(lines).unwrap()
    };
    let value = |s: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]| -> f64 {
        s.samples
            .iter()
            .filter(|x| x.metric == name && labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
            .map(|x| match x.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => 0.0,
            })
            .sum()
    };
    let usa = scrape(p.usa.metrics_addr.expect("a metrics listener"));
    let rewrap = |d| {
        value(
            &usa,
            "accord_decisions_total",
            &[("kind", "rewrap"), ("decision", d)],
        )
    };
    assert!(
        rewrap("permit") >= 1.0 && rewrap("deny") >= 1.0,
        "{:?}",
        usa.samples
    );
    assert!(
        value(
            &usa,
            "accord_refusal_reasons_total",
            &[("kind", "rewrap"), ("rule", "clearance")]
        ) >= 1.0
    );
    let hist = usa
        .samples
        .iter()
        .find(|s| s.metric == "accord_rewrap_seconds")
        .expect("the rewrap histogram");
    match &hist.value {
        prometheus_parse::Value::Histogram(buckets) => {
            let counts: Vec<f64> = buckets.iter().map(|b| b.count).collect();
            assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{counts:?}");
            assert!(*counts.last().unwrap() >= 2.0, "{counts:?}");
        }
        other => panic!("not a histogram: {other:?}"),
    }
    assert!(value(&usa, "accord_disk_reserve_bytes", &[]) >= 0.0);
    // What expires: the node's certificates (years away), the agreement in force, and
    // no credential within 30 days.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    for cert in ["tls", "ca"] {
        let t = value(
            &usa,
            "accord_certificate_expiry_timestamp_seconds",
            &[("certificate", cert)],
        );
        assert!(t > now + 365.0 * 86_400.0, "{cert}: {t}");
    }
    assert!(
        value(&usa, "accord_agreement_expiry_timestamp_seconds", &[]) > now,
        "{:?}",
        usa.samples
    );
    // Present (its query ran on this database) and zero: every credential has a year.
    assert!(usa
        .samples
        .iter()
        .any(|s| s.metric == "accord_credentials_expiring"));
    assert_eq!(value(&usa, "accord_credentials_expiring", &[]), 0.0);
    assert!(usa
        .samples
        .iter()
        .any(|s| s.metric == "accord_audit_log_entries"));
    let pak = scrape(p.pak.metrics_addr.unwrap());
    assert_eq!(
        value(&pak, "accord_outbox_objects", &[("partner", "USA")]),
        1.0
    );
    assert!(
        value(
            &pak,
            "accord_decisions_total",
            &[("kind", "label"), ("decision", "permit")]
        ) >= 1.0
    );
    // Once USA's witness has cosigned PAK's log, PAK says how far.
    accord_test_support::wait_cosigned(&p.sb.pak, &p.sb.usa, 1, std::time::Duration::from_secs(30));
    let pak = scrape(p.pak.metrics_addr.unwrap());
    assert!(
        value(
            &pak,
            "accord_witness_cosigned_entries",
            &[("partner", "USA")]
        ) >= 1.0,
        "{:?}",
        pak.samples
    );
    // The HTTPS API has no such route: the metrics are on their own listener only.
    assert!(!server::ROUTES.iter().any(|(_, path)| *path == "/metrics"));
    let Pair { rt, pak, usa, .. } = p;
    rt.block_on(usa.stop()).unwrap();
    rt.block_on(pak.stop()).unwrap();
}
