//! Conformance: every transparency-dev/merkle vector (testdata/merkle) gives the
//! expected verdict; C2SP signed-note example; known answers.

use accord_log::hash::{empty_root, leaf_hash, root_of};
use accord_log::merkle::{
    consistency_proof, inclusion_proof, verify_consistency, verify_inclusion,
    verify_subtree_consistency, verify_subtree_inclusion, MemoryTree,
};
use accord_log::note::{Note, VerifierKey};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn vectors(kind: &str) -> Vec<(PathBuf, Value)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/merkle/testdata")
        .join(kind);
    let mut out = vec![];
    let mut stack = vec![root];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "json") {
                let v: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
                out.push((p, v));
            }
        }
    }
    assert!(!out.is_empty(), "no vectors for {kind}");
    out
}

fn b(v: &Value, k: &str) -> Vec<u8> {
    match &v[k] {
        Value::Null => vec![],
        Value::String(s) => B64.decode(s).unwrap(),
        other => panic!("{k}: {other}"),
    }
}
fn n(v: &Value, k: &str) -> u64 {
    v[k].as_u64().unwrap_or_else(|| panic!("{k} not u64"))
}
fn proof(v: &Value) -> Vec<Vec<u8>> {
    match &v["proof"] {
        Value::Null => vec![],
        Value::Array(a) => a
            .iter()
            .map(|s| B64.decode(s.as_str().unwrap()).unwrap())
            .collect(),
        other => panic!("proof: {other}"),
    }
}

fn check(kind: &str, f: impl Fn(&Value) -> Result<(), accord_log::Error>) -> usize {
    let vs = vectors(kind);
    let mut wrong = vec![];
    for (p, v) in &vs {
        let want_err = v["wantErr"].as_bool().unwrap();
        let r = f(v);
        if r.is_err() != want_err {
            wrong.push(format!("{}: want error {want_err}, got {r:?}", p.display()));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} {kind} vectors wrong:\n{}",
        wrong.len(),
        vs.len(),
        wrong.join("\n")
    );
    vs.len()
}

#[test]
fn inclusion_vectors() {
    let c = check("inclusion", |v| {
        verify_inclusion(
            n(v, "leafIdx"),
            n(v, "treeSize"),
            &b(v, "leafHash"),
            &proof(v),
            &b(v, "root"),
        )
    });
    assert!(c > 50);
}

#[test]
fn consistency_vectors() {
    let c = check("consistency", |v| {
        verify_consistency(
            n(v, "size1"),
            n(v, "size2"),
            &proof(v),
            &b(v, "root1"),
            &b(v, "root2"),
        )
    });
    assert!(c > 50);
}

#[test]
fn subtree_inclusion_vectors() {
    check("subtreeinclusion", |v| {
        verify_subtree_inclusion(
            n(v, "leafIdx"),
            n(v, "start"),
            n(v, "end"),
            &b(v, "leafHash"),
            &proof(v),
            &b(v, "root"),
        )
    });
}

#[test]
fn subtree_consistency_vectors() {
    check("subtreeconsistency", |v| {
        verify_subtree_consistency(
            n(v, "start"),
            n(v, "end"),
            n(v, "size"),
            &proof(v),
            &b(v, "root1"),
            &b(v, "root2"),
        )
    });
}

#[test]
fn known_answers() {
    assert_eq!(
        hex::encode(empty_root()),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(
        hex::encode(leaf_hash(b"")),
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    );
    // The RFC 6962 reference tree of 8 leaves (transparency-dev/merkle testonly).
    let leaves: Vec<Vec<u8>> = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
    .iter()
    .map(|h| hex::decode(h).unwrap())
    .collect();
    let hashes: Vec<_> = leaves.iter().map(|l| leaf_hash(l)).collect();
    assert_eq!(
        hex::encode(root_of(&hashes)),
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    );
    let roots = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];
    for (i, r) in roots.iter().enumerate() {
        assert_eq!(
            hex::encode(root_of(&hashes[..=i])),
            *r,
            "root of {} leaves",
            i + 1
        );
    }
}

#[test]
fn generated_proofs_verify_for_every_pair() {
    let mut t = MemoryTree::new();
    for i in 0..70u32 {
        t.push(leaf_hash(&i.to_be_bytes()));
    }
    for size in 1..=70u64 {
        let root = t.root_at(size);
        for idx in 0..size {
            let p: Vec<Vec<u8>> = inclusion_proof(&mut t, idx, size)
                .unwrap()
                .iter()
                .map(|h| h.to_vec())
                .collect();
            verify_inclusion(
                idx,
                size,
                &leaf_hash(&(idx as u32).to_be_bytes()),
                &p,
                &root,
            )
            .unwrap();
            // Flipping any bit of any proof hash is detected.
            for j in 0..p.len() {
                let mut bad = p.clone();
                bad[j][0] ^= 1;
                assert!(verify_inclusion(
                    idx,
                    size,
                    &leaf_hash(&(idx as u32).to_be_bytes()),
                    &bad,
                    &root
                )
                .is_err());
            }
        }
        for old in 1..=size {
            let p: Vec<Vec<u8>> = consistency_proof(&mut t, old, size)
                .unwrap()
                .iter()
                .map(|h| h.to_vec())
                .collect();
            verify_consistency(old, size, &p, &t.root_at(old), &root).unwrap();
        }
    }
}

#[test]
fn c2sp_signed_note_example() {
    let vkey =
        VerifierKey::parse("example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k")
            .unwrap();
    let text = "This is an example message.\n\n\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";
    let note = Note::parse(text.as_bytes()).unwrap();
    assert_eq!(note.text, "This is an example message.\n");
    note.verify(std::slice::from_ref(&vkey)).unwrap();
    assert_eq!(note.to_bytes(), text.as_bytes());
    assert_eq!(
        vkey.to_string(),
        "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
    );
    // A changed text fails with the known key.
    let tampered = text.replace("example message", "exemple message");
    assert!(Note::parse(tampered.as_bytes())
        .unwrap()
        .verify(std::slice::from_ref(&vkey))
        .is_err());
    // An unknown key alone is not enough.
    let other = accord_log::note::SigningKey::generate("example.com/bar", 1).unwrap();
    assert!(note.verify(&[other.verifier().clone()]).is_err());
}
