//! `accord inspect`: what a sealed object says about itself, without any key.

use crate::cmd::seal::{failed, Role};
use crate::exit::{Code, Output};
use crate::input::open_file;
use anyhow::{Context, Result};
use clap::Args;
use std::path::{Path, PathBuf};

/// Show a sealed object's label, signer, key access entries, segments and sizes.
#[derive(Args, Debug)]
#[command(
    after_help = INSPECT_HELP
)]
pub struct InspectArgs {
    /// The sealed object (`-` for standard input).
    pub input: PathBuf,
}

pub fn run(args: InspectArgs, out: &Output) -> Result<Code> {
    let mut file = if args.input == Path::new("-") {
        let mut t = tempfile::tempfile().context("creating a temporary file for standard input")?;
        std::io::copy(&mut std::io::stdin().lock(), &mut t).context("reading standard input")?;
        t
    } else {
        open_file(&args.input, "a sealed object")?
    };
    let i = match accord_tdf::inspect(&mut file) {
        Ok(i) => i,
        Err(e) => return Ok(failed(&e, Role::Open, &args.input, Path::new("-"), out)),
    };
    let m = &i.manifest;
    let ii = &m.encryption_information.integrity_information;
    let kas: Vec<serde_json::Value> = m
        .encryption_information
        .key_access
        .iter()
        .map(|k| serde_json::json!({"type": k.key_type, "url": k.url, "kid": k.kid, "sid": k.sid}))
        .collect();
    let attributes: Vec<String> = m
        .policy_object()
        .map(|p| {
            p.body
                .data_attributes
                .into_iter()
                .map(|a| a.attribute)
                .collect()
        })
        .unwrap_or_default();
    if out.json {
        out.print_json(&serde_json::json!({
            "schema_version": m.schema_version,
            "label": {
                "marking": i.marking,
                "policy": i.label.as_ref().map(|l| l.policy.clone()),
                "xml": i.label_xml,
            },
            "signer": i.signer.as_ref().map(|s| serde_json::json!({"alg": s.alg, "kid": s.kid})),
            "agreement": i.agreement,
            "attributes": attributes,
            "key_access": kas,
            "segments": ii.segments.len(),
            "segment_size": ii.segment_size_default,
            "plaintext_size": m.plaintext_size(),
            "payload_size": i.layout.payload.size,
            "container_size": i.layout.file_size,
            "mime_type": m.payload.mime_type,
        }));
    } else {
        println!(
            "schemaVersion {}",
            if m.schema_version.is_empty() {
                "(none: a TDF from before 4.3.0)"
            } else {
                &m.schema_version
            }
        );
        println!("marking       {}", i.marking.as_deref().unwrap_or("(none)"));
        println!(
            "policy        {}",
            i.label
                .as_ref()
                .map(|l| l.policy.as_str())
                .unwrap_or("(none)")
        );
        if let Some(a) = &i.agreement {
            println!("agreement     {a}");
        }
        match &i.signer {
            Some(s) => println!(
                "signer        {} kid {} (not verified: use accord open)",
                s.alg, s.kid
            ),
            None => println!("signer        (none)"),
        }
        for a in &attributes {
            println!("attribute     {a}");
        }
        for k in &m.encryption_information.key_access {
            println!(
                "key access    {} {} kid {} sid {}",
                k.key_type,
                k.url,
                if k.kid.is_empty() {
                    "-"
                } else {
                    k.kid.get(..16).unwrap_or(&k.kid)
                },
                if k.sid.is_empty() { "-" } else { &k.sid }
            );
        }
        println!(
            "segments      {} of {} bytes",
            ii.segments.len(),
            ii.segment_size_default
        );
        println!("plaintext     {} bytes", m.plaintext_size());
        println!("container     {} bytes", i.layout.file_size);
    }
    Ok(Code::Ok)
}

// `--help` texts: examples stay under 76 columns, so that an 80-column terminal
// does not break them for copy and paste; prose is one line a paragraph, which clap
// wraps.
const INSPECT_HELP: &str = "\
Examples:
  accord inspect report.tdf
  accord --json inspect report.tdf

--json prints {\"schema_version\", \"label\": {\"marking\", \"policy\", \"xml\"}, \"signer\", \"agreement\", \"key_access\": [...], \"segments\", \"plaintext_size\", ...} (docs/json.md). Nothing is verified (inspect holds no key): `accord open` checks the signature.

Exit codes: 0 ok, 2 usage or input error (not a sealed object).";
