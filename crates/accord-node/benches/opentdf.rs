//! Rewraps per second through the OpenTDF route (`kas.AccessService/Rewrap`: a
//! DPoP-bound token, a DPoP proof and an ES256 signed request token per request, the
//! label rebuilt from each policy's attributes, RSA/ECDH return wrapping) against
//! Accord's own route (`/v1/kas/rewrap`: mutual TLS, a signed request, the signed label
//! verified) on the same objects, in the same run, both with the full decision and a
//! durable audit entry per object. Prints each rate, the ratio OpenTDF / Accord (target
//! >= 0.8), and the ratio to OpenTDF's published 300-400 bulk decrypts per second.
//!
//! `cargo bench -p accord-node --bench opentdf` (env: BULK=64, THREADS=4, SECS=5).

use accord_node::home::{DpopMode, Home};
use accord_node::sandbox;
use accord_node::server::{self, ServeOptions};
use accord_node_api::client::Client;
use accord_test_support::bench::{self, drive, env};
use accord_test_support::opentdf::OpenTdfClient;
use accord_test_support::sandbox_options;
use std::sync::Arc;

/// OpenTDF's own figure for bulk decrypts per second (the platform's published
/// performance numbers, 300-400): the middle of it.
const OPENTDF_PUBLISHED: f64 = 350.0;

fn main() {
    let bulk = env("BULK", 64);
    let threads = env("THREADS", 4);
    let secs = env("SECS", 5) as u64;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let sb = rt
        .block_on(sandbox::create(
            tmp.path(),
            &sandbox_options((None, None), accord_node::DEFAULT_RESERVE_MIB),
        ))
        .unwrap();
    accord_node::opentdf::enable(&sb.pak.layout.dir, DpopMode::Required, "CONFIDENTIAL").unwrap();
    let home = Home::open(&sb.pak.layout.dir).unwrap();
    let ot: Vec<OpenTdfClient> = (0..threads)
        .map(|_| OpenTdfClient::new(&home, "pak-officer"))
        .collect();
    let running = rt
        .block_on(server::start(&sb.pak.layout.dir, ServeOptions::default()))
        .unwrap();
    let cred = sb.credential("pak-officer").unwrap();
    let c = Client::new(cred.clone()).unwrap();
    // One bulk of distinct objects under the classical ceiling, sealed through the node.
    let manifests = bench::seal_distinct(
        &cred,
        "CONFIDENTIAL//REL TO USA, PAK//SCOPE EXERCISES",
        bulk,
        1,
    );
    let manifests = Arc::new(manifests);

    // Both routes warmed on the same objects (labels verified, shares unwrapped once).
    assert!(c
        .rewrap(manifests.to_vec())
        .unwrap()
        .iter()
        .all(|r| r.decision == "permit"));
    let tokens: Arc<Vec<String>> = Arc::new(ot.iter().map(OpenTdfClient::token).collect());
    let (s, r) = ot[0].rewrap_many(&tokens[0], &manifests);
    assert_eq!(s, 200, "{r}");
    let ot = Arc::new(ot);

    let accords: Arc<Vec<Client>> = Arc::new(
        (0..threads)
            .map(|_| Client::new(cred.clone()).unwrap())
            .collect(),
    );
    let (a, m) = (accords.clone(), manifests.clone());
    let accord = drive(
        threads,
        secs,
        bulk as u64,
        Arc::new(move |w| {
            let r = a[w].rewrap(m.to_vec()).unwrap();
            assert!(r.iter().all(|x| x.decision == "permit"));
        }),
    );
    let (o, t, m) = (ot.clone(), tokens.clone(), manifests.clone());
    let opentdf = drive(
        threads,
        secs,
        bulk as u64,
        Arc::new(move |w| {
            let (s, r) = o[w].rewrap_many(&t[w], &m);
            assert_eq!(s, 200, "{r}");
            let results = r["responses"].as_array().unwrap();
            assert!(
                results
                    .iter()
                    .all(|p| p["results"][0]["status"] == "permit"),
                "{r}"
            );
        }),
    );
    // One object per request, as otdf-python asks.
    let (o, t, m) = (ot.clone(), tokens.clone(), manifests.clone());
    let single = drive(
        threads,
        secs,
        1,
        Arc::new(move |w| {
            let (s, r) = o[w].rewrap_many(&t[w], &m[w % m.len()..w % m.len() + 1]);
            assert_eq!(s, 200, "{r}");
        }),
    );
    rt.block_on(running.stop()).unwrap();

    println!(
        "opentdf rewrap: {threads} clients, {bulk} objects per request, the same objects through both routes; full decision + durable audit entry per object"
    );
    for (name, run) in [
        ("accord route ", &accord),
        ("opentdf route", &opentdf),
        ("opentdf x1   ", &single),
    ] {
        println!(
            "  {name} {:>9.0} decisions/s  p50 {:>7.2} ms  p99 {:>7.2} ms per request",
            run.rate(),
            run.p50.as_secs_f64() * 1e3,
            run.p99.as_secs_f64() * 1e3
        );
    }
    println!(
        "  ratio opentdf / accord route (bulk {bulk}): {:.2}  (target >= 0.8)",
        opentdf.rate() / accord.rate()
    );
    println!(
        "  ratio to OpenTDF's published {OPENTDF_PUBLISHED:.0} bulk decrypts/s: bulk {:.1}, one object per request {:.1}",
        opentdf.rate() / OPENTDF_PUBLISHED,
        single.rate() / OPENTDF_PUBLISHED
    );
}
