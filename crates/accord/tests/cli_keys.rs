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
            "only an old TLS, log or witness key",
        ),
    ] {
        let o = run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(e.contains(says), "{args:?}: {e}");
    }
}

/// `accord key rotate log` and `witness` at a node that is not running: the new key in
/// place (party.json names the new log key, of the same origin; witness.vkey the new
/// witness key), the old one kept (0600) with its grace in the key history, and
/// offline-kas refused as the party's, not the node's (exit 2).
#[test]
fn log_and_witness_keys_rotated_at_a_stopped_node() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("pak");
    let h = home.to_str().unwrap();
    let o = run(&["init", "--party", "PAK", "--dir", h, "--policy", "policies"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let log_key = || {
        let party: serde_json::Value =
            serde_json::from_slice(&std::fs::read(home.join("party.json")).unwrap()).unwrap();
        party["node"]["log_verifier_key"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let first = log_key();
    let r = json(&run(&[
        "--json",
        "key",
        "rotate",
        "--dir",
        h,
        "log",
        "--grace-days",
        "2",
    ]));
    assert_eq!(r["kind"], "log");
    let now = log_key();
    assert!(first.starts_with(r["old"].as_str().unwrap()), "{r:#}");
    assert!(now.starts_with(r["new"].as_str().unwrap()), "{r:#}");
    assert_eq!(
        first.split('+').next(),
        now.split('+').next(),
        "same origin"
    );
    let effective = accord_agreement::Time::parse(r["effective"].as_str().unwrap()).unwrap();
    let grace = accord_agreement::Time::parse(r["grace_until"].as_str().unwrap()).unwrap();
    assert_eq!(grace.unix() - effective.unix(), 2 * 86_400);
    let kept = |kind: &str| -> Vec<std::path::PathBuf> {
        std::fs::read_dir(home.join("keys").join(kind))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect()
    };
    let old_log = kept("log");
    assert_eq!(old_log.len(), 1);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&old_log[0]).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
    }
    let history: serde_json::Value =
        serde_json::from_slice(&std::fs::read(home.join("keys/history.json")).unwrap()).unwrap();
    let old = history["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == r["old"])
        .unwrap();
    assert_eq!(old["accepted_until"], r["grace_until"], "{history:#}");

    // A run stopped after the new key was in place, before its pending copy went:
    // `node info` says so, and running it again finishes it (same keys, same grace).
    let pending = home.join("keys/pending/log.key");
    std::fs::copy(home.join("log/.accord/log.key"), &pending).unwrap();
    let o = run(&["node", "info", "--dir", h]);
    assert!(o.status.success());
    let said = String::from_utf8_lossy(&o.stderr);
    assert!(said.contains("a log key rotation did not finish"), "{said}");
    let again = json(&run(&["--json", "key", "rotate", "--dir", h, "log"]));
    assert_eq!(
        (&again["old"], &again["new"]),
        (&r["old"], &r["new"]),
        "{again:#}"
    );
    assert_eq!(again["grace_until"], r["grace_until"]);
    assert!(!pending.exists());
    assert_eq!(log_key(), now);
    let o = run(&["node", "info", "--dir", h]);
    assert!(!String::from_utf8_lossy(&o.stderr).contains("did not finish"));

    let vkey = || std::fs::read_to_string(home.join("witness/witness.vkey")).unwrap();
    let w = json(&run(&["--json", "key", "rotate", "--dir", h, "witness"]));
    assert_eq!(w["kind"], "witness");
    assert!(vkey().starts_with(w["new"].as_str().unwrap()), "{w:#}");
    assert!(vkey().starts_with("witness.pak.accord+"));
    assert_eq!(kept("witness").len(), 1);

    let o = run(&["key", "rotate", "--dir", h, "offline-kas"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("the party's, not the node's"));
}

/// `accord init` with `--pkcs11-module` and `--pkcs11-token` makes the node's keys in a
/// SoftHSM2 token: the PIN only from `ACCORD_PKCS11_PIN` or an owner-only file (never a
/// flag), a wrong PIN leaves nothing behind, `node info` and `key list` say where each
/// key lives, and a rotation makes the new key in the token.
#[test]
fn a_node_made_with_its_keys_in_a_token() {
    let Some(hsm) = accord_test_support::softhsm::softhsm("a_node_made_with_its_keys_in_a_token")
    else {
        return;
    };
    hsm.token("accord-cli-test", "cli-pin");
    let module = hsm.module.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("pak");
    let h = home.to_str().unwrap();
    let init = |pin: Option<&str>, extra: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_accord"));
        c.current_dir(ROOT).env_remove("ACCORD_PKCS11_PIN");
        if let Some(p) = pin {
            c.env("ACCORD_PKCS11_PIN", p);
        }
        c.args(["init", "--party", "PAK", "--dir", h, "--policy", "policies"])
            .args([
                "--pkcs11-module",
                module,
                "--pkcs11-token",
                "accord-cli-test",
            ])
            .args(extra)
            .output()
            .unwrap()
    };
    let stderr = |o: &Output| String::from_utf8_lossy(&o.stderr).to_string();

    // The PIN is never a flag.
    let o = init(Some("cli-pin"), &["--pkcs11-pin", "cli-pin"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    // No PIN, a wrong PIN, a wrong label: exit 2, named, nothing left behind.
    let o = init(None, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("ACCORD_PKCS11_PIN"), "{}", stderr(&o));
    let o = init(Some("wrong"), &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("is not right"), "{}", stderr(&o));
    assert!(!home.exists(), "a refused init leaves nothing");
    let pin_file = dir.path().join("pin");
    std::fs::write(&pin_file, "cli-pin\n").unwrap();
    let o = init(None, &["--pkcs11-pin-file", pin_file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "a PIN file others may read");
    assert!(stderr(&o).contains("chmod 600"), "{}", stderr(&o));
    assert!(!home.exists());

    let o = init(Some("cli-pin"), &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let with_pin = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_accord"))
            .current_dir(ROOT)
            .env("ACCORD_PKCS11_PIN", "cli-pin")
            .args(args)
            .output()
            .unwrap()
    };
    let info = with_pin(&["node", "info", "--dir", h]);
    assert!(info.status.success(), "{}", stderr(&info));
    let e = stderr(&info);
    assert!(
        e.contains("signing key: classical half in PKCS#11 token \"accord-cli-test\"")
            && e.contains("kas key: classical half in PKCS#11 token \"accord-cli-test\"")
            && e.contains("logged in; the signing key and 1 KAS key(s) found and proved"),
        "{e}"
    );
    let list = json(&with_pin(&["--json", "key", "list", "--dir", h]));
    let custody = list["custody"].as_array().unwrap();
    assert_eq!(custody[0]["key"], "signing");
    assert_eq!(custody[0]["custody"], "pkcs11");
    assert_eq!(custody[1]["token"], "accord-cli-test");
    assert_eq!(custody[2]["custody"], "file", "{list:#}");

    // A rotation makes the new KAS key in the token too.
    let r = json(&with_pin(&["--json", "key", "rotate", "--dir", h, "kas"]));
    assert_ne!(r["old"], r["new"]);
    let kas = std::fs::read_to_string(home.join("keys/kas.key")).unwrap();
    assert!(
        kas.starts_with("-----BEGIN ACCORD PKCS11 KEY-----"),
        "{kas}"
    );
    let info = with_pin(&["node", "info", "--dir", h]);
    assert!(
        stderr(&info).contains("2 KAS key(s) found and proved"),
        "{}",
        stderr(&info)
    );
    // The KAS keys for OpenTDF clients are made in the token too.
    let o = with_pin(&["opentdf", "enable", "--dir", h]);
    assert!(o.status.success(), "{}", stderr(&o));
    let list = json(&with_pin(&["--json", "key", "list", "--dir", h]));
    let custody = list["custody"].as_array().unwrap();
    for k in ["opentdf-rsa", "opentdf-ec"] {
        let c = custody.iter().find(|c| c["key"] == k).expect(k);
        assert_eq!(c["custody"], "pkcs11", "{list:#}");
    }
    // The systemd unit names the token and gives SoftHSM2 its token files.
    let unit = run(&[
        "node",
        "systemd",
        "--dir",
        h,
        "--binary",
        "/usr/local/bin/accord",
    ]);
    let unit = String::from_utf8_lossy(&unit.stdout).to_string();
    assert!(
        unit.contains("PKCS#11 token \"accord-cli-test\"")
            && unit
                .lines()
                .any(|l| l == "ReadWritePaths=-/var/lib/softhsm/tokens")
            && !unit.contains("cli-pin"),
        "{unit}"
    );
    // Without the PIN, node info still prints party.json and says what is wrong.
    let o = run(&["node", "info", "--dir", h]);
    assert!(o.status.success());
    assert!(
        stderr(&o).contains("warning: token \"accord-cli-test\"")
            && stderr(&o).contains("ACCORD_PKCS11_PIN"),
        "{}",
        stderr(&o)
    );
}
