//! `accord audit verify --log https://NODE/log/` against a running node: the node serves
//! its audit log under its own self-issued certificate, so the command trusts it by the
//! pin in a credential (`--credential`, or `ACCORD_CREDENTIAL` for that node) or given
//! as `--tls-pin`, and fails clearly (exit 1) when the server is not the pinned node.

use accord_node::home::Home;
use accord_node::server::{self, ServeOptions};
use accord_node_api::client::Client;
use accord_node_api::credential::Credential;
use accord_test_support::clearance::{MARKING, SECRET_EXERCISES as SECRET};
use accord_test_support::cli::describe as text;
use accord_test_support::{manifest, seal};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Cleared to PAK UNCLASSIFIED only: denied [`MARKING`].
const LOW: &str = r#"{"policy": {"name": "PAK"}, "classifications": ["UNCLASSIFIED"],
 "categories": [{"tagSet": "Releasable To", "values": ["PAK"]}, {"tagSet": "Scope", "values": ["EXERCISES"]}]}"#;

/// A PAK node home with people ([`accord_test_support::make_node`]); their credentials
/// saved in `dir/../NODE-ID.credential`.
fn make_node(
    rt: &tokio::runtime::Runtime,
    dir: &Path,
    people: &[(&str, &str)],
) -> Vec<(Credential, PathBuf)> {
    let creds = accord_test_support::make_node(rt, dir, "PAK", people);
    people
        .iter()
        .zip(creds)
        .map(|((id, _), cred)| {
            let node = dir.file_name().unwrap().to_str().unwrap();
            let path = dir
                .parent()
                .unwrap()
                .join(format!("{node}-{id}.credential"));
            cred.save(&path).unwrap();
            (cred, path)
        })
        .collect()
}

fn accord(args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_accord"));
    c.args(args).env_remove("ACCORD_CREDENTIAL");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

#[test]
fn audit_verify_reads_a_node_log_through_its_pinned_tls() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pak");
    let people = make_node(&rt, &dir, &[("officer", SECRET), ("clerk", LOW)]);
    // The log's entries are for the node's officers (and partners).
    rt.block_on(accord_node::directory::set_role(
        &Home::open(&dir).unwrap(),
        "officer",
        accord_agreement::Role::Officer,
    ))
    .unwrap();
    let running = rt
        .block_on(server::start(&dir, ServeOptions::default()))
        .unwrap();
    let home = Home::open(&dir).unwrap();
    let node = home.party.node.clone().unwrap();
    let vkey = node.log_verifier_key.clone();

    // Decisions to log: a labelling, a permit and a denial.
    let officer = Client::new(people[0].0.clone()).unwrap();
    let clerk = Client::new(people[1].0.clone()).unwrap();
    let tdf = seal(&officer, MARKING, None, b"exercise plan");
    let manifest = manifest(&tdf);
    assert_eq!(
        officer.rewrap(vec![manifest.clone()]).unwrap()[0].decision,
        "permit"
    );
    assert_eq!(clerk.rewrap(vec![manifest]).unwrap()[0].decision, "deny");

    let url = format!("{}/log/", node.url);
    let cred = people[0].1.as_path();
    let cred_s = cred.to_str().unwrap();

    // The checkpoint covering the three entries is published within 100 ms.
    let t0 = std::time::Instant::now();
    let size = loop {
        let o = accord(
            &[
                "--json",
                "audit",
                "checkpoint",
                "--log",
                &url,
                "--credential",
                cred_s,
            ],
            &[],
        );
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let size = v["size"].as_u64().unwrap();
        if size >= 6 || t0.elapsed().as_secs() > 20 {
            break size;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    // The two enrolments and the officer's role (directory entries), then the three
    // decisions.
    assert_eq!(size, 6);

    // With the credential: verified.
    let o = accord(
        &[
            "--json",
            "audit",
            "verify",
            "--log",
            &url,
            "--key",
            &vkey,
            "--credential",
            cred_s,
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (v["verified"].as_bool(), v["entries"].as_u64()),
        (Some(true), Some(6))
    );

    // From ACCORD_CREDENTIAL, for the credential's own node.
    let o = accord(
        &["audit", "verify", "--log", &url, "--key", &vkey],
        &[("ACCORD_CREDENTIAL", cred)],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).starts_with("verified "),
        "{}",
        text(&o)
    );

    // With the pin alone (no credential, upper case as well): the signed checkpoint and
    // the hash tiles are public, the entries (people, markings, objects) are not.
    let o = accord(
        &[
            "audit",
            "checkpoint",
            "--log",
            &url,
            "--tls-pin",
            &node.tls_spki_sha256.to_uppercase(),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = accord(
        &[
            "audit",
            "verify",
            "--log",
            &url,
            "--key",
            &vkey,
            "--tls-pin",
            &node.tls_spki_sha256,
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("403") && err.contains("audit entries are for its officers"),
        "{err}"
    );

    // Prove and show go through the same options.
    let proof = tmp.path().join("e1.tlog-proof");
    let o = accord(
        &[
            "audit",
            "prove",
            "--log",
            &url,
            "--entry",
            "1",
            "-o",
            proof.to_str().unwrap(),
            "--credential",
            cred_s,
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = accord(
        &[
            "audit",
            "verify-proof",
            proof.to_str().unwrap(),
            "--key",
            &vkey,
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = accord(
        &[
            "--json",
            "audit",
            "show",
            "--log",
            &url,
            "--credential",
            cred_s,
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let decisions: Vec<(String, String)> = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let entry: serde_json::Value =
                serde_json::from_str(e["text"].as_str().unwrap()).unwrap();
            (
                entry["kind"].as_str().unwrap().to_string(),
                entry["decision"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let d = |k: &str, x: &str| (k.to_string(), x.to_string());
    assert_eq!(
        decisions,
        vec![
            d("directory", "permit"),
            d("directory", "permit"),
            d("directory", "permit"),
            d("label", "permit"),
            d("rewrap", "permit"),
            d("rewrap", "deny")
        ]
    );

    // A member of the node is refused the entries, with the role's reason.
    let o = accord(
        &[
            "audit",
            "show",
            "--log",
            &url,
            "--credential",
            people[1].1.to_str().unwrap(),
        ],
        &[],
    );
    assert_ne!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("for officers"),
        "{}",
        text(&o)
    );

    // A wrong pin: the server is not the pinned node; verification fails, saying so.
    let wrong = "ab".repeat(32);
    let o = accord(
        &[
            "audit",
            "verify",
            "--log",
            &url,
            "--key",
            &vkey,
            "--tls-pin",
            &wrong,
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("verification failed"), "{err}");
    assert!(err.contains("is not the pinned one"), "{err}");
    assert!(err.contains(&node.tls_spki_sha256), "{err}");

    // A credential from another node (its pin names another key): the same failure.
    let other = make_node(&rt, &tmp.path().join("other"), &[("officer", SECRET)]);
    let o = accord(
        &[
            "audit",
            "verify",
            "--log",
            &url,
            "--key",
            &vkey,
            "--credential",
            other[0].1.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("is not the pinned one"),
        "{}",
        text(&o)
    );
    // ...but in ACCORD_CREDENTIAL, a credential for another node is not used for this
    // log (public CAs are, which do not know the node's self-issued certificate).
    let mut other_cred = other[0].0.clone();
    other_cred.node_url = "https://node.elsewhere.example:8443".into();
    let elsewhere = tmp.path().join("elsewhere.credential");
    other_cred.save(&elsewhere).unwrap();
    let o = accord(
        &["audit", "verify", "--log", &url, "--key", &vkey],
        &[("ACCORD_CREDENTIAL", &elsewhere)],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("not trusted"),
        "{}",
        text(&o)
    );
    assert!(
        !String::from_utf8_lossy(&o.stderr).contains("pinned"),
        "{}",
        text(&o)
    );

    // Usage errors: a pin that is not a SHA-256, a pin for a directory log.
    let o = accord(
        &[
            "audit",
            "verify",
            "--log",
            &url,
            "--key",
            &vkey,
            "--tls-pin",
            "abc",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("is not a SHA-256 in hex"),
        "{}",
        text(&o)
    );
    let log_dir = dir.join("log");
    let o = accord(
        &[
            "audit",
            "verify",
            "--log",
            log_dir.to_str().unwrap(),
            "--key",
            &vkey,
            "--credential",
            cred_s,
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("only to a log at an https:// URL"),
        "{}",
        text(&o)
    );

    rt.block_on(running.stop()).unwrap();

    // The directory, read directly after the node stopped, is the same log; the variable
    // does not get in the way of a directory log.
    let o = accord(
        &[
            "audit",
            "verify",
            "--log",
            log_dir.to_str().unwrap(),
            "--key",
            &vkey,
        ],
        &[("ACCORD_CREDENTIAL", cred)],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}
