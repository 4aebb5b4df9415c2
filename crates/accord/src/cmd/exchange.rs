//! `accord send`, `accord outbox`, `accord inbox`, `accord fetch`: exchanging sealed
//! objects with partner parties through the person's node (the logic is in
//! `accord_node::exchange` and `accord_node_api::client`).

use crate::cmd::online::{connect, outcome, Asked, Outcome};
use crate::cmd::seal::{bar, progress_bar, Bytes, Sink};
use crate::exit::{Code, Output};
use crate::json::{from_wire, Reason};
use accord_node_api::exchange::OutboxItem;
use anyhow::Result;
use clap::Args;
use serde::Serialize;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// `accord send`.
#[derive(Args, Debug)]
#[command(
    after_help = SEND_HELP
)]
pub struct SendArgs {
    #[command(flatten)]
    pub choice: crate::profile::Choice,
    /// Your credential (default: ACCORD_CREDENTIAL, else the profile in use: see
    /// `accord profile`).
    #[arg(long, value_name = "ID.credential")]
    pub credential: Option<PathBuf>,
    /// The partner party (ISO 3166 trigraph; default: the profile's `to`).
    #[arg(long, value_name = "CODE")]
    pub to: Option<String>,
    /// Wait up to SECONDS for the partner's receipt.
    #[arg(long, value_name = "SECONDS")]
    pub wait: Option<u64>,
    /// The sealed object(s).
    #[arg(value_name = "FILE.tdf", required = true, num_args = 1..)]
    pub files: Vec<PathBuf>,
}

/// Files sent at once by `accord send` with several files: enough to overlap each
/// send's checks and syncs at the node, few enough not to crowd out other people.
const SEND_CONCURRENCY: usize = 8;

/// One outbox entry as `send`, `outbox` (and `send` with several files, with `file`)
/// print it with `--json`: the API's entry, every key always present.
#[derive(Serialize)]
struct OutboxJson<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<String>,
    id: &'a str,
    to: &'a str,
    person: &'a str,
    agreement: &'a str,
    marking: &'a str,
    size: u64,
    sha256: &'a str,
    queued: &'a str,
    state: &'a str,
    attempts: u64,
    last_error: Option<&'a str>,
    reasons: Vec<Reason>,
    /// The partner's signed receipt as it was signed (README, "Formats").
    receipt: Option<&'a accord_node_api::receipt::Receipt>,
}

impl<'a> OutboxJson<'a> {
    fn new(o: &'a OutboxItem, file: Option<String>) -> Self {
        OutboxJson {
            file,
            id: &o.id,
            to: &o.to,
            person: &o.person,
            agreement: &o.agreement,
            marking: &o.marking,
            size: o.size,
            sha256: &o.sha256,
            queued: &o.queued,
            state: &o.state,
            attempts: o.attempts,
            last_error: o.last_error.as_deref(),
            reasons: from_wire(&o.reasons),
            receipt: o.receipt.as_ref(),
        }
    }
}

/// One inbox entry as `inbox --json` prints it.
#[derive(Serialize)]
struct InboxJson<'a> {
    id: &'a str,
    marking: &'a str,
    from: &'a str,
    received: &'a str,
    size: u64,
    agreement: &'a str,
}

fn print_refusal(reasons: &[accord_node_api::wire::Reason], what: &str, out: &Output) {
    if out.json {
        out.print_json(&serde_json::json!({"state": "refused", "reasons": from_wire(reasons)}));
    }
    print_reasons(what, reasons);
}

/// A node error from an exchange command: a refusal is printed (with `--json`, as
/// `{"state": "refused", "reasons"}`) and ends the command with 1; anything else is an
/// error (2). A refusal without a list of rules is an error (`{"error": ...}` with
/// `--json`) with its exit code.
fn exchange_failed(e: accord_node::Error, what: &str, out: &Output) -> Result<Code> {
    match outcome(e, Asked::Exchange) {
        Outcome::Denied(reasons) => {
            print_refusal(&reasons, what, out);
            Ok(Code::Negative)
        }
        Outcome::Refused(r, code) => {
            let msg = format!("{what}: {}", r.text);
            Ok(out.refused(&msg, &msg, vec![], code))
        }
        Outcome::Error(e) => Err(e.into()),
    }
}

/// The partner to send to: `--to`, else the `to` of the profile in use.
fn partner_to(flag: Option<&str>, credential: Option<&std::path::Path>) -> Result<String> {
    let to = match flag {
        Some(t) => t.to_string(),
        None => crate::profile::default_to(credential)?.ok_or_else(|| {
            anyhow::anyhow!(
                "give --to CODE, the partner party to send to (or set `to` in your profile)"
            )
        })?,
    };
    Ok(to.to_ascii_uppercase())
}

/// `--to` must name a partner: sending to the credential's own party is a usage error,
/// caught before anything is uploaded.
fn check_partner(client: &accord_node_api::client::Client, to: &str) -> Result<()> {
    let own = &client.credential().party;
    if to == own {
        anyhow::bail!(
            "--to {to} is your own party (your credential was issued by the {own} node): send to a partner party"
        );
    }
    Ok(())
}

/// `what:` then one line per reason, on standard error.
fn print_reasons(what: &str, reasons: &[accord_node_api::wire::Reason]) {
    eprintln!("{what}:");
    for r in reasons {
        eprintln!("  - [{}] {}", r.rule, r.text);
    }
}

fn describe(o: &OutboxItem) -> String {
    match o.state.as_str() {
        "delivered" => {
            let r = o.receipt.as_ref();
            format!(
                "delivered {} to {} ({} bytes, {}); receipt signed by {} at {}, {} log index {}",
                o.id,
                o.to,
                o.size,
                o.marking,
                o.to,
                r.map(|r| r.body.received.as_str()).unwrap_or("?"),
                o.to,
                r.map(|r| r.body.log_index).unwrap_or_default()
            )
        }
        "refused" => format!("refused {} by {}", o.id, o.to),
        _ => format!(
            "queued {} for {} ({} bytes, {}, agreement {}){}",
            o.id,
            o.to,
            o.size,
            o.marking,
            o.agreement,
            match (&o.last_error, o.attempts) {
                (Some(e), n) if n > 0 => format!(
                    "; {}, last: {e}",
                    crate::exit::count(n, "attempt", "attempts")
                ),
                _ => String::new(),
            }
        ),
    }
}

pub fn send(args: SendArgs, out: &Output) -> Result<Code> {
    crate::profile::init(&args.choice);
    if args.files.len() > 1 {
        return send_many(args, out);
    }
    let file = &args.files[0];
    let client = connect(args.credential.as_deref())?;
    let to = partner_to(args.to.as_deref(), args.credential.as_deref())?;
    check_partner(&client, &to)?;
    let size = std::fs::metadata(file)
        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?
        .len();
    let pb = progress_bar(Some(size), "sending");
    let progress: Option<accord_node_api::client::UploadProgress> = pb.clone().map(|pb| {
        let f: accord_node_api::client::UploadProgress = std::sync::Arc::new(move |n| pb.inc(n));
        f
    });
    let result = client.send(&to, file, progress);
    if let Some(pb) = &pb {
        pb.finish_and_clear();
    }
    let mut item = match result {
        Ok(i) => i,
        Err(e) => return exchange_failed(e, "refused by your node", out),
    };
    if let Some(secs) = args.wait {
        let t0 = Instant::now();
        let pb = (item.state == "queued")
            .then(|| count_bar(1, &format!("waiting for {}'s receipt", item.to)))
            .flatten();
        while item.state == "queued" && t0.elapsed() < Duration::from_secs(secs) {
            std::thread::sleep(Duration::from_millis(100));
            refresh(&client, &mut item)?;
        }
        if let Some(pb) = pb {
            pb.finish_and_clear();
        }
    }
    if item.state == "refused" {
        print_refusal(&item.reasons, &format!("refused by {}", item.to), out);
        return Ok(Code::Negative);
    }
    if out.json {
        out.print_json(&OutboxJson::new(&item, None));
    } else {
        println!("{}", describe(&item));
    }
    Ok(if args.wait.is_some() && item.state == "queued" {
        eprintln!(
            "still queued after {} s: the node keeps retrying",
            args.wait.unwrap_or(0)
        );
        Code::Usage
    } else {
        Code::Ok
    })
}

/// A bar counting objects (not bytes) while waiting for receipts, on a terminal only.
fn count_bar(total: u64, what: &str) -> Option<indicatif::ProgressBar> {
    let pb = bar(Some(total), what, "{msg} [{bar:40}] {pos}/{len} {elapsed}")?;
    pb.enable_steady_tick(Duration::from_millis(200));
    Some(pb)
}

/// Read `item`'s outbox entry again (its state, receipt or reasons).
fn refresh(client: &accord_node_api::client::Client, item: &mut OutboxItem) -> Result<()> {
    let only = accord_node_api::exchange::OutboxFilter {
        id: Some(item.id.clone()),
        ..Default::default()
    };
    if let Some(i) = client
        .outbox_filtered(&only)?
        .into_iter()
        .find(|o| o.to == item.to)
    {
        *item = i;
    }
    Ok(())
}

/// What became of one file of several.
enum Sent {
    Item(Box<OutboxItem>),
    Refused(Vec<accord_node_api::wire::Reason>),
    /// Refused by the node with one line and no list of rules.
    RefusedSaying(String),
    Failed(String),
}

/// `accord send` with several files: sent concurrently, then (with --wait) followed
/// until each has its receipt or a refusal.
fn send_many(args: SendArgs, out: &Output) -> Result<Code> {
    let client = connect(args.credential.as_deref())?;
    let to = partner_to(args.to.as_deref(), args.credential.as_deref())?;
    check_partner(&client, &to)?;
    let total: u64 = args
        .files
        .iter()
        .map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0))
        .sum();
    let pb = progress_bar(
        Some(total),
        &format!("sending {} objects", args.files.len()),
    );
    let progress: Option<accord_node_api::client::UploadProgress> = pb.clone().map(|pb| {
        let f: accord_node_api::client::UploadProgress = std::sync::Arc::new(move |n| pb.inc(n));
        f
    });
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<Sent>>> =
        args.files.iter().map(|_| Default::default()).collect();
    std::thread::scope(|s| {
        for _ in 0..SEND_CONCURRENCY.min(args.files.len()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(file) = args.files.get(i) else {
                    break;
                };
                let r = match client.send(&to, file, progress.clone()) {
                    Ok(item) => Sent::Item(Box::new(item)),
                    Err(e) => match outcome(e, Asked::Exchange) {
                        Outcome::Denied(reasons) => Sent::Refused(reasons),
                        Outcome::Refused(r, _) => Sent::RefusedSaying(r.text),
                        Outcome::Error(e) => Sent::Failed(e.to_string()),
                    },
                };
                if let Ok(mut slot) = results[i].lock() {
                    *slot = Some(r);
                }
            });
        }
    });
    if let Some(pb) = &pb {
        pb.finish_and_clear();
    }
    let mut results: Vec<Sent> = results
        .into_iter()
        .map(|m| {
            m.into_inner()
                .ok()
                .flatten()
                .unwrap_or_else(|| Sent::Failed("not sent".into()))
        })
        .collect();
    if let Some(secs) = args.wait {
        let t0 = Instant::now();
        let waiting = |results: &[Sent]| {
            results
                .iter()
                .filter(|r| matches!(r, Sent::Item(i) if i.state == "queued"))
                .count() as u64
        };
        let at_first = waiting(&results);
        let pb = (at_first > 0)
            .then(|| count_bar(at_first, &format!("waiting for {to}'s receipts")))
            .flatten();
        while waiting(&results) > 0 && t0.elapsed() < Duration::from_secs(secs) {
            if let Some(pb) = &pb {
                pb.set_position(at_first - waiting(&results));
            }
            std::thread::sleep(Duration::from_millis(200));
            // One listing of what is still queued, then the final row of each of ours
            // that left it.
            let still: std::collections::HashSet<(String, String)> = client
                .outbox_filtered(&accord_node_api::exchange::OutboxFilter {
                    state: Some("queued".into()),
                    ..Default::default()
                })?
                .into_iter()
                .map(|o| (o.id, o.to))
                .collect();
            for r in results.iter_mut() {
                let Sent::Item(item) = r else { continue };
                if item.state != "queued" || still.contains(&(item.id.clone(), item.to.clone())) {
                    continue;
                }
                refresh(&client, item)?;
            }
        }
        if let Some(pb) = pb {
            pb.finish_and_clear();
        }
    }
    let (mut failed, mut refused, mut queued) = (false, false, false);
    let mut json = Vec::new();
    for (file, r) in args.files.iter().zip(&results) {
        let name = file.display().to_string();
        match r {
            Sent::Item(item) => {
                if item.state == "refused" {
                    refused = true;
                    print_reasons(&format!("{name}: refused by {}", item.to), &item.reasons);
                } else {
                    queued |= item.state == "queued";
                    if !out.json {
                        println!("{name}: {}", describe(item));
                    }
                }
                json.push(serde_json::to_value(OutboxJson::new(item, Some(name)))?);
            }
            Sent::Refused(reasons) => {
                refused = true;
                print_reasons(&format!("{name}: refused by your node"), reasons);
                json.push(
                    serde_json::json!({"file": name, "state": "refused", "reasons": from_wire(reasons)}),
                );
            }
            Sent::RefusedSaying(msg) => {
                refused = true;
                eprintln!("{name}: refused by your node: {msg}");
                json.push(serde_json::json!({"file": name, "state": "refused", "reasons": [], "message": msg}));
            }
            Sent::Failed(e) => {
                failed = true;
                eprintln!("{name}: error: {e}");
                json.push(serde_json::json!({"file": name, "state": "error", "message": e}));
            }
        }
    }
    if out.json {
        out.print_json(&serde_json::Value::Array(json));
    }
    Ok(if failed {
        Code::Usage
    } else if refused {
        Code::Negative
    } else if args.wait.is_some() && queued {
        eprintln!(
            "some still queued after {} s: the node keeps retrying",
            args.wait.unwrap_or(0)
        );
        Code::Usage
    } else {
        Code::Ok
    })
}

/// `accord outbox`.
#[derive(Args, Debug)]
#[command(
    after_help = OUTBOX_HELP
)]
pub struct OutboxArgs {
    #[command(flatten)]
    pub choice: crate::profile::Choice,
    /// Your credential (default: ACCORD_CREDENTIAL, else the profile in use: see
    /// `accord profile`).
    #[arg(long, value_name = "ID.credential")]
    pub credential: Option<PathBuf>,
    /// Only the entries in this state.
    #[arg(long, value_parser = ["queued", "delivered", "refused"])]
    pub state: Option<String>,
    /// Only this object.
    #[arg(long, value_name = "ID")]
    pub id: Option<String>,
    /// At most this many, the most recent (still printed oldest first).
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
}

pub fn outbox(args: OutboxArgs, out: &Output) -> Result<Code> {
    crate::profile::init(&args.choice);
    let filter = accord_node_api::exchange::OutboxFilter {
        id: args.id.clone(),
        state: args.state.clone(),
        limit: args.limit,
    };
    let items = match connect(args.credential.as_deref())?.outbox_filtered(&filter) {
        Ok(items) => items,
        Err(e) => return exchange_failed(e, "refused by your node", out),
    };
    if out.json {
        let items: Vec<OutboxJson> = items.iter().map(|o| OutboxJson::new(o, None)).collect();
        out.print_json(&items);
        return Ok(Code::Ok);
    }
    if items.is_empty() {
        match (&args.state, &args.id) {
            (None, None) => println!("nothing sent"),
            (Some(state), None) => println!("nothing {state}"),
            _ => println!("no outbox entries match"),
        }
    }
    for o in &items {
        println!("{}", describe(o));
        for r in &o.reasons {
            println!("  - [{}] {}", r.rule, r.text);
        }
    }
    Ok(Code::Ok)
}

/// `accord inbox`.
#[derive(Args, Debug)]
#[command(
    after_help = INBOX_HELP
)]
pub struct InboxArgs {
    #[command(flatten)]
    pub choice: crate::profile::Choice,
    /// Your credential (default: ACCORD_CREDENTIAL, else the profile in use: see
    /// `accord profile`).
    #[arg(long, value_name = "ID.credential")]
    pub credential: Option<PathBuf>,
}

pub fn inbox(args: InboxArgs, out: &Output) -> Result<Code> {
    crate::profile::init(&args.choice);
    let items = match connect(args.credential.as_deref())?.inbox() {
        Ok(items) => items,
        Err(e) => return exchange_failed(e, "refused by your node", out),
    };
    if out.json {
        let items: Vec<InboxJson> = items
            .iter()
            .map(|i| InboxJson {
                id: &i.id,
                marking: &i.marking,
                from: &i.from,
                received: &i.received,
                size: i.size,
                agreement: &i.agreement,
            })
            .collect();
        out.print_json(&items);
        return Ok(Code::Ok);
    }
    if items.is_empty() {
        println!("inbox empty");
        return Ok(Code::Ok);
    }
    println!(
        "{:<36}  {:<4}  {:<20}  {:>10}  {:<16}  MARKING",
        "ID", "FROM", "RECEIVED", "SIZE", "AGREEMENT"
    );
    for i in &items {
        println!(
            "{:<36}  {:<4}  {:<20}  {:>10}  {:<16}  {}",
            i.id, i.from, i.received, i.size, i.agreement, i.marking
        );
    }
    Ok(Code::Ok)
}

/// `accord fetch`.
#[derive(Args, Debug)]
#[command(
    after_help = FETCH_HELP
)]
pub struct FetchArgs {
    #[command(flatten)]
    pub choice: crate::profile::Choice,
    /// Your credential (default: ACCORD_CREDENTIAL, else the profile in use: see
    /// `accord profile`).
    #[arg(long, value_name = "ID.credential")]
    pub credential: Option<PathBuf>,
    /// The object id (from `accord inbox`).
    #[arg(value_name = "ID")]
    pub id: String,
    /// The sending party, when partners sent objects under the same id (`accord inbox`
    /// lists each with its sender).
    #[arg(long, value_name = "CODE")]
    pub from: Option<String>,
    /// Where to write the sealed object (`-` for standard output).
    #[arg(short = 'o', long = "output", value_name = "FILE.tdf")]
    pub output: PathBuf,
    /// Overwrite OUTPUT if it exists (and, for a sealed object, write it to a terminal).
    #[arg(long)]
    pub force: bool,
}

struct Counting<'a, W> {
    inner: W,
    pb: Option<&'a indicatif::ProgressBar>,
}

impl<W: std::io::Write> std::io::Write for Counting<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        if let Some(pb) = self.pb {
            pb.inc(n as u64);
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

pub fn fetch(args: FetchArgs, out: &Output) -> Result<Code> {
    crate::profile::init(&args.choice);
    let client = connect(args.credential.as_deref())?;
    // The size only draws the progress bar: if the inbox cannot be listed, the fetch
    // itself says why.
    let size = client
        .inbox()
        .ok()
        .and_then(|items| {
            items.into_iter().find(|i| {
                i.id == args.id
                    && args
                        .from
                        .as_deref()
                        .is_none_or(|f| i.from.eq_ignore_ascii_case(f))
            })
        })
        .map(|i| i.size);
    let pb = progress_bar(size, "fetching");
    let mut sink = Sink::new(&args.output, args.force, Bytes::Sealed)?;
    let result = {
        let mut w = Counting {
            inner: sink.writer(),
            pb: pb.as_ref(),
        };
        let from = args.from.as_deref().map(str::to_ascii_uppercase);
        client.fetch_from(&args.id, from.as_deref(), &mut w)
    };
    if let Some(pb) = &pb {
        pb.finish_and_clear();
    }
    let n = match result {
        Ok(n) => n,
        Err(e) => return exchange_failed(e, "refused", out),
    };
    sink.commit()?;
    if out.json {
        out.print_json(&serde_json::json!({"id": args.id, "size": n, "output": args.output.display().to_string()}));
    } else if args.output != std::path::Path::new("-") {
        eprintln!(
            "fetched {} ({n} bytes) to {}",
            args.id,
            args.output.display()
        );
    }
    Ok(Code::Ok)
}

// `--help` texts: examples stay under 76 columns, so that an 80-column terminal
// does not break them for copy and paste; prose is one line a paragraph, which clap
// wraps.
const SEND_HELP: &str = "\
Examples:
  accord send --credential pak-officer.credential --to USA report.tdf
  accord send --credential pak-officer.credential --to USA \\
      report.tdf --wait 60 --json
  accord send --credential pak-officer.credential --to USA \\
      outgoing/*.tdf --wait 120

The object must name an agreement in force with the partner (seal it with --agreement) and its label must be releasable to the partner. The node keeps it in its outbox and delivers it with retries until the partner's node returns a signed receipt (see `accord outbox`).

Several files are sent concurrently (each checked by your node on its own); the output has a line per file, and --json prints an array of the single-file objects, each with \"file\".

Exit codes: 0 queued (or delivered, with --wait); 1 refused, by your node or the partner's (reasons printed); 2 usage or input error (including --to your own party, or a request your node finds malformed), or --wait timed out while still queued. With several files: 2 if any file could not be sent, else 1 if any was refused, else 2 if any is still queued after --wait.";

const OUTBOX_HELP: &str = "\
Examples:
  accord outbox --credential pak-officer.credential --state queued
  accord outbox --credential pak-officer.credential --limit 20 --json

Lists what you sent, oldest first, with each delivery's state: queued (with attempts and the last error), delivered (with the partner's signed receipt) or refused (with the reasons).

Exit codes: 0 ok, 1 your node refused (reasons printed), 2 usage or input error.";

const INBOX_HELP: &str = "\
Examples:
  accord inbox --credential usa-officer.credential
  accord inbox --credential usa-officer.credential --json

Lists, oldest first, the objects partners sent that you may see (your clearance, nationality and scopes permit the label under its agreement). --json prints an array of {\"id\", \"marking\", \"from\", \"received\", \"size\", \"agreement\"}.

Exit codes: 0 ok, 1 your node refused (reasons printed), 2 usage or input error.";

const FETCH_HELP: &str = "\
Examples:
  accord fetch --credential usa-officer.credential \\
      0b8f1c9e-2c57-4c43-9a77-5b0f5f3a2d10 -o plan.tdf
  accord open --credential usa-officer.credential plan.tdf -o plan.pdf

Fetches a received sealed object (still encrypted: open it with `accord open`). The summary line goes to standard error, and none is printed with -o - (the object is on standard output).

Exit codes: 0 ok, 1 refused: you may not see it (reasons printed), 2 usage or input error (including an id that is not in your inbox).";
