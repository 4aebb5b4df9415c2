//! The person's kit through the real binary, against two `accord serve` processes made
//! by `accord quickstart --no-serve`: profiles (the credential given once, `send`'s
//! partner by default, flags over the environment over the file), `accord status` (who
//! am I, my node, my partner; problems and their exit code as the README says), and
//! passphrase-protected credentials (refused without the passphrase, with a wrong one,
//! and used with the right one from a file or the environment).

use accord_test_support::cli::describe as text;
use accord_test_support::cli::terminate;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_accord");

struct Env {
    config: PathBuf,
}

impl Env {
    fn run(&self, args: &[&str], vars: &[(&str, &str)]) -> Output {
        let mut c = Command::new(BIN);
        c.args(args)
            .env("ACCORD_CONFIG", &self.config)
            .env_remove("ACCORD_CREDENTIAL")
            .env_remove("ACCORD_PROFILE")
            .env_remove("ACCORD_PASSPHRASE")
            .env_remove("ACCORD_PASSPHRASE_FILE")
            .stdin(Stdio::null());
        for (k, v) in vars {
            c.env(k, v);
        }
        c.output().unwrap()
    }

    fn json(&self, args: &[&str], vars: &[(&str, &str)]) -> (i32, serde_json::Value) {
        let o = self.run(args, vars);
        let v = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {}", text(&o)));
        (o.status.code().unwrap(), v)
    }
}

fn private_file(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn problems(v: &serde_json::Value) -> String {
    v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn profiles_status_and_passphrases_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("sandbox");
    let env = Env {
        config: tmp.path().join("config/accord/config.toml"),
    };
    let o = env.run(
        &["quickstart", "--dir", dir.to_str().unwrap(), "--no-serve"],
        &[],
    );
    assert!(o.status.success(), "quickstart: {}", text(&o));
    let cred = |id: &str| dir.join(format!("credentials/{id}.credential"));
    let cred_s = |id: &str| cred(id).to_str().unwrap().to_string();

    // Nothing names a credential yet: a usage error that says how to give one.
    let o = env.run(&["inbox"], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("accord profile add"),
        "{}",
        text(&o)
    );

    // Profiles: the first is the default; a second needs --default to take over.
    for (name, id, extra) in [
        ("pak", "pak-officer", vec!["--to", "usa"]),
        ("usa", "usa-officer", vec![]),
        ("suspended", "usa-suspended", vec![]),
    ] {
        let c = cred_s(id);
        let mut args = vec!["profile", "add", name, "--credential", c.as_str()];
        args.extend(extra);
        let o = env.run(&args, &[]);
        assert!(o.status.success(), "{}", text(&o));
    }
    let o = env.run(
        &[
            "profile",
            "add",
            "pak",
            "--credential",
            &cred_s("usa-clerk"),
        ],
        &[],
    );
    assert_eq!(
        o.status.code(),
        Some(2),
        "an existing profile needs --force"
    );
    let (code, list) = env.json(&["--json", "profile", "list"], &[]);
    assert_eq!(
        (code, list["default"].as_str()),
        (0, Some("pak")),
        "{list:#}"
    );
    assert_eq!(list["profiles"][0]["to"], "USA");
    assert_eq!(list["profiles"][0]["person"], "pak-officer");

    // Credentials expire: node.toml sets how long a new one lasts; `user renew` issues
    // a new one to someone enrolled, and `node info` names whose expire within 30 days.
    let usa_home = dir.join("usa");
    let usa_home_s = usa_home.to_str().unwrap().to_string();
    let toml = usa_home.join("node.toml");
    let before = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(&toml, format!("{before}credential_validity_days = 4000\n")).unwrap();
    let o = env.run(&["node", "info", "--dir", &usa_home_s], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("credential_validity_days = 4000"));
    std::fs::write(&toml, format!("{before}credential_validity_days = 10\n")).unwrap();
    let clerk2 = tmp.path().join("clerk2.credential");
    let clerk2_s = clerk2.to_str().unwrap().to_string();
    let (code, v) = env.json(
        &[
            "--json",
            "user",
            "renew",
            "--dir",
            &usa_home_s,
            "--id",
            "usa-clerk",
            "-o",
            &clerk2_s,
        ],
        &[],
    );
    assert_eq!(code, 0, "{v:#}");
    let (_, shown) = env.json(&["--json", "credential", "show", &clerk2_s], &[]);
    assert_eq!(shown["not_after"], v["not_after"], "{shown:#}");
    let clearance = tmp.path().join("temp-clearance.json");
    std::fs::write(
        &clearance,
        r#"{"policy": {"name": "USA"}, "classifications": ["UNCLASSIFIED"],
            "categories": [{"tagSet": "Releasable To", "values": ["USA"]}]}"#,
    )
    .unwrap();
    let temp = tmp.path().join("temp.credential");
    let temp_s = temp.to_str().unwrap().to_string();
    let o = env.run(
        &[
            "user",
            "add",
            "--dir",
            &usa_home_s,
            "--id",
            "usa-temp",
            "--name",
            "A. Temp",
            "--nationality",
            "USA",
            "--clearance",
            clearance.to_str().unwrap(),
            "-o",
            &temp_s,
        ],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    // usa-clerk has a credential for a year still: only usa-temp's runs out.
    let o = env.run(&["node", "info", "--dir", &usa_home_s], &[]);
    let said = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        said.contains("usa-temp's credential expires in 9 days")
            && said.contains("accord user renew"),
        "{said}"
    );
    assert!(
        !said.contains("usa-clerk's") && !said.contains("usa-officer's"),
        "{said}"
    );
    let o = env.run(
        &[
            "user",
            "renew",
            "--dir",
            &usa_home_s,
            "--id",
            "nobody",
            "-o",
            &clerk2_s,
            "--force",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    std::fs::write(&toml, &before).unwrap();

    let pak = accord_test_support::cli::serve(BIN, &dir.join("pak"));
    let usa = accord_test_support::cli::serve(BIN, &dir.join("usa"));
    let t0 = Instant::now();
    loop {
        let (code, v) = env.json(&["--json", "status"], &[]);
        if code == 0 {
            // The default profile's person, their node, the agreement and the partner.
            assert_eq!(v["credential"]["person"], "pak-officer", "{v:#}");
            assert_eq!(v["credential"]["from"], "profile");
            assert_eq!(v["credential"]["profile"], "pak");
            let s = &v["node"]["status"];
            assert_eq!(s["person_status"], "active");
            assert_eq!(s["agreements"][0]["status"], "in-force", "{v:#}");
            assert_eq!(s["partners"][0]["party"], "USA");
            assert_eq!(s["partners"][0]["reachable"], true);
            assert!(
                s["partners"][0]["delivered"].as_u64().unwrap() >= 1,
                "{v:#}"
            );
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "{v:#}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let o = env.run(&["status"], &[]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("ok: nothing needs attention"),
        "{}",
        text(&o)
    );

    // A credential that expires within 30 days is a warning, not a problem.
    let (code, v) = env.json(&["--json", "status", "--credential", &temp_s], &[]);
    assert_eq!(code, 0, "{v:#}");
    assert!(
        v["warnings"][0]
            .as_str()
            .unwrap()
            .starts_with("your credential expires in 9 days"),
        "{v:#}"
    );

    // --profile beats ACCORD_CREDENTIAL, which beats ACCORD_PROFILE and the default.
    let (_, v) = env.json(
        &["--json", "status", "--profile", "usa"],
        &[("ACCORD_CREDENTIAL", &cred_s("pak-officer"))],
    );
    assert_eq!(v["credential"]["person"], "usa-officer", "{v:#}");
    let (_, v) = env.json(
        &["--json", "status"],
        &[
            ("ACCORD_CREDENTIAL", &cred_s("usa-clerk")),
            ("ACCORD_PROFILE", "usa"),
        ],
    );
    assert_eq!(v["credential"]["person"], "usa-clerk", "{v:#}");
    assert_eq!(v["credential"]["from"], "environment");
    let o = env.run(&["inbox", "--profile", "nobody"], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("it has pak, suspended, usa"),
        "{}",
        text(&o)
    );

    // A suspended person: status answers, and says what is wrong (exit 1).
    let (code, v) = env.json(&["--json", "status", "--profile", "suspended"], &[]);
    assert_eq!(code, 1, "{v:#}");
    assert!(problems(&v).contains("suspended"), "{v:#}");
    // ... and learns nothing of the node's agreements and partners.
    let s = &v["node"]["status"];
    assert_eq!(
        (
            s["agreements"].as_array().map(Vec::len),
            s["partners"].as_array().map(Vec::len)
        ),
        (Some(0), Some(0)),
        "{v:#}"
    );

    // A lost credential is revoked at once: the running node refuses it from the next
    // request on, whatever the route, and for good; the person's other credentials
    // are untouched, and one of another node or person is not taken for theirs.
    let (code, _) = env.json(&["--json", "inbox", "--credential", &temp_s], &[]);
    assert_eq!(code, 0);
    let o = env.run(
        &[
            "user",
            "revoke",
            "--dir",
            &usa_home_s,
            "--id",
            "usa-temp",
            "--credential",
            &cred_s("pak-officer"),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = env.run(
        &[
            "user",
            "revoke",
            "--dir",
            &usa_home_s,
            "--id",
            "usa-temp",
            "--credential",
            &temp_s,
        ],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    for args in [
        vec!["--json", "inbox", "--credential", temp_s.as_str()],
        vec!["--json", "outbox", "--credential", temp_s.as_str()],
    ] {
        let (code, v) = env.json(&args, &[]);
        assert_eq!(code, 1, "{args:?}: {v:#}");
        assert!(
            v.to_string().contains("this credential has been revoked"),
            "{v:#}"
        );
    }
    let (code, v) = env.json(&["--json", "status", "--credential", &temp_s], &[]);
    assert_eq!(code, 1, "{v:#}");
    assert!(problems(&v).contains("revoked"), "{v:#}");
    let o = env.run(
        &["user", "revoke", "--dir", &usa_home_s, "--id", "usa-temp"],
        &[],
    );
    assert_eq!(
        o.status.code(),
        Some(2),
        "nothing left to revoke: {}",
        text(&o)
    );
    let (code, _) = env.json(&["--json", "inbox", "--profile", "usa"], &[]);
    assert_eq!(code, 0, "usa-officer's credential is untouched");

    // send's partner comes from the profile; sealing and sending need no --credential.
    let doc = tmp.path().join("plan.txt");
    std::fs::write(&doc, "plan").unwrap();
    let tdf = tmp.path().join("plan.tdf");
    let o = env.run(
        &[
            "seal",
            "--label",
            "SECRET//REL TO USA, PAK//SCOPE EXERCISES",
            doc.to_str().unwrap(),
            "-o",
            tdf.to_str().unwrap(),
        ],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    let (code, v) = env.json(
        &["--json", "send", tdf.to_str().unwrap(), "--wait", "30"],
        &[],
    );
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["to"], "USA", "{v:#}");

    // A passphrase protects the USA officer's credential.
    let pass = tmp.path().join("pass");
    private_file(&pass, "correct horse battery staple\n");
    let o = env.run(
        &[
            "credential",
            "protect",
            &cred_s("usa-officer"),
            "--new-passphrase-file",
            pass.to_str().unwrap(),
        ],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    let stored = std::fs::read_to_string(cred("usa-officer")).unwrap();
    assert!(stored.contains("ENCRYPTED PRIVATE KEY") && !stored.contains("\"private_key\""));
    let (_, v) = env.json(&["--json", "credential", "show", "--profile", "usa"], &[]);
    assert_eq!(v["protected"], true, "{v:#}");
    // No terminal, no passphrase: a usage error naming the ways to give one.
    let o = env.run(&["inbox", "--profile", "usa"], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("ACCORD_PASSPHRASE"),
        "{}",
        text(&o)
    );
    let o = env.run(
        &["inbox", "--profile", "usa"],
        &[("ACCORD_PASSPHRASE", "wrong horse")],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("wrong passphrase"),
        "{}",
        text(&o)
    );
    let (code, v) = env.json(
        &["--json", "inbox", "--profile", "usa"],
        &[("ACCORD_PASSPHRASE", "correct horse battery staple")],
    );
    assert_eq!(code, 0, "{v:#}");
    assert!(v.as_array().unwrap().len() >= 2, "{v:#}");
    let (code, _) = env.json(
        &[
            "--json",
            "status",
            "--profile",
            "usa",
            "--passphrase-file",
            pass.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 0);
    // A passphrase file others may read is refused.
    let loose = tmp.path().join("loose");
    std::fs::write(&loose, "correct horse battery staple\n").unwrap();
    let o = env.run(
        &["inbox", "--profile", "usa"],
        &[("ACCORD_PASSPHRASE_FILE", loose.to_str().unwrap())],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    // Removing the passphrase: the credential works without one again.
    let o = env.run(
        &["credential", "unprotect", "--profile", "usa"],
        &[("ACCORD_PASSPHRASE", "correct horse battery staple")],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(env
        .run(&["inbox", "--profile", "usa"], &[])
        .status
        .success());

    // The partner's node stops: PAK's status says so (after the probe's 3 s reuse).
    terminate(usa);
    std::thread::sleep(Duration::from_millis(3500));
    let (code, v) = env.json(&["--json", "status"], &[]);
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(
        v["node"]["status"]["partners"][0]["reachable"], false,
        "{v:#}"
    );
    assert!(problems(&v).contains("the USA node"), "{v:#}");

    // The person's own node stops: one sentence saying what to check, exit 1.
    terminate(pak);
    let (code, v) = env.json(&["--json", "status"], &[]);
    assert_eq!(
        (code, &v["node"]["reachable"]),
        (1, &serde_json::json!(false)),
        "{v:#}"
    );
    let p = problems(&v);
    assert!(p.contains("cannot reach the PAK node"), "{p}");
    let o = env.run(&["status"], &[]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("no answer") && out.contains("problem:"),
        "{out}"
    );
}
