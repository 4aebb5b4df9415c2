//! The person's kit: profiles, credentials and `accord status`, against the sandbox's
//! two nodes, with a configuration file of the test's own (`ACCORD_CONFIG`).

use crate::{s, Checker};
use accord_node::server::ServeOptions;
use accord_test_support::Pair;

#[test]
fn profile_credential_and_status_commands_print_as_their_schemas_say() {
    let mut c = Checker::new();
    let pair = Pair::start(ServeOptions::default);
    let dir = pair.tmp.path().to_path_buf();
    c.env.push((
        "ACCORD_CONFIG".into(),
        s(&dir.join("config.toml")).to_string(),
    ));
    let cred = |id: &str| crate::credential(&pair, id);
    let (pak_officer, usa_clerk) = (cred("pak-officer"), cred("usa-clerk"));

    let v = c.run(
        "profile-add",
        &[
            "profile",
            "add",
            "pak",
            "--credential",
            &pak_officer,
            "--to",
            "USA",
        ],
        0,
    );
    assert_eq!(v["default"], true, "{v:#}");
    c.run(
        "profile-add",
        &["profile", "add", "clerk", "--credential", &usa_clerk],
        0,
    );
    // A profile with a credential that has gone: listed, with why.
    let gone = dir.join("gone.credential");
    std::fs::copy(&usa_clerk, &gone).unwrap();
    c.run(
        "profile-add",
        &["profile", "add", "gone", "--credential", s(&gone)],
        0,
    );
    std::fs::remove_file(&gone).unwrap();
    let v = c.run("profile-list", &["profile", "list"], 0);
    assert_eq!(v["default"], "pak", "{v:#}");
    assert!(v["profiles"][1]["error"].is_string(), "{v:#}");
    c.run("profile-remove", &["profile", "remove", "gone"], 0);
    c.error(&["profile", "remove", "gone"], 2);

    let v = c.run("status", &["status"], 0);
    assert_eq!(v["ok"], true, "{v:#}");
    assert_eq!(
        v["node"]["status"]["partners"][0]["reachable"], true,
        "{v:#}"
    );
    let v = c.run("status", &["status", "--profile", "clerk"], 0);
    assert_eq!(v["credential"]["person"], "usa-clerk", "{v:#}");
    c.error(&["status", "--profile", "nobody"], 2);

    let v = c.run("credential-show", &["credential", "show"], 0);
    assert_eq!(v["protected"], false, "{v:#}");
    let pass = dir.join("pass");
    std::fs::write(&pass, "s3cret passphrase\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&pass, std::fs::Permissions::from_mode(0o600)).unwrap();
    let v = c.run(
        "credential-protect",
        &[
            "credential",
            "protect",
            &usa_clerk,
            "--new-passphrase-file",
            s(&pass),
        ],
        0,
    );
    assert_eq!(v["changed"], false, "{v:#}");
    // Unlocked from the file, the passphrase changed to itself.
    let v = c.run(
        "credential-protect",
        &[
            "credential",
            "protect",
            &usa_clerk,
            "--passphrase-file",
            s(&pass),
            "--new-passphrase-file",
            s(&pass),
        ],
        0,
    );
    assert_eq!(v["changed"], true, "{v:#}");
    c.error(&["credential", "unprotect", &usa_clerk], 2);
    c.run(
        "credential-unprotect",
        &[
            "credential",
            "unprotect",
            &usa_clerk,
            "--passphrase-file",
            s(&pass),
        ],
        0,
    );

    let usa = pair.sb.usa.layout.dir.clone();
    let v = c.run(
        "user-renew",
        &[
            "user",
            "renew",
            "--dir",
            s(&usa),
            "--id",
            "usa-clerk",
            "-o",
            s(&dir.join("clerk-2027.credential")),
        ],
        0,
    );
    assert_eq!(v["id"], "usa-clerk", "{v:#}");
    let v = c.run(
        "user-revoke",
        &[
            "user",
            "revoke",
            "--dir",
            s(&usa),
            "--id",
            "usa-clerk",
            "--credential",
            s(&dir.join("clerk-2027.credential")),
        ],
        0,
    );
    assert_eq!(v["revoked"], 1, "{v:#}");
    drop(pair);

    let used = c.used.into_inner().unwrap();
    for name in [
        "profile-add",
        "profile-list",
        "profile-remove",
        "status",
        "credential-show",
        "credential-protect",
        "credential-unprotect",
        "user-renew",
        "user-revoke",
        "error",
    ] {
        assert!(used.contains(name), "{name} was not checked");
    }
}
