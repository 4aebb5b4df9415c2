#![no_main]
//! Witness add-checkpoint requests (c2sp.org/tlog-witness), through the whole witness.
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

static WITNESS: OnceLock<accord_log::witness::Witness> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = accord_log::witness::AddCheckpoint::parse(data) {
        assert_eq!(
            accord_log::witness::AddCheckpoint::parse(&r.to_bytes()).expect("re-parse"),
            r
        );
    }
    let w = WITNESS.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("accord-fuzz-witness-{}", std::process::id()));
        let key = accord_log::note::VerifierKey::parse(
            "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        )
        .expect("key");
        accord_log::witness::Witness::open(&dir, "fuzz.witness", vec![key]).expect("witness")
    });
    let r = w.add_checkpoint(data, 1);
    assert!(
        matches!(r.status, 400 | 403 | 404 | 409 | 422),
        "status {}",
        r.status
    );
});
