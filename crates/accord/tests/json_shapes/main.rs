//! Every command's `--json` output against its JSON Schema in docs/json/ (docs/json.md):
//! the offline commands on files made here and the repository's test data, the
//! node-backed ones against the sandbox's two nodes, errors against error.schema.json.
//! The table [`SHAPES`] names each command's schema; a test checks it against the
//! commands `accord --help` lists and the schema files docs/json holds, so that a new
//! command or a schema no command prints is caught.

mod equipment;
mod node;
mod offline;
mod operations;
mod person;

use accord_test_support::cli::describe;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_accord");

/// Every command `accord --help` lists, and the schema of its `--json` output (the file
/// docs/json/NAME.schema.json), or `None` with why it prints no JSON.
const SHAPES: &[(&str, Option<&str>)] = &[
    ("quickstart", Some("quickstart")),
    ("agreement init", Some("agreement-record")),
    ("agreement approve", Some("agreement-record")),
    ("agreement sign", Some("agreement-record")),
    ("agreement terminate", Some("agreement-record")),
    ("agreement amend", Some("agreement-record")),
    ("agreement revoke", Some("agreement-record")),
    ("agreement renew", Some("agreement-record")),
    ("agreement status", Some("agreement-status")),
    ("agreement verify", Some("agreement-verify")),
    ("agreement load", Some("agreement-load")),
    ("agreement list", Some("agreement-list")),
    ("decide", Some("decide")),
    ("inspect", Some("inspect")),
    ("open", Some("open")),
    ("seal", Some("seal")),
    ("keygen", Some("keygen")),
    ("audit init", Some("audit-init")),
    ("audit append", Some("audit-append")),
    ("audit checkpoint", Some("audit-checkpoint")),
    ("audit show", Some("audit-show")),
    ("audit prove", Some("audit-prove")),
    ("audit verify", Some("audit-verify")),
    ("audit verify-proof", Some("audit-verify-proof")),
    ("audit witness serve", Some("audit-witness-serve")),
    ("audit witness submit", Some("audit-witness-submit")),
    ("policy show", Some("policy-show")),
    ("label render", Some("label-render")),
    ("label parse", Some("label")),
    ("label check", Some("label-check")),
    ("label decide", Some("label-decide")),
    ("label translate", Some("label")),
    ("init", Some("init")),
    // A server: nothing on standard output but an error (its logs go to standard error,
    // ACCORD_LOG_FORMAT=json for JSON lines).
    ("serve", None),
    ("node info", Some("node-info")),
    ("node systemd", Some("node-systemd")),
    ("user add", Some("user-add")),
    ("user suspend", Some("user")),
    ("user resume", Some("user")),
    ("user role", Some("user")),
    ("user list", Some("user-list")),
    ("user renew", Some("user-renew")),
    ("user revoke", Some("user-revoke")),
    ("user signing-key", Some("user-signing-key")),
    ("user opentdf-client", Some("user-opentdf-client")),
    ("opentdf enable", Some("opentdf-enable")),
    ("opentdf issuer", Some("opentdf-issuer")),
    ("key rotate", Some("key-rotate")),
    ("key list", Some("key-list")),
    ("key revoke", Some("key-revoke")),
    ("equipment account add", Some("equipment-account")),
    ("equipment account list", Some("equipment-accounts")),
    ("equipment import", Some("equipment-import")),
    ("equipment item list", Some("equipment-items")),
    ("equipment item show", Some("equipment-item")),
    ("equipment transfer", Some("equipment-submitted")),
    ("equipment receive", Some("equipment-submitted")),
    ("equipment hand-receipt", Some("equipment-submitted")),
    ("equipment inventory", Some("equipment-submitted")),
    ("equipment destroy", Some("equipment-submitted")),
    ("equipment return", Some("equipment-submitted")),
    ("equipment incident", Some("equipment-submitted")),
    ("equipment ack", Some("equipment-submitted")),
    ("equipment check request", Some("equipment-submitted")),
    ("equipment check answer", Some("equipment-submitted")),
    ("equipment check reconcile", Some("equipment-submitted")),
    ("equipment sign", Some("equipment-submitted")),
    ("equipment records", Some("equipment-records")),
    ("equipment record", Some("equipment-record")),
    ("equipment reconcile", Some("equipment-reconcile")),
    ("status", Some("status")),
    ("backup", Some("backup")),
    ("backup keygen", Some("backup-keygen")),
    ("restore", Some("restore")),
    ("node migrate", Some("node-migrate")),
    ("profile add", Some("profile-add")),
    ("profile list", Some("profile-list")),
    ("profile remove", Some("profile-remove")),
    ("credential show", Some("credential-show")),
    ("credential protect", Some("credential-protect")),
    ("credential unprotect", Some("credential-unprotect")),
    ("send", Some("send")),
    ("outbox", Some("outbox")),
    ("inbox", Some("inbox")),
    ("fetch", Some("fetch")),
    // Prints a shell script, with or without --json.
    ("completions", None),
    ("man", Some("man")),
];

pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn schema_dir() -> PathBuf {
    root().join("docs/json")
}

/// The leaf commands under `path`, from `accord PATH --help`'s "Commands:" lists.
fn commands(path: &[String], into: &mut Vec<String>) {
    let out = Command::new(BIN).args(path).arg("--help").output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    let Some(list) = help.split("\nCommands:\n").nth(1) else {
        into.push(path.join(" "));
        return;
    };
    // A group that also runs by itself (`accord backup`, beside `accord backup
    // keygen`) has a usage line without `<COMMAND>`.
    let usage = help.split("Usage:").nth(1).unwrap_or("");
    if usage
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .any(|l| !l.contains("<COMMAND>"))
    {
        into.push(path.join(" "));
    }
    for line in list.lines().take_while(|l| !l.trim().is_empty()) {
        // `  name  what it does`; a wrapped description is indented further.
        let Some(rest) = line.strip_prefix("  ") else {
            continue;
        };
        if rest.starts_with(' ') {
            continue;
        }
        let name = rest.split_whitespace().next().unwrap();
        if name == "help" {
            continue;
        }
        let mut sub = path.to_vec();
        sub.push(name.to_string());
        commands(&sub, into);
    }
}

#[test]
fn every_command_has_a_schema_and_every_schema_a_command() {
    let mut listed = Vec::new();
    commands(&[], &mut listed);
    let table: Vec<String> = SHAPES.iter().map(|(c, _)| c.to_string()).collect();
    let (l, t): (BTreeSet<_>, BTreeSet<_>) = (listed.iter().collect(), table.iter().collect());
    assert_eq!(
        l, t,
        "accord --help lists other commands than SHAPES: add the new ones, with their schema"
    );
    let named: BTreeSet<String> = SHAPES
        .iter()
        .filter_map(|(_, s)| s.map(str::to_string))
        .chain(["error".to_string()])
        .collect();
    let files: BTreeSet<String> = std::fs::read_dir(schema_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .map(|f| {
            f.strip_suffix(".schema.json")
                .unwrap_or_else(|| panic!("docs/json/{f} is not NAME.schema.json"))
                .to_string()
        })
        .collect();
    assert_eq!(named, files, "a schema without its command, or the reverse");
    for name in &files {
        let s = load_schema(name);
        assert_eq!(
            s["$schema"], "https://json-schema.org/draft/2020-12/schema",
            "{name}"
        );
        jsonschema::draft202012::new(&s).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    // docs/json.md lists each schema.
    let doc = std::fs::read_to_string(root().join("docs/json.md")).unwrap();
    for name in &files {
        assert!(
            doc.contains(&format!("json/{name}.schema.json")),
            "docs/json.md does not list {name}"
        );
    }
}

fn load_schema(name: &str) -> Value {
    let path = schema_dir().join(format!("{name}.schema.json"));
    serde_json::from_slice(&std::fs::read(&path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Runs commands with `--json` and checks what they print against the schemas, keeping
/// the names of the schemas used.
pub(crate) struct Checker {
    pub(crate) used: Mutex<BTreeSet<String>>,
    /// Variables every command runs with (`ACCORD_CONFIG` for the profile commands).
    pub(crate) env: Vec<(String, String)>,
}

impl Checker {
    pub(crate) fn new() -> Self {
        Checker {
            used: Mutex::new(BTreeSet::new()),
            env: Vec::new(),
        }
    }

    pub(crate) fn validate(&self, schema: &str, v: &Value, what: &str) {
        let s = load_schema(schema);
        let validator = jsonschema::draft202012::new(&s).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(v)
            .map(|e| format!("{} at {}", e, e.instance_path))
            .collect();
        assert!(
            errors.is_empty(),
            "{what}: not as docs/json/{schema}.schema.json says:\n{}\n{v:#}",
            errors.join("\n")
        );
        self.used.lock().unwrap().insert(schema.to_string());
    }

    /// `accord --json ARGS`: exits with `code`, prints one JSON value and nothing else on
    /// standard output, as `schema` (or, for an error, error.schema.json) says.
    pub(crate) fn run(&self, schema: &str, args: &[&str], code: i32) -> Value {
        let out = Command::new(BIN)
            .arg("--json")
            .args(args)
            .env_remove("ACCORD_CREDENTIAL")
            .env_remove("ACCORD_PROFILE")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(root())
            .output()
            .unwrap();
        let what = format!("accord --json {}", args.join(" "));
        assert_eq!(out.status.code(), Some(code), "{what}: {}", describe(&out));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{what}: stdout is not one JSON value ({e}): {}",
                describe(&out)
            )
        });
        self.validate(schema, &v, &what);
        v
    }

    /// An error: exit `code`, `{"error": ...}` with that code.
    pub(crate) fn error(&self, args: &[&str], code: i32) -> Value {
        let v = self.run("error", args, code);
        assert_eq!(v["error"]["exit_code"], code, "{v:#}");
        v
    }
}

/// The path of the sandbox person `id`'s credential.
pub(crate) fn credential(pair: &accord_test_support::Pair, id: &str) -> String {
    let p = &pair
        .sb
        .people
        .iter()
        .find(|p| p.id == id)
        .unwrap()
        .credential;
    p.to_str().unwrap().to_string()
}

pub(crate) fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}
