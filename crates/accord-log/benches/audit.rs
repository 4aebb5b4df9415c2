//! Audit log benchmark (`cargo bench -p accord-log --bench audit`). Prints each figure
//! with its ratio to the target or limit measured in the same run:
//!
//! * durable appends/s of 300-byte entries from many concurrent callers (target 50,000/s);
//! * append-to-checkpoint latency p50/p99 (target p99 < 1 s);
//! * inclusion-proof generation from tiles and verification time;
//! * `verify` throughput over a 1,000,000-entry log, against the SHA-256 leaf-hashing
//!   limit of the same entries measured in memory.
//!
//! `ACCORD_BENCH_ENTRIES` changes the log size (default 1,000,000); `ACCORD_BENCH_DIR`
//! where the log is written (default: a temporary directory under /tmp).

use std::sync::Arc;
use std::time::{Duration, Instant};

use accord_log::hash::leaf_hash;
use accord_log::merkle::{inclusion_proof, verify_inclusion};
use accord_log::source::{DirSource, LogSource, TileNodes};
use accord_log::tile::{entries_path, parse_bundle, tile_width, TILE_WIDTH};
use accord_log::verify::verify_log;
use accord_log::writer::create_log;
use accord_log::{Log, LogOptions};

fn entry(i: u64) -> Vec<u8> {
    let mut e = format!(
        "{{\"decision\":\"permit\",\"n\":{i},\"person\":\"analyst-{}\",\"object\":\"doc-{}\"}}",
        i % 977,
        i * 31
    )
    .into_bytes();
    e.resize(300, b' ');
    e
}

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p) as usize]
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("audit: benchmark");
        return;
    }
    let total: u64 = std::env::var("ACCORD_BENCH_ENTRIES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let base = std::env::var("ACCORD_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::env::temp_dir());
    let tmp = tempfile::tempdir_in(base).unwrap();
    let dir = tmp.path().join("log");
    let key = create_log(&dir, "bench.accord.example/log")
        .unwrap()
        .verifier()
        .clone();
    let log = Log::open(&dir, LogOptions::default()).unwrap();

    // 1. Durable appends: 512 concurrent callers, each awaiting its own durability.
    let callers = 512u64;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let latencies = Arc::new(std::sync::Mutex::new(Vec::new()));
    let t0 = Instant::now();
    rt.block_on(async {
        let mut tasks = Vec::new();
        for c in 0..callers {
            let a = log.appender();
            let mut watch = log.checkpoints();
            let lat = latencies.clone();
            tasks.push(tokio::spawn(async move {
                let mut i = c;
                while i < total {
                    let sample = i % 1000 == 0;
                    let start = Instant::now();
                    let idx = a.append(entry(i)).await.unwrap();
                    if sample {
                        // Append-to-checkpoint latency: until a checkpoint covers idx.
                        watch.wait_for(|s| *s > idx).await.unwrap();
                        lat.lock().unwrap().push(start.elapsed());
                    }
                    i += callers;
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
    let append_secs = t0.elapsed().as_secs_f64();
    let cp = log.close().unwrap();
    assert_eq!(cp.checkpoint.size, total);
    let rate = total as f64 / append_secs;
    println!("durable appends: {total} entries of 300 bytes, {callers} concurrent callers, {append_secs:.2} s = {rate:.0} entries/s; ratio to target 50,000/s: {:.2}", rate / 50_000.0);
    let mut lat = latencies.lock().unwrap().clone();
    let (p50, p99) = (pct(&mut lat, 0.50), pct(&mut lat, 0.99));
    println!(
        "append-to-checkpoint latency ({} samples): p50 {:.1} ms, p99 {:.1} ms; p99 ratio to the 1 s limit: {:.3}",
        lat.len(),
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        p99.as_secs_f64()
    );

    // 2. Inclusion proofs from the tiles on disk, and their verification.
    let src = DirSource::new(&dir);
    let n = 2000u64;
    let mut proofs = Vec::new();
    let t = Instant::now();
    for k in 0..n {
        let idx = (k * 7_919_993) % total;
        let mut nodes = TileNodes::new(&src, total); // cold cache: reads tiles each time
        proofs.push((idx, inclusion_proof(&mut nodes, idx, total).unwrap()));
    }
    let gen = t.elapsed() / n as u32;
    // Entries land in the order callers were acknowledged: read the leaves back.
    let leaves: Vec<_> = proofs
        .iter()
        .map(|(idx, _)| {
            let w = tile_width(0, idx / TILE_WIDTH, total);
            let path = entries_path(idx / TILE_WIDTH, w);
            let data = src.fetch(&path).unwrap();
            leaf_hash(parse_bundle(&path, &data, w).unwrap()[(idx % TILE_WIDTH) as usize])
        })
        .collect();
    let t = Instant::now();
    for ((idx, p), leaf) in proofs.iter().zip(&leaves) {
        let p: Vec<Vec<u8>> = p.iter().map(|h| h.to_vec()).collect();
        verify_inclusion(*idx, total, leaf, &p, &cp.checkpoint.root).unwrap();
    }
    let ver = t.elapsed() / n as u32;
    // Peer: one SHA-256 interior-node hash, measured here.
    let t = Instant::now();
    let mut h = [0u8; 32];
    for _ in 0..100_000 {
        h = accord_log::hash::node_hash(&h, &h);
    }
    let node = t.elapsed() / 100_000;
    println!(
        "inclusion proof (size {total}): generate {:.1} µs from tiles on disk (ratio to a 1 ms budget: {:.3}), verify {:.2} µs = {:.1} node hashes of {:.2} µs (ratio to the {}-hash minimum: {:.2})",
        gen.as_secs_f64() * 1e6,
        gen.as_secs_f64() / 1e-3,
        ver.as_secs_f64() * 1e6,
        ver.as_secs_f64() / node.as_secs_f64(),
        node.as_secs_f64() * 1e6,
        proofs[0].1.len() + 1,
        ver.as_secs_f64() / node.as_secs_f64() / (proofs[0].1.len() + 1) as f64
    );

    // 3. Full verification of the log vs the leaf-hashing limit for the same entries.
    let t = Instant::now();
    let report = verify_log(&src, &key, &[], None, &mut |_, _| {}).unwrap();
    let vsecs = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut acc = 0u8;
    for i in 0..total {
        acc ^= leaf_hash(&entry(i))[0];
    }
    let hsecs = t.elapsed().as_secs_f64();
    std::hint::black_box(acc);
    println!(
        "verify: {} entries, {} tiles in {vsecs:.2} s = {:.0} entries/s; leaf hashing alone {:.0} entries/s; ratio to that limit: {:.2}",
        report.entries,
        report.tiles,
        total as f64 / vsecs,
        total as f64 / hsecs,
        hsecs / vsecs
    );
}
