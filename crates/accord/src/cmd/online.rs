//! `accord seal --credential` and `accord open --credential`: sealing and opening
//! through the person's node (the logic is in `accord_node_api::client`).

use crate::cmd::open::OpenArgs;
use crate::cmd::seal::{failed, progress_bar, Bytes, Role, SealArgs, Sink};
use crate::exit::{count, Code, Output};
use crate::input::{display_name, read_bounded};
use accord_node_api::client::{self, Client};
use accord_node_api::wire;
use anyhow::{Context, Result};
use std::path::Path;

/// Connect with the credential `--credential` names, or else the environment or the
/// profile in use ([`crate::profile`]), unlocking it when a passphrase protects it.
pub(crate) fn connect(explicit: Option<&Path>) -> Result<Client> {
    let chosen = crate::profile::required(explicit)?;
    Ok(Client::new(crate::profile::unlock(&chosen)?)?)
}

/// What was asked of the node, for choosing the exit code of a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Asked {
    /// Key release (`open`): a refusal means no key was released, 3.
    Open,
    /// Labelling (`seal`): a refusal is a negative answer, 1.
    Seal,
    /// Exchange (`send`, `outbox`, `inbox`, `fetch`): a refusal is a negative answer, 1.
    Exchange,
}

/// How a node's error ends the command.
pub(crate) enum Outcome {
    /// Access denied with every reason (403): a negative answer (1), or no key released
    /// (3) for `open`.
    Denied(Vec<accord_node_api::wire::Reason>),
    /// The node, or a partner's KAS through it, refused in one line; the exit code is
    /// given.
    Refused(Refusal, Code),
    /// Anything else (transport, malformed request, the node's own failure): an error,
    /// exit 2.
    Error(accord_node::Error),
}

/// A refusal as the person reads it.
pub(crate) struct Refusal {
    /// The whole line: "the PAK node refused (422): the object names no agreement".
    pub line: String,
    /// The node's words and the status: "the object names no agreement (422)".
    pub text: String,
}

/// Sort a node error by what it means for the person: see [`Outcome`].
///
/// - denied (with or without reasons): a negative answer.
/// - `open`: a partner's KAS that could not be reached or refused
///   ([`Kind::PartnerFailed`]) is 3 (no key was released because a required KAS did not
///   release its share).
/// - `seal`: a required party that gets no key access under the label (checked on the
///   node's plan) is 1.
/// - `send`: [`Kind::Unacceptable`], the node checked the object and refused it, is 1
///   (with the rules it named, as a denial).
/// - everything else (a malformed request or unknown object, the node failing, no
///   answer) is 2.
pub(crate) fn outcome(e: accord_node::Error, asked: Asked) -> Outcome {
    use accord_node::Error;
    use accord_node_api::Kind;
    match e {
        Error::Denied(reasons) => Outcome::Denied(reasons),
        Error::NodeRefused {
            party,
            kind,
            status,
            error,
            reasons,
        } => {
            let refusal = |line: String| Refusal {
                line,
                text: format!("{error} ({status})"),
            };
            let whole = || format!("the {party} node refused ({status}): {error}");
            match (kind, asked) {
                // The node checked the object and refused it, naming the rules.
                (Kind::Unacceptable, Asked::Exchange) if !reasons.is_empty() => {
                    Outcome::Denied(reasons)
                }
                (Kind::Denied, Asked::Open) => Outcome::Refused(refusal(whole()), Code::NoKey),
                (Kind::Denied, _) | (Kind::Unacceptable, Asked::Exchange) => {
                    Outcome::Refused(refusal(whole()), Code::Negative)
                }
                (Kind::PartnerFailed, Asked::Open) => Outcome::Refused(
                    refusal(format!(
                        "no key released: a required share is missing: {error} (asked through the {party} node)"
                    )),
                    Code::NoKey,
                ),
                _ => Outcome::Error(Error::NodeRefused {
                    party,
                    kind,
                    status,
                    error,
                    reasons,
                }),
            }
        }
        // The plan leaves out a party the person required.
        Error::Refused(msg) if asked == Asked::Seal => Outcome::Refused(
            Refusal {
                line: msg.clone(),
                text: msg,
            },
            Code::Negative,
        ),
        other => Outcome::Error(other),
    }
}

/// Print a node error from `seal` or `open` and choose the exit code (see [`outcome`]):
/// access denied is 3 for `open` (no key released) and 1 for `seal`; an integrity
/// failure 1; anything else 2.
pub(crate) fn node_failed(
    e: accord_node::Error,
    asked: Asked,
    input: &Path,
    output: &Path,
    out: &Output,
) -> Result<Code> {
    if let accord_node::Error::Tdf(t) = e {
        let role = if asked == Asked::Open {
            Role::Open
        } else {
            Role::Seal
        };
        return Ok(failed(&t, role, input, output, out));
    }
    match outcome(e, asked) {
        Outcome::Denied(reasons) => {
            if out.json {
                out.print_json(&serde_json::json!({"decision": "deny", "reasons": crate::json::from_wire(&reasons)}));
            }
            eprintln!("{}", accord_node::Error::Denied(reasons));
            Ok(if asked == Asked::Open {
                Code::NoKey
            } else {
                Code::Negative
            })
        }
        Outcome::Refused(r, code) => {
            Ok(out.refused(&format!("error: {}", r.line), &r.line, vec![], code))
        }
        Outcome::Error(e) => Err(e.into()),
    }
}

pub(crate) fn seal(args: &SealArgs, cred: &Path, out: &Output) -> Result<Code> {
    let client = connect(Some(cred))?;
    let req = wire::SealPlanRequest {
        marking: args.label.clone(),
        label: match &args.label_file {
            Some(f) => Some(
                String::from_utf8(read_bounded(f)?)
                    .with_context(|| format!("{} is not UTF-8", f.display()))?,
            ),
            None => None,
        },
        agreement: args.agreement.clone(),
        choose_agreement: args.agreement.is_none() && !args.national,
    };
    let (input, total) = crate::cmd::seal::plaintext_input(&args.input)?;
    let pb = progress_bar(total, "sealing");
    let tick = |n: u64| {
        if let Some(pb) = &pb {
            pb.inc(n)
        }
    };
    let mut sink = Sink::new(&args.output, args.force, Bytes::Sealed)?;
    let require: Vec<String> = args
        .require
        .iter()
        .map(|p| p.to_ascii_uppercase())
        .collect();
    let result = client::seal_required(
        &client,
        &req,
        &require,
        input,
        sink.writer(),
        args.segment_size,
        Some(&tick),
    );
    if let Some(pb) = &pb {
        pb.finish_and_clear();
    }
    let done = match result {
        Ok(d) => d,
        Err(e) => return node_failed(e, Asked::Seal, &args.input, &args.output, out),
    };
    sink.commit()?;
    let parties: Vec<&str> = done
        .plan
        .recipients
        .iter()
        .map(|r| r.party.as_str())
        .collect();
    // Whether the node chose the agreement (none was named and --national not given).
    let chosen = req.choose_agreement && done.plan.agreement.is_some();
    if out.json {
        out.print_json(&serde_json::json!({
            "output": display_name(&args.output),
            "marking": done.plan.marking,
            "agreement": done.plan.agreement,
            "agreement_chosen": chosen,
            "key_access": done.plan.recipients.iter().map(|r| serde_json::json!({"party": r.party, "url": r.url})).collect::<Vec<_>>(),
            "excluded": crate::json::from_wire(&done.plan.excluded),
            "plaintext_size": done.summary.plaintext_size,
            "segments": done.summary.segments,
            "log_index": done.log_index,
        }));
    } else {
        match (&done.plan.agreement, req.choose_agreement) {
            (Some(a), true) => eprintln!(
                "under agreement {a}: the one agreement in force that covers this label (--agreement names another, --national none)"
            ),
            (None, true) => eprintln!(
                "under no agreement: none in force covers this label for a partner, so only {} has key access (--agreement names one)",
                client.credential().party
            ),
            _ => {}
        }
        if args.output != Path::new("-") {
            eprintln!(
                "sealed {} as {} into {} (key access: {}{})",
                count(done.summary.plaintext_size, "byte", "bytes"),
                done.plan.marking,
                display_name(&args.output),
                parties.join(", "),
                done.plan
                    .agreement
                    .as_ref()
                    .map(|a| format!("; agreement {a}"))
                    .unwrap_or_default()
            );
        }
        for r in &done.plan.excluded {
            eprintln!("  no key access for: {}", r.text);
        }
    }
    Ok(Code::Ok)
}

pub(crate) fn open(
    args: &OpenArgs,
    cred: &Path,
    range: Option<(u64, u64)>,
    out: &Output,
) -> Result<Code> {
    let client = connect(Some(cred))?;
    let (mut file, total) = crate::cmd::open::sealed_input(&args.input, range)?;
    let pb = progress_bar(total, "opening");
    let tick = |n: u64| {
        if let Some(pb) = &pb {
            pb.inc(n)
        }
    };
    let mut sink = Sink::new(&args.output, args.force, Bytes::Plaintext)?;
    let result = client::open(&client, &mut file, sink.writer(), range, Some(&tick));
    if let Some(pb) = &pb {
        pb.finish_and_clear();
    }
    let (summary, released) = match result {
        Ok(x) => x,
        Err(e) => return node_failed(e, Asked::Open, &args.input, &args.output, out),
    };
    sink.commit()?;
    if out.json {
        out.print_json(&serde_json::json!({
            "input": display_name(&args.input),
            "output": display_name(&args.output),
            "decision": "permit",
            "reasons": crate::json::from_wire(&released.reasons),
            "log_index": released.log_index,
            "label": {"marking": summary.marking, "policy": summary.label.policy},
            "signer": summary.signer.as_ref().map(|s| serde_json::json!({"alg": s.alg, "kid": s.kid})),
            "plaintext_size": summary.plaintext_size,
            "written": summary.written,
        }));
    } else if args.output != Path::new("-") {
        eprintln!(
            "opened {} ({}, {}): {} written to {}; permitted by the {} node, audit log entry {}",
            display_name(&args.input),
            summary.marking,
            signed_by(&summary),
            count(summary.written, "byte", "bytes"),
            args.output.display(),
            client.credential().party,
            released.log_index
        );
    }
    Ok(Code::Ok)
}

/// Who vouched for an opened object's label, in words.
pub(crate) fn signed_by(summary: &accord_tdf::OpenSummary) -> String {
    match &summary.signer {
        Some(s) => format!(
            "label signed by {} {}",
            s.alg,
            s.kid.get(..16).unwrap_or(&s.kid)
        ),
        None => "no signed label: decided by the node from the policy's attributes".into(),
    }
}
