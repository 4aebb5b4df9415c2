//! Equipment accountability end to end, with the real binary: the two parties' nodes as
//! separate `accord serve` processes, every step through `accord equipment ...`.
//!
//! 100 items transferred PAK ← USA under the agreement and receipted with one missing;
//! a hand receipt signed by custodian and holder; an inventory with one missing and one
//! unexpected serial; an end-use check requested by USA, answered by PAK, reconciled at
//! USA, showing exactly the transferred items (an item PAK owns itself never appears);
//! an incident reported and acknowledged; refusals (not the custodian, a member, a
//! duplicate serial, a malformed CSV, an unknown item); every record in both audit
//! logs, each log witnessed by the other party.

use accord_node::home::Home;
use accord_node_api::client::Client;
use accord_node_api::credential::Credential;
use accord_test_support::cli::{describe, terminate, wait_up};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_accord");
const AGREEMENT: &str = "CISMOA-SANDBOX";

fn accord(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("ACCORD_CREDENTIAL")
        .env_remove("ACCORD_PROFILE")
        .env("ACCORD_CONFIG", "/nonexistent/accord-config.toml")
        .output()
        .unwrap()
}

struct Env {
    dir: PathBuf,
}

impl Env {
    fn cred(&self, id: &str) -> String {
        self.dir
            .join(format!("credentials/{id}.credential"))
            .display()
            .to_string()
    }

    /// `accord --json equipment ARGS --credential ID`, which must exit `code`.
    fn eq(&self, who: &str, args: &[&str], code: i32) -> serde_json::Value {
        let cred = self.cred(who);
        let mut all = vec!["--json", "equipment"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--credential", &cred]);
        let o = accord(&all);
        assert_eq!(
            o.status.code(),
            Some(code),
            "accord {all:?}\n{}",
            describe(&o)
        );
        serde_json::from_slice(&o.stdout).unwrap_or(serde_json::Value::Null)
    }

    /// Enrol `id` at `party`'s node with `role` and issue their signing key.
    fn enrol(&self, party: &str, id: &str, role: &str) {
        let home = self.dir.join(party.to_ascii_lowercase());
        let clr = self.dir.join(format!("{id}.clearance.json"));
        std::fs::write(
            &clr,
            serde_json::json!({
                "policy": {"name": party},
                "classifications": ["UNCLASSIFIED", "CONFIDENTIAL", "SECRET"],
                "categories": [
                    {"tagSet": "Releasable To", "values": [party]},
                    {"tagSet": "Scope", "values": ["EQUIPMENT"]}
                ]
            })
            .to_string(),
        )
        .unwrap();
        let o = accord(&[
            "user",
            "add",
            "--dir",
            home.to_str().unwrap(),
            "--id",
            id,
            "--name",
            id,
            "--nationality",
            party,
            "--clearance",
            clr.to_str().unwrap(),
            "--scope",
            "EQUIPMENT",
            "--role",
            role,
            "-o",
            &self.cred(id),
        ]);
        assert!(o.status.success(), "{}", describe(&o));
        let key = self.dir.join(format!("credentials/{id}.signing.key"));
        let o = accord(&[
            "user",
            "signing-key",
            "--dir",
            home.to_str().unwrap(),
            "--id",
            id,
            "-o",
            key.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", describe(&o));
    }

    /// Wait (30 s at most) until `who` sees a record of `kind` in `state`; its id.
    fn wait_record(&self, who: &str, kind: &str, state: &str) -> String {
        let t0 = Instant::now();
        loop {
            let v = self.eq(who, &["records", "--kind", kind, "--state", state], 0);
            if let Some(r) = v.as_array().and_then(|a| a.first()) {
                return r["id"].as_str().unwrap().to_string();
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "no {kind} {state} at {who}'s node"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn csv(path: &Path, header: &str, rows: impl Iterator<Item = String>) -> String {
    let mut t = format!("{header}\n");
    for r in rows {
        t.push_str(&r);
        t.push('\n');
    }
    std::fs::write(path, &t).unwrap();
    path.display().to_string()
}

fn serial(i: usize) -> String {
    format!("USA{i:04}")
}

#[test]
fn transfer_receipt_custody_inventory_check_and_incident_between_two_processes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("sandbox");
    let o = accord(&[
        "quickstart",
        "--dir",
        dir.to_str().unwrap(),
        "--no-serve",
        "--json",
    ]);
    assert!(o.status.success(), "{}", describe(&o));
    let env = Env { dir: dir.clone() };
    env.enrol("USA", "usa-custodian", "custodian");
    env.enrol("PAK", "pak-custodian", "custodian");
    env.enrol("PAK", "pak-sgt", "member");
    env.enrol("PAK", "pak-custodian2", "custodian");

    let pak = accord_test_support::cli::serve(BIN, &dir.join("pak"));
    let usa = accord_test_support::cli::serve(BIN, &dir.join("usa"));
    for id in ["usa-officer", "pak-officer"] {
        wait_up(&Client::new(Credential::load(Path::new(&env.cred(id))).unwrap()).unwrap());
    }
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| story(&env, &dir)));
    terminate(pak);
    terminate(usa);
    if let Err(e) = run {
        std::panic::resume_unwind(e);
    }
}

fn story(env: &Env, dir: &Path) {
    // Accounts, opened by each party's officer; a custodian cannot open one.
    env.eq(
        "usa-custodian",
        &[
            "account",
            "add",
            "--id",
            "USA-FMS-1",
            "--custodian",
            "usa-custodian",
            "--marking",
            "CONFIDENTIAL//REL TO USA, PAK//SCOPE EQUIPMENT",
        ],
        1,
    );
    let a = env.eq(
        "usa-officer",
        &[
            "account",
            "add",
            "--id",
            "USA-FMS-1",
            "--custodian",
            "usa-custodian",
            "--marking",
            "CONFIDENTIAL//REL TO USA, PAK//SCOPE EQUIPMENT",
        ],
        0,
    );
    assert_eq!(a["custodian"], "usa-custodian", "{a:#}");
    env.eq(
        "pak-officer",
        &[
            "account",
            "add",
            "--id",
            "PAK-CCI-1",
            "--custodian",
            "pak-custodian",
            "--alternate",
            "pak-custodian2",
            "--marking",
            "CONFIDENTIAL//REL TO PAK, USA//SCOPE EQUIPMENT",
        ],
        0,
    );
    // A member cannot be a custodian.
    env.eq(
        "pak-officer",
        &[
            "account",
            "add",
            "--id",
            "PAK-X",
            "--custodian",
            "pak-sgt",
            "--marking",
            "CONFIDENTIAL//REL TO PAK, USA//SCOPE EQUIPMENT",
        ],
        1,
    );

    // 100 items imported at USA; the same file again is refused whole.
    let items = csv(
        &dir.join("usa-items.csv"),
        "nomenclature,serial,class,title_holder,case",
        (1..=100).map(|i| format!("KIV-77,{},cci,USA,PK-D-QAB", serial(i))),
    );
    let i = env.eq(
        "usa-custodian",
        &["import", "--account", "USA-FMS-1", &items],
        0,
    );
    assert_eq!(i["items"], 100, "{i:#}");
    env.eq(
        "usa-custodian",
        &["import", "--account", "USA-FMS-1", &items],
        1,
    );
    // A malformed CSV: named by line, nothing imported.
    let bad = csv(
        &dir.join("bad.csv"),
        "nomenclature,serial,class,title_holder",
        [
            "KIV-77,X1,cci,USA".to_string(),
            "KIV-77,X2,secret,USA".into(),
            "KIV-77,X1,cci,USA".into(),
        ]
        .into_iter(),
    );
    let o = accord(&[
        "equipment",
        "import",
        "--account",
        "USA-FMS-1",
        &bad,
        "--credential",
        &env.cred("usa-custodian"),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", describe(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("line 3") && err.contains("line 4") && err.contains("already on line 2"),
        "{err}"
    );
    let listed = env.eq(
        "usa-custodian",
        &["item", "list", "--account", "USA-FMS-1"],
        0,
    );
    assert_eq!(listed.as_array().unwrap().len(), 100);
    // PAK's own item, which no check of USA's may ever show.
    let own = csv(
        &dir.join("pak-own.csv"),
        "nomenclature,serial,class,title_holder",
        ["PRC-PAK,P001,controlled,PAK".to_string()].into_iter(),
    );
    env.eq(
        "pak-custodian",
        &["import", "--account", "PAK-CCI-1", &own],
        0,
    );

    // The transfer: refused for someone who is not the account's custodian.
    let all = csv(
        &dir.join("ship.csv"),
        "nomenclature,serial",
        (1..=100).map(|i| format!("KIV-77,{}", serial(i))),
    );
    env.eq(
        "usa-officer",
        &[
            "transfer",
            "--account",
            "USA-FMS-1",
            "--to",
            "PAK",
            "--agreement",
            AGREEMENT,
            "--items",
            &all,
        ],
        1,
    );
    env.eq(
        "usa-custodian",
        &[
            "transfer",
            "--account",
            "USA-FMS-1",
            "--to",
            "PAK",
            "--agreement",
            AGREEMENT,
            "--item",
            "KIV-77#NOPE",
        ],
        1,
    );
    // A serial twice in one transfer: a clear error naming it.
    let o = accord(&[
        "equipment",
        "transfer",
        "--account",
        "USA-FMS-1",
        "--to",
        "PAK",
        "--agreement",
        AGREEMENT,
        "--item",
        "KIV-77#USA0001",
        "--item",
        "KIV-77#USA0001",
        "--credential",
        &env.cred("usa-custodian"),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", describe(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("listed twice"),
        "{}",
        describe(&o)
    );
    let t = env.eq(
        "usa-custodian",
        &[
            "transfer",
            "--account",
            "USA-FMS-1",
            "--to",
            "PAK",
            "--agreement",
            AGREEMENT,
            "--items",
            &all,
        ],
        0,
    );
    assert_eq!(t["state"], "done", "{t:#}");
    let transfer = t["id"].as_str().unwrap().to_string();
    // Shipped items cannot ship again.
    env.eq(
        "usa-custodian",
        &[
            "transfer",
            "--account",
            "USA-FMS-1",
            "--to",
            "PAK",
            "--agreement",
            AGREEMENT,
            "--item",
            "KIV-77#USA0001",
        ],
        1,
    );

    // At PAK: the transfer arrives; 99 arrived (USA0100 did not).
    assert_eq!(
        env.wait_record("pak-custodian", "transfer", "open"),
        transfer
    );
    let arrived = csv(
        &dir.join("arrived.csv"),
        "nomenclature,serial",
        (1..=99).map(|i| format!("KIV-77,{}", serial(i))),
    );
    // Not the custodian of PAK-CCI-1.
    env.eq(
        "pak-officer",
        &[
            "receive",
            "--transfer",
            &transfer,
            "--account",
            "PAK-CCI-1",
            "--items",
            &arrived,
        ],
        1,
    );
    let r = env.eq(
        "pak-custodian2",
        &[
            "receive",
            "--transfer",
            &transfer,
            "--account",
            "PAK-CCI-1",
            "--items",
            &arrived,
            "--note",
            "crate 4 short one",
        ],
        0,
    );
    assert_eq!(r["differences"]["matched"], 99, "{r:#}");
    assert_eq!(r["differences"]["missing"][0]["serial"], "USA0100", "{r:#}");
    let pak_items = env.eq(
        "pak-custodian",
        &["item", "list", "--account", "PAK-CCI-1"],
        0,
    );
    assert_eq!(
        pak_items.as_array().unwrap().len(),
        100,
        "99 received and PAK's own"
    );
    // The receipt reaches USA, closing the transfer there.
    let receipt = env.wait_record("usa-custodian", "receipt", "done");
    assert_eq!(receipt, r["id"].as_str().unwrap());
    let rec = env.eq(
        "usa-custodian",
        &["reconcile", "--partner", "PAK", "--agreement", AGREEMENT],
        0,
    );
    assert_eq!(rec["shipped"], 100, "{rec:#}");
    assert_eq!(rec["not_receipted"][0]["serial"], "USA0100", "{rec:#}");

    // A hand receipt: the custodian signs, then the holder.
    let h = env.eq(
        "pak-custodian",
        &[
            "hand-receipt",
            "--account",
            "PAK-CCI-1",
            "--holder",
            "pak-sgt",
            "--item",
            "KIV-77#USA0001",
        ],
        0,
    );
    assert_eq!(h["state"], "pending", "{h:#}");
    assert_eq!(h["next_signer"], "pak-sgt", "{h:#}");
    let hid = h["id"].as_str().unwrap().to_string();
    // Nobody else may sign in the holder's place.
    env.eq("pak-custodian2", &["sign", &hid], 1);
    let h = env.eq("pak-sgt", &["sign", &hid], 0);
    assert_eq!(h["state"], "done", "{h:#}");
    let shown = env.eq("pak-custodian", &["item", "show", "KIV-77#USA0001"], 0);
    assert_eq!(shown["item"]["holder"], "pak-sgt", "{shown:#}");
    let kinds: Vec<&str> = shown["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["transfer", "receipt", "hand-receipt"], "{shown:#}");
    // A member reads no ledger.
    env.eq("pak-sgt", &["item", "list"], 1);

    // The semiannual inventory: one missing (USA0050), one unexpected (USA0999).
    let sighted = csv(
        &dir.join("sighted.csv"),
        "nomenclature,serial",
        (1..=99)
            .filter(|i| *i != 50)
            .map(|i| format!("KIV-77,{}", serial(i)))
            .chain(["KIV-77,USA0999".to_string(), "PRC-PAK,P001".into()]),
    );
    let inv = env.eq(
        "pak-custodian",
        &["inventory", "--account", "PAK-CCI-1", "--items", &sighted],
        0,
    );
    let d = &inv["differences"];
    assert_eq!(d["missing"].as_array().unwrap().len(), 1, "{inv:#}");
    assert_eq!(d["missing"][0]["serial"], "USA0050");
    assert_eq!(d["unexpected"][0]["serial"], "USA0999");
    assert_eq!(d["matched"], 99, "{inv:#}");

    // The end-use check: asked by USA, answered by PAK with exactly USA's items.
    env.eq(
        "usa-custodian",
        &[
            "check",
            "request",
            "--account",
            "USA-FMS-1",
            "--to",
            "PAK",
            "--agreement",
            AGREEMENT,
        ],
        0,
    );
    let req = env.wait_record("pak-custodian", "check-request", "open");
    let ans = env.eq(
        "pak-custodian",
        &[
            "check",
            "answer",
            "--request",
            &req,
            "--account",
            "PAK-CCI-1",
        ],
        0,
    );
    let ans_id = ans["id"].as_str().unwrap().to_string();
    assert_eq!(
        env.wait_record("usa-custodian", "check-answer", "open"),
        ans_id
    );
    let signed = env.eq("usa-custodian", &["record", &ans_id], 0);
    let lines = signed["record"]["body"]["items"].as_array().unwrap();
    assert_eq!(
        lines.len(),
        99,
        "exactly the items USA transferred and PAK receipted"
    );
    assert!(
        lines
            .iter()
            .all(|l| l["nomenclature"] == "KIV-77"
                && l["serial"].as_str().unwrap().starts_with("USA"))
    );
    assert!(
        !signed.to_string().contains("P001"),
        "PAK's own item never appears at USA"
    );
    let res = env.eq(
        "usa-custodian",
        &[
            "check",
            "reconcile",
            "--answer",
            &ans_id,
            "--account",
            "USA-FMS-1",
        ],
        0,
    );
    assert_eq!(res["differences"]["matched"], 99, "{res:#}");
    assert_eq!(
        res["differences"]["missing"][0]["serial"], "USA0100",
        "{res:#}"
    );
    let result_id = res["id"].as_str().unwrap().to_string();
    assert_eq!(
        env.wait_record("pak-custodian", "check-result", "done"),
        result_id
    );

    // An incident, delivered at once, acknowledged by USA.
    let inc = env.eq(
        "pak-custodian",
        &[
            "incident",
            "--account",
            "PAK-CCI-1",
            "--item",
            "KIV-77#USA0050",
            "--note",
            "not found at the semiannual inventory",
        ],
        0,
    );
    let inc_id = inc["id"].as_str().unwrap().to_string();
    assert_eq!(env.wait_record("usa-custodian", "incident", "open"), inc_id);
    let open = env.eq("usa-custodian", &["records", "--kind", "incident"], 0);
    assert_eq!(open[0]["overdue"], false, "{open:#}");
    assert!(open[0]["due"].is_string(), "{open:#}");
    env.eq(
        "usa-custodian",
        &["ack", "--incident", &inc_id, "--account", "USA-FMS-1"],
        0,
    );
    let t0 = Instant::now();
    loop {
        let v = env.eq("pak-custodian", &["records", "--kind", "incident"], 0);
        if v[0]["state"] == "answered" {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "incident never acknowledged at PAK: {v:#}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // A destruction before two witnesses, each signing in turn with their own key.
    let d = env.eq(
        "pak-custodian",
        &[
            "destroy",
            "--account",
            "PAK-CCI-1",
            "--witness",
            "pak-sgt",
            "--witness",
            "pak-custodian2",
            "--item",
            "KIV-77#USA0098",
        ],
        0,
    );
    let did = d["id"].as_str().unwrap().to_string();
    assert_eq!(d["next_signer"], "pak-sgt", "{d:#}");
    env.eq("pak-custodian2", &["sign", &did], 1);
    env.eq("pak-sgt", &["sign", &did], 0);
    let d = env.eq("pak-custodian2", &["sign", &did], 0);
    assert_eq!(d["state"], "done", "{d:#}");
    let shown = env.eq("pak-custodian", &["item", "show", "KIV-77#USA0098"], 0);
    assert_eq!(shown["item"]["status"], "destroyed", "{shown:#}");
    // A return to the provider, delivered to USA.
    let ret = env.eq(
        "pak-custodian",
        &[
            "return",
            "--account",
            "PAK-CCI-1",
            "--item",
            "KIV-77#USA0097",
        ],
        0,
    );
    assert_eq!(
        env.wait_record("usa-custodian", "return", "open"),
        ret["id"].as_str().unwrap()
    );
    // PAK's own item has no provider to return it to.
    env.eq(
        "pak-custodian",
        &["return", "--account", "PAK-CCI-1", "--item", "PRC-PAK#P001"],
        1,
    );

    // Every record that crossed is in both audit logs, with the same digest; each log
    // is witnessed by the other party.
    let usa_home = Home::open(&dir.join("usa")).unwrap();
    let pak_home = Home::open(&dir.join("pak")).unwrap();
    let usa_records = env.eq("usa-custodian", &["records"], 0);
    for r in usa_records.as_array().unwrap() {
        let (id, digest) = (r["id"].as_str().unwrap(), r["digest"].as_str().unwrap());
        for home in [&usa_home, &pak_home] {
            if r["partner"].is_null() && home.config.party == "PAK" {
                continue;
            }
            let t0 = Instant::now();
            loop {
                let found = accord_test_support::log_entries(home).iter().any(|e| {
                    e["kind"] == "equipment"
                        && e["object"] == id
                        && e["request"] == digest
                        && e["decision"] == "permit"
                });
                if found {
                    break;
                }
                assert!(
                    t0.elapsed() < Duration::from_secs(10),
                    "{} {id} not in {}'s log",
                    r["kind"],
                    home.config.party
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    accord_test_support::wait_cosigned(&usa_home, &pak_home, 1, Duration::from_secs(60));
    accord_test_support::wait_cosigned(&pak_home, &usa_home, 1, Duration::from_secs(60));
}
