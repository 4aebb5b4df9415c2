//! Equipment accountability at scale, on the database `ACCORD_TEST_POSTGRES` names
//! (PostgreSQL) or else SQLite: one account of 100,000 items with 1,000,000
//! transactions in its history.
//!
//! - a CSV import of 100,000 rows through `POST /v1/equipment/accounts/{id}/import`
//!   (target < 10 s);
//! - reconciling a 100,000-serial inventory: the node's draft (ledger read and
//!   differences, target < 1 s), and the whole certification (draft, sign, submit: the
//!   node drafts again, checks the signature, decides, logs and commits);
//! - an item's history through `GET /v1/equipment/item` with 1,000,000 records in the
//!   account's history (10 per item), p50 and p99 (target p99 < 20 ms).
//!
//! The million records are written into the tables directly, with the columns a history
//! reads (label, signers, summary) and an empty JSON body, which a history never reads:
//! making them through the API would measure ML-DSA signing a million times, and their
//! 12 GB of signed JSON would measure the disk, not the history. The import, the
//! inventory and the reads go through the node's HTTPS API like any custodian's.
//!
//! `cargo bench -p accord-node --bench equipment` (env: ITEMS=100000,
//! TRANSACTIONS=1000000, REQUESTS=500; ACCORD_TEST_POSTGRES=postgres://... for
//! PostgreSQL).

use accord_equipment::record::{Body as RecordBody, Record};
use accord_node_api::client::Client;
use accord_node_api::wire;
use accord_test_support::bench::env;
use accord_test_support::Pair;
use serde_json::json;
use sqlx::Connection as _;
use std::time::Instant;

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn serial(i: usize) -> String {
    format!("S{i:07}")
}

fn main() {
    let items = env("ITEMS", 100_000);
    let transactions = env("TRANSACTIONS", 1_000_000);
    let requests = env("REQUESTS", 500);
    let p = Pair::start(accord_node::server::ServeOptions::default);
    let home = &p.sb.usa;
    let db = if home.config.database.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    println!("equipment benchmark on {db}: {items} items, {transactions} transactions");

    // A custodian, their key, an account.
    let (custodian, key) = accord_test_support::custodian(&p.rt, home, "usa-custodian");
    let officer = Client::new(p.sb.credential("usa-officer").unwrap()).unwrap();
    let _: wire::AccountView = officer
        .post_json(
            "/v1/equipment/accounts",
            &json!({"id": "USA-FMS-1", "custodian": "usa-custodian", "marking": "CONFIDENTIAL//REL TO USA, PAK//SCOPE EQUIPMENT"}),
        )
        .unwrap();

    // The import.
    let mut csv = String::from("nomenclature,serial,class,title_holder,case\n");
    for i in 0..items {
        csv.push_str(&format!("KIV-77,{},cci,USA,PK-D-QAB\n", serial(i)));
    }
    let t0 = Instant::now();
    let imported: wire::Imported = custodian
        .post_bytes(
            "/v1/equipment/accounts/USA-FMS-1/import",
            "text/csv",
            csv.into_bytes(),
        )
        .unwrap();
    let import_s = t0.elapsed().as_secs_f64();
    assert_eq!(imported.items as usize, items);
    println!(
        "import of {items} CSV rows: {import_s:.2} s (target < 10 s: {:.2} of the limit)",
        import_s / 10.0
    );

    // The inventory: all but one sighted, and one unexpected.
    let sighted: Vec<serde_json::Value> = (1..=items)
        .map(|i| json!({"nomenclature": "KIV-77", "serial": serial(i)}))
        .collect();
    let draft = json!({"kind": "inventory", "account": "USA-FMS-1", "items": sighted});
    let t0 = Instant::now();
    let body: RecordBody = custodian.post_json("/v1/equipment/drafts", &draft).unwrap();
    let reconcile_s = t0.elapsed().as_secs_f64();
    let d = body.differences.clone().unwrap();
    assert_eq!((d.missing.len(), d.unexpected.len()), (1, 1));
    println!(
        "reconciling a {items}-serial inventory (the node's draft): {:.0} ms (target < 1 s: {:.2} of the limit)",
        reconcile_s * 1000.0,
        reconcile_s
    );
    let t0 = Instant::now();
    let mut r = Record::new(body);
    r.sign("usa-custodian", &key).unwrap();
    let s: wire::Submitted = custodian
        .post_bytes(
            "/v1/equipment/records",
            "application/json",
            r.to_json().into_bytes(),
        )
        .unwrap();
    let certify_s = t0.elapsed().as_secs_f64();
    assert_eq!(s.state, "done");
    println!(
        "  the whole certification (sign, submit: drafted again, checked, decided, logged, committed): {:.0} ms",
        certify_s * 1000.0
    );

    // A million records in the history: inventories of one item each, with the
    // account's label.
    let label = {
        let v: serde_json::Value = custodian
            .get_json(&format!("/v1/equipment/records/{}", s.id))
            .unwrap();
        v["record"]["body"]["label"].as_str().unwrap().to_string()
    };
    let url = home.layout.database_url(&home.config);
    let t0 = Instant::now();
    p.rt.block_on(async {
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
        let chunk = 1000;
        let mut n = 0usize;
        while n < transactions {
            let m = chunk.min(transactions - n);
            let mut tx = conn.begin().await.unwrap();
            let mut rec = String::from(
                "INSERT INTO equipment_records (id, kind, origin, account, partner, agreement, refers, at, digest, state, crosses, delivered, answered, label, signers, next_signer, items, summary, record) VALUES ",
            );
            let mut his = String::from("INSERT INTO equipment_history (nomenclature, serial, at, record) VALUES ");
            for k in 0..m {
                let id = format!("{:032x}", n + k);
                let sep = if k == 0 { "" } else { "," };
                rec.push_str(&format!(
                    "{sep}('{id}', 'inventory', 'USA', 'USA-FMS-1', NULL, NULL, NULL, {}, '{}', 'done', 0, NULL, NULL, $1, 'usa-custodian', NULL, 1, '1 item sighted: 1 matched', '{{}}')",
                    1_700_000_000 + (n + k) as i64,
                    "0".repeat(64),
                ));
                his.push_str(&format!("{sep}('KIV-77', '{}', {}, '{id}')", serial((n + k) % items), (n + k) as i64));
            }
            sqlx::query(&rec).bind(label.clone()).execute(&mut *tx).await.unwrap();
            sqlx::query(&his).execute(&mut *tx).await.unwrap();
            tx.commit().await.unwrap();
            n += m;
        }
        conn.close().await.unwrap();
    });
    println!(
        "  ({transactions} records written in {:.1} s)",
        t0.elapsed().as_secs_f64()
    );

    // Item histories.
    let mut ms = Vec::with_capacity(requests);
    let mut shown = 0;
    for i in 0..requests {
        let s = serial((i * 7919) % items);
        let t0 = Instant::now();
        let h: wire::ItemHistory = custodian
            .get_json(&format!(
                "/v1/equipment/item?nomenclature=KIV-77&serial={s}"
            ))
            .unwrap();
        ms.push(t0.elapsed().as_secs_f64() * 1000.0);
        shown += h.history.len();
    }
    let p50 = percentile(&mut ms, 0.5);
    let p99 = percentile(&mut ms, 0.99);
    println!(
        "an item's history ({:.1} records each): p50 {p50:.1} ms, p99 {p99:.1} ms (target p99 < 20 ms: {:.2} of the limit)",
        shown as f64 / requests as f64,
        p99 / 20.0
    );
    let Pair { rt, pak, usa, .. } = p;
    rt.block_on(usa.stop()).unwrap();
    rt.block_on(pak.stop()).unwrap();
}
