//! Access decisions per second, marking renders per second, and the load time of the
//! largest conformance SPIF (testdata/sparrow/policy-genser.xml), each printed with its
//! ratio to the target (decisions ≥ 1,000,000/s on one core; SPIF load < 20 ms).
//!
//! Run: `cargo bench -p accord-spif --bench spif`

use accord_spif::{decide, Clearance, Label, Policy, PolicySet};
use criterion::{criterion_group, Criterion};
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A realistic label and clearance: USA SECRET releasable to four partners, two scopes,
/// ORCON; the clearance holds SECRET and below, PAK, ORCON and three scopes.
fn fixtures() -> (PolicySet, Label, Clearance) {
    let mut set = PolicySet::new();
    set.load_path(&root().join("policies")).unwrap();
    let usa = set.find("USA").unwrap().clone();
    let label = usa
        .parse_marking(
            "SECRET//ORCON//REL TO USA, PAK, GBR, AUS//SCOPE EXERCISES, TRAINING",
            "",
        )
        .unwrap();
    let mut c = Clearance::up_to(&usa, "SECRET").unwrap();
    for (ts, v) in [
        ("Releasable To", "PAK"),
        ("Special Handling", "ORCON"),
        ("Scope", "EXERCISES"),
        ("Scope", "TRAINING"),
        ("Scope", "OPERATIONS"),
    ] {
        c.add_category(&usa, ts, v).unwrap();
    }
    assert!(decide(&c, &label).permit);
    (set, label, c)
}

fn genser() -> Vec<u8> {
    std::fs::read(root().join("testdata/sparrow/policy-genser.xml")).unwrap()
}

fn benches(c: &mut Criterion) {
    let (set, label, clearance) = fixtures();
    let usa = set.find("USA").unwrap();
    c.bench_function("decide (permit, realistic label)", |b| {
        b.iter(|| decide(black_box(&clearance), black_box(&label)))
    });
    c.bench_function("render marking", |b| {
        b.iter(|| usa.render(black_box(&label), "").unwrap())
    });
    let bytes = genser();
    let mut g = c.benchmark_group("load");
    g.sample_size(20);
    g.bench_function("policy-genser.xml (largest conformance SPIF)", |b| {
        b.iter(|| Policy::from_xml("policy-genser.xml", black_box(&bytes)).unwrap())
    });
    g.finish();
}

criterion_group!(group, benches);

fn per_second(mut f: impl FnMut(), min_secs: f64) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed().as_secs_f64() < min_secs {
        for _ in 0..1000 {
            f();
        }
        n += 1000;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    group();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();

    // Ratios to the targets, measured in this run.
    let (set, label, clearance) = fixtures();
    let usa = set.find("USA").unwrap();
    let d = per_second(
        || drop(black_box(decide(black_box(&clearance), black_box(&label)))),
        1.0,
    );
    let r = per_second(
        || drop(black_box(usa.render(black_box(&label), "").unwrap())),
        1.0,
    );
    let bytes = genser();
    let start = Instant::now();
    let runs = 20;
    for _ in 0..runs {
        black_box(Policy::from_xml("policy-genser.xml", black_box(&bytes)).unwrap());
    }
    let load_ms = start.elapsed().as_secs_f64() * 1000.0 / runs as f64;
    println!();
    println!(
        "access decisions: {:.0}/s on one core; ratio to target 1,000,000/s: {:.2}x",
        d,
        d / 1_000_000.0
    );
    println!("marking renders: {:.0}/s on one core", r);
    println!(
        "load policy-genser.xml ({} bytes): {:.2} ms; ratio to the 20 ms limit: {:.2} (below 1 is within)",
        bytes.len(),
        load_ms,
        load_ms / 20.0
    );
}
