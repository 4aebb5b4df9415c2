//! `accord key rotate tls` at a node that is not running: the new TLS key and its
//! certificate (two years, from the node CA) are staged, `accord key list` shows the key
//! waiting and `accord node info` says so; running it again finishes the same rotation;
//! a grace out of range, or for another kind, is a usage error (exit 2).

use std::process::{Command, Output};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_accord"))
        .current_dir(ROOT)
        .args(args)
        .output()
        .unwrap()
}

fn json(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn a_rotated_tls_key_waits_for_partners_and_node_info_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("pak");
    let h = home.to_str().unwrap();
    let o = run(&["init", "--party", "PAK", "--dir", h, "--policy", "policies"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let validity = |file: &str| {
        let pem = std::fs::read_to_string(home.join("keys").join(file)).unwrap();
        let der = accord_node_api::pki::certs_from_pem(&pem)
            .unwrap()
            .remove(0);
        accord_node_api::pki::not_after(&der).unwrap()
            - accord_node_api::pki::not_before(&der).unwrap()
    };
    let two_years = accord_node_api::pki::NODE_TLS_VALIDITY_DAYS * 86_400;
    assert_eq!(validity("tls.crt"), two_years);

    let r = json(&run(&[
        "--json",
        "key",
        "rotate",
        "--dir",
        h,
        "tls",
        "--grace-days",
        "3",
    ]));
    assert_eq!(r["kind"], "tls");
    assert_ne!(r["old"], r["new"]);
    let effective = accord_agreement::Time::parse(r["effective"].as_str().unwrap()).unwrap();
    let grace = accord_agreement::Time::parse(r["grace_until"].as_str().unwrap()).unwrap();
    assert_eq!(grace.unix() - effective.unix(), 3 * 86_400);
    assert_eq!(validity("tls.next.crt"), two_years);

    let list = json(&run(&["--json", "key", "list", "--dir", h]));
    assert_eq!(list["tls_waiting"], r["new"], "{list:#}");
    let o = run(&["node", "info", "--dir", h]);
    assert!(o.status.success());
    let said = String::from_utf8_lossy(&o.stderr);
    assert!(said.contains("waits to be presented"), "{said}");
    // party.json still names the key presented now.
    let party: serde_json::Value =
        serde_json::from_slice(&std::fs::read(home.join("party.json")).unwrap()).unwrap();
    assert_eq!(party["node"]["tls_spki_sha256"], r["old"]);

    // Again: the same key, staged once.
    let again = json(&run(&["--json", "key", "rotate", "--dir", h, "tls"]));
    assert_eq!(again["new"], r["new"]);

    for (args, says) in [
        (
            &["key", "rotate", "--dir", h, "tls", "--grace-days", "91"][..],
            "--grace-days 91",
        ),
        (
            &["key", "rotate", "--dir", h, "tls", "--grace-days", "0"][..],
            "--grace-days 0",
        ),
        (
            &["key", "rotate", "--dir", h, "kas", "--grace-days", "3"][..],
            "only an old TLS key",
        ),
    ] {
        let o = run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(e.contains(says), "{args:?}: {e}");
    }
}
