//! Crash injection: a child process appends in a loop, printing each acknowledged
//! index; the parent kills it with SIGKILL at random moments (between journal writes,
//! tile writes and checkpoint writes), reopens the log, and checks that it verifies and
//! holds every acknowledged entry. The child is this test binary re-executed.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use accord_log::source::{DirSource, LogSource};
use accord_log::tile::{entries_path, parse_bundle, tile_width, TILE_WIDTH};
use accord_log::verify::verify_log;
use accord_log::{Log, LogOptions};

const CHILD_ENV: &str = "ACCORD_LOG_CRASH_CHILD";

fn child_entry(round: u32, i: u64) -> Vec<u8> {
    format!("round {round} entry {i} {}", "x".repeat((i % 300) as usize)).into_bytes()
}

/// Run only as the child: append until killed.
#[test]
#[ignore = "helper process for crash_kill9_loop"]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let round: u32 = std::env::var("ROUND").unwrap().parse().unwrap();
    // A very short checkpoint interval so kills land inside publishing often.
    let log = Log::open(
        Path::new(&dir),
        LogOptions {
            checkpoint_interval: Duration::from_millis(1),
            ..LogOptions::default()
        },
    )
    .unwrap();
    let a = log.appender();
    let mut threads = vec![];
    for t in 0..4u64 {
        let a = a.clone();
        threads.push(std::thread::spawn(move || {
            let mut i = t;
            loop {
                let batch: Vec<Vec<u8>> = (0..(1 + i % 37))
                    .map(|k| child_entry(round, i * 1000 + k))
                    .collect();
                let n = batch.len() as u64;
                let r = a.append_many_blocking(batch).unwrap();
                for (k, idx) in r.enumerate() {
                    println!("ack {idx} {}", i * 1000 + k as u64);
                }
                let _ = n;
                i += 4;
            }
        }));
    }
    for t in threads {
        t.join().unwrap();
    }
}

fn read_all(dir: &Path) -> Vec<Vec<u8>> {
    let src = DirSource::new(dir);
    let cp = accord_log::verify::fetch_checkpoint(&src).unwrap();
    let size = cp.checkpoint.size;
    let mut out = vec![];
    for n in 0..size.div_ceil(TILE_WIDTH) {
        let w = tile_width(0, n, size);
        let p = entries_path(n, w);
        let data = src.fetch(&p).unwrap();
        out.extend(
            parse_bundle(&p, &data, w)
                .unwrap()
                .into_iter()
                .map(|e| e.to_vec()),
        );
    }
    out
}

#[test]
fn crash_kill9_loop() {
    let d = tempfile::tempdir().unwrap();
    let key = accord_log::writer::create_log(d.path(), "crash.test.example/log")
        .unwrap()
        .verifier()
        .clone();
    let exe = std::env::current_exe().unwrap();
    let mut expected: Vec<Option<Vec<u8>>> = vec![];
    let mut seed = 0x9e3779b97f4a7c15u64;
    for round in 0..12u32 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let run_for = Duration::from_millis(40 + seed % 160);
        let mut child = Command::new(&exe)
            .args([
                "crash_child",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, d.path())
            .env("ROUND", round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut acks = vec![];
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.strip_prefix("ack ") {
                    let (idx, i) = rest.split_once(' ').unwrap();
                    acks.push((idx.parse::<u64>().unwrap(), i.parse::<u64>().unwrap()));
                }
            }
            acks
        });
        let start = Instant::now();
        while start.elapsed() < run_for {
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let acks = reader.join().unwrap();
        for (idx, i) in acks {
            let idx = idx as usize;
            if expected.len() <= idx {
                expected.resize(idx + 1, None);
            }
            expected[idx] = Some(child_entry(round, i));
        }
        // Reopen (recovery), close, and check: verifies, and every acknowledged entry
        // is present with its content.
        Log::open(d.path(), LogOptions::default())
            .unwrap()
            .close()
            .unwrap();
        let report =
            verify_log(&DirSource::new(d.path()), &key, &[], None, &mut |_, _| {}).unwrap();
        let all = read_all(d.path());
        assert_eq!(all.len() as u64, report.entries);
        for (idx, e) in expected.iter().enumerate() {
            if let Some(e) = e {
                assert!(
                    idx < all.len(),
                    "round {round}: acknowledged entry {idx} lost (log has {})",
                    all.len()
                );
                assert_eq!(&all[idx], e, "round {round}: entry {idx} differs");
            }
        }
    }
    assert!(
        expected.iter().filter(|e| e.is_some()).count() > 100,
        "the child acknowledged too little to be a test"
    );
}
