#![no_main]
//! Signed notes (c2sp.org/signed-note): parse, re-serialize, verify against a key.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(note) = accord_log::note::Note::parse(data) {
        // Serialization round-trips what was parsed.
        let again = accord_log::note::Note::parse(&note.to_bytes()).expect("re-parse");
        assert_eq!(again, note);
        let key = accord_log::note::VerifierKey::parse(
            "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        )
        .expect("key");
        let _ = note.verify(&[key]);
    }
    let _ = accord_log::note::parse_signature_lines(data);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = accord_log::note::VerifierKey::parse(s);
    }
});
