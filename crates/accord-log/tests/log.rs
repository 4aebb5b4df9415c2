//! The log end to end through the public API: durable appends, publishing, reopening,
//! proofs from tiles, full verification, and tampering (rewrite, drop, fork, going
//! backwards) detected by `verify` and refused by the witness with the spec's codes.

use std::path::Path;
use std::time::Duration;

use accord_log::checkpoint::SignedCheckpoint;
use accord_log::hash::leaf_hash;
use accord_log::merkle::{consistency_proof, inclusion_proof, verify_inclusion};
use accord_log::note::{SigningKey, VerifierKey};
use accord_log::source::{DirSource, TileNodes};
use accord_log::tile::{entries_path, tile_path};
use accord_log::verify::{verify_log, StateOutcome};
use accord_log::witness::{AddCheckpoint, Witness, CONTENT_TYPE_SIZE};
use accord_log::writer::{create_log, read_checkpoint};
use accord_log::{Error, Log, LogOptions};

fn opts() -> LogOptions {
    LogOptions {
        checkpoint_interval: Duration::from_millis(10),
        ..LogOptions::default()
    }
}

fn new_log(dir: &Path, n: usize) -> VerifierKey {
    let key = create_log(dir, "audit.test.example/log").unwrap();
    append(dir, 0, n);
    key.verifier().clone()
}

fn entry(i: usize) -> Vec<u8> {
    format!("decision {i}: permit analyst-{} doc-{}", i % 7, i * 13).into_bytes()
}

/// Append entries `from..from + n` to a log that holds exactly `from` entries.
fn append(dir: &Path, from: usize, n: usize) -> SignedCheckpoint {
    let log = Log::open(dir, opts()).unwrap();
    let a = log.appender();
    let r = a
        .append_many_blocking((from..from + n).map(entry).collect())
        .unwrap();
    assert_eq!(r, from as u64..(from + n) as u64);
    log.close().unwrap()
}

fn verify(dir: &Path, key: &VerifierKey, state: Option<&Path>) -> Result<StateOutcome, Error> {
    verify_log(&DirSource::new(dir), key, &[], state, &mut |_, _| {}).map(|r| r.state)
}

#[test]
fn appends_publish_tiles_that_verify_and_prove() {
    let d = tempfile::tempdir().unwrap();
    let key = new_log(d.path(), 600);
    let cp = append(d.path(), 600, 70_000 - 600);
    assert_eq!(cp.checkpoint.size, 70_000);
    // The tile layout of the spec's 70,000 example.
    for p in [
        tile_path(0, 272, 256),
        tile_path(0, 273, 112),
        tile_path(1, 0, 256),
        tile_path(1, 1, 17),
        tile_path(2, 0, 1),
        entries_path(273, 112),
    ] {
        assert!(d.path().join(&p).is_file(), "{p} missing");
    }
    assert_eq!(tile_path(0, 1234067, 256), "tile/0/x001/x234/067");
    verify(d.path(), &key, None).unwrap();
    let src = DirSource::new(d.path());
    let mut nodes = TileNodes::new(&src, 70_000);
    for idx in [0u64, 1, 255, 256, 65_535, 65_536, 69_999] {
        let p: Vec<Vec<u8>> = inclusion_proof(&mut nodes, idx, 70_000)
            .unwrap()
            .iter()
            .map(|h| h.to_vec())
            .collect();
        verify_inclusion(
            idx,
            70_000,
            &leaf_hash(&entry(idx as usize)),
            &p,
            &cp.checkpoint.root,
        )
        .unwrap();
    }
}

#[test]
fn concurrent_appenders_get_distinct_durable_indices() {
    let d = tempfile::tempdir().unwrap();
    let key = create_log(d.path(), "audit.test.example/log")
        .unwrap()
        .verifier()
        .clone();
    let log = Log::open(d.path(), opts()).unwrap();
    let mut watch = log.checkpoints();
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let a = log.appender();
            std::thread::spawn(move || {
                (0..200)
                    .map(|i| {
                        (
                            a.append_blocking(format!("t{t} e{i}").into_bytes())
                                .unwrap(),
                            t,
                            i,
                        )
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut all: Vec<_> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    all.sort();
    assert_eq!(
        all.iter().map(|x| x.0).collect::<Vec<_>>(),
        (0..1600).collect::<Vec<_>>()
    );
    // A checkpoint covering everything arrives by itself.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(5), watch.wait_for(|s| *s == 1600))
            .await
            .unwrap()
            .unwrap();
    });
    // Async appends work too.
    let a = log.appender();
    let i = rt.block_on(a.append(b"async".to_vec())).unwrap();
    assert_eq!(i, 1600);
    let cp = log.close().unwrap();
    assert_eq!(cp.checkpoint.size, 1601);
    verify(d.path(), &key, None).unwrap();
    // Every entry is where its index says.
    let src = DirSource::new(d.path());
    let bundle = accord_log::source::LogSource::fetch(&src, &entries_path(0, 256)).unwrap();
    let es = accord_log::tile::parse_bundle("b", &bundle, 256).unwrap();
    for (idx, t, i) in all.iter().filter(|x| x.0 < 256) {
        assert_eq!(es[*idx as usize], format!("t{t} e{i}").as_bytes());
    }
}

#[test]
fn one_writer_per_log_and_closed_appender_refuses() {
    let d = tempfile::tempdir().unwrap();
    create_log(d.path(), "audit.test.example/log").unwrap();
    let log = Log::open(d.path(), opts()).unwrap();
    assert!(matches!(Log::open(d.path(), opts()), Err(Error::Locked(_))));
    let a = log.appender();
    assert!(matches!(
        a.append_blocking(vec![0; 65536]),
        Err(Error::EntryTooLarge(65536))
    ));
    log.close().unwrap();
    assert!(matches!(
        a.append_blocking(b"late".to_vec()),
        Err(Error::Stopped(_))
    ));
    // Lock released.
    Log::open(d.path(), opts()).unwrap().close().unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), &t).unwrap();
        }
    }
}

#[test]
fn rewriting_an_entry_is_detected_naming_it() {
    let d = tempfile::tempdir().unwrap();
    let key = new_log(d.path(), 300);
    let p = d.path().join(entries_path(0, 256));
    let mut b = std::fs::read(&p).unwrap();
    let pos = 2 + entry(0).len() + 2 + 9; // inside entry 1
    b[pos] ^= 1;
    std::fs::write(&p, b).unwrap();
    let e = verify(d.path(), &key, None).unwrap_err();
    assert!(e.is_verification_failure());
    assert!(
        e.to_string()
            .contains("entry 1 does not match tile tile/0/000"),
        "{e}"
    );
}

#[test]
fn dropping_an_entry_is_detected() {
    let d = tempfile::tempdir().unwrap();
    let key = new_log(d.path(), 300);
    let p = d.path().join(entries_path(1, 44));
    let b = std::fs::read(&p).unwrap();
    let first = 2 + u16::from_be_bytes([b[0], b[1]]) as usize;
    std::fs::write(&p, &b[first..]).unwrap();
    let e = verify(d.path(), &key, None).unwrap_err();
    assert!(e.to_string().contains("43 entries, want 44"), "{e}");
    assert!(e.is_verification_failure());
    // A missing tile is named too.
    std::fs::remove_file(d.path().join(tile_path(0, 0, 256))).unwrap();
    std::fs::write(&p, &b).unwrap();
    let e = verify(d.path(), &key, None).unwrap_err();
    assert!(e.to_string().contains("tile/0/000: missing"), "{e}");
}

#[test]
fn a_tampered_checkpoint_or_wrong_key_fails() {
    let d = tempfile::tempdir().unwrap();
    let key = new_log(d.path(), 10);
    let other = SigningKey::generate("audit.test.example/log", 1).unwrap();
    assert!(verify(d.path(), other.verifier(), None)
        .unwrap_err()
        .is_verification_failure());
    let cp = std::fs::read_to_string(d.path().join("checkpoint")).unwrap();
    std::fs::write(d.path().join("checkpoint"), cp.replace("\n10\n", "\n9\n")).unwrap();
    assert!(verify(d.path(), &key, None)
        .unwrap_err()
        .is_verification_failure());
}

/// Copies of one log (same key) that share `common` entries: `base` stops there,
/// `a` continues with `a_more`, `b` with `b_more`; `a` and `b` are a fork.
struct Fork {
    base: tempfile::TempDir,
    a: tempfile::TempDir,
    b: tempfile::TempDir,
    key: VerifierKey,
}

fn append_entries(dir: &Path, entries: Vec<Vec<u8>>) {
    let log = Log::open(dir, opts()).unwrap();
    log.appender().append_many_blocking(entries).unwrap();
    log.close().unwrap();
}

fn fork(common: usize, a_more: Vec<Vec<u8>>, b_more: Vec<Vec<u8>>) -> Fork {
    let base = tempfile::tempdir().unwrap();
    let key = new_log(base.path(), common);
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    copy_dir(base.path(), a.path());
    copy_dir(base.path(), b.path());
    append_entries(a.path(), a_more);
    append_entries(b.path(), b_more);
    Fork { base, a, b, key }
}

fn entries(r: std::ops::Range<usize>) -> Vec<Vec<u8>> {
    r.map(entry).collect()
}

fn forged(n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| format!("forged {i}").into_bytes()).collect()
}

#[test]
fn verify_state_detects_fork_rewrite_and_going_backwards() {
    let f = fork(5, entries(5..8), forged(3));
    let state = f.a.path().join("state-file");
    assert_eq!(
        verify(f.a.path(), &f.key, Some(&state)).unwrap(),
        StateOutcome::Created
    );
    // Same size, different root: a fork.
    let e = verify(f.b.path(), &f.key, Some(&state)).unwrap_err();
    assert!(e.to_string().contains("rewritten or forked"), "{e}");
    // A larger log that rewrote history.
    append_entries(f.b.path(), forged(4));
    let e = verify(f.b.path(), &f.key, Some(&state)).unwrap_err();
    assert!(e.to_string().contains("rewritten or forked"), "{e}");
    // Honest growth is consistent, and the state moves on.
    append_entries(f.a.path(), entries(8..10));
    assert_eq!(
        verify(f.a.path(), &f.key, Some(&state)).unwrap(),
        StateOutcome::Consistent { from: 8 }
    );
    // Going backwards: the log as it was at size 5.
    let e = verify(f.base.path(), &f.key, Some(&state)).unwrap_err();
    assert!(e.to_string().contains("went backwards"), "{e}");
    assert!(e.is_verification_failure());
}

fn submit(w: &Witness, dir: &Path, old: u64, now: u64) -> accord_log::witness::Response {
    let cp = read_checkpoint(dir).unwrap();
    let size = cp.checkpoint.size;
    let src = DirSource::new(dir);
    let proof = if old == 0 || old > size {
        vec![]
    } else {
        consistency_proof(&mut TileNodes::new(&src, size), old, size).unwrap()
    };
    let body = AddCheckpoint {
        old_size: old,
        proof,
        checkpoint: cp.note.to_bytes(),
    }
    .to_bytes();
    w.add_checkpoint(&body, now)
}

#[test]
fn witness_cosigns_consistent_growth_and_refuses_tampering_with_spec_codes() {
    let f = fork(5, entries(5..8), forged(3));
    // Dropping entry 5: the same entries without it, re-grown to size 8.
    let dropped = tempfile::tempdir().unwrap();
    copy_dir(f.base.path(), dropped.path());
    append_entries(dropped.path(), entries(6..9));
    let wd = tempfile::tempdir().unwrap();
    let w = Witness::open(wd.path(), "witness.test.example", vec![f.key.clone()]).unwrap();
    // A log the witness does not know: 404.
    let stranger = tempfile::tempdir().unwrap();
    create_log(stranger.path(), "stranger.example/log").unwrap();
    assert_eq!(submit(&w, stranger.path(), 0, 1).status, 404);
    // First contact with the wrong old size: 409 with the stored size.
    let r = submit(&w, f.a.path(), 3, 1);
    assert_eq!(
        (r.status, r.content_type, r.body.as_slice()),
        (409, CONTENT_TYPE_SIZE, &b"0\n"[..])
    );
    let r = submit(&w, f.a.path(), 0, 1_700_000_000);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    // The cosignature verifies as a cosignature/v1 over the checkpoint.
    let sigs = accord_log::note::parse_signature_lines(&r.body).unwrap();
    let cp = read_checkpoint(f.a.path()).unwrap();
    assert_eq!(
        w.verifier()
            .verify(cp.note.text.as_bytes(), &sigs[0].raw[4..])
            .unwrap(),
        Some(1_700_000_000)
    );
    // Fork: same size, different root: 409 (c2sp.org/tlog-witness), with the size held.
    let r = submit(&w, f.b.path(), 8, 2);
    assert_eq!((r.status, r.body.as_slice()), (409, &b"8\n"[..]));
    // Dropped entry: same size, different root: 409.
    assert_eq!(submit(&w, dropped.path(), 8, 2).status, 409);
    // Rewrite: the forked log grows; no proof from the cosigned tree verifies: 422.
    append_entries(f.b.path(), forged(2));
    assert_eq!(submit(&w, f.b.path(), 8, 2).status, 422);
    // The same checkpoint again is fine.
    assert_eq!(submit(&w, f.a.path(), 8, 3).status, 200);
    // Going backwards: the size-5 checkpoint. Claiming old 8 > 5: 400; claiming 5: 409 "8".
    assert_eq!(submit(&w, f.base.path(), 8, 3).status, 400);
    let r = submit(&w, f.base.path(), 5, 3);
    assert_eq!((r.status, r.body.as_slice()), (409, &b"8\n"[..]));
    // Bad signature from the trusted key: 403.
    let mut bad = read_checkpoint(f.a.path()).unwrap();
    bad.note.signatures[0].raw[10] ^= 1;
    let body = AddCheckpoint {
        old_size: 8,
        proof: vec![],
        checkpoint: bad.note.to_bytes(),
    }
    .to_bytes();
    assert_eq!(w.add_checkpoint(&body, 5).status, 403);
    // Malformed requests: 400.
    assert_eq!(w.add_checkpoint(b"old 01\n\n", 5).status, 400);
    assert_eq!(w.add_checkpoint(b"garbage", 5).status, 400);
    // Honest growth with a proof: 200, and the witness state moves on.
    append_entries(f.a.path(), entries(8..13));
    assert_eq!(submit(&w, f.a.path(), 8, 6).status, 200);
    assert_eq!(submit(&w, f.a.path(), 8, 6).body, b"13\n");
    // Its latest checkpoint is served with both signatures.
    let h = accord_log::witness::hex_lower(&accord_log::hash::sha256(b"audit.test.example/log"));
    let latest = SignedCheckpoint::parse(&w.latest(&h).unwrap()).unwrap();
    assert_eq!(latest.checkpoint.size, 13);
    latest
        .verify(&f.key, std::slice::from_ref(w.verifier()))
        .unwrap();
}

/// A log dropped inside an async runtime (a server whose startup fails after opening
/// its log) closes cleanly: no panic, and the final checkpoint covers every entry.
#[test]
fn dropping_an_open_log_inside_a_runtime_closes_it() {
    let d = tempfile::tempdir().unwrap();
    let key = create_log(d.path(), "audit.test.example/log").unwrap();
    for flavor in ["current-thread", "multi-thread"] {
        let rt = match flavor {
            "current-thread" => tokio::runtime::Builder::new_current_thread(),
            _ => tokio::runtime::Builder::new_multi_thread(),
        }
        .enable_all()
        .build()
        .unwrap();
        let dir = d.path().to_path_buf();
        rt.block_on(async move {
            let log = Log::open(&dir, opts()).unwrap();
            log.appender().append(entry(0)).await.unwrap();
            drop(log);
        });
    }
    assert_eq!(read_checkpoint(d.path()).unwrap().checkpoint.size, 2);
    verify(d.path(), key.verifier(), None).unwrap();
}

/// A log whose key is rotated: `set_signing_keys` signs the published checkpoint with
/// the new keys at once (cosignatures kept) and every later one; reopened with the old
/// key given as earlier, it opens, and without it a checkpoint the old key alone
/// signed is refused; keys of another origin or kind are refused.
#[test]
fn a_log_signs_with_the_keys_it_is_given_and_reopens_after_a_rotation() {
    let d = tempfile::tempdir().unwrap();
    let origin = "audit.test.example/log";
    let old = new_log(d.path(), 3);
    let new = SigningKey::generate(origin, accord_log::note::TYPE_ED25519).unwrap();
    let old_key = accord_log::writer::read_log_key(d.path()).unwrap();
    let log = Log::open(d.path(), opts()).unwrap();
    // A cosignature on the published checkpoint survives the re-signing.
    let wd = tempfile::tempdir().unwrap();
    let w = Witness::open(wd.path(), "witness.test.example", vec![old.clone()]).unwrap();
    let r = submit(&w, d.path(), 0, 7);
    assert_eq!(r.status, 200);
    let cosig = accord_log::note::parse_signature_lines(&r.body).unwrap();
    log.add_cosignatures(3, cosig).unwrap();
    // Refused: a key of another name, a witness key.
    let other = SigningKey::generate("other.example/log", accord_log::note::TYPE_ED25519).unwrap();
    assert!(log.set_signing_keys(vec![other]).is_err());
    let cosigner = SigningKey::generate(origin, accord_log::note::TYPE_COSIGNATURE_V1).unwrap();
    assert!(log.set_signing_keys(vec![cosigner]).is_err());
    assert!(log.set_signing_keys(vec![]).is_err());
    // Both keys: the checkpoint verifies under each, and keeps its cosignature.
    let both = vec![
        SigningKey::parse(&new.to_private_string()).unwrap(),
        SigningKey::parse(&old_key.to_private_string()).unwrap(),
    ];
    let cp = log.set_signing_keys(both).unwrap();
    assert_eq!(cp.checkpoint.size, 3);
    cp.verify(new.verifier(), std::slice::from_ref(w.verifier()))
        .unwrap();
    cp.verify(&old, std::slice::from_ref(w.verifier())).unwrap();
    assert_eq!(read_checkpoint(d.path()).unwrap().note, cp.note);
    // New entries: signed by both.
    log.appender().append_blocking(entry(3)).unwrap();
    let cp = log.publish_now().unwrap();
    assert_eq!(cp.checkpoint.size, 4);
    cp.verify(new.verifier(), &[]).unwrap();
    cp.verify(&old, &[]).unwrap();
    // The grace ends: the new key alone.
    log.set_signing_keys(vec![SigningKey::parse(&new.to_private_string()).unwrap()])
        .unwrap();
    log.appender().append_blocking(entry(4)).unwrap();
    let cp = log.publish_now().unwrap();
    cp.verify(new.verifier(), &[]).unwrap();
    assert!(cp.verify(&old, &[]).is_err());
    log.close().unwrap();
    verify(d.path(), new.verifier(), None).unwrap();
    assert!(verify(d.path(), &old, None).is_err());

    // A log whose key file was replaced while its checkpoint is the old key's alone
    // (a rotation while the node was down) opens only with the old key as earlier,
    // and its checkpoint is then signed by its key at once.
    let e = tempfile::tempdir().unwrap();
    let old = new_log(e.path(), 2);
    let kfile = accord_log::writer::log_key_path(e.path());
    let mut text = new.to_private_string();
    text.push('\n');
    std::fs::write(&kfile, text.as_bytes()).unwrap();
    assert!(matches!(Log::open(e.path(), opts()), Err(Error::Verify(_))));
    let log = Log::open_with(
        e.path(),
        opts(),
        accord_log::OtherKeys {
            signing: Vec::new(),
            earlier: vec![old.clone()],
        },
    )
    .unwrap();
    let cp = read_checkpoint(e.path()).unwrap();
    cp.verify(new.verifier(), &[]).unwrap();
    assert!(cp.verify(&old, &[]).is_err());
    log.close().unwrap();
}

/// A witness given its earlier key cosigns with both: the answer has a line per key,
/// each verifies, and a submitter knowing either key takes the answer.
#[test]
fn a_witness_with_an_earlier_key_cosigns_with_both() {
    let d = tempfile::tempdir().unwrap();
    let key = new_log(d.path(), 4);
    let wd = tempfile::tempdir().unwrap();
    let first = Witness::open(wd.path(), "witness.test.example", vec![]).unwrap();
    let old_vkey = first.verifier().clone();
    drop(first);
    // The rotation: the old key kept aside, a new one in its place.
    let kpath = wd.path().join("witness.key");
    let old = SigningKey::parse(std::fs::read_to_string(&kpath).unwrap().trim()).unwrap();
    std::fs::remove_file(&kpath).unwrap();
    let w = Witness::open(wd.path(), "witness.test.example", vec![key.clone()])
        .unwrap()
        .with_cosigners(vec![old])
        .unwrap();
    assert_ne!(w.verifier(), &old_vkey);
    let r = submit(&w, d.path(), 0, 9);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let sigs = accord_log::note::parse_signature_lines(&r.body).unwrap();
    assert_eq!(sigs.len(), 2);
    let cp = read_checkpoint(d.path()).unwrap();
    let mut note = cp.note.clone();
    note.signatures.extend(sigs);
    let cosigned = SignedCheckpoint {
        checkpoint: cp.checkpoint.clone(),
        note,
    };
    cosigned
        .verify(&key, std::slice::from_ref(w.verifier()))
        .unwrap();
    cosigned.verify(&key, &[old_vkey]).unwrap();
    // Another name, or a log key, is no cosigner of this witness.
    let stranger = SigningKey::generate(
        "witness.other.example",
        accord_log::note::TYPE_COSIGNATURE_V1,
    )
    .unwrap();
    let w2 = Witness::open(wd.path(), "witness.test.example", vec![]).unwrap();
    assert!(w2.with_cosigners(vec![stranger]).is_err());
    let log_key =
        SigningKey::generate("witness.test.example", accord_log::note::TYPE_ED25519).unwrap();
    let w3 = Witness::open(wd.path(), "witness.test.example", vec![]).unwrap();
    assert!(w3.with_cosigners(vec![log_key]).is_err());
}
