//! `accord seal --credential` and `accord open --credential`: sealing and opening
//! through the person's node (the logic is in `accord_node::client`).

use crate::cmd::open::OpenArgs;
use crate::cmd::seal::{failed, progress_bar, SealArgs, Sink};
use crate::exit::{Code, Output};
use crate::input::{display_name, read_bounded};
use accord_node::client::{self, Client};
use accord_node::credential::Credential;
use accord_node::wire;
use anyhow::{Context, Result};
use std::path::Path;

/// Connect with a credential file.
pub(crate) fn connect(path: &Path) -> Result<Client> {
    let cred = Credential::load(path)?;
    Ok(Client::new(cred)?)
}

/// Print a node error and choose the exit code: a refusal with reasons is 3 (no key
/// released), an integrity failure 1, anything else 2.
pub(crate) fn node_failed(e: accord_node::Error, out: &Output) -> Result<Code> {
    match e {
        accord_node::Error::Denied(reasons) => {
            if out.json {
                out.print_json(&serde_json::json!({"decision": "deny", "reasons": reasons}));
            }
            eprintln!("{}", accord_node::Error::Denied(reasons));
            Ok(Code::NoKey)
        }
        accord_node::Error::Tdf(t) => Ok(failed(&t)),
        other => Err(other.into()),
    }
}

pub(crate) fn seal(args: &SealArgs, cred: &Path, out: &Output) -> Result<Code> {
    let client = connect(cred)?;
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
    };
    let (input, total) = crate::cmd::seal::plaintext_input(&args.input)?;
    let pb = progress_bar(total, "sealing");
    let tick = |n: u64| {
        if let Some(pb) = &pb {
            pb.inc(n)
        }
    };
    let mut sink = Sink::new(&args.output)?;
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
        Err(e) => return node_failed(e, out),
    };
    sink.commit()?;
    let parties: Vec<&str> = done
        .plan
        .recipients
        .iter()
        .map(|r| r.party.as_str())
        .collect();
    if out.json {
        out.print_json(&serde_json::json!({
            "output": display_name(&args.output),
            "marking": done.plan.marking,
            "agreement": done.plan.agreement,
            "keyAccess": done.plan.recipients.iter().map(|r| serde_json::json!({"party": r.party, "url": r.url})).collect::<Vec<_>>(),
            "excluded": done.plan.excluded,
            "plaintextSize": done.summary.plaintext_size,
            "segments": done.summary.segments,
            "logIndex": done.log_index,
        }));
    } else {
        eprintln!(
            "sealed {} bytes as {} into {} (key access: {}{})",
            done.summary.plaintext_size,
            done.plan.marking,
            display_name(&args.output),
            parties.join(", "),
            done.plan
                .agreement
                .as_ref()
                .map(|a| format!("; agreement {a}"))
                .unwrap_or_default()
        );
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
    let client = connect(cred)?;
    let (mut file, total) = crate::cmd::open::sealed_input(&args.input, range)?;
    let pb = progress_bar(total, "opening");
    let tick = |n: u64| {
        if let Some(pb) = &pb {
            pb.inc(n)
        }
    };
    let mut sink = Sink::new(&args.output)?;
    let result = client::open(&client, &mut file, sink.writer(), range, Some(&tick));
    if let Some(pb) = &pb {
        pb.finish_and_clear();
    }
    let (summary, released) = match result {
        Ok(x) => x,
        Err(e) => return node_failed(e, out),
    };
    sink.commit()?;
    if out.json {
        out.print_json(&serde_json::json!({
            "input": display_name(&args.input),
            "output": display_name(&args.output),
            "decision": "permit",
            "reasons": released.reasons,
            "logIndex": released.log_index,
            "label": {"marking": summary.marking, "policy": summary.label.policy},
            "signer": {"alg": summary.signer.alg, "kid": summary.signer.kid},
            "plaintextSize": summary.plaintext_size,
            "written": summary.written,
        }));
    } else if args.output != Path::new("-") {
        eprintln!(
            "opened {} ({}): {} bytes written to {}; permitted by the {} node, audit log entry {}",
            display_name(&args.input),
            summary.marking,
            summary.written,
            args.output.display(),
            client.credential().party,
            released.log_index
        );
    }
    Ok(Code::Ok)
}
