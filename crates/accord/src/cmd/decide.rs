//! `accord decide`: the full access decision for a person, a label, an agreement, a
//! requesting party and a time. The rules live in `accord_agreement::decide`.

use crate::cmd::agreement::{load, time_arg};
use crate::exit::{Code, Output};
use crate::input::{display_name, read_bounded};
use accord_agreement::{decide, Checked, ClearanceSource, PersonFile, Request};
use accord_spif::{Label, PolicySet};
use anyhow::{Context, Result};
use clap::Args;
use serde_json::json;
use std::path::PathBuf;

/// Decide whether a person may see what a label protects, under an agreement.
#[derive(Args, Debug)]
#[command(
    after_help = DECIDE_HELP
)]
pub struct DecideArgs {
    /// The agreement (TOML or JSON).
    #[arg(long)]
    pub agreement: PathBuf,
    /// A policy (XML-SPIF) file or a directory of them.
    #[arg(long, value_name = "DIR")]
    pub policy: PathBuf,
    /// The person (PERSON.json).
    #[arg(long, value_name = "PERSON.json")]
    pub person: PathBuf,
    /// The object's label (STANAG 4774 XML, spiffy XML or JSON).
    #[arg(long, value_name = "LABEL_FILE")]
    pub label: PathBuf,
    /// The requesting party (trigraph).
    #[arg(long, value_name = "CODE")]
    pub party: String,
    /// The time of the request (default: now).
    #[arg(long)]
    pub at: Option<String>,
}

pub fn run(a: DecideArgs, out: &Output) -> Result<Code> {
    let at = time_arg(a.at.as_deref(), "--at")?;
    let agreement = load(&a.agreement)?;
    let mut policies = PolicySet::new();
    policies
        .load_path(&a.policy)
        .with_context(|| format!("loading policies from {}", a.policy.display()))?;
    let person_bytes = read_bounded(&a.person)?;
    let person_name = display_name(&a.person);
    let file = PersonFile::from_json(&person_bytes)
        .with_context(|| format!("reading person {person_name}"))?;
    let clearance_bytes = match &file.clearance {
        ClearanceSource::File(rel) => {
            let base = a
                .person
                .parent()
                .unwrap_or_else(|| std::path::Path::new("."));
            Some(read_bounded(&base.join(rel))?)
        }
        ClearanceSource::Inline(_) => None,
    };
    let person = file
        .into_person(&policies, clearance_bytes.as_deref())
        .with_context(|| format!("reading person {person_name}"))?;
    let label_bytes = read_bounded(&a.label)?;
    let label_name = display_name(&a.label);
    let label = Label::read(&policies, &label_name, &label_bytes)?;
    let decision = decide(
        &policies,
        &Request {
            person: &person,
            label: &label,
            agreement: &Checked::new(&agreement),
            requesting_party: &a.party,
            dissem: &[],
            at,
            wrapping: accord_agreement::Wrapping::PostQuantum,
        },
    );
    let reasons: Vec<&str> = decision.reasons.iter().map(|r| r.text.as_str()).collect();
    if out.json {
        out.print_json(&json!({
            "decision": decision.word(),
            "reasons": crate::json::from_decision(&decision.reasons),
        }));
    } else {
        println!("{}", decision.word());
        for r in &reasons {
            println!("  {r}");
        }
    }
    Ok(if decision.permit {
        Code::Ok
    } else {
        Code::Negative
    })
}

// `--help` texts: examples stay under 76 columns, so that an 80-column terminal
// does not break them for copy and paste; prose is one line a paragraph, which clap
// wraps.
const DECIDE_HELP: &str = "\
Examples:
  accord decide --agreement agreement.toml --policy policies \\
      --person pak-officer.json --label report.label.xml --party PAK \\
      --at 2024-01-01T00:00:00Z
  accord --json decide ...

--json prints {\"decision\": \"permit\" | \"deny\", \"reasons\": [{\"rule\", \"text\"}]} (docs/json.md). Every rule is checked and every reason that applies is printed. --at takes an RFC 3339 time with a zone, or a date (00:00:00Z); default now.

Exit codes: 0 permit, 1 deny, 2 usage or input error.";
