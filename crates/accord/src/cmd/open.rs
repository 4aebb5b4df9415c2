//! `accord open`: check a sealed object and write its plaintext.

use crate::cmd::seal::{failed, progress_bar, Bytes, Role, Sink};
use crate::exit::{Code, Output};
use crate::input::{display_name, open_file, read_bounded};
use accord_keys::{PartyDescriptor, SigningPublicKeys, VerifyingKey};
use accord_tdf::OpenOptions;
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::{Path, PathBuf};

/// Check a sealed object (key shares, policy bindings, root signature, label signature,
/// label/policy agreement, every segment) and write its plaintext.
#[derive(Args, Debug)]
#[command(after_help = OPEN_HELP)]
pub struct OpenArgs {
    #[command(flatten)]
    pub choice: crate::profile::Choice,
    /// Offline: a KAS private key (kas.key) to unwrap key shares with (repeatable).
    #[arg(long = "kas-key", value_name = "FILE")]
    pub kas_key: Vec<PathBuf>,
    /// Open through your node with this credential: its KAS decides, logs and releases
    /// the key. Default: $ACCORD_CREDENTIAL, when neither --kas-key nor --trust-signer is
    /// given.
    #[arg(
        long,
        value_name = "ID.credential",
        conflicts_with_all = ["kas_key", "trust_signer"]
    )]
    pub credential: Option<PathBuf>,
    /// Offline: a trusted label signer: signing.pub or party.json (repeatable).
    #[arg(long = "trust-signer", value_name = "PUBFILE")]
    pub trust_signer: Vec<PathBuf>,
    /// Only the plaintext bytes START..END (END exclusive).
    #[arg(long, value_name = "START:END")]
    pub range: Option<String>,
    /// The sealed object (`-` for standard input).
    pub input: PathBuf,
    /// Where to write the plaintext (`-` for standard output).
    #[arg(short = 'o', long = "output", value_name = "OUTPUT")]
    pub output: PathBuf,
    /// Overwrite OUTPUT if it exists (and, for a sealed object, write it to a terminal).
    #[arg(long)]
    pub force: bool,
}

/// `open --help`: examples kept under 72 columns so that no terminal of 80 columns
/// breaks them; prose as one line a paragraph, which clap wraps.
const OPEN_HELP: &str = "\
Examples:
  accord open --credential usa-officer.credential report.tdf \\
      -o report.pdf
  accord open --kas-key keys/pak/kas.key \\
      --trust-signer keys/usa/party.json report.tdf -o report.pdf
  accord open --kas-key keys/pak/kas.key \\
      --trust-signer keys/usa/signing.pub --range 0:4096 report.tdf -o -

Give either --credential (through your node, which decides and logs) or --kas-key and --trust-signer (offline, with the party's own KAS key), not both. ACCORD_CREDENTIAL stands for --credential when neither offline flag is given.

Nothing is written unless every check passes; a file output appears only when complete. The summary line goes to standard error, and none is printed with -o - (the plaintext is on standard output); --json prints a summary on standard output.

Exit codes: 0 ok, 1 integrity or signature failure, 2 usage or input error, 3 no key could be released (a wrong or missing KAS key, a required share missing: through a node, access denied with every reason printed, or a partner's KAS that could not be reached or refused).";

fn parse_range(s: &str) -> Result<(u64, u64)> {
    let (a, b) = s.split_once(':').context("--range must be START:END")?;
    let a: u64 = a
        .trim()
        .parse()
        .with_context(|| format!("--range start `{a}` is not a number"))?;
    let b: u64 = b
        .trim()
        .parse()
        .with_context(|| format!("--range end `{b}` is not a number"))?;
    if a > b {
        bail!("--range start {a} is after end {b}");
    }
    Ok((a, b))
}

/// The sealed object as a seekable file (standard input is copied to a temporary file
/// first) and the number of plaintext bytes opening it will write, for the progress bar.
pub(crate) fn sealed_input(
    path: &Path,
    range: Option<(u64, u64)>,
) -> Result<(std::fs::File, Option<u64>)> {
    let mut file = if path == Path::new("-") {
        let mut t = tempfile::tempfile().context("creating a temporary file for standard input")?;
        std::io::copy(&mut std::io::stdin().lock(), &mut t).context("reading standard input")?;
        t
    } else {
        open_file(path, "a sealed object")?
    };
    let total = match range {
        Some((a, b)) => Some(b - a),
        None => accord_tdf::inspect(&mut file)
            .ok()
            .map(|i| i.manifest.plaintext_size()),
    };
    Ok((file, total))
}

/// Trusted signer keys from signing.pub or party.json files.
pub(crate) fn trusted_signers(paths: &[PathBuf]) -> Result<Vec<VerifyingKey>> {
    let mut keys = Vec::new();
    for p in paths {
        let bytes = read_bounded(p)?;
        let pair: SigningPublicKeys = if bytes.first() == Some(&b'{') {
            PartyDescriptor::from_json(&bytes)
                .with_context(|| format!("reading {}", p.display()))?
                .signing_public_keys()?
        } else {
            let text = std::str::from_utf8(&bytes)
                .with_context(|| format!("{} is not text", p.display()))?;
            SigningPublicKeys::from_pem(text).with_context(|| format!("reading {}", p.display()))?
        };
        keys.push(pair.classical);
    }
    Ok(keys)
}

pub fn run(args: OpenArgs, out: &Output) -> Result<Code> {
    crate::profile::init(&args.choice);
    let range = args.range.as_deref().map(parse_range).transpose()?;
    // clap refuses --credential together with an offline flag; a credential from the
    // environment gives way to offline flags.
    let offline = !args.kas_key.is_empty() || !args.trust_signer.is_empty();
    let credential = match &args.credential {
        Some(c) => Some(c.clone()),
        None if !offline => crate::profile::credential(None)?.map(|c| c.path),
        None => None,
    };
    if let Some(cred) = credential {
        return crate::cmd::online::open(&args, &cred, range, out);
    }
    if args.kas_key.is_empty() {
        bail!("give --kas-key (local KAS keys) or --credential (open through your node)");
    }
    let mut kas = Vec::new();
    for p in &args.kas_key {
        kas.push(accord_keys::load_kas_private(p)?);
    }
    let trusted = trusted_signers(&args.trust_signer)?;
    if trusted.is_empty() {
        bail!("give --trust-signer (the originator's signing.pub or party.json): the label's signature must be checked against a key you trust");
    }
    let (mut file, total) = sealed_input(&args.input, range)?;
    let pb = progress_bar(total, "opening");
    let tick = |n: u64| {
        if let Some(pb) = &pb {
            pb.inc(n)
        }
    };
    let opts = OpenOptions {
        kas_keys: &kas,
        released: &[],
        trusted_signers: &trusted,
        range,
        progress: Some(&tick),
        decided_unlabelled: None,
    };
    let mut sink = Sink::new(&args.output, args.force, Bytes::Plaintext)?;
    let result = accord_tdf::open(&mut file, sink.writer(), &opts);
    if let Some(pb) = &pb {
        pb.finish_and_clear();
    }
    let summary = match result {
        Ok(s) => s,
        Err(e) => return Ok(failed(&e, Role::Open, &args.input, &args.output, out)),
    };
    sink.commit()?;
    if out.json {
        out.print_json(&serde_json::json!({
            "input": display_name(&args.input),
            "output": display_name(&args.output),
            "label": {"marking": summary.marking, "policy": summary.label.policy},
            "signer": summary.signer.as_ref().map(|s| serde_json::json!({"alg": s.alg, "kid": s.kid})),
            "plaintext_size": summary.plaintext_size,
            "written": summary.written,
            "segments_decrypted": summary.segments_decrypted,
        }));
    } else if args.output != Path::new("-") {
        eprintln!(
            "opened {} ({}, {}): {} written to {}",
            display_name(&args.input),
            summary.marking,
            crate::cmd::online::signed_by(&summary),
            crate::exit::count(summary.written, "byte", "bytes"),
            args.output.display()
        );
    }
    Ok(Code::Ok)
}
