//! Rewraps per second through a running node on loopback, with keep-alive and bulk
//! requests, beside the node's own no-op endpoint (the HTTP + TLS floor) in the same
//! run. Every rewrap decision is the full agreement decision and is durable in the
//! audit log before the answer. Prints decisions/s, p50/p99 request latency, the ratio
//! to the 5,000 decisions/s target and the ratio to the no-op floor.
//!
//! `cargo bench -p accord-node --bench rewrap` (env: BULK=64, THREADS=4, SECS=5,
//! COLD=1024 distinct objects for the first-open phase).

use accord_node::sandbox;
use accord_node::server::{self, ServeOptions};
use accord_node_api::client::Client;
use accord_test_support::bench::{self, drive, env};
use accord_test_support::sandbox_options;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// What this machine's cores can do at most for first opens: each costs two ES384
/// verifications (the label and marking assertions) and one P-384 ECDH (the KAS
/// unwrap), measured here with aws-lc on one thread and scaled to every core. The
/// ML-KEM half of the unwrap (~25 µs), HTTP, the decision and the log are left out, so
/// no server reaches it.
fn p384_ceiling() -> (f64, f64, f64) {
    let (verify, ecdh) = (bench::es384_verify_rate(), bench::ecdh_rate());
    (verify, ecdh, bench::cores() / (2.0 / verify + 1.0 / ecdh))
}

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
    let running = rt
        .block_on(server::start(&sb.pak.layout.dir, ServeOptions::default()))
        .unwrap();
    let cred = sb.credential("pak-officer").unwrap();
    let cold_n = env("COLD", 1024).div_ceil(bulk) * bulk;
    // Distinct objects, sealed through the node in parallel: the first rewrap of each
    // verifies its label and decapsulates its share (cold); later ones hit the node's
    // caches of that work (warm). Every rewrap still decides and logs durably.
    let mut all = bench::seal_distinct(&cred, bench::SECRET, cold_n + bulk, threads);
    let manifests: Vec<serde_json::Value> = all.split_off(cold_n);
    let t0 = Instant::now();
    let cold = bench::first_opens(&cred, &all, bulk, threads);
    if std::env::var_os("PHASE_CLOCK").is_some() {
        // For `perf record -k CLOCK_MONOTONIC` then `perf report --time A,B`: on Linux an
        // Instant is CLOCK_MONOTONIC, and its Debug form shows it.
        eprintln!("cold phase: from {t0:?} to {:?}", Instant::now());
    }
    // Warm up the one bulk the warm phase repeats.
    Client::new(cred.clone())
        .unwrap()
        .rewrap(manifests.clone())
        .unwrap();
    let body_len = serde_json::to_vec(&manifests).unwrap().len();

    let clients: Arc<Vec<Client>> = Arc::new(
        (0..threads)
            .map(|_| Client::new(cred.clone()).unwrap())
            .collect(),
    );
    let next = Arc::new(AtomicU64::new(0));
    let m = Arc::new(manifests);
    let (c1, n1, m1) = (clients.clone(), next.clone(), m.clone());
    let rewrap = drive(
        threads,
        secs,
        bulk as u64,
        Arc::new(move |_| {
            let c = &c1[(n1.fetch_add(1, Ordering::Relaxed) as usize) % c1.len()];
            let r = c.rewrap(m1.to_vec()).unwrap();
            assert!(r.iter().all(|x| x.decision == "permit"));
        }),
    );
    let payload = vec![b'x'; body_len];
    let (c2, n2) = (clients.clone(), next.clone());
    let noop = drive(
        threads,
        secs,
        bulk as u64,
        Arc::new(move |_| {
            let c = &c2[(n2.fetch_add(1, Ordering::Relaxed) as usize) % c2.len()];
            c.noop(payload.clone()).unwrap();
        }),
    );
    rt.block_on(running.stop()).unwrap();

    let rate = rewrap.ops as f64 / rewrap.secs;
    let cold_rate = cold.ops as f64 / cold.secs;
    let floor = noop.ops as f64 / noop.secs;
    println!(
        "rewrap: {threads} clients, {bulk} objects per request ({body_len} bytes), full agreement decision + durable audit entry per object"
    );
    println!(
        "  cold    {:>9.0} decisions/s  p50 {:>7.2} ms  p99 {:>7.2} ms per request ({} distinct objects, first open each)",
        cold_rate,
        cold.p50.as_secs_f64() * 1e3,
        cold.p99.as_secs_f64() * 1e3,
        cold.ops
    );
    println!(
        "  warm    {:>9.0} decisions/s  p50 {:>7.2} ms  p99 {:>7.2} ms per request ({secs} s, objects opened before)",
        rate,
        rewrap.p50.as_secs_f64() * 1e3,
        rewrap.p99.as_secs_f64() * 1e3
    );
    println!(
        "  no-op   {:>9.0} objects/s    p50 {:>7.2} ms  p99 {:>7.2} ms per request (same body size)",
        floor,
        noop.p50.as_secs_f64() * 1e3,
        noop.p99.as_secs_f64() * 1e3
    );
    println!(
        "  ratio to the 5,000 decisions/s target: cold {:.2}, warm {:.2}  (>= 1 meets it)",
        cold_rate / 5000.0,
        rate / 5000.0
    );
    println!("  warm rewrap / no-op floor: {:.2}", rate / floor);
    let (verify, ecdh, ceiling) = p384_ceiling();
    println!(
        "  P-384 on this machine: {verify:.0} ES384 verifications/s, {ecdh:.0} ECDH/s per core; two verifications and one ECDH per first open cap cold opens at {ceiling:.0}/s on all cores with nothing else running (cold reaches {:.2} of that; the target is {:.2} of it)",
        cold_rate / ceiling,
        5000.0 / ceiling
    );
}
