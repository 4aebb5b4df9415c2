//! `accord policy show`: what a security policy (XML-SPIF) defines.

use crate::exit::{Code, Output};
use accord_spif::{Policy, PolicySet};
use anyhow::{Context, Result};
use clap::Subcommand;
use serde::Serialize;
use std::path::PathBuf;

/// Security policies (XML-SPIF files).
#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// Show a policy's classifications, category tag sets and equivalences.
    #[command(
        after_help = POLICY_SHOW_HELP
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
                let all: Vec<PolicyJson<'_>> = set.iter().map(policy_json).collect();
                if policy.is_dir() {
                    print_ordered(&all);
                } else {
                    print_ordered(&all[0]);
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

/// `policy show --json`: one policy, keys in the documented order (a `serde_json::Value`
/// would sort them).
#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
struct PolicyJson<'a> {
    name: &'a str,
    id: &'a str,
    source: &'a str,
    classifications: Vec<ClassificationJson<'a>>,
    tag_sets: Vec<TagSetJson<'a>>,
    equivalent_policies: Vec<NameId<'a>>,
}

#[derive(Serialize)]
struct ClassificationJson<'a> {
    name: &'a str,
    lacv: u64,
    hierarchy: u64,
    color: Option<&'a str>,
    obsolete: bool,
}

#[derive(Serialize)]
struct TagSetJson<'a> {
    name: &'a str,
    id: &'a str,
    tags: Vec<TagJson<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
struct TagJson<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    tag_type: &'a str,
    single_selection: bool,
    categories: Vec<CategoryJson<'a>>,
}

#[derive(Serialize)]
struct CategoryJson<'a> {
    name: &'a str,
    lacv: &'a str,
    obsolete: bool,
}

#[derive(Serialize)]
struct NameId<'a> {
    name: &'a str,
    id: &'a str,
}

fn policy_json(p: &Policy) -> PolicyJson<'_> {
    PolicyJson {
        name: &p.name,
        id: &p.id,
        source: &p.source_name,
        classifications: p
            .classifications
            .iter()
            .map(|c| ClassificationJson {
                name: &c.name,
                lacv: c.lacv,
                hierarchy: c.hierarchy,
                color: c.color.as_deref(),
                obsolete: c.obsolete,
            })
            .collect(),
        tag_sets: p
            .tag_sets
            .iter()
            .map(|ts| TagSetJson {
                name: &ts.name,
                id: &ts.id,
                tags: ts
                    .tags
                    .iter()
                    .map(|t| TagJson {
                        name: &t.name,
                        tag_type: t.tag_type.spiffy_name(),
                        single_selection: t.single_selection,
                        categories: t
                            .categories
                            .iter()
                            .map(|&o| {
                                let c = &p.categories[o];
                                CategoryJson {
                                    name: &c.name,
                                    lacv: &c.lacv,
                                    obsolete: c.obsolete,
                                }
                            })
                            .collect(),
                    })
                    .collect(),
            })
            .collect(),
        equivalent_policies: p
            .equivalent_policies
            .iter()
            .map(|e| NameId {
                name: &e.name,
                id: &e.id,
            })
            .collect(),
    }
}

/// Print as pretty JSON with fields in declaration order (a `serde_json::Value` would
/// sort them).
fn print_ordered(value: &impl Serialize) {
    crate::exit::print_json(value)
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

// `--help` texts: examples stay under 76 columns, so that an 80-column terminal
// does not break them for copy and paste; prose is one line a paragraph, which clap
// wraps.
const POLICY_SHOW_HELP: &str = "\
Examples:
  accord policy show policies/usa.xml
  accord --json policy show policies

A directory shows every policy in it, in file name order (with --json, as a JSON array).

Exit codes: 0 ok, 2 usage or input error (a malformed file is named with line and column).";
