//! `accord audit witness`: a witness of other parties' audit logs (serve), and asking
//! one to cosign this log's checkpoint (submit). Kept apart from the rest of `audit`, which reads,
//! proves and verifies the log itself; both call `accord-log`.

use super::{failure, parse_key};
use crate::exit::{Code, Output};
use accord_log::note::VerifierKey;
use accord_log::source::DirSource;
use accord_log::{Log, LogOptions};
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde_json::json;
use std::path::{Path, PathBuf};

/// Witness commands.
#[derive(Subcommand, Debug)]
pub enum WitnessCommand {
    /// Run a witness HTTP server (POST /add-checkpoint).
    #[command(
        after_help = WITNESS_SERVE_HELP
    )]
    Serve(ServeArgs),
    /// Ask a witness to cosign the log's checkpoint; adds the cosignature to the checkpoint.
    #[command(
        after_help = WITNESS_SUBMIT_HELP
    )]
    Submit(SubmitArgs),
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Witness state directory (key and last cosigned checkpoint per log).
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// Address to listen on, e.g. 127.0.0.1:8080.
    #[arg(long, value_name = "ADDR")]
    pub listen: String,
    /// Verifier key of a log to witness (repeatable).
    #[arg(long, value_name = "VKEY", required = true)]
    pub trust: Vec<String>,
    /// Name of the witness key when it is created on first start.
    #[arg(long, default_value = "witness.accord.example")]
    pub name: String,
}

#[derive(Args, Debug)]
pub struct SubmitArgs {
    /// The log directory.
    #[arg(long, value_name = "DIR")]
    pub log: PathBuf,
    /// The witness URL (submission prefix).
    #[arg(long, value_name = "URL")]
    pub witness: String,
    /// The witness's verifier key.
    #[arg(long = "witness-key", value_name = "VKEY")]
    pub witness_key: String,
}

/// Run a witness command.
pub fn run(cmd: WitnessCommand, out: &Output) -> Result<Code> {
    match cmd {
        WitnessCommand::Serve(a) => serve(a, out),
        WitnessCommand::Submit(a) => submit(a, out),
    }
}

fn serve(a: ServeArgs, out: &Output) -> Result<Code> {
    let trusted = a
        .trust
        .iter()
        .map(|k| parse_key(k, "--trust"))
        .collect::<Result<Vec<_>>>()?;
    let w = accord_log::witness::Witness::open(&a.dir, &a.name, trusted)?;
    let vkey = w.verifier().to_string();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&a.listen)
            .await
            .with_context(|| format!("listening on {}", a.listen))?;
        let addr = listener.local_addr()?;
        if out.json {
            println!(
                "{}",
                json!({"witness_key": vkey, "listen": addr.to_string()})
            );
        } else {
            println!("witness key: {vkey}");
            println!("listening on {addr}");
        }
        use std::io::Write as _;
        std::io::stdout().flush()?;
        let app = accord_log::http::witness_router(std::sync::Arc::new(w));
        // SIGTERM or Ctrl-C stops it cleanly (exit 0), as `accord serve` does.
        axum::serve(listener, app)
            .with_graceful_shutdown(accord_node::server::wait_for_signal())
            .await
            .context("serving")?;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(Code::Ok)
}

fn hint_path(log: &Path, key: &VerifierKey) -> PathBuf {
    log.join(".accord")
        .join(format!("witness-{:08x}.size", key.key_id))
}

fn submit(a: SubmitArgs, out: &Output) -> Result<Code> {
    let wkey = parse_key(&a.witness_key, "--witness-key")?;
    let log = Log::open(&a.log, LogOptions::default())
        .with_context(|| format!("opening log {}", a.log.display()))?;
    let cp = log.publish_now()?;
    let hint_file = hint_path(&a.log, &wkey);
    let hint = std::fs::read_to_string(&hint_file)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    let src = DirSource::new(&a.log);
    let res = accord_log::http::submit_checkpoint(&a.witness, &wkey, &cp, &src, hint);
    let sub = match res {
        Ok(s) => s,
        Err(e) => {
            log.close()?;
            return failure(e, out);
        }
    };
    let size = cp.checkpoint.size;
    log.add_cosignatures(size, sub.cosignatures)?;
    log.close()?;
    std::fs::write(&hint_file, format!("{size}\n"))
        .with_context(|| format!("writing {}", hint_file.display()))?;
    if out.json {
        out.print_json(&json!({"cosigned": true, "witness": wkey.name, "size": size, "previous_size": sub.previous_size}));
    } else {
        println!(
            "cosigned by {} at size {size} (consistent from size {})",
            wkey.name, sub.previous_size
        );
    }
    Ok(Code::Ok)
}

// `--help` texts: examples stay under 76 columns, so that an 80-column terminal
// does not break them for copy and paste; prose is one line a paragraph, which clap
// wraps.
const WITNESS_SERVE_HELP: &str = "\
Example:
  accord audit witness serve --dir /srv/witness \\
      --listen 0.0.0.0:8443 --trust \"$PARTNER_LOG_VKEY\"

Exit codes: 0 stopped (SIGTERM or Ctrl-C), 2 usage or input error.";

const WITNESS_SUBMIT_HELP: &str = "\
Example:
  accord audit witness submit --log /srv/audit \\
      --witness https://witness.usa.example --witness-key \"$WVKEY\"

Exit codes: 0 cosigned, 1 the witness refused, 2 usage or input error.";
