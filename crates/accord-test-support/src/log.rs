//! A node's audit log, read as its auditors would.

use accord_log::note::VerifierKey;
use accord_log::source::DirSource;
use accord_node::home::Home;
use std::time::{Duration, Instant};

/// The verifier key of `home`'s own audit log, from its party.json as it is now (a
/// rotation changes it).
fn log_key(home: &Home) -> VerifierKey {
    let party = accord_keys::load_party(&home.layout.party()).unwrap();
    VerifierKey::parse(&party.node.unwrap().log_verifier_key).unwrap()
}

/// A node home's audit log entries, as JSON, after checking that the whole log verifies
/// under the node's key (so a test reads only what an auditor would accept). The
/// entries are those of the last published checkpoint: a running node publishes within
/// 100 ms, or at once with [`accord_node::server::Running::publish_log`]; a stopped one
/// published them all.
pub fn log_entries(home: &Home) -> Vec<serde_json::Value> {
    use accord_log::tile::{entries_path, parse_bundle, tile_width, TILE_WIDTH};
    let vkey = log_key(home);
    let src = DirSource::new(home.layout.log());
    let report = accord_log::verify::verify_log(&src, &vkey, &[], None, &mut |_, _| {}).unwrap();
    let size = report.entries;
    let mut v = Vec::new();
    for n in 0..size.div_ceil(TILE_WIDTH) {
        let w = tile_width(0, n, size);
        let path = entries_path(n, w);
        let data = accord_log::source::LogSource::fetch(&src, &path).unwrap();
        for e in parse_bundle(&path, &data, w).unwrap() {
            v.push(serde_json::from_slice(e).unwrap());
        }
    }
    v
}

/// Waits until `home`'s published checkpoint covers at least `entries` entries (at
/// least one when 0) and carries the cosignature of `partner`'s witness, then returns
/// how many entries the log, verified with that witness required, has. Panics after
/// `timeout`, with the last verification error.
pub fn wait_cosigned(home: &Home, partner: &Home, entries: u64, timeout: Duration) -> u64 {
    let wkey = std::fs::read_to_string(partner.layout.dir.join("witness/witness.vkey")).unwrap();
    let wkey = VerifierKey::parse(wkey.trim()).unwrap();
    let vkey = log_key(home);
    let src = DirSource::new(home.layout.log());
    let t0 = Instant::now();
    loop {
        match accord_log::verify::verify_log(
            &src,
            &vkey,
            std::slice::from_ref(&wkey),
            None,
            &mut |_, _| {},
        ) {
            Ok(r) if r.entries >= entries.max(1) => return r.entries,
            other => assert!(
                t0.elapsed() < timeout,
                "{} log never cosigned by {}: {other:?}",
                home.config.party,
                partner.config.party
            ),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A node home's published checkpoint, as its log directory holds it now.
pub fn published_checkpoint(home: &Home) -> accord_log::checkpoint::SignedCheckpoint {
    accord_log::writer::read_checkpoint(&home.layout.log()).unwrap()
}

/// How many signatures named `name` the node home's published checkpoint carries (its
/// log keys under the log's origin, or one witness's cosignatures under its name).
pub fn signatures_named(home: &Home, name: &str) -> usize {
    published_checkpoint(home)
        .note
        .signatures
        .iter()
        .filter(|s| s.name == name)
        .count()
}
