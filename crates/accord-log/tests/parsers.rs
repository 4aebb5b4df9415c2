//! Bad input gives clear errors: notes, checkpoints, verifier keys, tiles, bundles,
//! proof files and witness requests.

use accord_log::checkpoint::{Checkpoint, SignedCheckpoint};
use accord_log::note::{Note, SigningKey, VerifierKey, MAX_SIGNATURES};
use accord_log::proof::TlogProof;
use accord_log::tile::{encode_bundle, parse_bundle, parse_tile};
use accord_log::witness::AddCheckpoint;

const CP: &str =
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

fn err<T: std::fmt::Debug, E: std::fmt::Display>(r: Result<T, E>) -> String {
    r.unwrap_err().to_string()
}

#[test]
fn notes() {
    let sig = "\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";
    assert!(err(Note::parse(b"no blank line\n")).contains("no blank line"));
    assert!(
        err(Note::parse(format!("a\tb\n\n{sig}").as_bytes())).contains("control character 0x09")
    );
    assert!(err(Note::parse(b"a\n\n\xff\n")).contains("not UTF-8"));
    assert!(err(Note::parse(b"a\n\n- foo AAAA\n")).contains("em dash"));
    assert!(err(Note::parse("a\n\n\u{2014} foo !!!\n".as_bytes())).contains("bad base64"));
    assert!(err(Note::parse("a\n\n\u{2014} foo AAAA\n".as_bytes())).contains("too short"));
    assert!(err(Note::parse("a\n\n\u{2014} fo+o AAAAAAA=\n".as_bytes())).contains("'+'"));
    let many = format!("a\n\n{}", sig.repeat(MAX_SIGNATURES + 1));
    assert!(err(Note::parse(many.as_bytes())).contains("more than"));
    assert!(err(Note::parse(&vec![b'a'; 70_000])).contains("limit"));
    // Sixteen signatures must be accepted.
    Note::parse(format!("a\n\n{}", sig.repeat(16)).as_bytes()).unwrap();
}

#[test]
fn checkpoints() {
    Checkpoint::parse(CP).unwrap();
    assert_eq!(Checkpoint::parse(CP).unwrap().to_text(), CP);
    assert!(err(Checkpoint::parse(
        "o\n012\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    ))
    .contains("line 2"));
    assert!(err(Checkpoint::parse("o\n1\nCsUYapGG\n")).contains("line 3"));
    assert!(err(Checkpoint::parse("o\n1\n")).contains("at least 3"));
    assert!(err(Checkpoint::parse(&format!("{CP}\n"))).contains("empty extension"));
    assert!(err(Checkpoint::parse(
        "\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    ))
    .contains("empty origin"));
    assert!(err(Checkpoint::parse(
        "o\n99999999999999999999999\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    ))
    .contains("line 2"));
}

#[test]
fn keys() {
    assert!(err(VerifierKey::parse(
        "example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
    ))
    .contains("does not match"));
    assert!(err(VerifierKey::parse(
        "example.com/foo+530d903a+AukyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
    ))
    .contains("unsupported"));
    assert!(err(VerifierKey::parse("example.com/foo")).contains("name+hash+base64"));
    assert!(err(VerifierKey::parse("example.com/foo+530d903a+AQ==")).contains("want 32"));
    let k = SigningKey::generate("w.example", 4).unwrap();
    let back = SigningKey::parse(&k.to_private_string()).unwrap();
    assert_eq!(back.verifier(), k.verifier());
    assert_eq!(
        VerifierKey::parse(&k.verifier().to_string()).unwrap(),
        *k.verifier()
    );
}

#[test]
fn tiles_and_bundles() {
    assert!(err(parse_tile("tile/0/000", &[0; 33], 1)).contains("33 bytes, want 32"));
    let b = encode_bundle(&[b"ab".to_vec(), vec![], b"c".to_vec()]).unwrap();
    assert_eq!(b, [0, 2, b'a', b'b', 0, 0, 0, 1, b'c']);
    assert_eq!(parse_bundle("x", &b, 3).unwrap().len(), 3);
    assert!(err(parse_bundle("x", &b, 2)).contains("trailing"));
    assert!(err(parse_bundle("x", &b, 4)).contains("3 entries, want 4"));
    assert!(err(parse_bundle("x", &b[..8], 3)).contains("truncated"));
    assert!(err(parse_bundle("x", &[0xff, 0xff, 1], 1)).contains("truncated"));
    assert!(encode_bundle(&[vec![0u8; 65536]]).is_err());
}

#[test]
fn proof_files() {
    let key = SigningKey::generate("log.example", 1).unwrap();
    let text = "log.example\n1\nbjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=\n";
    let note = Note {
        text: text.into(),
        signatures: vec![key.sign(text, 0)],
    };
    let cp = SignedCheckpoint::parse(&note.to_bytes()).unwrap();
    let p = TlogProof {
        extra: Some(vec![]),
        index: 0,
        proof: vec![],
        checkpoint: cp,
    };
    let bytes = p.to_bytes();
    let back = TlogProof::parse(&bytes).unwrap();
    back.verify(key.verifier(), &[], None).unwrap();
    assert!(back
        .verify(key.verifier(), &[], Some(b"other"))
        .unwrap_err()
        .is_verification_failure());
    let s = String::from_utf8(bytes).unwrap();
    assert!(err(TlogProof::parse(
        s.replace("tlog-proof@v1", "tlog-proof@v2").as_bytes()
    ))
    .contains("line 1"));
    assert!(err(TlogProof::parse(
        s.replace("index 0", "index 00").as_bytes()
    ))
    .contains("line 3"));
    assert!(err(TlogProof::parse(
        s.replace("extra \n", "extra !\n").as_bytes()
    ))
    .contains("line 2"));
    assert!(err(TlogProof::parse(
        s.replace("index 0\n", "index 0\nAAAA\n").as_bytes()
    ))
    .contains("line 4"));
    assert!(err(TlogProof::parse(b"c2sp.org/tlog-proof@v1")).contains("missing newline"));
}

#[test]
fn witness_requests() {
    let r = AddCheckpoint::parse(
        format!("old 5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n{CP}").as_bytes(),
    )
    .unwrap();
    assert_eq!((r.old_size, r.proof.len()), (5, 1));
    assert_eq!(AddCheckpoint::parse(&r.to_bytes()).unwrap(), r);
    assert!(err(AddCheckpoint::parse(b"old -1\n\n")).contains("line 1"));
    assert!(err(AddCheckpoint::parse(b"new 1\n\n")).contains("line 1"));
    assert!(err(AddCheckpoint::parse(b"old 1\nnot base64\n\n")).contains("line 2"));
    let many = format!(
        "old 1\n{}\n",
        "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n".repeat(64)
    );
    assert!(err(AddCheckpoint::parse(many.as_bytes())).contains("more than 63"));
    assert!(err(AddCheckpoint::parse(&vec![b'o'; 70_000])).contains("larger"));
}

/// Fuzz regression (log_proof): index and size whose paths diverge at the top bit
/// made a 64-bit shift overflow.
#[test]
fn proof_verification_with_extreme_sizes_does_not_panic() {
    let a = u64::from_le_bytes([0xff, 0xff, 0xff, 0x07, 0, 0, 0, 0]);
    let b = u64::from_le_bytes([0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff]);
    let proof = vec![vec![0u8]];
    for (x, y) in [
        (a, b),
        (b, a),
        (u64::MAX - 1, u64::MAX),
        (0, u64::MAX),
        (1 << 63, u64::MAX),
    ] {
        assert!(accord_log::merkle::verify_inclusion(x, y, &[0; 32], &proof, &[0; 32]).is_err());
        assert!(accord_log::merkle::verify_consistency(x, y, &proof, &[0; 32], &[0; 32]).is_err());
        let _ = accord_log::merkle::verify_subtree_inclusion(
            x,
            x & 0xff,
            y,
            &[0; 32],
            &proof,
            &[0; 32],
        );
        let _ = accord_log::merkle::verify_subtree_consistency(
            x & 0xffff,
            x >> 48,
            y,
            &proof,
            &[0; 32],
            &[0; 32],
        );
        let _ = accord_log::merkle::verify_subtree_consistency(
            0,
            x,
            y,
            &vec![vec![0; 32]; 70],
            &[0; 32],
            &[0; 32],
        );
    }
}
