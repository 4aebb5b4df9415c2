//! The equipment pages: a custodian sees the account's items with their banner and
//! portion markings, an item's custody history, the incidents with their clock, and
//! takes an inventory whose discrepancies the page lists; a member is refused and sees
//! no link; the inventory form needs its token.

use super::{assert_console_headers, banners, token, Browser};
use accord_equipment::record::{Body as RecordBody, Record};
use accord_node_api::client::Client;
use accord_node_api::wire;
use accord_test_support::Pair;
use serde_json::json;
use std::time::{Duration, Instant};

fn make(c: &Client, key: &accord_keys::SigningKey, d: serde_json::Value) -> wire::Submitted {
    let body: RecordBody = c.post_json("/v1/equipment/drafts", &d).unwrap();
    let mut r = Record::new(body);
    r.sign(&c.credential().person, key).unwrap();
    c.post_bytes(
        "/v1/equipment/records",
        "application/json",
        r.to_json().into_bytes(),
    )
    .unwrap()
}

#[test]
fn a_custodian_reads_the_ledger_and_takes_an_inventory_in_the_console() {
    let p = Pair::start(accord_node::server::ServeOptions::default);
    let (usa, usa_key) = accord_test_support::custodian(&p.rt, &p.sb.usa, "usa-custodian");
    let (pak, pak_key) = accord_test_support::custodian(&p.rt, &p.sb.pak, "pak-custodian");
    for (officer, id, who, marking) in [
        (
            "usa-officer",
            "USA-FMS-1",
            "usa-custodian",
            "CONFIDENTIAL//REL TO USA, PAK//SCOPE EQUIPMENT",
        ),
        (
            "pak-officer",
            "PAK-CCI-1",
            "pak-custodian",
            "CONFIDENTIAL//REL TO PAK, USA//SCOPE EQUIPMENT",
        ),
    ] {
        let c = Client::new(p.sb.credential(officer).unwrap()).unwrap();
        let _: wire::AccountView = c
            .post_json(
                "/v1/equipment/accounts",
                &json!({"id": id, "custodian": who, "marking": marking}),
            )
            .unwrap();
    }
    let csv = "nomenclature,serial,class,title_holder\nKIV-77,U001,cci,USA\nKIV-77,U002,cci,USA\nAN/PRC-117G,R001,eeum,USA\n";
    let _: wire::Imported = usa
        .post_bytes(
            "/v1/equipment/accounts/USA-FMS-1/import",
            "text/csv",
            csv.as_bytes().to_vec(),
        )
        .unwrap();
    let t = make(
        &usa,
        &usa_key,
        json!({"kind": "transfer", "account": "USA-FMS-1", "partner": "PAK",
        "agreement": accord_node::sandbox::AGREEMENT_ID, "items": [{"nomenclature": "KIV-77", "serial": "U001"}]}),
    );
    let t0 = Instant::now();
    while pak
        .get_json::<Vec<wire::RecordView>>("/v1/equipment/records?kind=transfer")
        .unwrap()
        .is_empty()
    {
        assert!(t0.elapsed() < Duration::from_secs(30));
        std::thread::sleep(Duration::from_millis(50));
    }
    make(
        &pak,
        &pak_key,
        json!({"kind": "receipt", "account": "PAK-CCI-1", "refers": t.id}),
    );
    make(
        &pak,
        &pak_key,
        json!({"kind": "incident", "account": "PAK-CCI-1",
        "items": [{"nomenclature": "KIV-77", "serial": "U001"}], "note": "lost"}),
    );

    // USA's custodian: the ledger, with the banner of the highest marking shown.
    let b = Browser::with(usa.credential().clone());
    let page = b.get("/console/equipment");
    assert_eq!(page.status, 200, "{}", page.body);
    assert_console_headers(&page);
    assert!(
        page.body.contains("AN/PRC-117G #R001") && page.body.contains("USA-FMS-1"),
        "{}",
        page.body
    );
    let top = &banners(&page)[0];
    assert!(top.0.contains("CONFIDENTIAL"), "{top:?}");
    assert!(
        page.body.contains("href=\"/console/equipment\""),
        "the navigation links the page"
    );
    // An item's history: its transfer.
    let page = b.get("/console/equipment/item?nomenclature=KIV-77&serial=U001");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("transfer") && page.body.contains("1 item shipped to PAK"),
        "{}",
        page.body
    );
    // The incident PAK reported, with its clock.
    let t0 = Instant::now();
    let page = loop {
        let page = b.get("/console/equipment/records?kind=incident");
        if page.body.contains("lost or compromised") {
            break page;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "{}", page.body);
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(page.body.contains("due "), "{}", page.body);

    // Inventory-taking: one missing (U002), one unexpected (U999).
    let form = b.get("/console/equipment/inventory");
    assert_eq!(form.status, 200, "{}", form.body);
    let tok = token(&form, "/console/equipment/inventory");
    let page = b.post(
        "/console/equipment/inventory",
        &[
            ("token", &tok),
            ("account", "USA-FMS-1"),
            ("sighted", "AN/PRC-117G#R001\nKIV-77#U999\n"),
        ],
    );
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("1 matched, 1 missing, 1 unexpected"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("KIV-77 #U002") && page.body.contains("KIV-77 #U999"),
        "{}",
        page.body
    );
    // A line that is not an item is named.
    let page = b.post(
        "/console/equipment/inventory",
        &[
            ("token", &tok),
            ("account", "USA-FMS-1"),
            ("sighted", "R001\n"),
        ],
    );
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.body.contains("line 1"), "{}", page.body);
    // Without its token, refused.
    let page = b.post(
        "/console/equipment/inventory",
        &[("account", "USA-FMS-1"), ("sighted", "KIV-77#U002")],
    );
    assert_eq!(page.status, 403, "{}", page.body);

    // A member: refused with the rule, and no link to the page.
    let clerk = Browser::of(&p.sb, "usa-clerk");
    let page = clerk.get("/console/equipment");
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(page.body.contains("role"), "{}", page.body);
    let inbox = clerk.get("/console/inbox");
    assert!(
        !inbox.body.contains("href=\"/console/equipment\""),
        "{}",
        inbox.body
    );
}
