//! `accord status`: the first thing to run when something fails. Who you are (the
//! credential in use and where it came from), whether your node answers and takes you
//! for whom, its agreements and what expires soon, and whether each partner's node
//! answers it. Every problem found is said in a sentence with what to do.

use crate::exit::{count, Code, Output};
use accord_node_api::client::Client;
use accord_node_api::credential::CredentialFile;
use accord_node_api::wire::NodeStatus;
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

use accord_node_api::wire::{WARN_AGREEMENT_DAYS, WARN_CERTIFICATE_DAYS as WARN_CERT_DAYS};
const DAY: i64 = 86_400;

#[derive(Args, Debug)]
#[command(after_help = HELP)]
pub struct StatusArgs {
    #[command(flatten)]
    pub choice: crate::profile::Choice,
    /// Your credential [default: ACCORD_CREDENTIAL, else the profile in use].
    #[arg(long, value_name = "ID.credential")]
    pub credential: Option<PathBuf>,
}

const HELP: &str = "\
Example:
  accord status
  accord status --profile usa
  accord --json status | jq .problems

Warnings (exit 0): a credential or certificate that expires within 30 days, an agreement within 180, deliveries waiting on a partner. Problems (exit 1): the node does not answer or refuses you, you are suspended, something has expired, no agreement is in force, a partner's node does not answer, the disk is below the node's reserve.

Exit codes: 0 nothing needs attention (warnings allowed), 1 a problem was found, 2 usage or input error (no credential, unreadable credential).";

/// "in 12 days", "today", "3 days ago".
pub(crate) fn in_days(unix: i64) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let d = (unix - now).div_euclid(DAY);
    match d {
        0 if unix >= now => "within a day".into(),
        d if d > 0 => format!("in {}", count(d as u64, "day", "days")),
        d => format!("{} ago", count(d.unsigned_abs(), "day", "days")),
    }
}

fn parse_time(s: &str) -> Option<i64> {
    accord_agreement::Time::parse(s).ok().map(|t| t.unix())
}

/// What `accord status` found.
#[derive(Default)]
struct Findings {
    problems: Vec<String>,
    warnings: Vec<String>,
}

impl Findings {
    /// Check something that expires at `when`: a problem once past, a warning within
    /// `warn_days`.
    fn expiry(&mut self, what: &str, when: i64, warn_days: i64, then: &str) {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        if when <= now {
            self.problems.push(format!(
                "{what} expired at {}: {then}",
                crate::json::time(when)
            ));
        } else if when - now < warn_days * DAY {
            self.warnings.push(format!(
                "{what} expires {} ({}): {then}",
                in_days(when),
                crate::json::time(when)
            ));
        }
    }
}

pub fn run(args: StatusArgs, out: &Output) -> Result<Code> {
    crate::profile::init(&args.choice);
    let chosen = crate::profile::required(args.credential.as_deref())?;
    let file = CredentialFile::read(&chosen.path)?;
    let mut f = Findings::default();
    let not_after = file.not_after()?;
    f.expiry(
        "your credential",
        not_after,
        WARN_CERT_DAYS,
        "ask your security officer for a new one",
    );
    // A credential that cannot be unlocked (no passphrase, a wrong one) is a usage
    // error (2), as for every command; only what the node answers is a finding.
    let client = Client::new(crate::profile::unlock(&chosen)?)?;
    let (node, node_error) = match client.status() {
        Ok(s) => (Some(s), None),
        Err(e) => {
            let text = format!("{e:#}");
            f.problems.push(format!("your node: {text}"));
            (None, Some(text))
        }
    };
    if let Some(s) = &node {
        check_node(s, &mut f);
    }
    let (from, profile) = match &chosen.source {
        crate::profile::Source::Flag => ("flag", None),
        crate::profile::Source::Environment => ("environment", None),
        crate::profile::Source::Profile(n) => ("profile", Some(n.clone())),
    };
    let code = if f.problems.is_empty() {
        Code::Ok
    } else {
        Code::Negative
    };
    if out.json {
        out.print_json(&serde_json::json!({
            "ok": f.problems.is_empty(),
            "credential": {
                "path": chosen.path,
                "from": from,
                "profile": profile.clone().or_else(|| chosen.profile.as_ref().map(|(n, _)| n.clone())),
                "party": file.party(),
                "person": file.person(),
                "node_url": file.node_url(),
                "not_after": crate::json::time(not_after),
                "protected": file.is_protected(),
            },
            "node": {
                "url": file.node_url(),
                "reachable": node.is_some(),
                "error": node_error,
                "status": node,
            },
            "problems": f.problems,
            "warnings": f.warnings,
        }));
        return Ok(code);
    }
    let from = match &profile {
        Some(p) => format!("profile {p}"),
        None if from == "flag" => "--credential".into(),
        None => "ACCORD_CREDENTIAL".into(),
    };
    println!(
        "you          {} of {} ({}, from {from}{})",
        file.person(),
        file.party(),
        chosen.path.display(),
        if file.is_protected() {
            "; passphrase"
        } else {
            ""
        }
    );
    println!(
        "credential   expires {} ({})",
        crate::json::time(not_after),
        in_days(not_after)
    );
    match &node {
        None => println!("node         {}: no answer", file.node_url()),
        Some(s) => print_node(file.node_url(), s),
    }
    for w in &f.warnings {
        println!("warning: {w}");
    }
    for p in &f.problems {
        println!("problem: {p}");
    }
    if f.problems.is_empty() && f.warnings.is_empty() {
        println!("ok: nothing needs attention");
    }
    Ok(code)
}

/// What the node's answer says needs attention.
fn check_node(s: &NodeStatus, f: &mut Findings) {
    if s.person_status != "active" {
        // The node shows a suspended person nothing more.
        f.problems.push(format!(
            "the {} node has you as {}: nothing will be released to you; ask your security officer",
            s.party, s.person_status
        ));
        return;
    }
    if let Some(t) = s.tls_not_after.as_deref().and_then(parse_time) {
        f.expiry(
            &format!("the {} node's TLS certificate", s.party),
            t,
            WARN_CERT_DAYS,
            "its officer renews it",
        );
    }
    let in_force: Vec<_> = s
        .agreements
        .iter()
        .filter(|a| a.status == "in-force")
        .collect();
    if in_force.is_empty() {
        f.problems.push(if s.agreements.is_empty() {
            format!("the {} node holds no agreement: only national sealing works (accord agreement load)", s.party)
        } else {
            format!(
                "no agreement the {} node holds is in force ({}): nothing can be exchanged with a partner",
                s.party,
                s.agreements
                    .iter()
                    .map(|a| format!("{} {}", a.id, a.status))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        });
    }
    for a in in_force {
        if let Some(t) = parse_time(&a.expires) {
            f.expiry(
                &format!("agreement {}", a.id),
                t,
                WARN_AGREEMENT_DAYS,
                "the parties renew it (accord agreement renew)",
            );
        }
    }
    for p in &s.partners {
        if !p.reachable {
            f.problems.push(format!(
                "the {} node ({}) does not answer the {} node: {}",
                p.party,
                p.url,
                s.party,
                p.error.as_deref().unwrap_or("no answer")
            ));
        }
        if p.queued > 0 {
            f.warnings.push(format!(
                "{} of yours waiting for {}{}",
                count(p.queued, "object", "objects"),
                p.party,
                p.last_error
                    .as_deref()
                    .map(|e| format!(" (last attempt: {e})"))
                    .unwrap_or_default()
            ));
        }
    }
    if s.disk_free_mib < s.disk_reserve_mib {
        f.problems.push(format!(
            "the {} node has {} MiB of disk free, below its reserve of {} MiB: partners' deliveries wait",
            s.party, s.disk_free_mib, s.disk_reserve_mib
        ));
    }
}

fn print_node(url: &str, s: &NodeStatus) {
    println!(
        "node         {url}: answers (accord {}), you are {}",
        s.version, s.person_status
    );
    println!(
        "             TLS certificate until {}, log {}, {} MiB disk free (reserve {})",
        s.tls_not_after.as_deref().unwrap_or("unknown"),
        count(s.log_entries, "entry", "entries"),
        s.disk_free_mib,
        s.disk_reserve_mib
    );
    let mut label = "agreements";
    if s.agreements.is_empty() {
        println!("agreements   none");
    }
    for a in &s.agreements {
        let until = parse_time(&a.expires)
            .map(|t| format!(" ({})", in_days(t)))
            .unwrap_or_default();
        println!(
            "{label:<12} {} v{}  {}  {}  until {}{until}",
            a.id,
            a.version,
            a.status,
            a.parties.join(","),
            a.expires
        );
        label = "";
    }
    let mut label = "partners";
    for p in &s.partners {
        let reach = match (&p.reachable, &p.error) {
            (true, _) => "answers".to_string(),
            (false, Some(e)) => format!("does not answer ({e})"),
            (false, None) => "does not answer".to_string(),
        };
        let latest = p
            .last_delivery
            .as_deref()
            .map(|t| format!(", latest {t}"))
            .unwrap_or_default();
        let witness = p
            .witness_cosigned
            .map(|n| format!("; its witness cosigned {}", count(n, "entry", "entries")))
            .unwrap_or_default();
        println!(
            "{label:<12} {} {}  {reach}; yours: {} delivered{latest}, {} queued, {} refused{witness}",
            p.party, p.url, p.delivered, p.queued, p.refused
        );
        label = "";
    }
}
