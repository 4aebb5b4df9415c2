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

const POLICIES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../policies");

struct World {
    dir: tempfile::TempDir,
}

impl World {
    fn new() -> World {
        let w = World {
            dir: tempfile::tempdir().unwrap(),
        };
        keygen(&w.p("pak"), "PAK", "hybrid-p384-mlkem1024");
        keygen(&w.p("usa"), "USA", "mlkem1024");
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(w.p("doc.bin"), data).unwrap();
        w
    }
    fn p(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }
    fn s(&self, name: &str) -> String {
        self.p(name).to_str().unwrap().to_string()
    }
    fn seal(&self, extra: &[&str], out: &str) -> Output {
        let mut args = vec![
            "seal".to_string(),
            "--policy".into(),
            POLICIES.into(),
            "--label".into(),
            "SECRET//REL TO USA, PAK".into(),
            "--signing-key".into(),
            self.s("usa/signing.key"),
            "--segment-size".into(),
            "65536".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        args.extend([self.s("doc.bin"), "-o".into(), self.s(out)]);
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        accord(&a)
    }
    fn open(&self, keys: &[&str], input: &str, out: &str, extra: &[&str]) -> Output {
        let mut args = vec!["open".to_string()];
        for k in keys {
            args.extend(["--kas-key".into(), self.s(k)]);
        }
        args.extend(["--trust-signer".into(), self.s("usa/party.json")]);
        args.extend(extra.iter().map(|s| s.to_string()));
        args.extend([self.s(input), "-o".into(), self.s(out)]);
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        accord(&a)
    }
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

#[test]
fn seal_open_inspect_round_trip_and_json() {
    let w = World::new();
    let o = w.seal(
        &[
            "--kas-pub",
            &w.s("pak/kas.pub"),
            "--kas-pub",
            &w.s("usa/party.json"),
        ],
        "doc.tdf",
    );
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let o = accord(&["--json", "inspect", &w.s("doc.tdf")]);
    assert_eq!(code(&o), 0);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["schema_version"], "4.3.0");
    assert!(v["label"]["marking"]
        .as_str()
        .unwrap()
        .starts_with("SECRET//REL TO"));
    assert!(v["label"]["xml"]
        .as_str()
        .unwrap()
        .contains("urn:nato:stanag:4774"));
    assert!(v["label"]["policy"].is_string());
    assert_eq!(v["key_access"].as_array().unwrap().len(), 2);
    assert_eq!(v["key_access"][0]["type"], "hybrid-wrapped");
    assert_eq!(v["key_access"][1]["type"], "mlkem-wrapped");
    for k in ["url", "kid", "sid"] {
        assert!(v["key_access"][0][k].is_string(), "{k}");
    }
    assert_eq!(v["segments"], 5);
    assert_eq!(v["plaintext_size"], 300_000);
    assert!(v["agreement"].is_null(), "{v}");
    let o = accord(&["inspect", &w.s("doc.tdf")]);
    assert!(!String::from_utf8_lossy(&o.stdout).contains("agreement"));
    // Either KAS alone opens a single-share object.
    for key in ["pak/kas.key", "usa/kas.key"] {
        let o = w.open(&[key], "doc.tdf", "out.bin", &[]);
        assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(
            std::fs::read(w.p("out.bin")).unwrap(),
            std::fs::read(w.p("doc.bin")).unwrap()
        );
        std::fs::remove_file(w.p("out.bin")).unwrap();
    }
    // A range, to standard output.
    let o = accord(&[
        "open",
        "--kas-key",
        &w.s("pak/kas.key"),
        "--trust-signer",
        &w.s("usa/signing.pub"),
        "--range",
        "65530:65542",
        &w.s("doc.tdf"),
        "-o",
        "-",
    ]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        o.stdout,
        &std::fs::read(w.p("doc.bin")).unwrap()[65530..65542]
    );
}

#[test]
fn exit_codes_missing_share_tamper_untrusted_and_nothing_written() {
    let w = World::new();
    let o = w.seal(
        &[
            "--require",
            "PAK,USA",
            "--kas-pub",
            &format!("PAK={}", w.s("pak/kas.pub")),
            "--kas-pub",
            &w.s("usa/kas.pub"),
        ],
        "split.tdf",
    );
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let o = w.open(&["pak/kas.key"], "split.tdf", "out.bin", &[]);
    assert_eq!(code(&o), 3, "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("share USA"));
    assert!(!w.p("out.bin").exists());
    let o = w.open(&["pak/kas.key", "usa/kas.key"], "split.tdf", "out.bin", &[]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::remove_file(w.p("out.bin")).unwrap();

    // A flipped payload byte near the end: exit 1, no output file, no temp file left.
    let mut c = std::fs::read(w.p("split.tdf")).unwrap();
    c[200_000] ^= 0x40;
    std::fs::write(w.p("bad.tdf"), &c).unwrap();
    let o = w.open(&["pak/kas.key", "usa/kas.key"], "bad.tdf", "out.bin", &[]);
    assert_eq!(code(&o), 1, "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("segment"));
    assert!(!w.p("out.bin").exists());
    let leftovers: Vec<_> = std::fs::read_dir(w.dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".partial"))
        .collect();
    assert!(leftovers.is_empty());

    // Untrusted signer: exit 1.
    let o = accord(&[
        "open",
        "--kas-key",
        &w.s("pak/kas.key"),
        "--kas-key",
        &w.s("usa/kas.key"),
        "--trust-signer",
        &w.s("pak/signing.pub"),
        &w.s("split.tdf"),
        "-o",
        &w.s("out.bin"),
    ]);
    assert_eq!(code(&o), 1, "{}", String::from_utf8_lossy(&o.stderr));
    // Wrong key type for --kas-key (a signing key): exit 2.
    let o = w.open(&["usa/signing.key"], "split.tdf", "out.bin", &[]);
    assert_eq!(code(&o), 2);
    // Not a container: exit 2.
    let o = w.open(&["pak/kas.key"], "doc.bin", "out.bin", &[]);
    assert_eq!(code(&o), 2, "{}", String::from_utf8_lossy(&o.stderr));
    // A required party without a key given: exit 2.
    let o = w.seal(
        &["--require", "PAK,USA", "--kas-pub", &w.s("usa/kas.pub")],
        "x.tdf",
    );
    assert_eq!(code(&o), 2);
    assert!(String::from_utf8_lossy(&o.stderr).contains("party PAK is required"));
}

#[test]
fn stdin_and_stdout_streams() {
    use std::io::Write;
    use std::process::Stdio;
    let w = World::new();
    let mut child = Command::new(env!("CARGO_BIN_EXE_accord"))
        .args([
            "seal",
            "--policy",
            POLICIES,
            "--label",
            "SECRET//REL TO USA, PAK",
            "--kas-pub",
            &w.s("pak/party.json"),
            "--signing-key",
            &w.s("usa/signing.key"),
            "-",
            "-o",
            "-",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"from stdin")
        .unwrap();
    let sealed = child.wait_with_output().unwrap();
    assert!(sealed.status.success());
    let mut child = Command::new(env!("CARGO_BIN_EXE_accord"))
        .args([
            "open",
            "--kas-key",
            &w.s("pak/kas.key"),
            "--trust-signer",
            &w.s("usa/party.json"),
            "-",
            "-o",
            "-",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&sealed.stdout)
        .unwrap();
    let opened = child.wait_with_output().unwrap();
    assert!(
        opened.status.success(),
        "{}",
        String::from_utf8_lossy(&opened.stderr)
    );
    assert_eq!(opened.stdout, b"from stdin");
}

/// An object sealed under an agreement (through the library, as a node's client does):
/// `inspect` shows the agreement in text and JSON, and `open` still opens it.
#[test]
fn inspect_shows_the_agreement_an_object_was_sealed_under() {
    let w = World::new();
    let signer = accord_keys::load_signing_key(&w.p("usa/signing.key")).unwrap();
    let kas = accord_keys::load_kas_private(&w.p("pak/kas.key")).unwrap();
    // The label a CLI seal wrote (valid under the shipped USA policy).
    let o = w.seal(&["--kas-pub", &w.s("pak/party.json")], "plain.tdf");
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let i = accord_tdf::inspect(&mut std::fs::File::open(w.p("plain.tdf")).unwrap()).unwrap();
    assert_eq!(i.agreement, None);
    let label = accord_tdf::BoundLabel {
        xml: i.label_xml.unwrap(),
        marking: i.marking.unwrap(),
    };
    let opts = accord_tdf::SealOptions {
        recipients: vec![accord_tdf::Recipient {
            kas: kas.public_key().clone(),
            url: "urn:accord:kas:PAK".into(),
            party: Some("PAK".into()),
        }],
        require: vec![],
        signer: &signer,
        label,
        segment_size: accord_tdf::DEFAULT_SEGMENT_SIZE,
        mime_type: String::new(),
        metadata: None,
        agreement: Some("CISMOA-2005".into()),
        progress: None,
    };
    let file = std::fs::File::create(w.p("a.tdf")).unwrap();
    accord_tdf::seal(&b"under the agreement"[..], file, &opts).unwrap();
    let o = accord(&["--json", "inspect", &w.s("a.tdf")]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["agreement"], "CISMOA-2005");
    assert!(v["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a == "https://agreement.accord/attr/agreement/value/CISMOA-2005"));
    let o = accord(&["inspect", &w.s("a.tdf")]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("agreement     CISMOA-2005\n"), "{text}");
    let o = w.open(&["pak/kas.key"], "a.tdf", "a.out", &[]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read(w.p("a.out")).unwrap(), b"under the agreement");
}

/// Errors name the file they are about; the summary goes to standard error (standard
/// output is for data); and explicit offline flags win over a credential in
/// ACCORD_CREDENTIAL.
#[test]
fn file_errors_summaries_and_offline_flags_over_the_environment() {
    let w = World::new();
    // A directory to seal.
    let o = accord(&[
        "seal",
        "--policy",
        POLICIES,
        "--label",
        "SECRET//REL TO USA, PAK",
        "--kas-pub",
        &w.s("pak/party.json"),
        "--signing-key",
        &w.s("usa/signing.key"),
        &w.s("pak"),
        "-o",
        &w.s("dir.tdf"),
    ]);
    assert_eq!(code(&o), 2, "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        format!("error: {} is a directory, not a file to seal\n", w.s("pak"))
    );
    // A truncated object, to open: named.
    let o = w.seal(&["--kas-pub", &w.s("pak/party.json")], "doc.tdf");
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        o.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        format!(
            "sealed 300000 bytes (5 segments) as SECRET//REL TO PAK, USA into {}\n",
            w.s("doc.tdf")
        )
    );
    let whole = std::fs::read(w.p("doc.tdf")).unwrap();
    std::fs::write(w.p("cut.tdf"), &whole[..whole.len() / 2]).unwrap();
    let o = w.open(&["pak/kas.key"], "cut.tdf", "cut.bin", &[]);
    assert_eq!(code(&o), 2);
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .starts_with(&format!("error: {}: malformed container: ", w.s("cut.tdf"))),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // One segment, one byte: singular.
    std::fs::write(w.p("one.txt"), "x").unwrap();
    let o = accord(&[
        "seal",
        "--policy",
        POLICIES,
        "--label",
        "SECRET//REL TO USA, PAK",
        "--kas-pub",
        &w.s("pak/party.json"),
        "--signing-key",
        &w.s("usa/signing.key"),
        &w.s("one.txt"),
        "-o",
        &w.s("one.tdf"),
    ]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        String::from_utf8_lossy(&o.stderr).starts_with("sealed 1 byte (1 segment) as "),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // ACCORD_CREDENTIAL names a credential (here one that does not exist): the offline
    // flags given win, for open and for seal.
    let env = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_accord"))
            .args(args)
            .env("ACCORD_CREDENTIAL", w.p("nobody.credential"))
            .output()
            .unwrap()
    };
    let o = env(&[
        "open",
        "--kas-key",
        &w.s("pak/kas.key"),
        "--trust-signer",
        &w.s("usa/party.json"),
        &w.s("one.tdf"),
        "-o",
        &w.s("one.out"),
    ]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read(w.p("one.out")).unwrap(), b"x");
    let o = env(&[
        "seal",
        "--policy",
        POLICIES,
        "--label",
        "SECRET//REL TO USA, PAK",
        "--kas-pub",
        &w.s("pak/party.json"),
        "--signing-key",
        &w.s("usa/signing.key"),
        &w.s("one.txt"),
        "-o",
        &w.s("two.tdf"),
    ]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    // Without offline flags the variable is the credential.
    let o = env(&["open", &w.s("one.tdf"), "-o", &w.s("x.out")]);
    assert_eq!(code(&o), 2, "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("nobody.credential"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// `open -o -` into a pipe whose reader has gone: a quiet exit 141, as a shell reports a
/// command killed by SIGPIPE; no panic message.
#[cfg(unix)]
#[test]
fn open_to_a_closed_pipe_exits_141_quietly() {
    let w = World::new();
    let o = w.seal(&["--kas-pub", &w.s("pak/party.json")], "doc.tdf");
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let o = Command::new(env!("CARGO_BIN_EXE_accord"))
        .args([
            "open",
            "--kas-key",
            &w.s("pak/kas.key"),
            "--trust-signer",
            &w.s("usa/party.json"),
            &w.s("doc.tdf"),
            "-o",
            "-",
        ])
        .stdout(accord_test_support::cli::closed_pipe())
        .output()
        .unwrap();
    assert_eq!(code(&o), 141, "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stderr), "");
}

/// Output is never replaced without `--force`, for `seal` and `open` alike, and a sealed
/// object is not written to a terminal (a real pseudo-terminal, through `script`) unless
/// forced; piped, it is.
#[test]
fn outputs_are_not_overwritten_and_sealed_bytes_do_not_go_to_a_terminal() {
    let w = World::new();
    let kas = ["--kas-pub", &w.s("pak/party.json")];
    assert_eq!(code(&w.seal(&kas, "doc.tdf")), 0);
    let first = std::fs::read(w.p("doc.tdf")).unwrap();
    let again = w.seal(&kas, "doc.tdf");
    assert_eq!(code(&again), 2);
    let e = String::from_utf8_lossy(&again.stderr);
    assert!(e.contains("doc.tdf already exists: give --force"), "{e}");
    assert_eq!(
        std::fs::read(w.p("doc.tdf")).unwrap(),
        first,
        "kept as it was"
    );
    let forced = w.seal(&["--kas-pub", &w.s("pak/party.json"), "--force"], "doc.tdf");
    assert_eq!(
        code(&forced),
        0,
        "{}",
        String::from_utf8_lossy(&forced.stderr)
    );
    assert_ne!(std::fs::read(w.p("doc.tdf")).unwrap(), first, "replaced");
    std::fs::write(w.p("plain.out"), b"mine").unwrap();
    let o = w.open(&["pak/kas.key"], "doc.tdf", "plain.out", &[]);
    assert_eq!(code(&o), 2, "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read(w.p("plain.out")).unwrap(), b"mine");
    let o = w.open(&["pak/kas.key"], "doc.tdf", "plain.out", &["--force"]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read(w.p("plain.out")).unwrap().len(), 300_000);

    // A terminal: `script` runs the command on a pseudo-terminal of its own.
    let on_terminal = |extra: &str| {
        let cmd = format!(
            "{} seal --policy {POLICIES} --label 'SECRET//REL TO USA, PAK' --kas-pub {} --signing-key {} {} {extra} -o -",
            env!("CARGO_BIN_EXE_accord"),
            w.s("pak/party.json"),
            w.s("usa/signing.key"),
            w.s("doc.bin"),
        );
        Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .output()
            .expect("script (util-linux)")
    };
    let o = on_terminal("");
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(String::from_utf8_lossy(&o.stdout)
        .contains("refusing to write a sealed object to the terminal"));
    let o = on_terminal("--force");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}
