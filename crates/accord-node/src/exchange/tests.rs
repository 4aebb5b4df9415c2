//! Unit tests of the blob store's partials and the delivery's resume offsets.

use super::attempt::resume_from;
use super::blobs::bound_partials;
use super::blobs::remove_older;
use super::blobs::PARTIALS_PER_PARTNER;
use super::blobs::PARTIAL_MAX_AGE;
use crate::exchange::MAX_OBJECT;
use std::path::PathBuf;
use std::time::Duration;

#[test]
fn at_most_sixteen_partials_per_partner_the_oldest_go() {
    let dir = tempfile::tempdir().unwrap();
    let at = |i: u64| std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_000 + i);
    let mk = |name: &str, t: std::time::SystemTime| {
        let p = dir.path().join(name);
        let f = std::fs::File::create(&p).unwrap();
        f.set_modified(t).unwrap();
        p
    };
    for i in 0..20u64 {
        mk(
            &format!("USA.{i:08}-0000-0000-0000-000000000000.part"),
            at(i),
        );
    }
    // Another partner's partials are not counted against USA.
    let gbr = mk("GBR.00000000-0000-0000-0000-000000000000.part", at(0));
    let kept = dir
        .path()
        .join("USA.00000019-0000-0000-0000-000000000000.part");
    bound_partials(&kept);
    let usa: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with("USA."))
        .collect();
    assert_eq!(usa.len(), PARTIALS_PER_PARTNER);
    for i in 0..4 {
        assert!(
            !usa.iter().any(|n| n.starts_with(&format!("USA.{i:08}"))),
            "{i} kept"
        );
    }
    assert!(kept.exists() && gbr.exists());
}

#[test]
fn partials_of_one_partner_stay_within_one_largest_object() {
    let dir = tempfile::tempdir().unwrap();
    // Sparse files: the bound counts their lengths, which is what they may fill.
    let mk = |i: u64, len: u64| {
        let p = dir
            .path()
            .join(format!("PAK.{i:08}-0000-0000-0000-000000000000.part"));
        let f = std::fs::File::create(&p).unwrap();
        f.set_len(len).unwrap();
        f.set_modified(std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_000 + i))
            .unwrap();
        p
    };
    let quarter = MAX_OBJECT / 4 + 1;
    let old: Vec<PathBuf> = (0..3).map(|i| mk(i, quarter)).collect();
    let kept = mk(3, quarter);
    bound_partials(&kept);
    // Four quarters and a bit are over the bound: the oldest went, the rest stay.
    assert!(!old[0].exists());
    assert!(old[1].exists() && old[2].exists() && kept.exists());
    // The partial just kept stays even when it alone is the largest object.
    let big = mk(4, MAX_OBJECT);
    bound_partials(&big);
    assert!(big.exists() && !old[1].exists() && !old[2].exists() && !kept.exists());
}

#[test]
fn partials_untouched_for_a_week_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let stale = dir.path().join("USA.a.part");
    let fresh = dir.path().join("USA.b.part");
    for p in [&stale, &fresh] {
        std::fs::write(p, b"part").unwrap();
    }
    let week_ago = std::time::SystemTime::now() - PARTIAL_MAX_AGE - Duration::from_secs(60);
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(week_ago)
        .unwrap();
    remove_older(dir.path(), PARTIAL_MAX_AGE);
    assert!(!stale.exists() && fresh.exists());
    // A directory that is not there is no error.
    remove_older(&dir.path().join("none"), PARTIAL_MAX_AGE);
}

#[test]
fn resume_only_strictly_inside_the_object() {
    assert_eq!(resume_from(br#"{"offset":0}"#, 100), 0);
    assert_eq!(resume_from(br#"{"offset":40}"#, 100), 40);
    assert_eq!(resume_from(br#"{"offset":99}"#, 100), 99);
    // As long as the object or longer: not a partial of it.
    assert_eq!(resume_from(br#"{"offset":100}"#, 100), 0);
    assert_eq!(resume_from(br#"{"offset":18446744073709551615}"#, 100), 0);
    // Anything else: start over.
    assert_eq!(resume_from(br#"{"offset":-1}"#, 100), 0);
    assert_eq!(resume_from(br#"{"offset":40,"more":1}"#, 100), 0);
    assert_eq!(resume_from(b"not json", 100), 0);
}
