//! `accord equipment ...`: a custodian's work through their node (the rules are the
//! node's and `accord-equipment`'s; here, the words). And `accord user signing-key`,
//! which issues the personal key records are signed with.

use crate::cmd::online::{connect, outcome, Asked, Outcome};
use crate::exit::{Code, Output};
use accord_equipment::record::{Body, Line, Record};
use accord_equipment::ItemKey;
use accord_node_api::client::Client;
use accord_node_api::wire;
use anyhow::{Context, Result};
use std::path::Path;

mod args;
pub use args::{AccountCommand, CheckCommand, EquipmentCommand, ItemCommand, ItemsArg, Who};

/// A node error: a refusal (with its reasons) is 1, printed as the error shape with
/// `--json`; anything else is an error (2).
fn exchange_failed(e: accord_node::Error, what: &str, out: &Output) -> Result<Code> {
    match outcome(e, Asked::Exchange) {
        Outcome::Denied(reasons) => {
            let first = reasons.first().map(|r| r.text.clone()).unwrap_or_default();
            let line = format!("{what}: {first}");
            if !out.json {
                eprintln!("{what}:");
                for r in &reasons {
                    eprintln!("  - [{}] {}", r.rule, r.text);
                }
                return Ok(Code::Negative);
            }
            Ok(out.refused(
                &line,
                &line,
                crate::json::from_wire(&reasons),
                Code::Negative,
            ))
        }
        Outcome::Refused(r, code) => {
            let msg = format!("{what}: {}", r.text);
            Ok(out.refused(&msg, &msg, vec![], code))
        }
        Outcome::Error(e) => Err(e.into()),
    }
}

/// `NOMENCLATURE#SERIAL`.
fn item_key(s: &str) -> Result<ItemKey> {
    let (n, serial) = s
        .rsplit_once('#')
        .with_context(|| format!("{s:?}: name an item as NOMENCLATURE#SERIAL"))?;
    ItemKey::new(n, serial).with_context(|| format!("item {s:?}"))
}

fn lines(a: &ItemsArg) -> Result<Vec<Line>> {
    let mut out: Vec<Line> = a
        .item
        .iter()
        .map(|s| item_key(s).map(Line::of))
        .collect::<Result<_>>()?;
    if let Some(f) = &a.items {
        let text = String::from_utf8(crate::input::read_bounded(f)?)
            .with_context(|| format!("{}: not UTF-8", f.display()))?;
        out.extend(
            accord_equipment::csv::read_lines(&text).with_context(|| f.display().to_string())?,
        );
    }
    Ok(out)
}

fn draft(kind: &str, account: &str) -> wire::Draft {
    wire::Draft {
        kind: kind.into(),
        account: account.into(),
        items: vec![],
        partner: None,
        agreement: None,
        refers: None,
        holder: None,
        witnesses: vec![],
        note: None,
    }
}

/// The signing key file: `--signing-key`, else ID.signing.key beside the credential.
fn signing_key(who: &Who) -> Result<accord_keys::SigningKey> {
    let path = match &who.signing_key {
        Some(p) => p.clone(),
        None => {
            let cred = crate::profile::required(who.credential.as_deref())?.path;
            let stem = cred
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("person");
            cred.with_file_name(format!("{stem}.signing.key"))
        }
    };
    accord_keys::load_signing_key(&path).with_context(|| {
        format!(
            "your equipment signing key {} (the officer issues one with `accord user signing-key`; or give --signing-key)",
            path.display()
        )
    })
}

fn client(who: &Who) -> Result<Client> {
    crate::profile::init(&who.choice);
    connect(who.credential.as_deref())
}

/// A spinner on standard error while the node works (when it is a terminal): a
/// transfer or an inventory of 100,000 lines takes seconds.
fn working(what: &str) -> Option<indicatif::ProgressBar> {
    let pb = crate::cmd::seal::bar(None, what, "{spinner} {msg} {elapsed}")?;
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    Some(pb)
}

/// Draft with the node, sign, submit; print what it did.
fn make(who: &Who, d: wire::Draft, out: &Output) -> Result<Code> {
    let c = client(who)?;
    let spin = working(&format!("{} at the {} node", d.kind, c.credential().party));
    let body: Body = match c.post_json("/v1/equipment/drafts", &d) {
        Ok(b) => b,
        Err(e) => {
            drop(spin);
            return exchange_failed(e, "the node refused the draft", out);
        }
    };
    let key = signing_key(who)?;
    let mut record = Record::new(body);
    record.sign(&c.credential().person, &key)?;
    submit(&c, &record, out, spin)
}

fn submit(
    c: &Client,
    record: &Record,
    out: &Output,
    spin: Option<indicatif::ProgressBar>,
) -> Result<Code> {
    let bytes = record.to_json().into_bytes();
    let answer = c.post_bytes("/v1/equipment/records", "application/json", bytes);
    if let Some(p) = spin {
        p.finish_and_clear();
    }
    let s: wire::Submitted = match answer {
        Ok(s) => s,
        Err(e) => return exchange_failed(e, "the node refused the record", out),
    };
    if out.json {
        out.print_json(&s);
        return Ok(Code::Ok);
    }
    println!("{} {}: {}", record.body.kind, s.id, s.summary);
    match &s.next_signer {
        Some(n) => println!(
            "  signed; awaits {n}'s signature (`accord equipment sign {}`)",
            s.id
        ),
        None => println!("  complete; digest {}", s.digest),
    }
    if let Some(d) = &s.differences {
        for k in &d.missing {
            println!("  missing: {k}");
        }
        for k in &d.unexpected {
            println!("  unexpected: {k}");
        }
        for h in &d.wrong_holder {
            println!(
                "  other holder: {} (ledger: {}, sighted: {})",
                h.key,
                h.expected.as_deref().unwrap_or("custodian"),
                h.sighted.as_deref().unwrap_or("custodian")
            );
        }
        for x in &d.condition {
            println!(
                "  condition: {} (ledger: {}, found: {})",
                x.key, x.expected, x.sighted
            );
        }
    }
    Ok(Code::Ok)
}

fn show<T: serde::Serialize>(
    r: Result<T, accord_node::Error>,
    out: &Output,
    text: impl FnOnce(&T),
) -> Result<Code> {
    match r {
        Ok(v) if out.json => {
            out.print_json(&v);
            Ok(Code::Ok)
        }
        Ok(v) => {
            text(&v);
            Ok(Code::Ok)
        }
        Err(e) => exchange_failed(e, "refused by your node", out),
    }
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn record_line(r: &wire::RecordView) -> String {
    let mut s = format!(
        "{}  {:<13} {:<9} {}  {}",
        r.at, r.kind, r.state, r.id, r.summary
    );
    if r.overdue {
        s.push_str(&format!(
            "  OVERDUE (due {})",
            r.due.as_deref().unwrap_or("?")
        ));
    }
    s
}

pub fn run(cmd: EquipmentCommand, out: &Output) -> Result<Code> {
    use EquipmentCommand as E;
    match cmd {
        E::Account(AccountCommand::Add {
            who,
            id,
            custodian,
            alternate,
            marking,
        }) => {
            let req = wire::AccountNew {
                id,
                custodian,
                alternate,
                marking,
            };
            show(
                client(&who)?.post_json::<_, wire::AccountView>("/v1/equipment/accounts", &req),
                out,
                |a| {
                    println!(
                        "account {} opened: custodian {}, marking {}",
                        a.id, a.custodian, a.marking
                    )
                },
            )
        }
        E::Account(AccountCommand::List { who }) => show(
            client(&who)?.get_json::<Vec<wire::AccountView>>("/v1/equipment/accounts"),
            out,
            |v| {
                for a in v {
                    println!(
                        "{}  custodian {}{}  {} items  {}",
                        a.id,
                        a.custodian,
                        a.alternate
                            .as_ref()
                            .map(|x| format!(", alternate {x}"))
                            .unwrap_or_default(),
                        a.items,
                        a.marking
                    );
                }
            },
        ),
        E::Import { who, account, file } => {
            // The node's own bound on an import.
            let bytes = crate::input::read_at_most(&file, 64 << 20)?;
            let text = std::str::from_utf8(&bytes)
                .with_context(|| format!("{}: not UTF-8", file.display()))?;
            // Read here first, so that a bad file is named by its lines before any upload.
            let rows =
                accord_equipment::csv::read(text).with_context(|| file.display().to_string())?;
            let c = client(&who)?;
            let path = format!("/v1/equipment/accounts/{}/import", enc(&account));
            let spin = working(&format!("importing {} rows", rows.len()));
            let answer = c.post_bytes::<wire::Imported>(&path, "text/csv", bytes.clone());
            if let Some(p) = spin {
                p.finish_and_clear();
            }
            show(answer, out, |i| {
                println!(
                    "{} items imported into {} (read {} rows)",
                    i.items,
                    i.account,
                    rows.len()
                )
            })
        }
        E::Item(ItemCommand::List { who, account }) => {
            let path = match &account {
                Some(a) => format!("/v1/equipment/items?account={}", enc(a)),
                None => "/v1/equipment/items".into(),
            };
            show(
                client(&who)?.get_json::<Vec<wire::ItemView>>(&path),
                out,
                |v| {
                    for i in v {
                        println!(
                            "{}#{}  {}  {}  {}  {}{}  [{}]",
                            i.nomenclature,
                            i.serial,
                            i.class,
                            i.account,
                            i.status,
                            i.condition,
                            i.holder
                                .as_ref()
                                .map(|h| format!("  held by {h}"))
                                .unwrap_or_default(),
                            i.marking
                        );
                    }
                },
            )
        }
        E::Item(ItemCommand::Show { who, item }) => {
            let k = item_key(&item)?;
            let path = format!(
                "/v1/equipment/item?nomenclature={}&serial={}",
                enc(&k.nomenclature),
                enc(&k.serial)
            );
            show(
                client(&who)?.get_json::<wire::ItemHistory>(&path),
                out,
                |h| {
                    let i = &h.item;
                    println!("{}#{}  [{}]", i.nomenclature, i.serial, i.marking);
                    println!(
                        "  class {}, title {}, account {}, {} {}{}",
                        i.class,
                        i.title_holder,
                        i.account,
                        i.status,
                        i.condition,
                        i.provider
                            .as_ref()
                            .map(|p| format!(", from {p}"))
                            .unwrap_or_default()
                    );
                    for r in &h.history {
                        println!("  {}", record_line(r));
                    }
                },
            )
        }
        E::Transfer {
            who,
            account,
            to,
            agreement,
            items,
        } => {
            let d = wire::Draft {
                items: lines(&items)?,
                partner: Some(to.to_ascii_uppercase()),
                agreement: Some(agreement),
                ..draft("transfer", &account)
            };
            make(&who, d, out)
        }
        E::Receive {
            who,
            transfer,
            account,
            items,
            note,
        } => {
            let d = wire::Draft {
                items: lines(&items)?,
                refers: Some(transfer),
                note,
                ..draft("receipt", &account)
            };
            make(&who, d, out)
        }
        E::HandReceipt {
            who,
            account,
            holder,
            give_back,
            items,
        } => {
            let kind = if give_back {
                "hand-return"
            } else {
                "hand-receipt"
            };
            let d = wire::Draft {
                items: lines(&items)?,
                holder: Some(holder),
                ..draft(kind, &account)
            };
            make(&who, d, out)
        }
        E::Inventory {
            who,
            account,
            items,
        } => {
            let d = wire::Draft {
                items: lines(&items)?,
                ..draft("inventory", &account)
            };
            make(&who, d, out)
        }
        E::Destroy {
            who,
            account,
            witnesses,
            items,
        } => {
            let d = wire::Draft {
                items: lines(&items)?,
                witnesses,
                ..draft("destruction", &account)
            };
            make(&who, d, out)
        }
        E::Return {
            who,
            account,
            items,
        } => {
            let d = wire::Draft {
                items: lines(&items)?,
                ..draft("return", &account)
            };
            make(&who, d, out)
        }
        E::Incident {
            who,
            account,
            items,
            note,
        } => {
            let d = wire::Draft {
                items: lines(&items)?,
                note: Some(note),
                ..draft("incident", &account)
            };
            make(&who, d, out)
        }
        E::Ack {
            who,
            incident,
            account,
        } => make(
            &who,
            wire::Draft {
                refers: Some(incident),
                ..draft("incident-ack", &account)
            },
            out,
        ),
        E::Check(CheckCommand::Request {
            who,
            account,
            to,
            agreement,
        }) => {
            let d = wire::Draft {
                partner: Some(to.to_ascii_uppercase()),
                agreement: Some(agreement),
                ..draft("check-request", &account)
            };
            make(&who, d, out)
        }
        E::Check(CheckCommand::Answer {
            who,
            request,
            account,
        }) => make(
            &who,
            wire::Draft {
                refers: Some(request),
                ..draft("check-answer", &account)
            },
            out,
        ),
        E::Check(CheckCommand::Reconcile {
            who,
            answer,
            account,
        }) => make(
            &who,
            wire::Draft {
                refers: Some(answer),
                ..draft("check-result", &account)
            },
            out,
        ),
        E::Sign { who, id } => {
            let c = client(&who)?;
            let key = signing_key(&who)?;
            let v: serde_json::Value =
                match c.get_json(&format!("/v1/equipment/records/{}", enc(&id))) {
                    Ok(v) => v,
                    Err(e) => return exchange_failed(e, "refused by your node", out),
                };
            let mut record: Record =
                serde_json::from_value(v["record"].clone()).context("the node's record")?;
            if let Err(e) = record.sign(&c.credential().person, &key) {
                let msg = format!("record {id}: {e}");
                return Ok(out.refused(&msg, &msg, vec![], Code::Negative));
            }
            submit(&c, &record, out, None)
        }
        E::Records { who, kind, state } => {
            let mut q = Vec::new();
            if let Some(k) = &kind {
                q.push(format!("kind={}", enc(k)));
            }
            if let Some(s) = &state {
                q.push(format!("state={}", enc(s)));
            }
            let path = if q.is_empty() {
                "/v1/equipment/records".to_string()
            } else {
                format!("/v1/equipment/records?{}", q.join("&"))
            };
            show(
                client(&who)?.get_json::<Vec<wire::RecordView>>(&path),
                out,
                |v| {
                    if v.is_empty() {
                        println!("no records");
                    }
                    for r in v {
                        println!("{}", record_line(r));
                    }
                },
            )
        }
        E::Record { who, id } => show(
            client(&who)?
                .get_json::<serde_json::Value>(&format!("/v1/equipment/records/{}", enc(&id))),
            out,
            |v| {
                if let Ok(r) = serde_json::from_value::<wire::RecordView>(v["view"].clone()) {
                    println!("{}", record_line(&r));
                    println!("  signers: {}; digest {}", r.signers.join(", "), r.digest);
                }
            },
        ),
        E::Reconcile {
            who,
            partner,
            agreement,
        } => {
            let path = format!(
                "/v1/equipment/reconcile?partner={}&agreement={}",
                enc(&partner.to_ascii_uppercase()),
                enc(&agreement)
            );
            show(
                client(&who)?.get_json::<wire::ReconcileView>(&path),
                out,
                |r| {
                    println!(
                        "{} with {} under {}: {} shipped, {} receipted",
                        r.role, r.partner, r.agreement, r.shipped, r.receipted
                    );
                    for k in &r.not_receipted {
                        println!("  not receipted: {k}");
                    }
                    match (&r.last_check, &r.differences) {
                        (Some(id), Some(d)) => {
                            println!("  last end-use check {id}: {}", d.summary())
                        }
                        _ => println!("  no end-use check reconciled yet"),
                    }
                },
            )
        }
    }
}

/// `accord user signing-key`: issue a person their equipment signing key.
pub fn issue_signing_key(
    dir: &Path,
    id: &str,
    output: &Path,
    force: bool,
    out: &Output,
) -> Result<Code> {
    let home = accord_node::home::Home::open(dir)?;
    if output.exists() && !force {
        anyhow::bail!(
            "{} already exists: give --force to replace it, or another -o",
            output.display()
        );
    }
    let rt = tokio::runtime::Runtime::new()?;
    let (person, key) = rt.block_on(accord_node::directory::issue_signing_key(&home, id))?;
    if force {
        let _ = std::fs::remove_file(output);
    }
    let pem = key.to_pem()?;
    accord_keys::write_private_file(output, pem.as_bytes())?;
    let kid = key.public_keys().classical.kid();
    if out.json {
        out.print_json(&serde_json::json!({"person": person.id, "signing_key": output.display().to_string(), "kid": kid}));
    } else {
        println!("issued {}'s equipment signing key {} (ES384 + ML-DSA-87) to {} (owner-only): hand it over with their credential", person.id, &kid[..16], output.display());
    }
    Ok(Code::Ok)
}
