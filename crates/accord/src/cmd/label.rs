//! `accord label`: render, parse, check, decide and translate confidentiality labels.

use crate::exit::{Code, Output};
use crate::input::{display_name, read_bounded};
use accord_spif::{decide, Clearance, Label, LabelFormat, PolicySet};
use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Confidentiality labels (STANAG 4774 XML, spiffy XML or JSON).
#[derive(Subcommand, Debug)]
pub enum LabelCommand {
    /// Print a label's marking (and with --json its colour).
    #[command(
        after_help = RENDER_HELP
    )]
    Render {
        #[command(flatten)]
        policies: Policies,
        /// Language of the marking (xml:lang, e.g. fr, fr-CA); default: the policy's default.
        #[arg(long, default_value = "")]
        lang: String,
        /// The label file, or - for standard input.
        #[arg(value_name = "LABEL_FILE")]
        label: PathBuf,
    },
    /// Read a marking (what a person types) as a label and print it.
    #[command(
        after_help = PARSE_HELP
    )]
    Parse {
        #[command(flatten)]
        policies: Policies,
        /// The marking, e.g. "SECRET//REL TO USA, PAK".
        #[arg(value_name = "MARKING")]
        marking: String,
        /// Output form (--json implies json).
        #[arg(long, value_enum, default_value = "4774")]
        format: Format,
        /// Language of the marking (xml:lang).
        #[arg(long, default_value = "")]
        lang: String,
    },
    /// Validate a label against its policy, with reasons.
    #[command(
        after_help = CHECK_HELP
    )]
    Check {
        #[command(flatten)]
        policies: Policies,
        /// The label file, or - for standard input.
        #[arg(value_name = "LABEL_FILE")]
        label: PathBuf,
    },
    /// The access decision for a clearance and a label (SPIF/X.841 rules).
    #[command(
        after_help = DECIDE_HELP
    )]
    Decide {
        #[command(flatten)]
        policies: Policies,
        /// The clearance (spiffy XML or JSON).
        #[arg(long, value_name = "CLEARANCE_FILE")]
        clearance: PathBuf,
        /// The label file, or - for standard input.
        #[arg(value_name = "LABEL_FILE")]
        label: PathBuf,
    },
    /// Translate a label into an equivalent policy and print it.
    #[command(
        after_help = TRANSLATE_HELP
    )]
    Translate {
        #[command(flatten)]
        policies: Policies,
        /// The target policy: name or OID.
        #[arg(long, value_name = "POLICY_NAME_OR_ID")]
        to: String,
        /// Output form (--json implies json).
        #[arg(long, value_enum, default_value = "4774")]
        format: Format,
        /// The label file, or - for standard input.
        #[arg(value_name = "LABEL_FILE")]
        label: PathBuf,
    },
}

/// `--policy`: repeatable; each a SPIF file or a directory of them.
#[derive(Args, Debug)]
pub struct Policies {
    /// A SPIF file or a directory of them (repeat for more).
    #[arg(long = "policy", value_name = "POLICY", required = true)]
    pub paths: Vec<PathBuf>,
}

/// Output form of a label.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum Format {
    /// STANAG 4774 XML.
    #[value(name = "4774")]
    Stanag4774,
    /// Accord's JSON form.
    Json,
    /// surevine spiffy XML.
    Spiffy,
}

impl Policies {
    fn load(&self) -> Result<PolicySet> {
        let mut set = PolicySet::new();
        for p in &self.paths {
            set.load_path(p)
                .with_context(|| format!("loading policies from {}", p.display()))?;
        }
        Ok(set)
    }
}

fn read_label(set: &PolicySet, path: &Path) -> Result<Label> {
    let bytes = read_bounded(path)?;
    let name = display_name(path);
    Label::read(set, &name, &bytes).map_err(|e| named(e, &name, "label"))
}

/// Errors that do not already say which input they are about get its name.
fn named(e: accord_spif::Error, name: &str, what: &str) -> anyhow::Error {
    if e.to_string().starts_with(name) {
        e.into()
    } else {
        anyhow::Error::from(e).context(format!("{what} {name}"))
    }
}

fn print_label(label: &Label, format: Format, out: &Output) {
    let f = match (out.json, format) {
        (true, _) | (_, Format::Json) => LabelFormat::Json,
        (false, Format::Stanag4774) => LabelFormat::Stanag4774,
        (false, Format::Spiffy) => LabelFormat::Spiffy,
    };
    print!("{}", label.write(f));
}

pub fn run(cmd: LabelCommand, out: &Output) -> Result<Code> {
    match cmd {
        LabelCommand::Render {
            policies,
            lang,
            label,
        } => {
            let set = policies.load()?;
            let l = read_label(&set, &label)?;
            let policy = set.find(&l.policy.id)?;
            if !policy.has_markings_in(&lang) {
                eprintln!(
                    "note: policy {} ({}) has no markings in '{lang}'; this is its default marking",
                    policy.name, policy.source_name
                );
            }
            let m = policy.render(&l, &lang)?;
            if out.json {
                print_ordered(&RenderJson {
                    marking: &m.text,
                    color: m.color.as_deref(),
                });
            } else {
                println!("{}", m.text);
            }
            Ok(Code::Ok)
        }
        LabelCommand::Parse {
            policies,
            marking,
            format,
            lang,
        } => {
            let set = policies.load()?;
            let mut first_err = None;
            for p in set.iter() {
                match p.parse_marking(&marking, &lang) {
                    Ok(l) => {
                        // Only a valid label is printed: an invalid one must not end
                        // up in a file as if it were usable.
                        let v = p.validate(&l)?;
                        if v.valid {
                            print_label(&l, format, out);
                            return Ok(Code::Ok);
                        }
                        if out.json {
                            crate::exit::print_error(
                                format!("the marking reads as a label policy {} forbids", p.name),
                                vec![],
                                Code::Negative,
                                crate::json::reasons("label", &v.reasons),
                            );
                        }
                        for r in &v.reasons {
                            eprintln!("invalid: {r}");
                        }
                        return Ok(Code::Negative);
                    }
                    Err(e) => {
                        first_err.get_or_insert(e);
                    }
                }
            }
            Err(first_err
                .map(anyhow::Error::from)
                .unwrap_or_else(|| anyhow::anyhow!("no policy loaded")))
        }
        LabelCommand::Check { policies, label } => {
            let set = policies.load()?;
            let l = read_label(&set, &label)?;
            let v = set.find(&l.policy.id)?.validate(&l)?;
            if out.json {
                print_ordered(&CheckJson {
                    valid: v.valid,
                    reasons: crate::json::reasons("label", &v.reasons),
                });
            } else if v.valid {
                println!("valid");
            } else {
                println!("invalid");
                for r in &v.reasons {
                    println!("  {r}");
                }
            }
            Ok(if v.valid { Code::Ok } else { Code::Negative })
        }
        LabelCommand::Decide {
            policies,
            clearance,
            label,
        } => {
            let set = policies.load()?;
            let l = read_label(&set, &label)?;
            let cbytes = read_bounded(&clearance)?;
            let cname = display_name(&clearance);
            let c = Clearance::read(&set, &cname, &cbytes)
                .map_err(|e| named(e, &cname, "clearance"))?;
            let d = decide(&c, &l);
            let word = if d.permit { "permit" } else { "deny" };
            if out.json {
                print_ordered(&DecideJson {
                    decision: word,
                    reasons: crate::json::reasons("clearance", &d.reasons),
                });
            } else {
                println!("{word}");
                for r in &d.reasons {
                    println!("  {r}");
                }
            }
            Ok(if d.permit { Code::Ok } else { Code::Negative })
        }
        LabelCommand::Translate {
            policies,
            to,
            format,
            label,
        } => {
            let set = policies.load()?;
            let l = read_label(&set, &label)?;
            let t = set.translate(&l, &to)?;
            print_label(&t, format, out);
            Ok(Code::Ok)
        }
    }
}

/// `render --json`, keys in the documented order.
#[derive(Serialize)]
struct RenderJson<'a> {
    marking: &'a str,
    color: Option<&'a str>,
}

/// `check --json`, keys in the documented order.
#[derive(Serialize)]
struct CheckJson {
    valid: bool,
    reasons: Vec<crate::json::Reason>,
}

/// `decide --json`, keys in the documented order.
#[derive(Serialize)]
struct DecideJson<'a> {
    decision: &'a str,
    reasons: Vec<crate::json::Reason>,
}

/// Print a struct as pretty JSON with its fields in declaration order (a
/// `serde_json::Value` would sort them).
fn print_ordered(value: &impl Serialize) {
    crate::exit::print_json(value)
}

// `--help` texts: examples stay under 76 columns, so that an 80-column terminal
// does not break them for copy and paste; prose is one line a paragraph, which clap
// wraps.
const RENDER_HELP: &str = "\
Examples:
  accord label render --policy policies label.xml
  accord label render --policy nato.xml --lang fr label.xml
  accord --json label render --policy policies label.xml

--json prints {\"marking\": \"...\", \"color\": \"...\"}.

Exit codes: 0 ok, 2 usage or input error.";

const PARSE_HELP: &str = "\
Examples:
  accord label parse --policy policies/usa.xml \"SECRET//REL TO USA, PAK\"
  accord label parse --policy policies \"SECRET//NOFORN\" --format json

With several policies, the first that reads the marking is used: in --policy order, and a directory's files in name order (policies/pak.xml before policies/usa.xml). Name the policy file to choose. Only a valid label is printed.

Exit codes: 0 valid label, 1 the marking reads as a label its policy forbids (reasons on stderr, nothing printed), 2 the marking cannot be read.";

const CHECK_HELP: &str = "\
Examples:
  accord label check --policy policies label.xml
  accord --json label check --policy policies label.xml

--json prints {\"valid\": bool, \"reasons\": [{\"rule\": \"label\", \"text\"}]}.

Exit codes: 0 valid, 1 invalid, 2 usage or input error.";

const DECIDE_HELP: &str = "\
Examples:
  accord label decide --policy policies --clearance secret.json label.xml
  accord --json label decide ...

--json prints {\"decision\": \"permit\" | \"deny\", \"reasons\": [{\"rule\": \"clearance\", \"text\"}]}.

Exit codes: 0 permit, 1 deny, 2 usage or input error.";

const TRANSLATE_HELP: &str = "\
Examples:
  accord label translate --policy policies/pak.xml \\
      --policy policies/usa.xml --to USA label.xml
  accord label translate --policy policies \\
      --to 1.3.6.1.4.1.32473.1.1 --format json label.xml

Exit codes: 0 ok, 2 usage or input error (including a value with no equivalent).";
