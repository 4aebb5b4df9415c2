//! `accord policy show`: what a security policy (XML-SPIF) defines.

use crate::exit::{Code, Output};
use accord_spif::{Policy, PolicySet};
use anyhow::{Context, Result};
use clap::Subcommand;
use serde_json::{json, Value};
use std::path::PathBuf;

/// Security policies (XML-SPIF files).
#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// Show a policy's classifications, category tag sets and equivalences.
    #[command(
        after_help = "Examples:\n  accord policy show policies/usa.xml\n  accord --json policy show policies      # a directory: every policy, as a JSON array\n\nExit codes: 0 ok, 2 usage or input error (a malformed file is named with line and column)."
    )]
    Show {
        /// A SPIF file, or a directory of them.
        #[arg(value_name = "POLICY")]
        policy: PathBuf,
    },
}

pub fn run(cmd: PolicyCommand, out: &Output) -> Result<Code> {
    match cmd {
        PolicyCommand::Show { policy } => {
            let mut set = PolicySet::new();
            set.load_path(&policy)
                .with_context(|| format!("loading policies from {}", policy.display()))?;
            if out.json {
                let all: Vec<Value> = set.iter().map(policy_json).collect();
                if policy.is_dir() {
                    out.print_json(&Value::Array(all));
                } else {
                    out.print_json(&all[0]);
                }
            } else {
                for (i, p) in set.iter().enumerate() {
                    if i > 0 {
                        println!();
                    }
                    print_policy(p);
                }
            }
            Ok(Code::Ok)
        }
    }
}

fn policy_json(p: &Policy) -> Value {
    json!({
        "name": p.name,
        "id": p.id,
        "source": p.source_name,
        "classifications": p.classifications.iter().map(|c| json!({
            "name": c.name,
            "lacv": c.lacv,
            "hierarchy": c.hierarchy,
            "color": c.color,
            "obsolete": c.obsolete,
        })).collect::<Vec<_>>(),
        "tagSets": p.tag_sets.iter().map(|ts| json!({
            "name": ts.name,
            "id": ts.id,
            "tags": ts.tags.iter().map(|t| json!({
                "name": t.name,
                "type": t.tag_type.spiffy_name(),
                "singleSelection": t.single_selection,
                "categories": t.categories.iter().map(|&o| {
                    let c = &p.categories[o];
                    json!({"name": c.name, "lacv": c.lacv, "obsolete": c.obsolete})
                }).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "equivalentPolicies": p.equivalent_policies.iter().map(|e| json!({"name": e.name, "id": e.id})).collect::<Vec<_>>(),
    })
}

fn print_policy(p: &Policy) {
    println!("policy {} ({})", p.name, p.id);
    println!("  from {}", p.source_name);
    println!("classifications (lowest first):");
    for c in &p.classifications {
        let mut extra = String::new();
        if let Some(col) = &c.color {
            extra += &format!(", color {col}");
        }
        if c.obsolete {
            extra += ", obsolete";
        }
        println!("  {} (lacv {}{extra})", c.name, c.lacv);
    }
    println!("category tag sets:");
    for ts in &p.tag_sets {
        println!("  {} ({})", ts.name, ts.id);
        for t in &ts.tags {
            let values: Vec<&str> = t
                .categories
                .iter()
                .map(|&o| p.categories[o].name.as_str())
                .collect();
            let label = if t.name == ts.name {
                String::new()
            } else {
                format!("{}, ", t.name)
            };
            println!(
                "    {label}{}: {}",
                t.tag_type.spiffy_name(),
                values.join(", ")
            );
        }
    }
    if !p.equivalent_policies.is_empty() {
        let eq: Vec<String> = p
            .equivalent_policies
            .iter()
            .map(|e| format!("{} ({})", e.name, e.id))
            .collect();
        println!("translates to: {}", eq.join(", "));
    }
}
