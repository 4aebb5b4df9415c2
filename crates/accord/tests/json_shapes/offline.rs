//! The offline commands: files made here and the repository's test data.

use crate::{root, s, Checker, BIN};
use serde_json::Value;
use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
#[test]
fn offline_commands_print_as_their_schemas_say() {
    let c = Checker::new();
    let tmp = tempfile::tempdir().unwrap();
    let t = |p: &str| tmp.path().join(p);
    let r = root();
    let data = |p: &str| r.join("crates/accord/tests/cmd").join(p);
    let policies = r.join("policies");
    let pol = s(&policies);

    // Keys and an agreement's whole lifecycle.
    for (party, authority) in [("PAK", "Joint Staff Headquarters"), ("USA", "DoD")] {
        let dir = t(&party.to_lowercase());
        let v = c.run(
            "keygen",
            &[
                "keygen",
                "--out",
                s(&dir),
                "--party",
                party,
                "--authority",
                authority,
                "--policy",
                party,
            ],
            0,
        );
        assert_eq!(v["party"], party);
    }
    let a = t("agreement.toml");
    c.run(
        "agreement-record",
        &[
            "agreement",
            "init",
            "--id",
            "CISMOA-2025",
            "--title",
            "CIS-MOA",
            "--party",
            s(&t("pak/party.json")),
            "--party",
            s(&t("usa/party.json")),
            "--scope",
            "EXERCISES,TRAINING",
            "--effective",
            "2025-10-01",
            "--years",
            "15",
            "--ceiling",
            "SECRET",
            "-o",
            s(&a),
        ],
        0,
    );
    for p in ["pak", "usa"] {
        let key = t(&format!("{p}/signing.key"));
        c.run(
            "agreement-record",
            &[
                "agreement",
                "approve",
                s(&a),
                "--key",
                s(&key),
                "--reference",
                "approval",
                "--at",
                "2025-09-01",
            ],
            0,
        );
    }
    for p in ["pak", "usa"] {
        let key = t(&format!("{p}/signing.key"));
        c.run(
            "agreement-record",
            &[
                "agreement",
                "sign",
                s(&a),
                "--key",
                s(&key),
                "--at",
                "2025-09-02",
            ],
            0,
        );
    }
    let st = c.run(
        "agreement-status",
        &["agreement", "status", s(&a), "--at", "2026-01-01"],
        0,
    );
    assert_eq!(st["status"], "in-force", "{st:#}");
    assert_eq!(st["countersigned"], "2025-09-02T00:00:00Z", "{st:#}");
    assert_eq!(st["effective_from"], "2025-10-01T00:00:00Z", "{st:#}");
    assert_eq!(st["approvals"].as_array().unwrap().len(), 2, "{st:#}");
    c.run("agreement-verify", &["agreement", "verify", s(&a)], 0);
    c.run(
        "agreement-verify",
        &[
            "agreement",
            "verify",
            s(&data("agreement/data/tampered.toml")),
        ],
        1,
    );
    let renewed = t("renewed.toml");
    c.run(
        "agreement-record",
        &[
            "agreement",
            "renew",
            s(&a),
            "--years",
            "5",
            "-o",
            s(&renewed),
        ],
        0,
    );
    let st = c.run(
        "agreement-status",
        &["agreement", "status", s(&renewed), "--at", "2026-01-01"],
        0,
    );
    assert_eq!(st["predecessor"]["id"], "CISMOA-2025", "{st:#}");
    // Amendments: PAK changes its offline KAS key and its signing key, then revokes
    // the old KAS key; its later records are signed with the new key.
    c.run(
        "keygen",
        &["keygen", "--out", s(&t("pak-2026")), "--party", "PAK"],
        0,
    );
    let amend = |kind: &str, new: &Path, key: &str, at: &str| {
        c.run(
            "agreement-record",
            &[
                "agreement",
                "amend",
                s(&a),
                "--key",
                s(&t(key)),
                kind,
                "--new",
                s(new),
                "--reason",
                "scheduled rotation",
                "--at",
                at,
            ],
            0,
        )
    };
    amend(
        "offline-kas",
        &t("pak-2026/kas.pub"),
        "pak/signing.key",
        "2026-01-01",
    );
    let v = amend(
        "signing",
        &t("pak-2026/signing.key"),
        "pak/signing.key",
        "2026-01-02",
    );
    assert!(
        v["message"].as_str().unwrap().contains("its signing key"),
        "{v:#}"
    );
    let old: Value = serde_json::from_slice(&std::fs::read(t("pak/party.json")).unwrap()).unwrap();
    c.run(
        "agreement-record",
        &[
            "agreement",
            "revoke",
            s(&a),
            "--key",
            s(&t("pak-2026/signing.key")),
            "offline-kas",
            "--kid",
            old["kas_keys"][0]["kid"].as_str().unwrap(),
            "--compromised",
            "2025-12-15",
            "--reason",
            "laptop lost",
            "--at",
            "2026-01-03",
        ],
        0,
    );
    // The old signing key is no longer PAK's.
    c.error(
        &[
            "agreement",
            "revoke",
            s(&a),
            "--key",
            s(&t("pak/signing.key")),
            "tls",
            "--kid",
            "x",
            "--compromised",
            "2026-01-01",
            "--reason",
            "r",
            "--at",
            "2026-01-04",
        ],
        2,
    );
    let st = c.run(
        "agreement-status",
        &["agreement", "status", s(&a), "--at", "2026-02-01"],
        0,
    );
    let kinds: Vec<(&str, &str)> = st["amendments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["kind"].as_str().unwrap(), m["key"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("amend", "offline-kas"),
            ("amend", "signing"),
            ("revoke", "offline-kas")
        ],
        "{st:#}"
    );
    c.run("agreement-verify", &["agreement", "verify", s(&a)], 0);
    c.run(
        "agreement-record",
        &[
            "agreement",
            "terminate",
            s(&a),
            "--key",
            s(&t("pak-2026/signing.key")),
            "--effective",
            "2030-01-01T00:00:00Z",
            "--at",
            "2026-06-01",
        ],
        0,
    );
    let st = c.run(
        "agreement-status",
        &["agreement", "status", s(&a), "--at", "2031-01-01"],
        0,
    );
    assert_eq!(st["status"], "terminated", "{st:#}");
    assert_eq!(
        st["terminations"][0]["effective"], "2030-01-01T00:00:00Z",
        "{st:#}"
    );
    c.error(&["agreement", "status", s(&t("missing.toml"))], 2);

    // Decisions.
    let d = c.run(
        "decide",
        &[
            "decide",
            "--agreement",
            s(&data("agreement/data/cismoa-2005.toml")),
            "--policy",
            pol,
            "--person",
            s(&data("agreement/data/pak-officer.json")),
            "--label",
            s(&data("agreement/data/usa-secret-exercises.json")),
            "--party",
            "PAK",
            "--at",
            "2021-01-01",
        ],
        1,
    );
    assert_eq!(d["reasons"][0]["rule"], "agreement-in-force", "{d:#}");

    // Policies and labels.
    c.run(
        "policy-show",
        &["policy", "show", s(&policies.join("pak.xml"))],
        0,
    );
    c.run("policy-show", &["policy", "show", pol], 0);
    let label = data("label/data/usa-secret-rel-pak.xml");
    c.run(
        "label-render",
        &["label", "render", "--policy", pol, s(&label)],
        0,
    );
    c.run(
        "label",
        &["label", "parse", "--policy", pol, "SECRET//REL TO USA, PAK"],
        0,
    );
    let usa = policies.join("usa.xml");
    let v = c.error(
        &[
            "label",
            "parse",
            "--policy",
            s(&usa),
            "SECRET//NOFORN//REL TO PAK",
        ],
        1,
    );
    assert_eq!(v["error"]["reasons"][0]["rule"], "label", "{v:#}");
    c.run(
        "label",
        &[
            "label",
            "translate",
            "--policy",
            pol,
            "--to",
            "PAK",
            s(&label),
        ],
        0,
    );
    c.run(
        "label-check",
        &["label", "check", "--policy", pol, s(&label)],
        0,
    );
    let v = c.run(
        "label-check",
        &[
            "label",
            "check",
            "--policy",
            pol,
            s(&data("label/data/usa-noforn-rel.xml")),
        ],
        1,
    );
    assert_eq!(v["reasons"][0]["rule"], "label", "{v:#}");
    let clearance = data("label/data/pak-officer.clearance.json");
    c.run(
        "label-decide",
        &[
            "label",
            "decide",
            "--policy",
            pol,
            "--clearance",
            s(&clearance),
            s(&label),
        ],
        0,
    );
    let v = c.run(
        "label-decide",
        &[
            "label",
            "decide",
            "--policy",
            pol,
            "--clearance",
            s(&clearance),
            s(&data("label/data/usa-ts-scope.json")),
        ],
        1,
    );
    assert_eq!(v["reasons"][0]["rule"], "clearance", "{v:#}");
    c.error(
        &[
            "label",
            "check",
            "--policy",
            pol,
            s(&data("label/data/malformed.xml")),
        ],
        2,
    );

    // Sealed objects, offline.
    std::fs::write(t("doc.txt"), "exercise plan").unwrap();
    let tdf = t("doc.tdf");
    c.run(
        "seal",
        &[
            "seal",
            "--policy",
            pol,
            "--label",
            "SECRET//REL TO USA, PAK",
            "--kas-pub",
            s(&t("pak/party.json")),
            "--signing-key",
            s(&t("usa/signing.key")),
            s(&t("doc.txt")),
            "-o",
            s(&tdf),
        ],
        0,
    );
    c.run("inspect", &["inspect", s(&tdf)], 0);
    c.run(
        "inspect",
        &["inspect", s(&data("tdf/data/legacy-nulls.tdf"))],
        0,
    );
    let signer = t("usa/party.json");
    c.run(
        "open",
        &[
            "open",
            "--kas-key",
            s(&t("pak/kas.key")),
            "--trust-signer",
            s(&signer),
            s(&tdf),
            "-o",
            s(&t("opened.txt")),
        ],
        0,
    );
    c.error(
        &[
            "open",
            "--kas-key",
            s(&t("usa/kas.key")),
            "--trust-signer",
            s(&signer),
            s(&tdf),
            "-o",
            s(&t("no.txt")),
        ],
        3,
    );

    // The audit log and a witness.
    let log = t("log");
    let init = c.run(
        "audit-init",
        &[
            "audit",
            "init",
            "--log",
            s(&log),
            "--origin",
            "audit.test/log",
        ],
        0,
    );
    let vkey = init["verifier_key"].as_str().unwrap().to_string();
    std::fs::write(t("e1"), "one").unwrap();
    std::fs::write(t("e2"), "two").unwrap();
    c.run(
        "audit-append",
        &[
            "audit",
            "append",
            "--log",
            s(&log),
            s(&t("e1")),
            s(&t("e2")),
        ],
        0,
    );
    c.run(
        "audit-checkpoint",
        &["audit", "checkpoint", "--log", s(&log)],
        0,
    );
    c.run("audit-show", &["audit", "show", "--log", s(&log)], 0);
    let proof = t("e1.tlog-proof");
    c.run(
        "audit-prove",
        &[
            "audit",
            "prove",
            "--log",
            s(&log),
            "--entry",
            "0",
            "-o",
            s(&proof),
        ],
        0,
    );
    c.run(
        "audit-verify-proof",
        &["audit", "verify-proof", s(&proof), "--key", &vkey],
        0,
    );
    let other = "audit.pak.example/log1+9907fe18+AXPD9lx5amzzAVfO1mbwIar1qO7V58I+whTuKtAuJaR3";
    c.run(
        "audit-verify-proof",
        &["audit", "verify-proof", s(&proof), "--key", other],
        1,
    );
    c.run(
        "audit-verify",
        &["audit", "verify", "--log", s(&log), "--key", other],
        1,
    );
    let wkey = witness(&c, &log, &vkey, &t("witness"));
    let v = c.run(
        "audit-verify",
        &[
            "audit",
            "verify",
            "--log",
            s(&log),
            "--key",
            &vkey,
            "--witness-key",
            &wkey,
        ],
        0,
    );
    assert!(!v["witnesses"].as_array().unwrap().is_empty(), "{v:#}");

    // A node home, its people, without a running node.
    let home = t("home");
    let port = accord_test_support::free_port().to_string();
    let listen = format!("127.0.0.1:{port}");
    c.run(
        "init",
        &[
            "init",
            "--party",
            "PAK",
            "--dir",
            s(&home),
            "--policy",
            pol,
            "--listen",
            &listen,
        ],
        0,
    );
    c.run("node-info", &["node", "info", "--dir", s(&home)], 0);
    c.run(
        "node-systemd",
        &[
            "node",
            "systemd",
            "--dir",
            s(&home),
            "--user",
            "accord",
            "-o",
            s(&t("accord.service")),
        ],
        0,
    );
    let cred = t("officer.credential");
    let pak_clearance = t("pak-secret.json");
    std::fs::write(
        &pak_clearance,
        accord_test_support::clearance::SECRET_EXERCISES,
    )
    .unwrap();
    c.run(
        "user-add",
        &[
            "user",
            "add",
            "--dir",
            s(&home),
            "--id",
            "officer",
            "--name",
            "Maj. A",
            "--nationality",
            "PAK",
            "--clearance",
            s(&pak_clearance),
            "--scope",
            "EXERCISES",
            "-o",
            s(&cred),
        ],
        0,
    );
    let v = c.run(
        "user",
        &["user", "suspend", "--dir", s(&home), "--id", "officer"],
        0,
    );
    assert_eq!(v["status"], "suspended");
    c.run(
        "user",
        &["user", "resume", "--dir", s(&home), "--id", "officer"],
        0,
    );
    let v = c.run(
        "user",
        &[
            "user",
            "role",
            "--dir",
            s(&home),
            "--id",
            "officer",
            "--role",
            "officer",
        ],
        0,
    );
    assert_eq!(v["role"], "officer");
    c.error(
        &[
            "user",
            "role",
            "--dir",
            s(&home),
            "--id",
            "officer",
            "--role",
            "admin",
        ],
        2,
    );
    c.run("user-list", &["user", "list", "--dir", s(&home)], 0);
    // An agreement of other keys: not this node's party, refused (1).
    c.error(&["agreement", "load", "--dir", s(&home), s(&a)], 1);
    c.run(
        "agreement-list",
        &["agreement", "list", "--dir", s(&home)],
        0,
    );
    c.run("man", &["man", "--out", s(&t("man"))], 0);

    // Usage errors, before and after the command is known.
    c.error(&["no-such-command"], 2);
    let v = c.error(&["agreement"], 2);
    assert_eq!(v["error"]["message"], "`accord agreement` needs a command");
    let v = c.error(&["decide", "--agreement", "a.toml"], 2);
    let m = v["error"]["message"].as_str().unwrap();
    assert!(m.contains("--policy <DIR>, --person"), "{v:#}");
    c.error(
        &[
            "seal",
            "--credential",
            "x.credential",
            "--policy",
            pol,
            "in",
            "-o",
            "out",
        ],
        2,
    );

    let used = c.used.into_inner().unwrap();
    for name in [
        "keygen",
        "agreement-record",
        "agreement-status",
        "agreement-verify",
        "decide",
        "policy-show",
        "label",
        "label-render",
        "label-check",
        "label-decide",
        "seal",
        "inspect",
        "open",
        "audit-init",
        "audit-append",
        "audit-checkpoint",
        "audit-show",
        "audit-prove",
        "audit-verify",
        "audit-verify-proof",
        "audit-witness-serve",
        "audit-witness-submit",
        "init",
        "node-info",
        "node-systemd",
        "user-add",
        "user",
        "user-list",
        "agreement-list",
        "man",
        "error",
    ] {
        assert!(used.contains(name), "{name} was not checked");
    }
}

/// `audit witness serve` (its first line), then `audit witness submit` to it.
fn witness(c: &Checker, log: &Path, vkey: &str, dir: &Path) -> String {
    let listen = format!("127.0.0.1:{}", accord_test_support::free_port());
    let mut child = Command::new(BIN)
        .args([
            "--json",
            "audit",
            "witness",
            "serve",
            "--dir",
            s(dir),
            "--listen",
            &listen,
            "--trust",
            vkey,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let first: Result<Value, _> = serde_json::from_str(&line);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let v = first.unwrap_or_else(|e| panic!("witness serve: {e}: {line}"));
        c.validate(
            "audit-witness-serve",
            &v,
            "accord --json audit witness serve",
        );
        let wkey = v["witness_key"].as_str().unwrap().to_string();
        c.run(
            "audit-witness-submit",
            &[
                "audit",
                "witness",
                "submit",
                "--log",
                s(log),
                "--witness",
                &format!("http://{listen}"),
                "--witness-key",
                &wkey,
            ],
            0,
        );
        wkey
    }));
    let _ = child.kill();
    let _ = child.wait();
    result.unwrap_or_else(|e| std::panic::resume_unwind(e))
}
