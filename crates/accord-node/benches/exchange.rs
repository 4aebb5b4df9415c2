//! Node-to-node exchange: objects per second for small sealed objects (delivered from
//! the PAK node's outbox to the USA node, checked there, kept, logged, receipted, the
//! receipt verified and logged back at PAK), and MB/s for one large object, beside
//! `curl` uploading the same file over TLS to the USA node's streaming no-op endpoint in
//! the same run. Prints the ratios to the targets (1,000 objects/s; 50% of curl).
//!
//! Small objects are measured twice. Node to node: they are sent while USA is down (the
//! backlog a partner outage leaves), then USA starts and the clock runs until PAK holds
//! every receipt. End to end: with both up, people send new ones and the clock runs
//! from the first send to the last receipt, so it includes each person's upload to
//! their own node and its checks there.
//!
//! `cargo bench -p accord-node --bench exchange` (env: OBJECTS=1000, OBJECT_KIB=10,
//! SENDERS=4, BIG_MIB=1024, WORK=dir for the big files, default the system temp dir).

use accord_node::sandbox;
use accord_node::server::{self, ServeOptions};
use accord_node::DeliveryOptions;
use accord_node_api::client::{self, Client};
use accord_node_api::wire;
use accord_test_support::bench::{self, env};
use accord_test_support::sandbox_options;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// CPU seconds this process has used (user + system), from /proc/self/stat.
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(") ").next().unwrap_or("");
    let f: Vec<f64> = after
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    // Fields 14 and 15 (utime, stime) in clock ticks; 100 per second on Linux.
    (f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0)) / 100.0
}

fn seal_to(c: &Client, input: impl std::io::Read + Send, out: &Path) -> String {
    let mut f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(out).unwrap());
    let s = client::seal(
        c,
        &wire::SealPlanRequest {
            marking: Some("SECRET//REL TO USA, PAK//SCOPE EXERCISES".into()),
            label: None,
            agreement: Some(sandbox::AGREEMENT_ID.into()),
            choose_agreement: false,
        },
        input,
        &mut f,
        accord_tdf::DEFAULT_SEGMENT_SIZE,
        None,
    )
    .unwrap();
    f.flush().unwrap();
    s.summary.manifest.policy_object().unwrap().uuid
}

/// Wait until nothing is queued (polling for one queued entry: the full listing
/// carries every receipt and grows by kilobytes per object, and even the queued ones
/// are thousands of rows at first; the poll must not be what is measured).
fn wait_delivered(c: &Client) -> Instant {
    let only = |state: &str| accord_node_api::exchange::OutboxFilter {
        state: Some(state.into()),
        limit: Some(1),
        ..Default::default()
    };
    loop {
        if c.outbox_filtered(&only("queued")).unwrap().is_empty() {
            let now = Instant::now();
            let refused = c.outbox_filtered(&only("refused")).unwrap();
            assert!(
                refused.is_empty(),
                "objects refused, the first for: {:?}",
                refused[0].reasons
            );
            return now;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Send `files` from `senders` threads.
fn send_all(cred: &accord_node_api::credential::Credential, files: &[PathBuf], senders: usize) {
    std::thread::scope(|s| {
        for t in 0..senders {
            let cred = cred.clone();
            s.spawn(move || {
                let c = Client::new(cred).unwrap();
                for f in files.iter().skip(t).step_by(senders) {
                    c.send("USA", f, None).unwrap();
                }
            });
        }
    });
}

fn main() {
    let objects = env("OBJECTS", 1000);
    let kib = env("OBJECT_KIB", 10);
    let senders = env("SENDERS", 4);
    let big_mib = env("BIG_MIB", 1024);
    let work: PathBuf = std::env::var("WORK")
        .map(PathBuf::from)
        .unwrap_or_else(|_| std::env::temp_dir());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir_in(&work).unwrap();
    let sb = rt
        .block_on(sandbox::create(
            tmp.path(),
            &sandbox_options((None, None), accord_node::DEFAULT_RESERVE_MIB),
        ))
        .unwrap();
    let opts = || ServeOptions {
        delivery: DeliveryOptions {
            // Short, so that the node-to-node phase starts within 50 ms of USA's return.
            retry_cap: Duration::from_millis(50),
            parallel: 16,
        },
        ..ServeOptions::default()
    };
    let pak = rt
        .block_on(server::start(&sb.pak.layout.dir, opts()))
        .unwrap();
    let mut usa = rt
        .block_on(server::start(&sb.usa.layout.dir, opts()))
        .unwrap();
    let cred = sb.credential("pak-officer").unwrap();

    // One large object first, while the outbox listing the bench polls is short.
    let big_plain = tmp.path().join("big.bin");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&big_plain).unwrap());
        let chunk: Vec<u8> = (0..(1 << 20)).map(|i| (i * 31 % 251) as u8).collect();
        for _ in 0..big_mib {
            f.write_all(&chunk).unwrap();
        }
    }
    let big = tmp.path().join("big.tdf");
    let c = Client::new(cred.clone()).unwrap();
    seal_to(&c, std::fs::File::open(&big_plain).unwrap(), &big);
    std::fs::remove_file(&big_plain).unwrap();
    let size = std::fs::metadata(&big).unwrap().len();
    // Each transfer starts on a quiet disk (sealing just wrote the file).
    let _ = std::process::Command::new("sync").status();
    let t1 = Instant::now();
    c.send("USA", &big, None).unwrap();
    let upload_secs = t1.elapsed().as_secs_f64();
    let big_done = wait_delivered(&c);
    let send_secs = t1.elapsed().as_secs_f64();
    if std::env::var_os("PHASE_CLOCK").is_some() {
        eprintln!(
            "large object: upload from {t1:?}, delivery from {:?} to {big_done:?}",
            t1 + Duration::from_secs_f64(upload_secs)
        );
    }
    let mbs = size as f64 / 1e6 / send_secs;
    let deliver_secs = send_secs - upload_secs;
    let node_mbs = size as f64 / 1e6 / deliver_secs;

    // Small objects, sealed beforehand (in parallel): a backlog and a live set.
    let small = tmp.path().join("small");
    std::fs::create_dir_all(&small).unwrap();
    let files = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for t in 0..senders {
            let (cred, files, small) = (cred.clone(), &files, &small);
            s.spawn(move || {
                let c = Client::new(cred).unwrap();
                for i in (t..2 * objects).step_by(senders) {
                    let data = vec![(i % 251) as u8; kib * 1024];
                    let p = small.join(format!("{i}.tdf"));
                    seal_to(&c, &data[..], &p);
                    files.lock().unwrap().push(p);
                }
            });
        }
    });
    let files = files.into_inner().unwrap();
    let (backlog, live) = files.split_at(objects);

    // Node to node: the backlog queued while USA is down, then USA back. The disk is
    // let finish writing back what came before (the large object, twice), so that its
    // flushing is not counted against the small objects' syncs.
    rt.block_on(usa.stop()).unwrap();
    send_all(&cred, backlog, senders);
    let _ = std::process::Command::new("sync").status();
    let t_start = Instant::now();
    usa = rt
        .block_on(server::start(&sb.usa.layout.dir, opts()))
        .unwrap();
    let t0 = Instant::now();
    let cpu0 = cpu_secs();
    let usa_start = t0 - t_start;
    let done = wait_delivered(&c);
    let n2n_secs = (done - t0).as_secs_f64();
    let n2n_cpu = cpu_secs() - cpu0;
    let n2n_rate = objects as f64 / n2n_secs;
    if std::env::var_os("PHASE_CLOCK").is_some() {
        // For `perf record -k CLOCK_MONOTONIC` then `perf report --time A,B`: on Linux an
        // Instant is CLOCK_MONOTONIC, and its Debug form shows it.
        eprintln!("node-to-node phase: from {t0:?} to {done:?}");
    }

    // End to end: people send while both nodes run.
    let t0 = Instant::now();
    send_all(&cred, live, senders);
    let queued = t0.elapsed();
    let done = wait_delivered(&c);
    let small_secs = (done - t0).as_secs_f64();
    let rate = objects as f64 / small_secs;

    // curl: the same file over TLS to the USA node's streaming no-op endpoint, with a
    // USA person's credential (the no-op is for the node's people only).
    let _ = std::process::Command::new("sync").status();
    let url = format!("https://127.0.0.1:{}/v1/noop", usa.addr.port());
    let us = sb.credential("usa-officer").unwrap();
    let (cert_pem, key_pem) = (tmp.path().join("usa.crt"), tmp.path().join("usa.key"));
    std::fs::write(&cert_pem, &us.certificate).unwrap();
    std::fs::write(&key_pem, us.private_key.as_bytes()).unwrap();
    let t2 = Instant::now();
    let st = std::process::Command::new("curl")
        .args([
            "-sS",
            "-k",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-X",
            "PUT",
            "--cert",
        ])
        .arg(&cert_pem)
        .arg("--key")
        .arg(&key_pem)
        .arg("-T")
        .arg(&big)
        .arg(&url)
        .output()
        .expect("curl");
    let curl_secs = t2.elapsed().as_secs_f64();
    assert_eq!(String::from_utf8_lossy(&st.stdout), "204", "curl: {st:?}");
    let curl_mbs = size as f64 / 1e6 / curl_secs;

    rt.block_on(usa.stop()).unwrap();
    rt.block_on(pak.stop()).unwrap();
    println!(
        "exchange: PAK node -> USA node on loopback, {senders} senders, each object checked at both nodes, logged at both, receipted and the receipt verified"
    );
    println!(
        "  {objects} x {kib} KiB objects, node to node (a backlog left by an outage; USA serving again -> every receipt verified at PAK): {n2n_rate:.0} objects/s ({n2n_secs:.2} s); ratio to the 1,000/s target: {:.2}",
        n2n_rate / 1000.0
    );
    // The receiver checks two ES384 signatures per object (the label and marking
    // assertions): whatever else is done, that bounds node to node on this machine.
    let verify = bench::es384_verify_rate();
    let cores = bench::cores();
    let ceiling = cores * verify / 2.0;
    println!(
        "    the receiver's label check alone (two ES384 verifications per object, {verify:.0}/s per core here now) caps this at {ceiling:.0} objects/s on {cores} cores: node to node reached {:.2} of it",
        n2n_rate / ceiling
    );
    println!(
        "    (the clock starts once USA serves; USA took {:.2} s to start, not counted; both nodes used {n2n_cpu:.2} CPU s, {:.2} ms per object)",
        usa_start.as_secs_f64(),
        n2n_cpu * 1000.0 / objects as f64
    );
    println!(
        "  {objects} x {kib} KiB objects, end to end ({senders} people sending through PAK while both run): {rate:.0} objects/s ({small_secs:.2} s; all queued after {:.2} s)",
        queued.as_secs_f64(),
    );
    println!(
        "  one {:.0} MB object, node to node (queued at PAK -> checked and kept at USA -> receipt verified at PAK): {node_mbs:.0} MB/s ({deliver_secs:.2} s)",
        size as f64 / 1e6
    );
    println!(
        "  the same, end to end from the person's upload to PAK: {mbs:.0} MB/s ({send_secs:.2} s, of which {upload_secs:.2} s uploading)"
    );
    println!("  curl PUT of the same file to the USA node's no-op: {curl_mbs:.0} MB/s ({curl_secs:.2} s)");
    println!(
        "  ratio to curl: node to node {:.2}, end to end {:.2} (target >= 0.50)",
        node_mbs / curl_mbs,
        mbs / curl_mbs
    );
}
