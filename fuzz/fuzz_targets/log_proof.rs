#![no_main]
//! Proof files (c2sp.org/tlog-proof@v1), entry bundles and tiles.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = accord_log::proof::TlogProof::parse(data) {
        let key = accord_log::note::VerifierKey::parse(
            "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        )
        .expect("key");
        let _ = p.verify(&key, &[], None);
        let again = accord_log::proof::TlogProof::parse(&p.to_bytes()).expect("re-parse");
        assert_eq!(again.index, p.index);
    }
    let w = data.first().copied().unwrap_or(0) as u64 + 1;
    let _ = accord_log::tile::parse_bundle("fuzz", data, w);
    let _ = accord_log::tile::parse_tile("fuzz", data, w);
    // Proof verification with arbitrary sizes and hashes must never panic.
    if data.len() >= 16 {
        let a = u64::from_le_bytes(data[..8].try_into().unwrap());
        let b = u64::from_le_bytes(data[8..16].try_into().unwrap());
        let proof: Vec<Vec<u8>> = data[16..].chunks(32).map(|c| c.to_vec()).collect();
        let _ = accord_log::merkle::verify_inclusion(a, b, &[0; 32], &proof, &[0; 32]);
        let _ = accord_log::merkle::verify_consistency(a, b, &proof, &[0; 32], &[0; 32]);
        let _ = accord_log::merkle::verify_subtree_inclusion(
            a,
            a & 0xff,
            b,
            &[0; 32],
            &proof,
            &[0; 32],
        );
        let _ = accord_log::merkle::verify_subtree_consistency(
            a & 0xffff,
            a >> 48,
            b,
            &proof,
            &[0; 32],
            &[0; 32],
        );
    }
});
