//! The equipment commands, against the sandbox's two nodes: each prints what its schema
//! says (the whole story, and its refusals, is `tests/equipment.rs`).

use crate::{s, Checker};
use accord_node::server::ServeOptions;
use accord_test_support::Pair;
use std::time::{Duration, Instant};

#[test]
fn equipment_commands_print_as_their_schemas_say() {
    let c = Checker::new();
    let pair = Pair::start(ServeOptions::default);
    let dir = pair.tmp.path();
    let officer = |id: &str| crate::credential(&pair, id);
    let agreement = pair.sb.agreement.body.id.clone();
    // A custodian at each node, with their signing key beside their credential.
    let custodian = |home: &std::path::Path, party: &str, id: &str| -> String {
        let clr = dir.join(format!("{id}.json"));
        std::fs::write(
            &clr,
            format!(
                r#"{{"policy": {{"name": "{party}"}}, "classifications": ["UNCLASSIFIED", "CONFIDENTIAL"],
                "categories": [{{"tagSet": "Releasable To", "values": ["{party}"]}}, {{"tagSet": "Scope", "values": ["EQUIPMENT"]}}]}}"#
            ),
        )
        .unwrap();
        let cred = dir.join(format!("{id}.credential"));
        c.run(
            "user-add",
            &[
                "user",
                "add",
                "--dir",
                s(home),
                "--id",
                id,
                "--name",
                id,
                "--nationality",
                party,
                "--clearance",
                s(&clr),
                "--scope",
                "EQUIPMENT",
                "--role",
                "custodian",
                "-o",
                s(&cred),
            ],
            0,
        );
        let v = c.run(
            "user-signing-key",
            &[
                "user",
                "signing-key",
                "--dir",
                s(home),
                "--id",
                id,
                "-o",
                s(&dir.join(format!("{id}.signing.key"))),
            ],
            0,
        );
        assert_eq!(v["person"], id, "{v:#}");
        s(&cred).to_string()
    };
    let usa = custodian(&pair.sb.usa.layout.dir, "USA", "usa-custodian");
    let pak = custodian(&pair.sb.pak.layout.dir, "PAK", "pak-custodian");
    let eq = |schema: &str, who: &str, args: &[&str], code: i32| {
        let mut all = vec!["equipment"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--credential", who]);
        c.run(schema, &all, code)
    };
    let usa_officer = officer("usa-officer");
    let pak_officer = officer("pak-officer");
    let v = eq(
        "equipment-account",
        &usa_officer,
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
    assert_eq!(v["id"], "USA-FMS-1");
    eq(
        "equipment-account",
        &pak_officer,
        &[
            "account",
            "add",
            "--id",
            "PAK-CCI-1",
            "--custodian",
            "pak-custodian",
            "--marking",
            "CONFIDENTIAL//REL TO PAK, USA//SCOPE EQUIPMENT",
        ],
        0,
    );
    eq("equipment-accounts", &usa, &["account", "list"], 0);
    let csv = dir.join("items.csv");
    std::fs::write(&csv, "nomenclature,serial,class,title_holder\nKIV-77,1,cci,USA\nKIV-77,2,cci,USA\nKIV-77,3,cci,USA\n").unwrap();
    eq(
        "equipment-import",
        &usa,
        &["import", "--account", "USA-FMS-1", s(&csv)],
        0,
    );
    // A refusal prints the error schema.
    eq(
        "error",
        &usa,
        &["import", "--account", "USA-FMS-1", s(&csv)],
        1,
    );
    eq("equipment-items", &usa, &["item", "list"], 0);
    let t = eq(
        "equipment-submitted",
        &usa,
        &[
            "transfer",
            "--account",
            "USA-FMS-1",
            "--to",
            "PAK",
            "--agreement",
            &agreement,
            "--item",
            "KIV-77#1",
            "--item",
            "KIV-77#2",
        ],
        0,
    );
    let transfer = t["id"].as_str().unwrap().to_string();
    eq(
        "equipment-submitted",
        &usa,
        &[
            "incident",
            "--account",
            "USA-FMS-1",
            "--item",
            "KIV-77#3",
            "--note",
            "lost",
        ],
        0,
    );
    eq(
        "equipment-submitted",
        &usa,
        &[
            "check",
            "request",
            "--account",
            "USA-FMS-1",
            "--to",
            "PAK",
            "--agreement",
            &agreement,
        ],
        0,
    );
    eq("equipment-item", &usa, &["item", "show", "KIV-77#1"], 0);
    let t0 = Instant::now();
    while eq(
        "equipment-records",
        &pak,
        &["records", "--kind", "check-request"],
        0,
    )
    .as_array()
    .unwrap()
    .is_empty()
    {
        assert!(t0.elapsed() < Duration::from_secs(30));
        std::thread::sleep(Duration::from_millis(100));
    }
    eq("equipment-record", &pak, &["record", &transfer], 0);
    let r = eq(
        "equipment-submitted",
        &pak,
        &[
            "receive",
            "--transfer",
            &transfer,
            "--account",
            "PAK-CCI-1",
            "--item",
            "KIV-77#1",
        ],
        0,
    );
    assert_eq!(r["differences"]["missing"][0]["serial"], "2", "{r:#}");
    let req = eq(
        "equipment-records",
        &pak,
        &["records", "--kind", "check-request"],
        0,
    )[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    eq(
        "equipment-submitted",
        &pak,
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
    eq(
        "equipment-submitted",
        &pak,
        &["inventory", "--account", "PAK-CCI-1", "--item", "KIV-77#1"],
        0,
    );
    eq(
        "equipment-reconcile",
        &pak,
        &["reconcile", "--partner", "USA", "--agreement", &agreement],
        0,
    );

    let used = c.used.into_inner().unwrap();
    for name in [
        "equipment-account",
        "equipment-accounts",
        "equipment-import",
        "equipment-items",
        "equipment-item",
        "equipment-submitted",
        "equipment-records",
        "equipment-record",
        "equipment-reconcile",
        "user-signing-key",
    ] {
        assert!(used.contains(name), "{name} was not checked");
    }
    drop(pair);
}
