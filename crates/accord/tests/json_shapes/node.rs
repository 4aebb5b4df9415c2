//! The node-backed commands, against the sandbox's two nodes (and a quickstart).

use crate::{s, Checker, BIN};
use accord_node::server::ServeOptions;
use accord_test_support::Pair;
use std::path::Path;
use std::process::Command;

#[test]
fn node_commands_print_as_their_schemas_say() {
    let c = Checker::new();
    let pair = Pair::start(ServeOptions::default);
    let dir = pair.tmp.path();
    let cred = |id: &str| crate::credential(&pair, id);
    let (pak_officer, usa_officer, usa_clerk) =
        (cred("pak-officer"), cred("usa-officer"), cred("usa-clerk"));
    let agreement = pair.sb.agreement.body.id.clone();
    let plain = dir.join("brief.txt");
    std::fs::write(&plain, "training brief").unwrap();
    let marking = "CONFIDENTIAL//REL TO USA, PAK//SCOPE TRAINING";
    let seal = |out: &Path| {
        c.run(
            "seal",
            &[
                "seal",
                "--credential",
                &pak_officer,
                "--label",
                marking,
                "--agreement",
                &agreement,
                s(&plain),
                "-o",
                s(out),
            ],
            0,
        )
    };
    let tdf = dir.join("brief.tdf");
    let v = seal(&tdf);
    assert_eq!(v["agreement_chosen"], false, "{v:#}");
    let v = c.run(
        "seal",
        &[
            "seal",
            "--credential",
            &pak_officer,
            "--label",
            marking,
            s(&plain),
            "-o",
            s(&dir.join("chosen.tdf")),
        ],
        0,
    );
    assert_eq!(v["agreement_chosen"], true, "{v:#}");
    let v = c.run(
        "open",
        &[
            "open",
            "--credential",
            &pak_officer,
            s(&tdf),
            "-o",
            s(&dir.join("a.txt")),
        ],
        0,
    );
    assert_eq!(v["decision"], "permit", "{v:#}");
    let v = c.run(
        "open",
        &[
            "open",
            "--credential",
            &usa_clerk,
            s(&tdf),
            "-o",
            s(&dir.join("b.txt")),
        ],
        3,
    );
    assert_eq!(v["decision"], "deny", "{v:#}");
    // The clerk may not apply a SECRET label: the node's plan denies it (1).
    let v = c.run(
        "seal",
        &[
            "seal",
            "--credential",
            &usa_clerk,
            "--label",
            "SECRET//REL TO USA, PAK//SCOPE TRAINING",
            s(&plain),
            "-o",
            s(&dir.join("clerk.tdf")),
        ],
        1,
    );
    assert_eq!(v["decision"], "deny", "{v:#}");

    // Exchange.
    let v = c.run(
        "send",
        &[
            "send",
            "--credential",
            &pak_officer,
            "--to",
            "USA",
            s(&tdf),
            "--wait",
            "60",
        ],
        0,
    );
    assert_eq!(v["state"], "delivered", "{v:#}");
    let id = v["id"].as_str().unwrap().to_string();
    let (t1, t2) = (dir.join("one.tdf"), dir.join("two.tdf"));
    seal(&t1);
    seal(&t2);
    let v = c.run(
        "send",
        &[
            "send",
            "--credential",
            &pak_officer,
            "--to",
            "USA",
            s(&t1),
            s(&t2),
        ],
        0,
    );
    assert_eq!(v.as_array().unwrap().len(), 2, "{v:#}");
    c.error(
        &["send", "--credential", &pak_officer, "--to", "PAK", s(&t1)],
        2,
    );
    // An object under no agreement: refused by the node, with the rules (1).
    let national = dir.join("national.tdf");
    c.run(
        "seal",
        &[
            "seal",
            "--credential",
            &pak_officer,
            "--label",
            marking,
            "--national",
            s(&plain),
            "-o",
            s(&national),
        ],
        0,
    );
    let v = c.run(
        "send",
        &[
            "send",
            "--credential",
            &pak_officer,
            "--to",
            "USA",
            s(&national),
        ],
        1,
    );
    assert_eq!(v["state"], "refused", "{v:#}");
    let v = c.run("outbox", &["outbox", "--credential", &pak_officer], 0);
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .any(|o| o["receipt"].is_object()),
        "{v:#}"
    );
    let v = c.run("inbox", &["inbox", "--credential", &usa_officer], 0);
    assert!(
        v.as_array().unwrap().iter().any(|i| i["id"] == id.as_str()),
        "{v:#}"
    );
    c.run(
        "fetch",
        &[
            "fetch",
            "--credential",
            &usa_officer,
            &id,
            "-o",
            s(&dir.join("fetched.tdf")),
        ],
        0,
    );
    c.error(
        &[
            "fetch",
            "--credential",
            &usa_officer,
            "00000000-0000-4000-8000-000000000000",
            "-o",
            s(&dir.join("x.tdf")),
        ],
        2,
    );

    // The node's home while it serves.
    let pak = pair.sb.pak.layout.dir.clone();
    c.run("node-info", &["node", "info", "--dir", s(&pak)], 0);
    c.run("user-list", &["user", "list", "--dir", s(&pak)], 0);
    let v = c.run(
        "opentdf-enable",
        &["opentdf", "enable", "--dir", s(&pak), "--dpop", "optional"],
        0,
    );
    assert_eq!(
        (v["configured"].as_bool(), v["dpop"].as_str()),
        (Some(true), Some("optional")),
        "{v:#}"
    );
    let idp = accord_test_support::oidc::TestIssuer::start();
    std::fs::write(dir.join("idp-ca.pem"), &idp.ca_pem).unwrap();
    let v = c.run(
        "opentdf-issuer",
        &[
            "opentdf",
            "issuer",
            "--dir",
            s(&pak),
            "--discovery",
            &idp.url,
            "--audience",
            "accord-kas",
            "--person-claim",
            "preferred_username",
            "--ca-file",
            s(&dir.join("idp-ca.pem")),
        ],
        0,
    );
    assert_eq!(
        (v["issuer"].as_str(), v["keys"].as_u64()),
        (Some(idp.url.as_str()), Some(2)),
        "{v:#}"
    );
    let v = c.run(
        "user-opentdf-client",
        &[
            "user",
            "opentdf-client",
            "--dir",
            s(&pak),
            "--id",
            "pak-officer",
            "-o",
            s(&dir.join("pak-officer.opentdf.json")),
        ],
        0,
    );
    assert_eq!(v["person"], "pak-officer", "{v:#}");
    let v = c.run(
        "agreement-load",
        &[
            "agreement",
            "load",
            "--dir",
            s(&pak),
            s(&dir.join("agreement.toml")),
        ],
        0,
    );
    assert_eq!(v["outcome"], "unchanged", "{v:#}");
    let v = c.run(
        "agreement-list",
        &["agreement", "list", "--dir", s(&pak)],
        0,
    );
    assert_eq!(v[0]["status"], "in-force", "{v:#}");
    let st = c.run(
        "agreement-status",
        &["agreement", "status", s(&dir.join("agreement.toml"))],
        0,
    );
    assert!(st["countersigned"].is_string(), "{st:#}");

    // A KAS rotation amends the agreement held (a file's copy no longer extends it).
    let v = c.run("key-list", &["key", "list", "--dir", s(&pak)], 0);
    assert_eq!(v["kas_held"].as_array().map(Vec::len), Some(1), "{v:#}");
    let v = c.run(
        "key-rotate",
        &[
            "key",
            "rotate",
            "--dir",
            s(&pak),
            "kas",
            "--reason",
            "scheduled rotation",
        ],
        0,
    );
    assert_eq!(v["agreements"][0]["outcome"], "amended", "{v:#}");
    let v = c.run("key-list", &["key", "list", "--dir", s(&pak)], 0);
    assert_eq!(v["kas_held"].as_array().map(Vec::len), Some(2), "{v:#}");
    assert!(
        v["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kind"] == "kas" && k["replaced"].is_string()),
        "{v:#}"
    );
    let old = v["kas_held"][1].as_str().unwrap().to_string();
    let v = c.run(
        "key-revoke",
        &[
            "key",
            "revoke",
            "--dir",
            s(&pak),
            "kas",
            "--kid",
            &old,
            "--compromised",
            "2020-01-01",
            "--reason",
            "host image exfiltrated",
        ],
        0,
    );
    assert_eq!(v["agreements"][0]["outcome"], "revoked", "{v:#}");

    // The node's audit log, through its pinned TLS.
    let node = pair.sb.pak.party.node.clone().unwrap();
    let url = format!("{}/log/", node.url);
    c.run(
        "audit-verify",
        &[
            "audit",
            "verify",
            "--log",
            &url,
            "--credential",
            &pak_officer,
            "--key",
            &node.log_verifier_key,
        ],
        0,
    );

    // A TLS rotation: the old key's grace, and the new key waiting for USA (or, once
    // USA acknowledged it, presented).
    let v = c.run(
        "key-rotate",
        &[
            "key",
            "rotate",
            "--dir",
            s(&pak),
            "tls",
            "--grace-days",
            "3",
        ],
        0,
    );
    let (old_tls, new_tls) = (
        v["old"].as_str().unwrap().to_string(),
        v["new"].as_str().unwrap().to_string(),
    );
    assert!(v["grace_until"].is_string(), "{v:#}");
    let v = c.run("key-list", &["key", "list", "--dir", s(&pak)], 0);
    let switched = v["tls_waiting"].is_null()
        && v["keys"].as_array().unwrap().iter().any(|k| {
            k["kind"] == "tls" && k["id"] == old_tls.as_str() && k["replaced"].is_string()
        });
    assert!(v["tls_waiting"] == new_tls.as_str() || switched, "{v:#}");

    // A log rotation: the old key stays accepted through its grace (key list says
    // until when), and the running node's published log verifies under either key.
    let v = c.run("key-rotate", &["key", "rotate", "--dir", s(&pak), "log"], 0);
    assert!(v["grace_until"].is_string(), "{v:#}");
    let v = c.run("key-list", &["key", "list", "--dir", s(&pak)], 0);
    assert!(
        v["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kind"] == "log" && k["accepted_until"].is_string()),
        "{v:#}"
    );
    let new_log = accord_keys::load_party(&pak.join("party.json"))
        .unwrap()
        .node
        .unwrap()
        .log_verifier_key;
    assert_ne!(new_log, node.log_verifier_key);
    accord_test_support::wait("the node signs its log with the new key", || {
        Command::new(BIN)
            .args([
                "audit",
                "verify",
                "--log",
                &url,
                "--credential",
                &pak_officer,
            ])
            .args(["--key", &new_log])
            .current_dir(super::root())
            .output()
            .unwrap()
            .status
            .success()
    });
    for key in [&node.log_verifier_key, &new_log] {
        c.run(
            "audit-verify",
            &[
                "audit",
                "verify",
                "--log",
                &url,
                "--credential",
                &pak_officer,
                "--key",
                key,
            ],
            0,
        );
    }

    // The quickstart's summary.
    let qs = tempfile::tempdir().unwrap();
    let v = c.run(
        "quickstart",
        &[
            "quickstart",
            "--dir",
            s(&qs.path().join("sandbox")),
            "--no-serve",
        ],
        0,
    );
    assert_eq!(v["ok"], true, "{v:#}");
    drop(pair);

    let used = c.used.into_inner().unwrap();
    for name in [
        "seal",
        "open",
        "send",
        "outbox",
        "inbox",
        "fetch",
        "node-info",
        "user-list",
        "agreement-load",
        "agreement-list",
        "agreement-status",
        "key-list",
        "key-rotate",
        "key-revoke",
        "audit-verify",
        "quickstart",
        "error",
    ] {
        assert!(used.contains(name), "{name} was not checked");
    }
}
