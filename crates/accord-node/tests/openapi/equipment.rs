//! The equipment operations on one node: each called by the people it is for and by
//! those it is not (a member, a stranger, nobody), every answer checked against the
//! file. The story across two nodes is `crates/accord/tests/equipment.rs`.

use crate::calling::{Checker, Http};
use accord_node::home::Home;
use serde_json::{json, Value};

pub(crate) fn equipment_operations(
    c: &Checker,
    rt: &tokio::runtime::Runtime,
    home: &Home,
    officer: &Http,
    clerk: &Http,
    anonymous: &Http,
    stranger: &Http,
) {
    let call = |h: &Http, m: &str, template: &str, path: &str, body: Option<Vec<u8>>| {
        let r = h.call(m, path, body);
        c.check(m, template, &r);
        r
    };
    let json_body = |v: Value| Some(v.to_string().into_bytes());

    // Reading the ledger: officers and custodians only.
    for (template, path) in [
        ("/v1/equipment/accounts", "/v1/equipment/accounts"),
        ("/v1/equipment/items", "/v1/equipment/items"),
        ("/v1/equipment/records", "/v1/equipment/records"),
        (
            "/v1/equipment/reconcile",
            "/v1/equipment/reconcile?partner=USA&agreement=A-1",
        ),
    ] {
        assert_eq!(
            call(officer, "GET", template, path, None).status,
            200,
            "{path}"
        );
        assert_eq!(
            call(clerk, "GET", template, path, None).status,
            403,
            "{path}"
        );
        assert_eq!(
            call(anonymous, "GET", template, path, None).status,
            401,
            "{path}"
        );
        assert_eq!(
            call(stranger, "GET", template, path, None).status,
            403,
            "{path}"
        );
    }
    for bad in [
        "/v1/equipment/reconcile?partner=USA",
        "/v1/equipment/records?kind=gift",
        "/v1/equipment/items?colour=red",
    ] {
        let template = bad.split('?').next().unwrap();
        assert_eq!(
            call(officer, "GET", template, bad, None).status,
            400,
            "{bad}"
        );
    }
    let item = "/v1/equipment/item";
    assert_eq!(
        call(
            officer,
            "GET",
            item,
            "/v1/equipment/item?nomenclature=KIV-77&serial=1",
            None
        )
        .status,
        404
    );
    assert_eq!(
        call(
            officer,
            "GET",
            item,
            "/v1/equipment/item?nomenclature=..&serial=1",
            None
        )
        .status,
        400
    );
    assert_eq!(
        call(
            clerk,
            "GET",
            item,
            "/v1/equipment/item?nomenclature=KIV-77&serial=1",
            None
        )
        .status,
        403
    );
    let rec = "/v1/equipment/records/{id}";
    assert_eq!(
        call(
            officer,
            "GET",
            rec,
            "/v1/equipment/records/00000000000000000000000000000000",
            None
        )
        .status,
        404
    );
    assert_eq!(
        call(
            anonymous,
            "GET",
            rec,
            "/v1/equipment/records/00000000000000000000000000000000",
            None
        )
        .status,
        401
    );

    // Opening an account: officers, for a custodian.
    let acc = "/v1/equipment/accounts";
    let new = json!({"id": "PAK-CCI-1", "custodian": "clerk", "marking": "RESTRICTED//REL TO PAK//SCOPE EXERCISES"});
    c.check_request("POST", acc, &new);
    assert_eq!(
        call(officer, "POST", acc, acc, json_body(new.clone())).status,
        422,
        "a member keeps no account"
    );
    assert_eq!(
        call(clerk, "POST", acc, acc, json_body(new.clone())).status,
        403
    );
    assert_eq!(
        call(officer, "POST", acc, acc, json_body(json!({"id": "X"}))).status,
        400
    );
    assert_eq!(call(officer, "POST", acc, acc, json_body(json!({"id": "X", "custodian": "nobody", "marking": "RESTRICTED//REL TO PAK//SCOPE EXERCISES"}))).status, 404);
    rt.block_on(accord_node::directory::set_role(
        home,
        "clerk",
        accord_agreement::Role::Custodian,
    ))
    .unwrap();
    assert_eq!(
        call(officer, "POST", acc, acc, json_body(new.clone())).status,
        200
    );
    assert_eq!(call(officer, "POST", acc, acc, json_body(new)).status, 409);

    // Importing: the account's custodian; a bad file and a repeated one refused whole.
    let imp = "/v1/equipment/accounts/{id}/import";
    let path = "/v1/equipment/accounts/PAK-CCI-1/import";
    let csv = b"nomenclature,serial,class,title_holder\nKIV-77,0001,cci,PAK\nKIV-77,0002,cci,PAK\n"
        .to_vec();
    assert_eq!(
        call(officer, "POST", imp, path, Some(csv.clone())).status,
        403
    );
    assert_eq!(
        call(clerk, "POST", imp, path, Some(b"serial\n1\n".to_vec())).status,
        400
    );
    assert_eq!(
        call(
            clerk,
            "POST",
            imp,
            "/v1/equipment/accounts/NOPE/import",
            Some(csv.clone())
        )
        .status,
        404
    );
    let r = call(clerk, "POST", imp, path, Some(csv.clone()));
    assert_eq!((r.status, r.json()["items"].as_u64()), (200, Some(2)));
    assert_eq!(call(clerk, "POST", imp, path, Some(csv)).status, 422);

    // Drafting: custodians.
    let dr = "/v1/equipment/drafts";
    let draft = json!({"kind": "inventory", "account": "PAK-CCI-1", "items": [{"nomenclature": "KIV-77", "serial": "0001"}]});
    c.check_request("POST", dr, &draft);
    let r = call(clerk, "POST", dr, dr, json_body(draft.clone()));
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["differences"]["missing"][0]["serial"], "0002");
    assert_eq!(call(officer, "POST", dr, dr, json_body(draft)).status, 403);
    assert_eq!(
        call(
            clerk,
            "POST",
            dr,
            dr,
            json_body(json!({"kind": "gift", "account": "PAK-CCI-1"}))
        )
        .status,
        400
    );
    assert_eq!(call(clerk, "POST", dr, dr, json_body(json!({"kind": "transfer", "account": "PAK-CCI-1", "partner": "USA", "agreement": "A-1", "items": [{"nomenclature": "KIV-77", "serial": "9"}]}))).status, 422);

    // Submitting: a body without its signature, or not JSON.
    let rs = "/v1/equipment/records";
    let body = r.json();
    assert_eq!(
        call(
            clerk,
            "POST",
            rs,
            rs,
            json_body(json!({"body": body, "signatures": []}))
        )
        .status,
        400
    );
    assert_eq!(call(clerk, "POST", rs, rs, Some(b"{".to_vec())).status, 400);
    assert_eq!(
        call(anonymous, "POST", rs, rs, Some(b"{}".to_vec())).status,
        401
    );

    // The partner route: only a partner node, recognised by an agreement's pin.
    let fed = "/v1/fed/equipment/records/{id}";
    let p = "/v1/fed/equipment/records/00000000000000000000000000000000";
    for (who, status) in [(anonymous, 403), (clerk, 403)] {
        let r = call(who, "PUT", fed, p, Some(b"{}".to_vec()));
        assert_eq!(r.status, status, "{}", String::from_utf8_lossy(&r.body));
    }
}
