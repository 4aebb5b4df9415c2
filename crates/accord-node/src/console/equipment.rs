//! The equipment pages, for officers and custodians: the accounts and their items with
//! their portion markings, an item's custody history, the records (incidents with their
//! 24-hour clock, end-use checks and their reconciliation), and inventory-taking: the
//! serials sighted, against the ledger, with every discrepancy. Each page reads through
//! the same calls as the API (`crate::equipment`), decided for the person on each
//! label. Records are signed with the person's own signing key, which the browser does
//! not hold: the inventory page shows the differences the certification would record,
//! and `accord equipment inventory` certifies them.

use super::forms::{checked, pairs, pick};
use super::{Console, PeerExt};
use crate::audit::EntryKind;
use accord_agreement::Duty;
use accord_equipment::ItemKey;
use accord_node_api::wire;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{html, Markup};
use std::sync::Arc;

/// Where the inventory form posts.
const INVENTORY: &str = "/console/equipment/inventory";
/// The inventory form's body: a token and up to 100,000 sighted serials.
pub(crate) const INVENTORY_BODY: usize = 8 << 20;

fn item_link(nomenclature: &str, serial: &str) -> String {
    format!(
        "/console/equipment/item?{}",
        serde_urlencoded::to_string([("nomenclature", nomenclature), ("serial", serial)])
            .unwrap_or_default()
    )
}

fn records_table(records: &[wire::RecordView]) -> Markup {
    html! {
        table.records {
            thead { tr { th { "When" } th { "Kind" } th { "State" } th { "From / to" } th { "What" } th { "Clock" } th { "Record" } } }
            tbody {
                @for r in records {
                    tr.overdue[r.overdue] {
                        td { (r.at) }
                        td { (r.kind) }
                        td { (r.state) @if let Some(n) = &r.next_signer { br; "awaits " (n) } }
                        td { (r.origin) @if let Some(p) = &r.partner { " → " (p) } }
                        td { (r.summary) }
                        td {
                            @if let Some(due) = &r.due {
                                @if r.overdue { span.bad { "OVERDUE: acknowledgement was due " (due) } }
                                @else if r.answered.is_some() { span.ok { "acknowledged " (r.answered.as_deref().unwrap_or("")) } }
                                @else { "due " (due) }
                            }
                        }
                        td { code title=(r.digest) { (r.id[..12]) "…" } }
                    }
                }
            }
        }
        @if records.is_empty() { p { "No records." } }
    }
}

/// `GET /console/equipment`: the accounts and the items the person may see.
pub(crate) async fn list(
    State(c): State<Arc<Console>>,
    peer: PeerExt,
    RawQuery(q): RawQuery,
) -> Response {
    let caller = match c.caller(&peer, Duty::ReadEquipment).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let q = pairs(q.as_deref());
    let account = pick(&q, "account");
    let accounts = match c.node.equipment_accounts(&peer).await {
        Ok(a) => a,
        Err(r) => return c.refused(Some(&caller), "Equipment", &r),
    };
    let items = match c
        .node
        .equipment_items(&peer, (!account.is_empty()).then_some(account.as_str()))
        .await
    {
        Ok(i) => i,
        Err(r) => return c.refused(Some(&caller), "Equipment", &r),
    };
    let shown: Vec<&wire::ItemView> = items.iter().take(500).collect();
    // Inventory-taking is a custodian's: the link only for them.
    let keeps = caller.record.role().may(Duty::KeepEquipment).is_ok();
    let banner = c
        .node
        .banner_of_markings(shown.iter().map(|i| i.marking.as_str()));
    let body = html! {
        h2 { "Accounts" }
        table #accounts {
            thead { tr { th { "Account" } th { "Custodian" } th { "Alternate" } th { "Items" } th { "Marking" } } }
            tbody {
                @for a in &accounts {
                    tr {
                        td { a href=(format!("/console/equipment?{}", serde_urlencoded::to_string([("account", a.id.as_str())]).unwrap_or_default())) { (a.id) } }
                        td { (a.custodian) } td { (a.alternate.as_deref().unwrap_or("—")) } td { (a.items) }
                        td { span.portion.(c.node.marking_class(&a.marking)) { (a.marking) } }
                    }
                }
            }
        }
        p { a href="/console/equipment/records" { "Records" } " · " a href="/console/equipment/records?kind=incident" { "Incidents" } " · "
            a href="/console/equipment/records?kind=check-result" { "End-use checks" } @if keeps { " · " a href=(INVENTORY) { "Take an inventory" } } }
        h2 { "Items" @if !account.is_empty() { " in " (account) } }
        p { (items.len()) " item" @if items.len() != 1 { "s" } @if items.len() > shown.len() { " (the first " (shown.len()) " shown)" } }
        table #items {
            thead { tr { th { "Marking" } th { "Item" } th { "Class" } th { "Account" } th { "Status" } th { "Condition" } th { "Holder" } th { "Provider" } } }
            tbody {
                @for i in &shown {
                    tr {
                        td { span.portion.(c.node.marking_class(&i.marking)) { (i.marking) } }
                        td { a href=(item_link(&i.nomenclature, &i.serial)) { (i.nomenclature) " #" (i.serial) } }
                        td { (i.class) } td { (i.account) }
                        td { (i.status) @if let Some(t) = &i.transferred_to { " to " (t) } }
                        td { (i.condition) } td { (i.holder.as_deref().unwrap_or("custodian")) }
                        td { (i.provider.as_deref().unwrap_or("—")) @if let Some(a) = &i.agreement { br; small { (a) } } }
                    }
                }
            }
        }
    };
    c.page(StatusCode::OK, Some(&caller), "Equipment", &banner, body)
}

/// `GET /console/equipment/item?nomenclature=&serial=`: an item and its custody history.
pub(crate) async fn item(
    State(c): State<Arc<Console>>,
    peer: PeerExt,
    RawQuery(q): RawQuery,
) -> Response {
    let caller = match c.caller(&peer, Duty::ReadEquipment).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let q = pairs(q.as_deref());
    let key = match ItemKey::new(&pick(&q, "nomenclature"), &pick(&q, "serial")) {
        Ok(k) => k,
        Err(e) => {
            let r = crate::refusal::Refusal::new(
                accord_node_api::Kind::BadRequest,
                wire::Rule::Request,
                e.to_string(),
            );
            return c.refused(Some(&caller), "Item", &r);
        }
    };
    let h = match c.node.equipment_item(&peer, &key).await {
        Ok(h) => h,
        Err(r) => return c.refused(Some(&caller), "Item", &r),
    };
    let i = &h.item;
    let banner = c.node.banner_of_markings([i.marking.as_str()]);
    let body = html! {
        dl.facts #item {
            dt { "Marking" } dd { span.portion.(c.node.marking_class(&i.marking)) { (i.marking) } }
            dt { "Item" } dd { (i.nomenclature) " #" (i.serial) }
            dt { "Class" } dd { (i.class) }
            dt { "Case" } dd { (i.case.as_deref().unwrap_or("—")) }
            dt { "Title holder" } dd { (i.title_holder) }
            dt { "Provider" } dd { (i.provider.as_deref().unwrap_or("—")) @if let Some(a) = &i.agreement { " under " (a) } }
            dt { "Account" } dd { (i.account) }
            dt { "Holder" } dd { (i.holder.as_deref().unwrap_or("the custodian")) }
            dt { "Status" } dd { (i.status) @if let Some(t) = &i.transferred_to { " to " (t) } }
            dt { "Condition" } dd { (i.condition) }
        }
        h2 { "Custody history" }
        (records_table(&h.history))
    };
    c.page(
        StatusCode::OK,
        Some(&caller),
        &format!("{} #{}", i.nomenclature, i.serial),
        &banner,
        body,
    )
}

/// `GET /console/equipment/records?kind=&state=`.
pub(crate) async fn records(
    State(c): State<Arc<Console>>,
    peer: PeerExt,
    RawQuery(q): RawQuery,
) -> Response {
    let caller = match c.caller(&peer, Duty::ReadEquipment).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let q = pairs(q.as_deref());
    let (kind, state) = (pick(&q, "kind"), pick(&q, "state"));
    let records = match c
        .node
        .equipment_records(
            &peer,
            (!kind.is_empty()).then_some(kind.as_str()),
            (!state.is_empty()).then_some(state.as_str()),
        )
        .await
    {
        Ok(r) => r,
        Err(r) => return c.refused(Some(&caller), "Records", &r),
    };
    let overdue = records.iter().filter(|r| r.overdue).count();
    let body = html! {
        p { a href="/console/equipment" { "Accounts and items" } " · " a href="/console/equipment/records?kind=incident" { "Incidents" } " · "
            a href="/console/equipment/records?kind=check-request" { "Check requests" } " · " a href="/console/equipment/records?kind=check-answer" { "Check answers" } " · "
            a href="/console/equipment/records?kind=check-result" { "Reconciliations" } }
        @if overdue > 0 { div.refusal role="alert" { strong { (overdue) " incident" @if overdue != 1 { "s" } " not acknowledged within 24 hours." } } }
        (records_table(&records))
    };
    c.page(
        StatusCode::OK,
        Some(&caller),
        "Equipment records",
        &c.node.banner([]),
        body,
    )
}

fn inventory_form(
    c: &Console,
    caller: &crate::caller::Caller,
    accounts: &[wire::AccountView],
    chosen: &str,
    sighted: &str,
) -> Markup {
    html! {
        form method="post" action=(INVENTORY) #inventory {
            (c.token_field(caller, INVENTORY))
            label { "Account " select name="account" {
                @for a in accounts { option value=(a.id) selected[a.id == chosen] { (a.id) } }
            } }
            label { "Serials sighted, one per line as NOMENCLATURE#SERIAL (or a scanner's CSV with a nomenclature,serial header)"
                textarea name="sighted" rows="12" cols="60" { (sighted) } }
            button type="submit" { "Compare with the ledger" }
        }
    }
}

/// `GET /console/equipment/inventory`: the form.
pub(crate) async fn inventory_page(State(c): State<Arc<Console>>, peer: PeerExt) -> Response {
    let caller = match c.caller(&peer, Duty::KeepEquipment).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let accounts = match c.node.equipment_accounts(&peer).await {
        Ok(a) => a,
        Err(r) => return c.refused(Some(&caller), "Inventory", &r),
    };
    let mine: Vec<_> = accounts
        .into_iter()
        .filter(|a| {
            a.custodian == caller.record.id || a.alternate.as_deref() == Some(&caller.record.id)
        })
        .collect();
    let body = html! {
        p { "Enter the serials you sighted; the node compares them with the ledger. The certification is signed with your key: "
            code { "accord equipment inventory --account ACCOUNT --items sighted.csv" } "." }
        (inventory_form(&c, &caller, &mine, "", ""))
    };
    c.page(
        StatusCode::OK,
        Some(&caller),
        "Inventory",
        &c.node.banner([]),
        body,
    )
}

/// `POST /console/equipment/inventory`: the differences the certification would record.
pub(crate) async fn inventory(
    State(c): State<Arc<Console>>,
    peer: PeerExt,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let caller = match c.caller(&peer, Duty::KeepEquipment).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let form = pairs(std::str::from_utf8(&body).ok());
    if let Err(r) = checked(
        &c,
        &headers,
        &caller,
        INVENTORY,
        Some(&pick(&form, super::forms::FIELD)),
        EntryKind::Equipment,
    )
    .await
    {
        return c.refused(Some(&caller), "Inventory", &r);
    }
    let (account, sighted) = (pick(&form, "account"), pick(&form, "sighted"));
    let bad = |t: String| {
        crate::refusal::Refusal::new(accord_node_api::Kind::BadRequest, wire::Rule::Request, t)
    };
    let lines = if sighted
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("nomenclature")
    {
        accord_equipment::csv::read_lines(&sighted).map_err(|e| bad(e.to_string()))
    } else {
        sighted
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(n, l)| {
                let l = l.trim();
                let (nom, ser) = l.rsplit_once('#').ok_or_else(|| {
                    bad(format!("line {}: {l:?} is not NOMENCLATURE#SERIAL", n + 1))
                })?;
                ItemKey::new(nom, ser)
                    .map(accord_equipment::Line::of)
                    .map_err(|e| bad(format!("line {}: {e}", n + 1)))
            })
            .collect()
    };
    let lines = match lines {
        Ok(l) => l,
        Err(r) => return c.refused(Some(&caller), "Inventory", &r),
    };
    let draft = wire::Draft {
        kind: "inventory".into(),
        account: account.clone(),
        items: lines,
        partner: None,
        agreement: None,
        refers: None,
        holder: None,
        witnesses: vec![],
        note: None,
    };
    let drafted = match c.node.equipment_draft(&peer, &draft).await {
        Ok(b) => b,
        Err(r) => return c.refused(Some(&caller), "Inventory", &r),
    };
    let d = drafted.differences.unwrap_or_default();
    let accounts = c.node.equipment_accounts(&peer).await.unwrap_or_default();
    let mine: Vec<_> = accounts
        .into_iter()
        .filter(|a| {
            a.custodian == caller.record.id || a.alternate.as_deref() == Some(&caller.record.id)
        })
        .collect();
    let banner = c.node.banner_of_markings(
        mine.iter()
            .filter(|a| a.id == account)
            .map(|a| a.marking.as_str()),
    );
    let page = html! {
        h2 #summary { (account) ": " (d.summary()) }
        @if d.is_empty() { p.ok { "Every item on hand was sighted, and nothing else." } }
        @if !d.missing.is_empty() { h3 { "Missing" } ul #missing { @for k in &d.missing { li { a href=(item_link(&k.nomenclature, &k.serial)) { (k) } } } } }
        @if !d.unexpected.is_empty() { h3 { "Unexpected" } ul #unexpected { @for k in &d.unexpected { li { (k) } } } }
        @if !d.wrong_holder.is_empty() { h3 { "With another holder" } ul { @for h in &d.wrong_holder {
            li { (h.key) ": ledger " (h.expected.as_deref().unwrap_or("custodian")) ", sighted " (h.sighted.as_deref().unwrap_or("custodian")) } } } }
        p { "To certify this inventory, sign it: " code { "accord equipment inventory --account " (account) " --items sighted.csv" } "." }
        (inventory_form(&c, &caller, &mine, &account, &sighted))
    };
    c.page(StatusCode::OK, Some(&caller), "Inventory", &banner, page)
}
