//! `accord backup`, `accord backup keygen`, `accord restore`, `accord node migrate`:
//! the operator's kit. Thin: the node's `backup` module takes and restores.

use crate::cmd::seal::{bar, Bytes, Sink};
use crate::exit::{Code, Output};
use accord_keys::{KasAlg, KasPrivateKey};
use accord_node::backup::{self, BackupOptions, Manifest, RestoreOptions};
use accord_node::home::Home;
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

const BACKUP_HELP: &str = "\
Examples:
  accord backup --dir /srv/accord/pak -o pak-2026-12-02.backup
  accord backup keygen --out /media/officer/recovery
  accord backup --dir pak --recovery-key recovery/recovery.pub \\
      -o pak.backup.enc
  accord restore pak.backup.enc --dir pak-restored \\
      --recovery-key recovery/recovery.key

The node may be running: the copy is consistent (the database first, the audit log after it, every file the database names). The backup holds the node's private keys: keep it as you keep them, or encrypt it to a recovery key kept offline (hybrid P-384 + ML-KEM-1024, AES-256-GCM). docs/operations.md, \"Backups and restore\".

Exit codes: 0 ok, 2 usage or input error (nothing written).";

/// Take a consistent backup of a node home, running or not (or make a recovery key).
#[derive(Args, Debug)]
#[command(
    after_help = BACKUP_HELP,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct BackupArgs {
    #[command(subcommand)]
    pub command: Option<BackupCommand>,
    /// The node home.
    #[arg(long, value_name = "DIR", required = true)]
    pub dir: Option<PathBuf>,
    /// Where to write the backup (`-`: standard output, not a terminal).
    #[arg(short = 'o', long = "output", value_name = "FILE", required = true)]
    pub output: Option<PathBuf>,
    /// Encrypt to this recovery public key (`accord backup keygen`).
    #[arg(long, value_name = "RECOVERY.pub")]
    pub recovery_key: Option<PathBuf>,
    /// Replace an existing output file.
    #[arg(long)]
    pub force: bool,
}

#[derive(Subcommand, Debug)]
pub enum BackupCommand {
    /// Make a recovery key pair: backups are encrypted to its public half.
    #[command(
        after_help = "Example:\n  accord backup keygen --out /media/officer/recovery\n\nWrites recovery.key (owner-only; keep it offline, as the officer keeps\nthe party's keys) and recovery.pub (give it to `accord backup`).\n\nExit codes: 0 ok, 2 usage error (a file exists: --force)."
    )]
    Keygen {
        /// The directory to write recovery.key and recovery.pub into.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Replace existing files.
        #[arg(long)]
        force: bool,
    },
}

pub fn backup(args: BackupArgs, out: &Output) -> Result<Code> {
    if let Some(BackupCommand::Keygen { out: dir, force }) = args.command {
        return keygen(&dir, force, out);
    }
    let (Some(dir), Some(output)) = (args.dir, args.output) else {
        bail!("--dir and -o are needed");
    };
    let recipient = match &args.recovery_key {
        Some(p) => Some(accord_keys::load_kas_public(p)?),
        None => None,
    };
    let (manifest, bytes, secs) = take(&dir, &output, args.force, recipient.as_ref())?;
    let encrypted = recipient.as_ref().map(|k| k.kid());
    if out.json {
        out.print_json(&summary(&manifest, &output, bytes, secs, encrypted));
    } else if output != Path::new("-") {
        eprintln!(
            "backed up {} to {}: database schema {} ({}), audit log of {} entries, {} files, {} in {:.1} s{}",
            manifest.party,
            output.display(),
            manifest.schema,
            manifest.database,
            manifest.log_size,
            manifest.members.len(),
            human(bytes),
            secs,
            match &encrypted {
                Some(kid) => format!(", encrypted to recovery key {}", &kid[..kid.len().min(16)]),
                None => ", not encrypted: it holds the node's private keys".into(),
            }
        );
    }
    Ok(Code::Ok)
}

/// Take the backup of `dir` into `output`; the manifest, bytes written and seconds.
pub(crate) fn take(
    dir: &Path,
    output: &Path,
    force: bool,
    recipient: Option<&accord_keys::KasPublicKey>,
) -> Result<(Manifest, u64, f64)> {
    let mut sink = Sink::new(output, force, Bytes::Sealed)?;
    let t0 = Instant::now();
    let pb = bar(
        None,
        "backing up",
        "{msg} {spinner} {bytes} {bytes_per_sec} {elapsed}",
    );
    let written = std::sync::atomic::AtomicU64::new(0);
    let tick = |n: u64| {
        written.store(n, std::sync::atomic::Ordering::Relaxed);
        if let Some(pb) = &pb {
            if t0.elapsed().as_secs() >= 1 {
                pb.set_position(n);
            }
        }
    };
    let opts = BackupOptions {
        recovery_key: recipient,
        progress: Some(&tick),
    };
    let result = {
        let w = sink.writer();
        runtime()?.block_on(backup::take(dir, w, &opts))
    };
    if let Some(pb) = &pb {
        pb.finish_and_clear();
    }
    let manifest = result?;
    sink.commit()?;
    Ok((
        manifest,
        written.load(std::sync::atomic::Ordering::Relaxed),
        t0.elapsed().as_secs_f64(),
    ))
}

fn summary(
    m: &Manifest,
    output: &Path,
    bytes: u64,
    secs: f64,
    encrypted: Option<String>,
) -> serde_json::Value {
    serde_json::json!({
        "file": output.display().to_string(),
        "party": m.party,
        "node_url": m.node_url,
        "created": m.created,
        "database": m.database,
        "schema": m.schema,
        "log_size": m.log_size,
        "members": m.members.len(),
        "bytes": bytes,
        "seconds": (secs * 1000.0).round() / 1000.0,
        "encrypted_to": encrypted,
    })
}

fn human(n: u64) -> String {
    if n >= 1 << 20 {
        format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64)
    } else {
        format!("{:.1} KiB", n as f64 / 1024.0)
    }
}

fn keygen(dir: &Path, force: bool, out: &Output) -> Result<Code> {
    let key = KasPrivateKey::generate(KasAlg::HybridP384MlKem1024)?;
    let (k, p) = (dir.join("recovery.key"), dir.join("recovery.pub"));
    for f in [&k, &p] {
        if f.exists() && !force {
            bail!(
                "{} already exists: give --force to overwrite it, or another --out",
                f.display()
            );
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for f in [&k, &p] {
        if f.exists() {
            std::fs::remove_file(f).with_context(|| format!("replacing {}", f.display()))?;
        }
    }
    accord_keys::write_private_file(&k, key.to_pem()?.as_bytes())?;
    accord_keys::write_public_file(&p, key.public_key().to_pem().as_bytes())?;
    let kid = key.public_key().kid();
    if out.json {
        out.print_json(&serde_json::json!({
            "private": k.display().to_string(),
            "public": p.display().to_string(),
            "kid": kid,
            "alg": key.alg().as_str(),
        }));
    } else {
        println!(
            "recovery key {kid}: {} (keep it offline) and {}",
            k.display(),
            p.display()
        );
    }
    Ok(Code::Ok)
}

const RESTORE_HELP: &str = "\
Examples:
  accord restore pak.backup --dir /srv/accord/pak-restored \\
      --signer pak-party.json
  accord restore pak.backup.enc --dir pak2 --signer pak-party.json \\
      --recovery-key recovery/recovery.key
  accord restore pak.backup --dir pak2 --signer pak-party.json \\
      --database postgres://accord@db.pak.example/accord_pak2
  accord restore pak.backup --check --signer pak-party.json

Every member is checked against the backup's manifest (size, SHA-256), and the manifest against the signature of the party's node, before anything is written; a truncated, changed or forged backup is refused, naming what is wrong. --signer is a copy of the party's party.json you trust (the one your agreements carry, kept with the recovery key): not the one inside the backup, which whoever wrote the backup chose. --check without --signer checks the members only, and says so. The directory must be new or empty (--force replaces what it holds). A backup of a PostgreSQL node is restored into the empty database --database names (pg_restore).

The restored node serves only if its audit log is not behind what partners' witnesses cosigned: a backup older than that would fork the log, and `accord serve` refuses it (exit 1). docs/operations.md, \"Backups and restore\".

Exit codes: 0 ok, 1 the backup is damaged or was changed, 2 usage or input error.";

/// Rebuild a node home from a backup (into a new or empty directory).
#[derive(Args, Debug)]
#[command(after_help = RESTORE_HELP)]
pub struct RestoreArgs {
    /// The backup file.
    #[arg(value_name = "BACKUP")]
    pub input: PathBuf,
    /// The node home to make.
    #[arg(long, value_name = "DIR", required_unless_present = "check")]
    pub dir: Option<PathBuf>,
    /// Only check the backup (every member against its manifest); write nothing.
    #[arg(long, conflicts_with_all = ["dir", "database", "force"])]
    pub check: bool,
    /// For a backup of a PostgreSQL node: the empty database to restore into.
    #[arg(long, value_name = "URL")]
    pub database: Option<String>,
    /// The recovery private key an encrypted backup needs.
    #[arg(long, value_name = "RECOVERY.key")]
    pub recovery_key: Option<PathBuf>,
    /// Replace what a non-empty DIR holds.
    #[arg(long)]
    pub force: bool,
    /// The party's party.json, from a copy you trust: the backup's manifest must carry
    /// its node's signature (needed to restore; optional with --check).
    #[arg(long, value_name = "PARTY.json", required_unless_present = "check")]
    pub signer: Option<PathBuf>,
}

pub fn restore(args: RestoreArgs, out: &Output) -> Result<Code> {
    let key = match &args.recovery_key {
        Some(p) => Some(accord_keys::load_kas_private(p)?),
        None => None,
    };
    let signer = match &args.signer {
        Some(p) => Some(accord_keys::load_party(p)?.signing_public_keys()?),
        None => None,
    };
    if args.check {
        return match backup::check(&args.input, key.as_ref(), signer.as_ref()) {
            Ok(m) => {
                let signed = signer.is_some();
                if out.json {
                    out.print_json(&serde_json::json!({
                        "file": args.input.display().to_string(),
                        "party": m.party,
                        "created": m.created,
                        "database": m.database,
                        "schema": m.schema,
                        "log_size": m.log_size,
                        "members": m.members.len(),
                        "signature_checked": signed,
                    }));
                } else {
                    println!(
                        "{}: a backup of {} taken {}, database schema {} ({}), audit log of {} entries, {} files: every one as its manifest says; {}",
                        args.input.display(),
                        printable(&m.party),
                        printable(&m.created),
                        m.schema,
                        printable(&m.database),
                        m.log_size,
                        m.members.len(),
                        if signed {
                            "the manifest is signed by the party's node"
                        } else {
                            "the manifest's signature was not checked (give --signer PARTY.json)"
                        }
                    );
                }
                Ok(Code::Ok)
            }
            Err(accord_node::Error::Refused(msg)) => {
                let line = format!("{}: {msg}", args.input.display());
                Ok(out.refused(&format!("error: {line}"), &line, vec![], Code::Negative))
            }
            Err(e) => Err(e.into()),
        };
    }
    let Some(dir) = args.dir.clone() else {
        bail!("--dir is needed (or --check)");
    };
    let Some(signer) = signer.as_ref() else {
        bail!("--signer PARTY.json is needed to restore");
    };
    let opts = RestoreOptions {
        recovery_key: key.as_ref(),
        signer,
        database: args.database.clone(),
        force: args.force,
    };
    let pb = bar(None, "checking and restoring", "{msg} {spinner} {elapsed}");
    if let Some(pb) = &pb {
        pb.enable_steady_tick(std::time::Duration::from_millis(200));
    }
    let result = runtime()?.block_on(backup::restore(&args.input, &dir, &opts));
    if let Some(pb) = &pb {
        pb.finish_and_clear();
    }
    let r = match result {
        Ok(r) => r,
        Err(accord_node::Error::Refused(msg)) => {
            let line = format!("{}: {msg}", args.input.display());
            return Ok(out.refused(&format!("error: {line}"), &line, vec![], Code::Negative));
        }
        Err(e) => return Err(e.into()),
    };
    let m = &r.manifest;
    if out.json {
        out.print_json(&serde_json::json!({
            "dir": dir.display().to_string(),
            "party": m.party,
            "created": m.created,
            "database": m.database,
            "schema": m.schema,
            "log_size": r.log_size,
            "members": m.members.len(),
            "signature_checked": true,
        }));
    } else {
        println!(
            "restored {} into {}: backup of {}, database schema {}, audit log of {} entries",
            printable(&m.party),
            dir.display(),
            printable(&m.created),
            m.schema,
            r.log_size
        );
    }
    eprintln!(
        "Before starting it: the restored log has {} entries. If a partner's witness has cosigned more of this log since the backup, `accord serve` refuses to serve it (a fork): restore a newer backup, or recover the newer log.",
        r.log_size
    );
    Ok(Code::Ok)
}

/// `accord node migrate`: a backup first (or --no-backup), then the migrations.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  systemctl stop accord-pak\n  accord node migrate --dir /srv/accord/pak --backup pak-pre-upgrade.backup\n  accord node migrate --dir pak --no-backup    # a backup taken already\n\nUpgrades the database of a node an earlier accord made to this accord's schema, after taking a backup (as `accord backup` does). The node must be stopped. `accord serve` refuses a database older than itself until this is done.\n\nExit codes: 0 ok (or nothing to do), 2 usage or input error, a running node, or a failed migration (rolled back).",
    group = clap::ArgGroup::new("first").required(true).args(["backup", "no_backup"])
)]
pub struct MigrateArgs {
    /// The node home.
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// Take a backup into FILE first.
    #[arg(long, value_name = "FILE")]
    pub backup: Option<PathBuf>,
    /// Encrypt that backup to this recovery public key.
    #[arg(long, value_name = "RECOVERY.pub", requires = "backup")]
    pub recovery_key: Option<PathBuf>,
    /// Migrate without a backup (you have one).
    #[arg(long)]
    pub no_backup: bool,
}

pub fn migrate(args: MigrateArgs, out: &Output) -> Result<Code> {
    let home = Home::open(&args.dir)?;
    let rt = runtime()?;
    let (at, known) = rt.block_on(home.schema())?;
    if at > known {
        bail!(
            "the database has schema {at}, newer than this accord's ({known}): a newer accord upgraded it; run that one"
        );
    }
    if at == known {
        if out.json {
            out.print_json(&serde_json::json!({"schema_before": at, "schema": at, "backup": null}));
        } else {
            println!("the database is at schema {at}: nothing to migrate");
        }
        return Ok(Code::Ok);
    }
    let lock = home.layout.log().join(".accord/lock");
    if let Ok(f) = std::fs::File::open(&lock) {
        #[allow(clippy::incompatible_msrv)]
        if f.try_lock().is_err() {
            bail!(
                "the node in {} is running: stop it first (systemctl stop ...)",
                args.dir.display()
            );
        }
    }
    let mut file = None;
    if let Some(path) = &args.backup {
        let recipient = match &args.recovery_key {
            Some(p) => Some(accord_keys::load_kas_public(p)?),
            None => None,
        };
        let (m, bytes, _) = take(&args.dir, path, false, recipient.as_ref())?;
        if !out.json {
            eprintln!(
                "backed up {} (schema {}) to {} ({})",
                m.party,
                m.schema,
                path.display(),
                human(bytes)
            );
        }
        file = Some(path.display().to_string());
    }
    let (before, after) = rt.block_on(home.migrate())?;
    if out.json {
        out.print_json(
            &serde_json::json!({"schema_before": before, "schema": after, "backup": file}),
        );
    } else {
        println!("migrated the database from schema {before} to {after}");
    }
    let _ = std::io::stdout().flush();
    Ok(Code::Ok)
}

/// A string a backup's manifest gave, fit for a terminal: control characters (escape
/// sequences a crafted backup could carry) shown as `?`.
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}
