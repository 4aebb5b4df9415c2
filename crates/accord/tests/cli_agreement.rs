//! CLI tests for `accord agreement ...` and `accord decide`: trycmd cases in
//! tests/cmd/agreement/ over committed fixtures (made by data/make-fixtures.sh), and
//! assert-style tests for the commands that sign with fresh keys.

use std::path::Path;
use std::process::{Command, Output};

#[test]
fn cli_agreement_cases() {
    trycmd::TestCases::new().case("tests/cmd/agreement/*.toml");
}

fn accord(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_accord"))
        .args(args)
        .output()
        .expect("run accord")
}

fn ok(args: &[&str]) -> String {
    let out = accord(args);
    assert!(
        out.status.success(),
        "accord {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn keygen(dir: &Path, party: &str, authority: &str) {
    ok(&[
        "keygen",
        "--out",
        dir.to_str().unwrap(),
        "--party",
        party,
        "--authority",
        authority,
        "--policy",
        party,
    ]);
}

fn status_json(file: &str, at: &str) -> serde_json::Value {
    serde_json::from_str(&ok(&["--json", "agreement", "status", file, "--at", at])).unwrap()
}

/// The whole lifecycle through the command line with fresh keys: init, approvals,
/// signatures, status by time, termination, renewal, and refusals.
#[test]
fn lifecycle_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let d = |p: &str| tmp.path().join(p).to_str().unwrap().to_string();
    keygen(&tmp.path().join("pak"), "PAK", "Joint Staff Headquarters");
    keygen(&tmp.path().join("usa"), "USA", "Department of Defense");
    keygen(&tmp.path().join("gbr"), "GBR", "Ministry of Defence");
    let a = d("agreement.toml");
    ok(&[
        "agreement",
        "init",
        "--id",
        "CISMOA-2005",
        "--title",
        "CIS-MOA",
        "--party",
        &d("pak/party.json"),
        "--party",
        &d("usa/party.json"),
        "--scope",
        "EXERCISES,TRAINING",
        "--effective",
        "2005-10-01",
        "--years",
        "15",
        "--ceiling",
        "SECRET",
        "-o",
        &a,
    ]);
    // init never overwrites.
    let again = accord(&[
        "agreement",
        "init",
        "--id",
        "X",
        "--title",
        "X",
        "--party",
        &d("pak/party.json"),
        "--party",
        &d("usa/party.json"),
        "--scope",
        "EXERCISES",
        "--effective",
        "2005-10-01",
        "--years",
        "1",
        "-o",
        &a,
    ]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    assert_eq!(status_json(&a, "2010-01-01")["status"], "draft");

    // A key of no party is refused, and the document is left unchanged.
    let before = std::fs::read(&a).unwrap();
    let out = accord(&[
        "agreement",
        "approve",
        &a,
        "--key",
        &d("gbr/signing.key"),
        "--reference",
        "x",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("the key given is not the signing key of any party to agreement CISMOA-2005 (parties: PAK, USA)"));
    assert_eq!(std::fs::read(&a).unwrap(), before);

    // Signing before approving is refused.
    let out = accord(&[
        "agreement",
        "sign",
        &a,
        "--key",
        &d("pak/signing.key"),
        "--at",
        "2005-09-01",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("PAK signed before approving"));

    ok(&[
        "agreement",
        "approve",
        &a,
        "--key",
        &d("pak/signing.key"),
        "--reference",
        "Cabinet circulation summary",
        "--at",
        "2005-09-01",
    ]);
    ok(&[
        "agreement",
        "approve",
        &a,
        "--key",
        &d("usa/signing.key"),
        "--reference",
        "DoD",
        "--at",
        "2005-09-02",
    ]);
    assert_eq!(status_json(&a, "2010-01-01")["status"], "approved");
    ok(&[
        "agreement",
        "sign",
        &a,
        "--key",
        &d("usa/signing.key"),
        "--at",
        "2005-09-03",
    ]);
    let out = ok(&[
        "agreement",
        "sign",
        &a,
        "--key",
        &d("pak/signing.key"),
        "--at",
        "2005-09-04",
    ]);
    assert_eq!(out, "PAK signed agreement CISMOA-2005\n");
    assert_eq!(status_json(&a, "2005-09-05")["status"], "countersigned");
    assert_eq!(status_json(&a, "2010-01-01")["status"], "in-force");
    let expired = status_json(&a, "2021-01-01");
    assert_eq!(expired["status"], "expired");
    assert_eq!(
        expired["reasons"][0]["text"],
        "agreement CISMOA-2005 expired on 2020-10-01T00:00:00Z"
    );
    assert!(accord(&["agreement", "verify", &a]).status.success());

    // Renewal, then its own lifecycle.
    let r = d("renewed.toml");
    ok(&[
        "agreement",
        "renew",
        &a,
        "--years",
        "15",
        "-o",
        &r,
        "--effective",
        "2023-08-01",
    ]);
    assert_eq!(status_json(&r, "2024-01-01")["status"], "draft");
    ok(&[
        "agreement",
        "approve",
        &r,
        "--key",
        &d("pak/signing.key"),
        "--reference",
        "Federal cabinet approval by circulation summary",
        "--at",
        "2023-07-01",
    ]);
    ok(&[
        "agreement",
        "approve",
        &r,
        "--key",
        &d("usa/signing.key"),
        "--reference",
        "DoD",
        "--at",
        "2023-07-02",
    ]);
    ok(&[
        "agreement",
        "sign",
        &r,
        "--key",
        &d("pak/signing.key"),
        "--at",
        "2023-07-03",
    ]);
    ok(&[
        "agreement",
        "sign",
        &r,
        "--key",
        &d("usa/signing.key"),
        "--at",
        "2023-07-04",
    ]);
    assert_eq!(status_json(&r, "2024-01-01")["status"], "in-force");
    assert!(accord(&["agreement", "verify", &r, "--predecessor", &a])
        .status
        .success());

    // Termination with notice.
    ok(&[
        "agreement",
        "terminate",
        &r,
        "--key",
        &d("usa/signing.key"),
        "--effective",
        "2030-01-01",
        "--at",
        "2025-01-01",
    ]);
    assert_eq!(status_json(&r, "2029-12-31")["status"], "in-force");
    assert_eq!(status_json(&r, "2030-01-01")["status"], "terminated");
    // A backdated termination is refused.
    let out = accord(&[
        "agreement",
        "terminate",
        &r,
        "--key",
        &d("pak/signing.key"),
        "--effective",
        "2024-01-01",
        "--at",
        "2025-02-01",
    ]);
    assert_eq!(out.status.code(), Some(2));

    // One byte changed anywhere in the signed body: verify says invalid (1).
    let text = std::fs::read_to_string(&a).unwrap();
    std::fs::write(&a, text.replacen("CIS-MOA", "CIS-MOB", 1)).unwrap();
    let out = accord(&["agreement", "verify", &a]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains("record 1: (approve by PAK) signature of PAK"));
}

/// An Ed25519 signing key cannot sign an agreement (ECDSA P-384 is required).
#[test]
fn init_refuses_a_party_without_a_p384_key() {
    let tmp = tempfile::tempdir().unwrap();
    let p = |s: &str| tmp.path().join(s).to_str().unwrap().to_string();
    ok(&[
        "keygen",
        "--out",
        &p("pak"),
        "--party",
        "PAK",
        "--authority",
        "JSHQ",
        "--signing",
        "ed25519",
    ]);
    ok(&[
        "keygen",
        "--out",
        &p("usa"),
        "--party",
        "USA",
        "--authority",
        "DoD",
    ]);
    let out = accord(&[
        "agreement",
        "init",
        "--id",
        "A",
        "--title",
        "A",
        "--party",
        &p("pak/party.json"),
        "--party",
        &p("usa/party.json"),
        "--scope",
        "EXERCISES",
        "--effective",
        "2023-08-01",
        "--years",
        "15",
        "-o",
        &p("a.toml"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("ES384"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `agreement init` refuses what would only fail later, at the first decision: an
/// empty id, and (with `--policy`) a ceiling that is no classification of a party's
/// policy, or a translation into a policy that is not there.
#[test]
fn init_refuses_an_empty_id_and_a_ceiling_the_policies_do_not_define() {
    let tmp = tempfile::tempdir().unwrap();
    let d = |p: &str| tmp.path().join(p).to_str().unwrap().to_string();
    keygen(&tmp.path().join("pak"), "PAK", "Joint Staff Headquarters");
    keygen(&tmp.path().join("usa"), "USA", "Department of Defense");
    let policies = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies");
    let policies = policies.to_str().unwrap();
    let (pak, usa, out) = (d("pak/party.json"), d("usa/party.json"), d("a.toml"));
    let init = |id: &str, ceiling: &str, extra: &[&str]| {
        let mut args = vec![
            "agreement",
            "init",
            "--id",
            id,
            "--title",
            "CIS-MOA",
            "--party",
            &pak,
            "--party",
            &usa,
            "--scope",
            "EXERCISES",
            "--effective",
            "2023-08-01",
            "--years",
            "15",
            "--ceiling",
            ceiling,
            "-o",
            &out,
        ];
        args.extend_from_slice(extra);
        accord(&args)
    };
    let refused = |o: Output, says: &str| {
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains(says), "{err}");
        assert!(!Path::new(&out).exists());
    };
    refused(init("", "SECRET", &[]), "field `id`: must not be empty");
    refused(
        init("CISMOA-2023", "COSMIC", &["--policy", policies]),
        "--ceiling COSMIC is not a classification of PAK's policy PAK",
    );
    refused(
        init(
            "CISMOA-2023",
            "SECRET",
            &["--policy", policies, "--translate", "PAK:GBR"],
        ),
        "--translate PAK:GBR: no policy named GBR",
    );
    // Without --policy the ceiling is taken as written; with it, a real one passes.
    let o = init("CISMOA-2023", "SECRET", &["--policy", policies]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// `agreement load` refuses a draft without `--draft`, and `agreement list` shows what a
/// node holds with its status, before and after every party has signed.
#[test]
fn load_refuses_a_draft_and_list_shows_each_agreement_with_its_status() {
    let t = tempfile::tempdir().unwrap();
    let policies = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies");
    let home = |party: &str, port: &str, name: &str| {
        let dir = t.path().join(party.to_lowercase());
        ok(&[
            "init",
            "--party",
            party,
            "--dir",
            dir.to_str().unwrap(),
            "--policy",
            policies.to_str().unwrap(),
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--name",
            name,
            "--authority",
            "Ministry of Defence",
        ]);
        dir
    };
    let pak = home("PAK", "18443", "Pakistan");
    let usa = home("USA", "18444", "United States");
    let p = |d: &Path, f: &str| d.join(f).to_str().unwrap().to_string();
    let doc = t.path().join("agreement.toml");
    let docs = doc.to_str().unwrap();
    ok(&[
        "agreement",
        "init",
        "--id",
        "CISMOA-2023",
        "--title",
        "US-Pakistan CIS-MOA",
        "--party",
        &p(&pak, "party.json"),
        "--party",
        &p(&usa, "party.json"),
        "--scope",
        "EXERCISES,TRAINING",
        "--effective",
        "2023-08-01",
        "--years",
        "15",
        "-o",
        docs,
    ]);
    // An existing output is kept unless --force, as for every command that writes one.
    let init_again = |force: bool| {
        let mut args = vec![
            "agreement",
            "init",
            "--id",
            "CISMOA-2023",
            "--title",
            "US-Pakistan CIS-MOA",
            "--party",
        ];
        let (pp, up) = (p(&pak, "party.json"), p(&usa, "party.json"));
        args.push(&pp);
        args.extend(["--party", &up, "--scope", "EXERCISES,TRAINING"]);
        args.extend(["--effective", "2023-08-01", "--years", "15", "-o", docs]);
        if force {
            args.push("--force");
        }
        accord(&args)
    };
    let kept = init_again(false);
    assert_eq!(kept.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&kept.stderr).contains("exists: give --force"));
    assert!(init_again(true).status.success());
    let list = |at: &str| -> serde_json::Value {
        serde_json::from_str(&ok(&[
            "--json",
            "agreement",
            "list",
            "--dir",
            pak.to_str().unwrap(),
            "--at",
            at,
        ]))
        .unwrap()
    };
    assert_eq!(list("2030-01-01"), serde_json::json!([]));
    // A draft: refused, saying why and what to do, and nothing is loaded.
    let load = |extra: &[&str]| {
        let mut args = vec!["agreement", "load", "--dir", pak.to_str().unwrap()];
        args.extend_from_slice(extra);
        args.push(docs);
        accord(&args)
    };
    let refused = load(&[]);
    assert_eq!(refused.status.code(), Some(1));
    let e = String::from_utf8_lossy(&refused.stderr);
    assert!(
        e.contains("CISMOA-2023 is a draft") && e.contains("--draft"),
        "{e}"
    );
    assert_eq!(list("2030-01-01"), serde_json::json!([]));
    // Told otherwise, it is loaded, and listed as the draft it is.
    assert!(load(&["--draft"]).status.success());
    let l = list("2030-01-01");
    assert_eq!(l[0]["id"], "CISMOA-2023");
    assert_eq!(l[0]["status"], "draft");
    assert_eq!(l[0]["parties"], serde_json::json!(["PAK", "USA"]));
    assert_eq!(l[0]["scopes"], serde_json::json!(["EXERCISES", "TRAINING"]));
    assert_eq!(l[0]["effective_from"], "2023-08-01T00:00:00Z");
    assert_eq!(l[0]["expires"], "2038-08-01T00:00:00Z");
    // Approved and signed by both: loaded without --draft, in force in 2030 and expired
    // in 2040.
    for party in [&pak, &usa] {
        ok(&[
            "agreement",
            "approve",
            docs,
            "--key",
            &p(party, "keys/signing.key"),
            "--reference",
            "approved",
        ]);
    }
    for party in [&pak, &usa] {
        ok(&[
            "agreement",
            "sign",
            docs,
            "--key",
            &p(party, "keys/signing.key"),
        ]);
    }
    assert!(load(&[]).status.success());
    assert_eq!(list("2030-01-01")[0]["status"], "in-force");
    assert_eq!(list("2040-01-01")[0]["status"], "expired");
    let text = ok(&[
        "agreement",
        "list",
        "--dir",
        pak.to_str().unwrap(),
        "--at",
        "2030-01-01",
    ]);
    assert!(
        text.starts_with("CISMOA-2023 v1  in-force  PAK,USA  2023-08-01T00:00:00Z .. 2038-08-01T00:00:00Z  EXERCISES,TRAINING  US-Pakistan CIS-MOA"),
        "{text}"
    );
}
