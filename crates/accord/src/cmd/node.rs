//! The party node's commands: `accord init`, `accord serve`, `accord node info`, and
//! `accord agreement load` and `list`'s work. The people of the node are `user.rs`'s.

use crate::exit::{Code, Output};
use crate::input::read_bounded;
use accord_node::directory;
use accord_node::home::{self, Home, InitOptions};
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use std::path::PathBuf;

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Create a node home: policies, keys, database, audit log and party.json.
#[derive(Args, Debug)]
#[command(
    after_help = "Example:\n  accord init --party PAK --dir /srv/accord/pak \\\n      --policy policies/pak.xml --policy policies/usa.xml \\\n      --listen 0.0.0.0:8443 --url https://accord.pak.example:8443 \\\n      --name Pakistan --authority \"Joint Staff Headquarters\"\n  accord init --party USA --dir usa --policy policies \\\n      --database postgres://accord@localhost/accord_usa\n  ACCORD_PKCS11_PIN=... accord init --party PAK --dir pak --policy policies \\\n      --pkcs11-module /usr/lib/softhsm/libsofthsm2.so --pkcs11-token accord-pak\n\n\
The national policy is the one named like the party (PAK); the others are those its labels translate from.\n\
Private keys (keys/*.key, log/.accord/) are written owner-only. DIR/party.json is what agreements take.\n\
With --pkcs11-token, the signing key's P-384 half and the KAS key's P-384 half are made in the token and never leave it; their ML-DSA-87 and ML-KEM-1024 halves stay in keys/. The PIN comes from --pkcs11-pin-file (owner-only) or ACCORD_PKCS11_PIN, never from the command line.\n\
Exit codes: 0 ok, 2 usage or input error (including an existing node home)."
)]
pub struct InitArgs {
    /// The party (ISO 3166 trigraph, e.g. PAK).
    #[arg(long, value_name = "CODE")]
    pub party: String,
    /// The node home to create (new or empty).
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// A SPIF file or a directory of them (repeatable).
    #[arg(long = "policy", value_name = "SPIF_OR_DIR", required = true)]
    pub policies: Vec<PathBuf>,
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = home::DEFAULT_LISTEN)]
    pub listen: String,
    /// The URL people and partners use (default https://LISTEN; required when --listen is on every address, 0.0.0.0 or [::]).
    #[arg(long, value_name = "PUBLIC_URL")]
    pub url: Option<String>,
    /// Database URL (default: embedded SQLite DIR/node.db); postgres://... for PostgreSQL.
    #[arg(long, value_name = "URL")]
    pub database: Option<String>,
    /// The party's name (default: the code).
    #[arg(long)]
    pub name: Option<String>,
    /// Who signs for the party (written in party.json).
    #[arg(long)]
    pub authority: Option<String>,
    /// Disk space kept free for the audit log and database, in MiB: deliveries that
    /// would eat into it are answered 507 and retried by their sender (node.toml
    /// disk_reserve_mib).
    #[arg(long, value_name = "MIB", default_value_t = accord_node::DEFAULT_RESERVE_MIB)]
    pub disk_reserve_mib: u64,
    /// The PKCS#11 module to keep keys in (node.toml [pkcs11] module), e.g.
    /// /usr/lib/softhsm/libsofthsm2.so.
    #[arg(long, value_name = "LIBRARY", requires = "pkcs11_token")]
    pub pkcs11_module: Option<PathBuf>,
    /// The label of the token in that module.
    #[arg(long, value_name = "LABEL", requires = "pkcs11_module")]
    pub pkcs11_token: Option<String>,
    /// A file holding the token's PIN, readable by its owner only (default: the
    /// ACCORD_PKCS11_PIN environment variable).
    #[arg(long, value_name = "FILE", requires = "pkcs11_module")]
    pub pkcs11_pin_file: Option<PathBuf>,
}

pub fn init(args: InitArgs, out: &Output) -> Result<Code> {
    let opts = InitOptions {
        party: args.party.clone(),
        name: args.name.clone(),
        authority: args.authority.clone(),
        policies: args.policies.clone(),
        listen: Some(args.listen.clone()),
        url: args.url.clone(),
        database: args.database.clone(),
        disk_reserve_mib: Some(args.disk_reserve_mib),
        pkcs11: match (&args.pkcs11_module, &args.pkcs11_token) {
            (Some(module), Some(token)) => Some(accord_node::custody::Pkcs11Config {
                module: module.clone(),
                token: token.clone(),
                pin_file: args.pkcs11_pin_file.clone(),
            }),
            _ => None,
        },
    };
    let party = runtime()?.block_on(home::init(&args.dir, &opts))?;
    let node = party.node.as_ref();
    if out.json {
        out.print_json(&serde_json::json!({
            "dir": args.dir.display().to_string(),
            "party": party.party,
            "url": node.map(|n| n.url.clone()),
            "tls_spki_sha256": node.map(|n| n.tls_spki_sha256.clone()),
            "log_verifier_key": node.map(|n| n.log_verifier_key.clone()),
            "party_json": args.dir.join("party.json").display().to_string(),
        }));
    } else {
        println!("created the {} node in {}", party.party, args.dir.display());
        if let Some(n) = node {
            println!("  url               {}", n.url);
            println!("  TLS pin (SHA-256) {}", n.tls_spki_sha256);
            println!("  audit log key     {}", n.log_verifier_key);
        }
        println!(
            "  party descriptor  {}",
            args.dir.join("party.json").display()
        );
        println!(
            "next: accord user add --dir {} ..., then accord serve --dir {}",
            args.dir.display(),
            args.dir.display()
        );
    }
    Ok(Code::Ok)
}

/// Run the node over HTTPS until SIGTERM or Ctrl-C.
#[derive(Args, Debug)]
#[command(
    after_help = "Example:\n  accord serve --dir /srv/accord/pak\n  RUST_LOG=debug accord serve --dir pak      # more detail\n\n\
Serves GET /health, the audit log under /log/ (checkpoint, tiles), and the person API under /v1/\n\
(docs/node-api.yaml). Logs are structured (tracing) on standard error; ACCORD_LOG_FORMAT=json for JSON lines.\n\
At start the node checks its audit log against what its partners' witnesses cosigned: behind or forked, it refuses to serve.\n\
Exit codes: 0 stopped cleanly, 1 the audit log is behind or a fork of what a partner witnessed, 2 usage, configuration or startup error."
)]
pub struct ServeArgs {
    /// The node home.
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
}

pub(crate) fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let json = std::env::var("ACCORD_LOG_FORMAT").is_ok_and(|v| v == "json");
    // Colour only on a terminal: a log redirected to a file gets no escape codes.
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = if json {
        b.json().try_init()
    } else {
        b.try_init()
    };
}

pub fn serve(args: ServeArgs, out: &Output) -> Result<Code> {
    init_tracing();
    match runtime()?.block_on(accord_node::server::serve(
        &args.dir,
        accord_node::server::ServeOptions::default(),
    )) {
        Ok(()) => Ok(Code::Ok),
        // The node refuses to serve (its audit log is behind, or a fork of, what a
        // partner's witness cosigned): a negative answer, not a usage error.
        Err(accord_node::Error::Refused(msg)) => {
            Ok(out.refused(&format!("error: {msg}"), &msg, vec![], Code::Negative))
        }
        Err(e) => Err(e.into()),
    }
}

/// The node itself.
#[derive(Subcommand, Debug)]
pub enum NodeCommand {
    /// Print the node's public party descriptor (party.json).
    #[command(
        after_help = "Example:\n  accord node info --dir /srv/accord/pak > pak-party.json\n\nparty.json goes to standard output; where each private key lives (a file, or a PKCS#11\ntoken, which is logged in to and checked), the database schema version (and the newest\nthis accord knows) and expiry warnings to standard error, read without changing the database.\n\nExit codes: 0 ok, 2 no node home."
    )]
    Info {
        /// The node home.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
    },
    /// Write a hardened systemd unit that runs this node as a service.
    Systemd(crate::cmd::service::SystemdArgs),
    /// Upgrade the database to this accord's schema, after a backup (node stopped).
    Migrate(crate::cmd::backup::MigrateArgs),
}

pub fn node(cmd: NodeCommand, out: &Output) -> Result<Code> {
    match cmd {
        NodeCommand::Info { dir } => {
            let home = Home::open(&dir)?;
            // party.json is JSON already: --json and text print the same document. It
            // does not depend on the database: the schema, read without migrating, goes
            // to standard error after it, and a database that cannot be read is said
            // there too, so that `node info > party.json` always gives the descriptor.
            print!("{}", home.party.to_json());
            let rt = runtime()?;
            match rt.block_on(home.schema()) {
                Ok((at, known)) => {
                    eprintln!("database schema {at} (this accord knows up to {known})");
                    // Only a database at this accord's schema is read (reading opens it,
                    // and an older one must be migrated first, with a backup).
                    if at == known {
                        expiry_warnings(&rt, &home);
                    }
                    if at > 0 && at < known {
                        eprintln!(
                            "an earlier accord made it: upgrade it with `accord node migrate --dir {} --backup FILE` before serving",
                            dir.display()
                        );
                    }
                }
                Err(e) => eprintln!("database schema unknown: {e}"),
            }
            custody_report(&home);
            Ok(Code::Ok)
        }
        NodeCommand::Systemd(args) => crate::cmd::service::systemd(args, out),
        NodeCommand::Migrate(args) => crate::cmd::backup::migrate(args, out),
    }
}

/// Where each private key lives (standard error), and, for a token, whether the node
/// can log in to it and finds its keys there.
fn custody_report(home: &Home) {
    for p in accord_node::key_places(home) {
        eprintln!("{p}");
    }
    if let Some(cfg) = &home.config.pkcs11 {
        match home.signing_key().and_then(|_| home.kas_ring()) {
            Ok(kas) => eprintln!(
                "token {:?} ({}): logged in; the signing key and {} KAS key(s) found and proved",
                cfg.token,
                cfg.module.display(),
                kas.len()
            ),
            Err(e) => eprintln!("warning: token {:?}: {e}", cfg.token),
        }
    }
}

/// What expires within 30 days (an agreement within 180), said on standard error by
/// `accord node info`: the node's certificates, agreements in force, people's
/// credentials.
fn expiry_warnings(rt: &tokio::runtime::Runtime, home: &Home) {
    const DAY: i64 = 86_400;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    for (what, file) in [("TLS certificate", "tls.crt"), ("CA certificate", "ca.crt")] {
        if let Some(t) = home.certificate_not_after(file) {
            if t - now < accord_node_api::wire::WARN_CERTIFICATE_DAYS * DAY {
                eprintln!(
                    "warning: the node's {what} expires {} ({}){}",
                    crate::cmd::status::in_days(t),
                    crate::json::time(t),
                    if file == "tls.crt" {
                        format!(
                            ": renew it with `accord key rotate --dir {} tls`",
                            home.layout.dir.display()
                        )
                    } else {
                        String::new()
                    }
                );
            }
        }
    }
    let found = rt.block_on(async {
        let held = {
            let store = home.store().await?;
            let r = accord_node::agreements::held(&store, &home.party, &home.history).await;
            store.close().await;
            r?
        };
        let people = directory::expiring(
            home,
            now,
            now + accord_node_api::wire::WARN_CERTIFICATE_DAYS * DAY,
        )
        .await?;
        Ok::<_, accord_node::Error>((held, people))
    });
    let (held, people) = match found {
        Ok(x) => x,
        Err(e) => {
            eprintln!("warning: could not check what expires: {e}");
            return;
        }
    };
    let at = accord_agreement::Time::now();
    for s in accord_node::agreements::states(&held, at) {
        let t = accord_agreement::Time::parse(&s.expires).map(|t| t.unix());
        if let (true, Ok(t)) = (s.status == "in-force", t) {
            if t - now < accord_node_api::wire::WARN_AGREEMENT_DAYS * DAY {
                eprintln!(
                    "warning: agreement {} expires {} ({}): the parties renew it (accord agreement renew)",
                    s.id,
                    crate::cmd::status::in_days(t),
                    s.expires
                );
            }
        }
    }
    tls_waiting_warning(home, &held);
    pending_rotation_warnings(home);
    for (person, t) in people {
        eprintln!(
            "warning: {person}'s credential expires {} ({}): accord user renew --dir {} --id {person} -o {person}.credential",
            crate::cmd::status::in_days(t),
            crate::json::time(t),
            home.layout.dir.display()
        );
    }
}

/// A rotation that stopped after it made its key (`keys/pending/KIND.key`): its
/// amendments may already be with partners, who then accept a key the node does not
/// use yet. Running it again finishes it.
fn pending_rotation_warnings(home: &Home) {
    let Ok(entries) = std::fs::read_dir(home.layout.keys().join("pending")) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        let Some(kind) = path
            .file_stem()
            .and_then(|s| s.to_str())
            .filter(|_| path.extension().is_some_and(|x| x == "key"))
        else {
            continue;
        };
        eprintln!(
            "warning: a {kind} key rotation did not finish ({}): run `accord key rotate --dir {} {kind}` again to finish it",
            path.display(),
            home.layout.dir.display()
        );
    }
}

/// A rotated TLS key that waits for partners' acknowledgement (`keys/tls.next.crt`):
/// said with when the old key's grace ends (the earliest of the amendments naming it),
/// by which time the running node presents it whatever was acknowledged.
fn tls_waiting_warning(home: &Home, held: &[accord_node::agreements::Held]) {
    use accord_agreement::amendment::{KeyKind, NewKey};
    let crt = home.layout.keys().join("tls.next.crt");
    let Ok(pem) = std::fs::read_to_string(&crt) else {
        return;
    };
    let pin = accord_node_api::pki::certs_from_pem(&pem)
        .ok()
        .and_then(|c| c.into_iter().next())
        .and_then(|der| accord_node_api::pki::spki_pin(&der).ok());
    let Some(pin) = pin else {
        eprintln!(
            "warning: {} does not hold a certificate: the node cannot switch to a rotated TLS key; run `accord key rotate --dir {} tls` again",
            crt.display(),
            home.layout.dir.display()
        );
        return;
    };
    let own = &home.config.party;
    let grace_ends = held
        .iter()
        .flat_map(|h| h.agreement.records.iter())
        .filter_map(|r| match &r.kind {
            accord_agreement::RecordKind::Amend {
                key: KeyKind::Tls,
                grace_until,
                new: NewKey::Tls { spki_sha256, .. },
                ..
            } if &r.party == own && spki_sha256.eq_ignore_ascii_case(&pin) => *grace_until,
            _ => None,
        })
        .min();
    eprintln!(
        "warning: TLS key {}… waits to be presented: the running node switches to it once every partner has acknowledged the amended agreements{}",
        &pin[..16],
        grace_ends
            .map(|t| format!(
                ", and 15 minutes before the old key's grace ends ({t}) at the latest"
            ))
            .unwrap_or_default()
    );
}

/// `accord agreement load --dir DIR agreement.toml`.
pub fn load_agreement(
    dir: &std::path::Path,
    file: &std::path::Path,
    draft: bool,
    out: &Output,
) -> Result<Code> {
    let home = Home::open(dir)?;
    let bytes = read_bounded(file)?;
    let text =
        String::from_utf8(bytes).with_context(|| format!("{} is not UTF-8", file.display()))?;
    if !draft {
        if let Some(msg) =
            accord_node::agreements::not_signed_by_all(&text, accord_agreement::Time::now())
        {
            return Ok(out.refused(&format!("error: {msg}"), &msg, vec![], Code::Negative));
        }
    }
    let rt = runtime()?;
    let loaded = rt.block_on(async {
        let store = home.store().await?;
        let r = accord_node::agreements::load(&store, &home.party, &home.history, &text).await;
        store.close().await;
        r
    });
    let loaded = match loaded {
        Ok(l) => l,
        Err(accord_node::Error::Refused(msg)) => {
            return Ok(out.refused(&format!("error: {msg}"), &msg, vec![], Code::Negative));
        }
        Err(e) => return Err(e.into()),
    };
    if out.json {
        out.print_json(&serde_json::json!({
            "loaded": true, "id": loaded.id, "version": loaded.version, "outcome": loaded.outcome,
            "records": loaded.records, "parties": loaded.parties,
        }));
    } else {
        println!(
            "agreement {} v{} ({}): {} at the {} node, {} records",
            loaded.id,
            loaded.version,
            loaded.parties.join(", "),
            loaded.outcome,
            home.config.party,
            loaded.records
        );
    }
    Ok(Code::Ok)
}

/// `accord agreement list`: the agreements the node holds, each with its status at `at`.
pub fn list_agreements(
    dir: &std::path::Path,
    at: accord_agreement::Time,
    out: &Output,
) -> Result<Code> {
    let home = Home::open(dir)?;
    let rt = runtime()?;
    let held = rt.block_on(async {
        let store = home.store().await?;
        let r = accord_node::agreements::held(&store, &home.party, &home.history).await;
        store.close().await;
        r
    })?;
    // The node's own view of each agreement (`GET /v1/status` shows the same), whose
    // reasons are already `{rule, text}`.
    let rows: Vec<serde_json::Value> = accord_node::agreements::states(&held, at)
        .iter()
        .map(|a| serde_json::to_value(a).unwrap_or_default())
        .collect();
    if out.json {
        out.print_json(&serde_json::Value::Array(rows));
        return Ok(Code::Ok);
    }
    if rows.is_empty() {
        println!("the {} node holds no agreement", home.config.party);
    }
    for r in &rows {
        let list = |k: &str| {
            r[k].as_array()
                .map(|v| {
                    v.iter()
                        .filter_map(|x| x.as_str())
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default()
        };
        println!(
            "{} v{}  {}  {}  {} .. {}  {}  {}",
            r["id"].as_str().unwrap_or(""),
            r["version"],
            r["status"].as_str().unwrap_or(""),
            list("parties"),
            r["effective_from"].as_str().unwrap_or(""),
            r["expires"].as_str().unwrap_or(""),
            list("scopes"),
            r["title"].as_str().unwrap_or(""),
        );
    }
    Ok(Code::Ok)
}
