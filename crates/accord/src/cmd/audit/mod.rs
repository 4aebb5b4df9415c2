//! `accord audit`: the tamper-evident audit log (C2SP tiled transparency log), its
//! proofs, verification and witness. All logic lives in `accord-log`.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;

use accord_log::checkpoint::SignedCheckpoint;
use accord_log::hash::leaf_hash;
use accord_log::merkle::{inclusion_proof, verify_inclusion};
use accord_log::note::VerifierKey;
use accord_log::proof::TlogProof;
use accord_log::source::{open_source_with_tls, read_entries, LogSource, TileNodes};
use accord_log::tile::MAX_ENTRY_SIZE;
use accord_log::verify::{fetch_checkpoint, verify_log, StateOutcome};
use accord_log::{Log, LogOptions};
use anyhow::{bail, Context, Result};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use clap::{Args, Subcommand};
use serde_json::json;

use crate::exit::{Code, Output};
use crate::input::read_bounded;

mod witness;

/// Audit log commands.
#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Create a new log in a directory with a fresh Ed25519 key; prints the verifier key.
    #[command(
        after_help = INIT_HELP
    )]
    Init(InitArgs),
    /// Append entries durably: one per FILE, or one per line of standard input; prints the indices.
    #[command(
        after_help = APPEND_HELP
    )]
    Append(AppendArgs),
    /// Print the log's current signed checkpoint.
    #[command(
        after_help = CHECKPOINT_HELP
    )]
    Checkpoint(LogArgs),
    /// Print entries of the log.
    #[command(
        after_help = SHOW_HELP
    )]
    Show(ShowArgs),
    /// Write a c2sp.org/tlog-proof@v1 file proving an entry is in the log.
    #[command(
        after_help = PROVE_HELP
    )]
    Prove(ProveArgs),
    /// Verify the whole log: every tile, the checkpoint signature, cosignatures, consistency with --state.
    #[command(
        after_help = VERIFY_HELP
    )]
    Verify(VerifyArgs),
    /// Verify a tlog-proof file offline.
    #[command(
        after_help = VERIFY_PROOF_HELP
    )]
    VerifyProof(VerifyProofArgs),
    /// Witness: cosign a partner's checkpoints after checking consistency (c2sp.org/tlog-witness).
    #[command(subcommand)]
    Witness(witness::WitnessCommand),
}

/// `--log DIR|URL`, and how to trust a log served over HTTPS by a node.
#[derive(Args, Debug)]
pub struct LogArgs {
    #[command(flatten)]
    pub choice: crate::profile::Choice,
    /// The log: a directory, or the URL prefix of a log served over HTTP(S).
    #[arg(long, value_name = "DIR|URL")]
    pub log: String,
    /// For a node's log (https://NODE/log/): trust the node by the TLS pin in this
    /// credential and present its certificate. Without it, ACCORD_CREDENTIAL is used when
    /// its node URL has the log's host and port.
    #[arg(long, value_name = "FILE")]
    pub credential: Option<PathBuf>,
    /// For an https:// log: trust the server whose TLS key (SubjectPublicKeyInfo) has this
    /// SHA-256, as party.json's node.tls_spki_sha256 gives it, instead of public CAs
    /// (repeatable; takes precedence over a credential).
    #[arg(long = "tls-pin", value_name = "SHA256HEX")]
    pub tls_pins: Vec<String>,
}

/// Host and port of an `https://` URL, lower-case, port 443 when none is written.
fn https_origin(url: &str) -> Option<String> {
    let rest = url
        .get(..8)
        .filter(|p| p.eq_ignore_ascii_case("https://"))
        .map(|_| &url[8..])?;
    let authority = rest.split(['/', '?', '#']).next()?.to_ascii_lowercase();
    let authority = authority.rsplit('@').next()?.to_string();
    let has_port = match authority.rfind(']') {
        Some(i) => authority[i..].contains(':'),
        None => authority.contains(':'),
    };
    Some(if has_port {
        authority
    } else {
        format!("{authority}:443")
    })
}

impl LogArgs {
    /// Open the log, over TLS pinned by `--tls-pin` or a credential when one applies.
    fn open(&self) -> Result<Box<dyn LogSource>> {
        crate::profile::init(&self.choice);
        let tls = if !self.tls_pins.is_empty() {
            let pins = self
                .tls_pins
                .iter()
                .map(|p| accord_node_api::tls::parse_pin(p))
                .collect::<Result<Vec<_>, _>>()
                .context("--tls-pin")?;
            Some(accord_node_api::tls::client_config(pins, None)?)
        } else {
            match crate::profile::credential(self.credential.as_deref())? {
                None => None,
                Some(chosen) => {
                    let file = accord_node_api::credential::CredentialFile::read(&chosen.path)?;
                    // A credential from the environment or a profile is there for
                    // `seal`/`open`: use it only for its own node's log, so that verifying
                    // another log is not pinned to the wrong key.
                    let same_node = https_origin(&self.log).is_some()
                        && https_origin(&self.log) == https_origin(file.node_url());
                    if chosen.source == crate::profile::Source::Flag || same_node {
                        let cred = crate::profile::unlock(&chosen)?;
                        Some(accord_node_api::tls::credential_client_config(&cred)?)
                    } else {
                        None
                    }
                }
            }
        };
        Ok(open_source_with_tls(&self.log, tls)?)
    }
}

#[derive(Args, Debug)]
pub struct InitArgs {
    /// Directory to create the log in.
    #[arg(long, value_name = "DIR")]
    pub log: PathBuf,
    /// The log's origin (checkpoint first line and key name), e.g. audit.pak.example/log1.
    #[arg(long)]
    pub origin: String,
}

#[derive(Args, Debug)]
pub struct AppendArgs {
    /// The log directory (this process becomes its writer until done).
    #[arg(long, value_name = "DIR")]
    pub log: PathBuf,
    /// Files to append, one entry each (at most 65535 bytes). Without files, each line
    /// of standard input is one entry.
    pub files: Vec<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ShowArgs {
    #[command(flatten)]
    pub log: LogArgs,
    /// First entry index to show.
    #[arg(long, default_value_t = 0)]
    pub since: u64,
    /// Most entries to show.
    #[arg(long)]
    pub limit: Option<u64>,
}

#[derive(Args, Debug)]
pub struct ProveArgs {
    #[command(flatten)]
    pub log: LogArgs,
    /// Index of the entry to prove.
    #[arg(long)]
    pub entry: u64,
    /// Where to write the proof file.
    #[arg(short = 'o', long = "output", value_name = "PROOF")]
    pub output: PathBuf,
    /// Overwrite PROOF if it exists.
    #[arg(long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub log: LogArgs,
    /// The log's verifier key (name+hash+base64).
    #[arg(long, value_name = "VKEY")]
    pub key: String,
    /// A witness whose cosignature the checkpoint must carry (repeatable).
    #[arg(long = "witness-key", value_name = "VKEY")]
    pub witness_keys: Vec<String>,
    /// File remembering the last verified checkpoint: the log must be consistent with it; updated on success.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct VerifyProofArgs {
    /// The tlog-proof file.
    pub proof: PathBuf,
    /// The log's verifier key.
    #[arg(long, value_name = "VKEY")]
    pub key: String,
    /// A witness whose cosignature the proof's checkpoint must carry (repeatable).
    #[arg(long = "witness-key", value_name = "VKEY")]
    pub witness_keys: Vec<String>,
}

/// Run an audit command.
pub fn run(cmd: AuditCommand, out: &Output) -> Result<Code> {
    match cmd {
        AuditCommand::Init(a) => init(a, out),
        AuditCommand::Append(a) => append(a, out),
        AuditCommand::Checkpoint(a) => checkpoint(a, out),
        AuditCommand::Show(a) => show(a, out),
        AuditCommand::Prove(a) => prove(a, out),
        AuditCommand::Verify(a) => verify(a, out),
        AuditCommand::VerifyProof(a) => verify_proof(a, out),
        AuditCommand::Witness(cmd) => witness::run(cmd, out),
    }
}

fn parse_key(s: &str, what: &str) -> Result<VerifierKey> {
    VerifierKey::parse(s).with_context(|| format!("{what} {s:?}"))
}

/// Report a verification failure: exit 1, or 2 when it is an input problem.
fn failure(e: accord_log::Error, out: &Output) -> Result<Code> {
    if !e.is_verification_failure() {
        return Err(e.into());
    }
    if out.json {
        out.print_json(&json!({"verified": false, "reasons": [crate::json::Reason::new("audit-log", e.to_string())]}));
    }
    let msg = e.to_string();
    eprintln!(
        "verification failed: {}",
        msg.trim_start_matches("verification failed: ")
    );
    Ok(Code::Negative)
}

fn init(a: InitArgs, out: &Output) -> Result<Code> {
    let key = accord_log::writer::create_log(&a.log, &a.origin)
        .with_context(|| format!("creating log in {}", a.log.display()))?;
    let vkey = key.verifier().to_string();
    if out.json {
        out.print_json(&json!({"log": a.log, "origin": a.origin, "verifier_key": vkey}));
    } else {
        println!("{vkey}");
    }
    Ok(Code::Ok)
}

fn append(a: AppendArgs, out: &Output) -> Result<Code> {
    let log = Log::open(&a.log, LogOptions::default())
        .with_context(|| format!("opening log {}", a.log.display()))?;
    let appender = log.appender();
    let mut indices = Vec::new();
    if a.files.is_empty() {
        let stdin = std::io::stdin();
        let mut reader = stdin.lock();
        let mut batch = Vec::new();
        let mut line = Vec::new();
        let mut line_no = 0u64;
        loop {
            line.clear();
            let n = reader
                .read_until(b'\n', &mut line)
                .context("reading standard input")?;
            if n == 0 {
                break;
            }
            line_no += 1;
            if line.last() == Some(&b'\n') {
                line.pop();
            }
            if line.len() > MAX_ENTRY_SIZE {
                bail!("standard input line {line_no}: {} bytes is larger than the {MAX_ENTRY_SIZE}-byte entry limit", line.len());
            }
            batch.push(line.clone());
            if batch.len() == 4096 {
                indices.extend(appender.append_many_blocking(std::mem::take(&mut batch))?);
            }
        }
        if !batch.is_empty() {
            indices.extend(appender.append_many_blocking(batch)?);
        }
    } else {
        let mut batch = Vec::new();
        for f in &a.files {
            let data = read_bounded(f)?;
            if data.len() > MAX_ENTRY_SIZE {
                bail!(
                    "{}: {} bytes is larger than the {MAX_ENTRY_SIZE}-byte entry limit",
                    f.display(),
                    data.len()
                );
            }
            batch.push(data);
        }
        indices.extend(appender.append_many_blocking(batch)?);
    }
    let cp = log.close()?;
    if out.json {
        out.print_json(&json!({
            "indices": indices,
            "size": cp.checkpoint.size,
            "root": B64.encode(cp.checkpoint.root),
        }));
    } else {
        for i in &indices {
            println!("{i}");
        }
    }
    Ok(Code::Ok)
}

fn checkpoint_json(cp: &SignedCheckpoint) -> serde_json::Value {
    json!({
        "origin": cp.checkpoint.origin,
        "size": cp.checkpoint.size,
        "root": B64.encode(cp.checkpoint.root),
        "signatures": cp.note.signatures.iter().map(|s| json!({"name": s.name, "key_id": format!("{:08x}", s.key_id)})).collect::<Vec<_>>(),
    })
}

fn checkpoint(a: LogArgs, out: &Output) -> Result<Code> {
    let src = a.open()?;
    let cp = fetch_checkpoint(src.as_ref())
        .with_context(|| format!("reading the checkpoint of {}", a.log))?;
    if out.json {
        out.print_json(&checkpoint_json(&cp));
    } else {
        print!("{}", String::from_utf8_lossy(&cp.note.to_bytes()));
    }
    Ok(Code::Ok)
}

fn entry_text(e: &[u8]) -> Option<&str> {
    std::str::from_utf8(e)
        .ok()
        .filter(|s| !s.chars().any(|c| c.is_control() && c != '\t'))
}

fn show(a: ShowArgs, out: &Output) -> Result<Code> {
    let src = a.log.open()?;
    let cp = fetch_checkpoint(src.as_ref())?;
    let size = cp.checkpoint.size;
    let start = a.since.min(size);
    let end = match a.limit {
        Some(l) => start.saturating_add(l).min(size),
        None => size,
    };
    let mut rows = Vec::new();
    read_entries(src.as_ref(), size, start, end, |i, e| {
        if out.json {
            let mut v =
                json!({"index": i, "leaf_hash": B64.encode(leaf_hash(e)), "data": B64.encode(e)});
            if let Some(t) = entry_text(e) {
                v["text"] = json!(t);
            }
            rows.push(v);
        } else {
            match entry_text(e) {
                Some(t) => println!("{i}\t{t}"),
                None => println!("{i}\tbase64:{}", B64.encode(e)),
            }
        }
    })?;
    if out.json {
        out.print_json(&json!({"origin": cp.checkpoint.origin, "size": size, "entries": rows}));
    }
    Ok(Code::Ok)
}

fn prove(a: ProveArgs, out: &Output) -> Result<Code> {
    let src = a.log.open()?;
    let cp = fetch_checkpoint(src.as_ref())?;
    let size = cp.checkpoint.size;
    if a.entry >= size {
        bail!(
            "entry {} is not in the log (its checkpoint has {size} entries)",
            a.entry
        );
    }
    let mut entry = Vec::new();
    read_entries(src.as_ref(), size, a.entry, a.entry + 1, |_, e| {
        entry = e.to_vec()
    })?;
    let proof = inclusion_proof(&mut TileNodes::new(src.as_ref(), size), a.entry, size)?;
    let p: Vec<Vec<u8>> = proof.iter().map(|h| h.to_vec()).collect();
    if let Err(e) = verify_inclusion(a.entry, size, &leaf_hash(&entry), &p, &cp.checkpoint.root) {
        return failure(
            accord_log::Error::Verify(format!(
                "the log's tiles do not prove entry {}: {e}",
                a.entry
            )),
            out,
        );
    }
    let file = TlogProof {
        extra: Some(entry),
        index: a.entry,
        proof,
        checkpoint: cp,
    };
    if !a.force && a.output.exists() {
        anyhow::bail!(
            "{} already exists: give --force to overwrite it, or another -o",
            a.output.display()
        );
    }
    std::fs::write(&a.output, file.to_bytes())
        .with_context(|| format!("writing {}", a.output.display()))?;
    if out.json {
        out.print_json(&json!({"index": a.entry, "size": size, "proof": a.output}));
    } else {
        println!(
            "wrote {} (entry {} in the tree of size {size})",
            a.output.display(),
            a.entry
        );
    }
    Ok(Code::Ok)
}

fn verify(a: VerifyArgs, out: &Output) -> Result<Code> {
    let key = parse_key(&a.key, "--key")?;
    let witnesses = a
        .witness_keys
        .iter()
        .map(|k| parse_key(k, "--witness-key"))
        .collect::<Result<Vec<_>>>()?;
    let src = a.log.open()?;
    let bar = if std::io::stderr().is_terminal() {
        let b = indicatif::ProgressBar::new(0);
        b.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} entries {per_sec} {eta}")
                .expect("valid template"),
        );
        Some(b)
    } else {
        None
    };
    let mut progress = |done: u64, total: u64| {
        if let Some(b) = &bar {
            b.set_length(total);
            b.set_position(done);
        }
    };
    let res = verify_log(
        src.as_ref(),
        &key,
        &witnesses,
        a.state.as_deref(),
        &mut progress,
    );
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let report = match res {
        Ok(r) => r,
        Err(e) => return failure(e, out),
    };
    let cp = &report.checkpoint.checkpoint;
    let cosigners: Vec<_> = report
        .signatures
        .iter()
        .filter_map(|s| s.timestamp.map(|t| json!({"name": s.key.name, "key_id": format!("{:08x}", s.key.key_id), "timestamp": crate::json::unix_time(t)})))
        .collect();
    let (state, from) = match report.state {
        StateOutcome::NotUsed => ("not-used", None),
        StateOutcome::Created => ("created", None),
        StateOutcome::Consistent { from } => ("consistent", Some(from)),
    };
    if out.json {
        out.print_json(&json!({
            "verified": true,
            "origin": cp.origin,
            "size": cp.size,
            "root": B64.encode(cp.root),
            "entries": report.entries,
            "tiles": report.tiles,
            "witnesses": cosigners,
            "state": state,
            "previous_size": from,
        }));
    } else {
        println!(
            "verified {} at size {} ({}, {})",
            cp.origin,
            cp.size,
            crate::exit::count(report.tiles, "tile", "tiles"),
            crate::exit::count(cosigners.len() as u64, "cosignature", "cosignatures")
        );
        if let Some(f) = from {
            println!("consistent with the checkpoint of size {f} verified before");
        }
        if matches!(report.state, StateOutcome::NotUsed) {
            // One verification alone checks the log against itself: a log rolled back
            // to an older checkpoint, or replaced by a fork, verifies as well.
            eprintln!(
                "note: without --state, this cannot see a rollback or a fork: a log rolled back to an older checkpoint verifies too; keep the checkpoint verified with --state FILE (or require a partner's --witness-key)"
            );
        }
    }
    Ok(Code::Ok)
}

fn verify_proof(a: VerifyProofArgs, out: &Output) -> Result<Code> {
    let key = parse_key(&a.key, "--key")?;
    let witnesses = a
        .witness_keys
        .iter()
        .map(|k| parse_key(k, "--witness-key"))
        .collect::<Result<Vec<_>>>()?;
    let data = read_bounded(&a.proof)?;
    let proof =
        TlogProof::parse(&data).with_context(|| format!("reading {}", a.proof.display()))?;
    let sigs = match proof.verify(&key, &witnesses, None) {
        Ok(s) => s,
        Err(e) => return failure(e, out),
    };
    let entry = proof.extra.clone().unwrap_or_default();
    let cp = &proof.checkpoint.checkpoint;
    let cosigners: Vec<_> = sigs
        .iter()
        .filter(|s| s.timestamp.is_some())
        .map(|s| s.key.name.clone())
        .collect();
    if out.json {
        let mut v = json!({
            "verified": true,
            "origin": cp.origin,
            "index": proof.index,
            "size": cp.size,
            "entry": B64.encode(&entry),
            "witnesses": cosigners,
        });
        if let Some(t) = entry_text(&entry) {
            v["text"] = json!(t);
        }
        out.print_json(&v);
    } else {
        println!(
            "verified: entry {} is in {} at size {}",
            proof.index, cp.origin, cp.size
        );
        match entry_text(&entry) {
            Some(t) => println!("{t}"),
            None => println!("base64:{}", B64.encode(&entry)),
        }
    }
    Ok(Code::Ok)
}

const INIT_HELP: &str = "\
Example:
  accord audit init --log /srv/audit --origin audit.pak.example/log1

Exit codes: 0 ok, 2 usage or input error.";

const APPEND_HELP: &str = "\
Example:
  echo 'permit alice doc-17' | accord audit append --log /srv/audit

Exit codes: 0 ok, 2 usage or input error.";

const CHECKPOINT_HELP: &str = "\
Example:
  accord audit checkpoint --log https://audit.pak.example/log1

Exit codes: 0 ok, 2 usage or input error.";

const SHOW_HELP: &str = "\
Example:
  accord audit show --log /srv/audit --since 100 --limit 10

Exit codes: 0 ok, 2 usage or input error.";

const PROVE_HELP: &str = "\
Example:
  accord audit prove --log /srv/audit --entry 17 -o entry17.tlog-proof

Exit codes: 0 ok, 1 the log's tiles do not prove the entry, 2 usage or input error.";

const VERIFY_HELP: &str = "\
Examples:
  accord audit verify --log https://audit.pak.example/log1 \\
      --key \"$VKEY\" --state pak.state
  accord audit verify --log https://node.pak.example:8443/log/ \\
      --key \"$VKEY\" --credential me.credential
  accord audit verify --log https://audit.example/usa/ \\
      --key \"$USA_VKEY\" --tls-pin \"$PIN\"   # a log served publicly

A party node serves its entries only to its officers and partners: verify its log
with an officer's --credential (--tls-pin alone reaches its checkpoint and hash tiles).

Exit codes: 0 verified, 1 verification failed (including a server that is not the pinned node), 2 usage or input error.";

const VERIFY_PROOF_HELP: &str = "\
Example:
  accord audit verify-proof entry17.tlog-proof --key \"$VKEY\"

Exit codes: 0 verified, 1 verification failed, 2 usage or input error.";

#[cfg(test)]
mod tests {
    use super::https_origin;

    #[test]
    fn origins_compare_host_and_port() {
        let o = |s: &str| https_origin(s);
        assert_eq!(
            o("https://127.0.0.1:8443/log/"),
            o("https://127.0.0.1:8443")
        );
        assert_eq!(
            o("HTTPS://Node.PAK.example/log"),
            o("https://node.pak.example:443")
        );
        assert_ne!(
            o("https://127.0.0.1:8443/log/"),
            o("https://127.0.0.1:8444")
        );
        assert_eq!(o("https://[::1]/log").as_deref(), Some("[::1]:443"));
        assert_eq!(o("https://[::1]:8443/log").as_deref(), Some("[::1]:8443"));
        assert_eq!(o("http://127.0.0.1:8443/log/"), None);
        assert_eq!(o("/srv/log"), None);
    }
}
