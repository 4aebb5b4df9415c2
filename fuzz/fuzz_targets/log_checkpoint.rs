#![no_main]
//! Checkpoints (c2sp.org/tlog-checkpoint): parse a signed checkpoint and its body.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(cp) = accord_log::checkpoint::SignedCheckpoint::parse(data) {
        let text = cp.checkpoint.to_text();
        assert_eq!(
            accord_log::checkpoint::Checkpoint::parse(&text).expect("re-parse"),
            cp.checkpoint
        );
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = accord_log::checkpoint::Checkpoint::parse(s);
    }
});
