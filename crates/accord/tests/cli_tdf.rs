//! CLI tests for `accord keygen / seal / open / inspect`: trycmd cases in tests/cmd/tdf/
//! for fixed outputs, and assert-style tests for what depends on fresh keys.

use std::path::Path;
use std::process::{Command, Output};

#[test]
fn cli_tdf_cases() {
    trycmd::TestCases::new().case("tests/cmd/tdf/*.toml");
}

fn accord(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_accord"))
        .args(args)
        .output()
        .expect("run accord")
}

fn keygen(dir: &Path, party: &str, kas: &str) {
    let out = accord(&[
        "keygen",
        "--out",
        dir.to_str().unwrap(),
        "--party",
        party,
        "--kas",
        kas,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[cfg(unix)]
#[test]
fn keygen_writes_owner_only_private_keys_and_a_valid_party_json() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pak");
    let o = accord(&[
        "--json",
        "keygen",
        "--out",
        out.to_str().unwrap(),
        "--party",
        "PAK",
        "--name",
        "Pakistan",
        "--authority",
        "Joint Staff Headquarters",
        "--signing",
        "ed25519",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["party"], "PAK");
    assert_eq!(v["kas"]["alg"], "hybrid-p384-mlkem1024");
    assert_eq!(v["signing"]["classical"]["alg"], "EdDSA");
    assert_eq!(v["signing"]["ml_dsa_87"]["alg"], "ML-DSA-87");
    for (f, mode) in [
        ("kas.key", 0o600),
        ("signing.key", 0o600),
        ("kas.pub", 0o644),
        ("signing.pub", 0o644),
        ("party.json", 0o644),
    ] {
        let m = std::fs::metadata(out.join(f)).unwrap().permissions().mode() & 0o777;
        assert_eq!(m & 0o077 & !0o044, 0, "{f}");
        if mode == 0o600 {
            assert_eq!(m, 0o600, "{f}");
        }
    }
    let party = std::fs::read(out.join("party.json")).unwrap();
    let p = accord_keys_check(&party);
    assert_eq!(p["authority"], "Joint Staff Headquarters");
    // Private key text is never printed.
    let key = std::fs::read_to_string(out.join("kas.key")).unwrap();
    let line = key.lines().nth(1).unwrap();
    assert!(!String::from_utf8_lossy(&o.stdout).contains(line));
    // Refuses to overwrite.
    let again = accord(&["keygen", "--out", out.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
}

fn accord_keys_check(json: &[u8]) -> serde_json::Value {
    serde_json::from_slice(json).unwrap()
}

#[test]
fn keygen_every_kas_algorithm() {
    let dir = tempfile::tempdir().unwrap();
    for kas in [
        "hybrid-p384-mlkem1024",
        "mlkem1024",
        "ec-p384",
        "ec-p256",
        "rsa2048",
    ] {
        keygen(&dir.path().join(kas), "USA", kas);
    }
}
