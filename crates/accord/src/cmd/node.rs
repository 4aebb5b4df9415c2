//! The party node's commands: `accord init`, `accord serve`, `accord node info`,
//! `accord user add|suspend|resume|list`, and `accord agreement load`'s work.

use crate::exit::{Code, Output};
use crate::input::read_bounded;
use accord_node::directory::{self, Enrolment};
use accord_node::home::{self, Home, InitOptions};
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use std::path::PathBuf;

fn runtime() -> Result<tokio::runtime::Runtime> {
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

/// People of the node: enrol, suspend, resume, list.
#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Enrol a person and write their credential bundle (certificate, key, node pin).
    #[command(
        after_help = "Example:\n  accord user add --dir pak --id pak-officer --name \"Maj. A. Khan\" \\\n      --nationality PAK --clearance clearances/secret.json \\\n      --scope EXERCISES,TRAINING -o pak-officer.credential\n\n\
The clearance is a clearance file (JSON or spiffy XML) under the node's national policy.\n\
The credential file is written owner-only; it is the person's only key to the node: hand it over securely.\n\
Exit codes: 0 ok, 2 usage or input error (including an id already enrolled)."
    )]
    Add(UserAddArgs),
    /// Issue a new credential to a person already enrolled (before the old one expires).
    #[command(
        after_help = "Example:\n  accord user renew --dir pak --id pak-officer -o pak-officer-2027.credential\n\n\
The new credential is valid for node.toml's credential_validity_days (365 by default). The old one stays valid until it expires, so the person can change over without a gap. `accord node info` names the people whose credentials expire within 30 days.\n\n\
Exit codes: 0 ok, 2 usage or input error (no such person, the file exists without --force)."
    )]
    Renew(UserRenewArgs),
    /// Revoke a person's credentials at once (a lost or compromised one): refused from
    /// the node's next request on, for good.
    #[command(
        after_help = "Example:\n  accord user revoke --dir pak --id pak-officer            # every credential\n  accord user revoke --dir pak --id pak-officer \\\n      --credential lost.credential                          # only that one\n\n\
A revoked credential is refused on its next request, also by a running node (\"this credential has been revoked\"). Unlike `user suspend`, it cannot be undone: give the person a new one with `accord user renew`. --credential names the credential by its file (its certificate's SHA-256), --fingerprint by the SHA-256 itself (`accord credential show`).\n\n\
Exit codes: 0 ok, 2 usage or input error (no such person, no such credential not revoked already)."
    )]
    Revoke(UserRevokeArgs),
    /// Suspend a person: every request is denied until resumed.
    #[command(
        after_help = "Example:\n  accord user suspend --dir pak --id pak-officer\n\nExit codes: 0 ok, 2 no such person."
    )]
    Suspend {
        /// The node home.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// The person.
        #[arg(long)]
        id: String,
    },
    /// Resume a suspended person.
    #[command(
        after_help = "Example:\n  accord user resume --dir pak --id pak-officer\n\nExit codes: 0 ok, 2 no such person."
    )]
    Resume {
        /// The node home.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// The person.
        #[arg(long)]
        id: String,
    },
    /// Give a person a role: member, officer or custodian (logged in the audit log).
    #[command(
        after_help = "Example:\n  accord user role --dir pak --id pak-officer --role officer\n\n\
A member sees and sends what they are entitled to; an officer also manages people and agreements, opens equipment accounts and reads the node's audit log; a custodian keeps equipment accounts. The change takes effect on the person's next request, also at a running node, and goes into the audit log as a `directory` entry.\n\n\
Exit codes: 0 ok, 2 usage or input error (no such person, no such role)."
    )]
    Role {
        /// The node home.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// The person.
        #[arg(long)]
        id: String,
        /// `member`, `officer` or `custodian`.
        #[arg(long, value_name = "ROLE", value_parser = parse_role)]
        role: accord_agreement::Role,
    },
    /// Issue a person their equipment signing key (ES384 + ML-DSA-87): custodians,
    /// holders and witnesses sign equipment records with it.
    #[command(
        after_help = "Example:\n  accord user signing-key --dir pak --id pak-custodian -o pak-custodian.signing.key\n\n\
The node keeps the public keys; the private key file is written owner-only: hand it over with the person's credential (the equipment commands look for it beside the credential, as ID.signing.key). A new key replaces the old one for records signed from now on.\n\n\
Exit codes: 0 ok, 2 usage or input error (no such person, the file exists)."
    )]
    SigningKey {
        /// The node home.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// The person.
        #[arg(long)]
        id: String,
        /// Where to write the private key.
        #[arg(short = 'o', long = "output", value_name = "ID.signing.key")]
        output: PathBuf,
        /// Replace the file if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Issue a person OpenTDF client credentials (client_id and secret), which an
    /// OpenTDF SDK exchanges at the node's token endpoint for an access token.
    #[command(
        name = "opentdf-client",
        after_help = "Example:\n  accord user opentdf-client --dir pak --id pak-analyst -o pak-analyst.opentdf.json\n\n\
The file (owner-only) holds the platform endpoint, the token endpoint, the client id and the secret; the node keeps only the secret's hash, so the file is the only copy: hand it over as you would a credential. `accord user revoke` (all of a person's credentials) revokes their clients too.\n\n\
Exit codes: 0 ok, 2 usage or input error (no such person, the file exists)."
    )]
    OpentdfClient {
        /// The node home.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// The person.
        #[arg(long)]
        id: String,
        /// Where to write the client credentials.
        #[arg(short = 'o', long = "output", value_name = "ID.opentdf.json")]
        output: PathBuf,
        /// Replace the file if it exists.
        #[arg(long)]
        force: bool,
    },
    /// List the people of the node.
    #[command(
        after_help = "Example:\n  accord user list --dir pak\n  accord --json user list --dir pak\n  # [{\"id\", \"name\", \"party\", \"nationality\", \"clearance\",\n  #   \"scopes\", \"status\", \"role\"}]\n\nExit codes: 0 ok, 2 no node home."
    )]
    List {
        /// The node home.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
    },
}

/// Arguments of `accord user add`.
#[derive(Args, Debug)]
pub struct UserAddArgs {
    /// The node home.
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// Identifier (letters, digits, '-', '_', '.', '@').
    #[arg(long)]
    pub id: String,
    /// Name.
    #[arg(long)]
    pub name: String,
    /// Nationality (ISO 3166 trigraph).
    #[arg(long, value_name = "CODE")]
    pub nationality: String,
    /// Clearance file (JSON or spiffy XML) under the national policy.
    #[arg(long, value_name = "CLEARANCE_FILE")]
    pub clearance: PathBuf,
    /// Scopes the person works in.
    #[arg(long = "scope", value_name = "S,...", value_delimiter = ',')]
    pub scopes: Vec<String>,
    /// What they may do at the node: `member` (see and send what they are entitled
    /// to), `officer` (also manage people and agreements, read the audit log) or
    /// `custodian` (also keep equipment accounts).
    #[arg(long, value_name = "ROLE", default_value = "member", value_parser = parse_role)]
    pub role: accord_agreement::Role,
    /// Where to write the credential for the browser (PKCS#12, with the node CA's
    /// certificate), to sign in to the console; by default beside the credential, as
    /// ID.p12.
    #[arg(long, value_name = "ID.p12")]
    pub p12: Option<PathBuf>,
    /// The PKCS#12 file's passphrase, from this file (owner-only). Without it, a new
    /// random passphrase is written to ID.p12.passphrase (owner-only): hand it over
    /// apart from the file.
    #[arg(long, value_name = "FILE")]
    pub p12_passphrase_file: Option<PathBuf>,
    /// Where to write the credential bundle.
    #[arg(short = 'o', long = "output", value_name = "ID.credential")]
    pub output: PathBuf,
    /// Overwrite the credential file if it exists (the person's old credential stays
    /// valid until they are suspended or removed).
    #[arg(long)]
    pub force: bool,
}

/// Arguments of `accord user renew`.
#[derive(Args, Debug)]
pub struct UserRenewArgs {
    /// The node home.
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// The person.
    #[arg(long)]
    pub id: String,
    /// Where to write the credential for the browser (PKCS#12, with the node CA's
    /// certificate), to sign in to the console; by default beside the credential, as
    /// ID.p12.
    #[arg(long, value_name = "ID.p12")]
    pub p12: Option<PathBuf>,
    /// The PKCS#12 file's passphrase, from this file (owner-only). Without it, a new
    /// random passphrase is written to ID.p12.passphrase (owner-only): hand it over
    /// apart from the file.
    #[arg(long, value_name = "FILE")]
    pub p12_passphrase_file: Option<PathBuf>,
    /// Where to write the new credential bundle.
    #[arg(short = 'o', long = "output", value_name = "ID.credential")]
    pub output: PathBuf,
    /// Overwrite the file if it exists.
    #[arg(long)]
    pub force: bool,
}

/// Arguments of `accord user revoke`.
#[derive(Args, Debug)]
pub struct UserRevokeArgs {
    /// The node home.
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// The person.
    #[arg(long)]
    pub id: String,
    /// Revoke only this credential (read for its certificate; no passphrase needed).
    #[arg(long, value_name = "ID.credential", conflicts_with = "fingerprint")]
    pub credential: Option<PathBuf>,
    /// Revoke only the credential whose certificate has this SHA-256 (hex).
    #[arg(long, value_name = "SHA256")]
    pub fingerprint: Option<String>,
}

/// `accord user revoke`.
fn revoke(rt: &tokio::runtime::Runtime, a: UserRevokeArgs, out: &Output) -> Result<Code> {
    let home = Home::open(&a.dir)?;
    let fingerprint = match (&a.credential, &a.fingerprint) {
        (Some(path), _) => {
            let f = accord_node_api::credential::CredentialFile::read(path)?;
            if f.person() != a.id || f.party() != home.config.party {
                anyhow::bail!(
                    "{} is {}'s credential from the {} node, not {}'s of this node",
                    path.display(),
                    f.person(),
                    f.party(),
                    a.id
                );
            }
            Some(f.fingerprint()?)
        }
        (None, Some(hex)) => {
            let hex = hex.trim().to_ascii_lowercase();
            if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                anyhow::bail!("--fingerprint {hex}: give the certificate's SHA-256, 64 hex digits");
            }
            Some(hex)
        }
        (None, None) => None,
    };
    let (person, n) = rt.block_on(directory::revoke(&home, &a.id, fingerprint.as_deref()))?;
    if out.json {
        let mut v = person_json(&person);
        v["revoked"] = serde_json::json!(n);
        out.print_json(&v);
    } else {
        println!(
            "revoked {} of {}'s credentials at the {} node: refused from its next request on (a new one: accord user renew)",
            n, person.id, person.party
        );
    }
    Ok(Code::Ok)
}

/// `accord user renew`.
fn renew(rt: &tokio::runtime::Runtime, a: UserRenewArgs, out: &Output) -> Result<Code> {
    let home = Home::open(&a.dir)?;
    if a.output.exists() && !a.force {
        anyhow::bail!(
            "{} already exists: give --force to overwrite it, or another -o",
            a.output.display()
        );
    }
    let (person, cred) = rt.block_on(directory::renew(&home, &a.id))?;
    if a.force && a.output.exists() {
        // Replaced whole (a temporary file renamed over it): a failed write leaves the
        // old file, never none.
        cred.unprotected().replace(&a.output)?;
    } else {
        cred.save(&a.output)?;
    }
    let browser = crate::cmd::browser_files::BrowserFiles::of(
        &a.output,
        a.p12.as_deref(),
        a.p12_passphrase_file.as_deref(),
    );
    browser.write(&home, &cred, a.force)?;
    let not_after = cred.not_after()?;
    let until = crate::json::time(not_after);
    if out.json {
        let mut v = person_json(&person);
        v["credential"] = serde_json::json!(a.output.display().to_string());
        v["not_after"] = serde_json::json!(until);
        browser.json(&mut v);
        out.print_json(&v);
    } else {
        println!(
            "issued a new credential to {} at the {} node, valid until {until}; written to {} (owner-only)",
            person.id,
            person.party,
            a.output.display()
        );
        browser.say();
    }
    Ok(Code::Ok)
}

/// What expires within 30 days (an agreement within 180), said on standard error by
/// `accord node info`: the node's certificates, agreements in force, people's
/// credentials.
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

/// A rotated TLS key that waits for partners' acknowledgement (`keys/tls.next.crt`):
/// said with when the old key's grace ends (the earliest of the amendments naming it),
/// by which time the running node presents it whatever was acknowledged.
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

fn person_json(p: &accord_node::PersonRecord) -> serde_json::Value {
    serde_json::json!({
        "id": p.id,
        "name": p.name,
        "party": p.party,
        "nationality": p.nationality,
        "clearance": serde_json::from_str::<serde_json::Value>(&p.clearance).unwrap_or(serde_json::Value::Null),
        "scopes": p.scopes,
        "status": p.status,
        "role": p.role,
    })
}

/// `--role`: a role by name.
fn parse_role(s: &str) -> Result<accord_agreement::Role, String> {
    accord_agreement::Role::parse(s)
}

pub fn user(cmd: UserCommand, out: &Output) -> Result<Code> {
    let rt = runtime()?;
    match cmd {
        UserCommand::Add(a) => {
            let home = Home::open(&a.dir)?;
            if a.output.exists() && !a.force {
                anyhow::bail!(
                    "{} already exists: give --force to overwrite it, or another -o",
                    a.output.display()
                );
            }
            let bytes = read_bounded(&a.clearance)?;
            let e = Enrolment {
                id: a.id.clone(),
                name: a.name.clone(),
                nationality: a.nationality.clone(),
                clearance: (a.clearance.display().to_string(), bytes),
                scopes: a.scopes.clone(),
                role: a.role,
            };
            let (person, cred) = rt.block_on(directory::add(&home, &e))?;
            if a.force {
                // The file is made anew (owner-only): the old one goes first.
                let _ = std::fs::remove_file(&a.output);
            }
            if let Err(err) = cred.save(&a.output) {
                let _ = rt.block_on(async {
                    let s = home.store().await?;
                    s.remove_person(&person.id).await
                });
                return Err(err.into());
            }
            let browser = crate::cmd::browser_files::BrowserFiles::of(
                &a.output,
                a.p12.as_deref(),
                a.p12_passphrase_file.as_deref(),
            );
            browser.write(&home, &cred, a.force)?;
            if out.json {
                let mut v = person_json(&person);
                v["credential"] = serde_json::json!(a.output.display().to_string());
                browser.json(&mut v);
                out.print_json(&v);
            } else {
                println!(
                    "enrolled {} ({}, {}, {}) at the {} node; credential written to {} (owner-only)",
                    person.id,
                    person.name,
                    person.nationality,
                    person.role,
                    person.party,
                    a.output.display()
                );
                browser.say();
            }
            Ok(Code::Ok)
        }
        UserCommand::Renew(a) => renew(&rt, a, out),
        UserCommand::SigningKey {
            dir,
            id,
            output,
            force,
        } => {
            drop(rt);
            crate::cmd::equipment::issue_signing_key(&dir, &id, &output, force, out)
        }
        UserCommand::OpentdfClient {
            dir,
            id,
            output,
            force,
        } => {
            drop(rt);
            crate::cmd::opentdf::issue_client(&dir, &id, &output, force, out)
        }
        UserCommand::Revoke(a) => revoke(&rt, a, out),
        UserCommand::Suspend { dir, id } => set_status(&rt, &dir, &id, false, out),
        UserCommand::Resume { dir, id } => set_status(&rt, &dir, &id, true, out),
        UserCommand::Role { dir, id, role } => {
            let home = Home::open(&dir)?;
            let p = rt.block_on(directory::set_role(&home, &id, role))?;
            if out.json {
                out.print_json(&person_json(&p));
            } else {
                println!("{} is {} {}", p.id, article(&p.role), p.role);
            }
            Ok(Code::Ok)
        }
        UserCommand::List { dir } => {
            let home = Home::open(&dir)?;
            let people = rt.block_on(directory::list(&home))?;
            if out.json {
                out.print_json(&serde_json::Value::Array(
                    people.iter().map(person_json).collect(),
                ));
            } else if people.is_empty() {
                println!("no people enrolled");
            } else {
                for p in &people {
                    println!(
                        "{:<20} {:<10} {:<8} {:<4} {:<30} {}",
                        p.id,
                        p.status,
                        p.role,
                        p.nationality,
                        p.name,
                        p.scopes.join(",")
                    );
                }
            }
            Ok(Code::Ok)
        }
    }
}

/// `a` or `an` before a role.
fn article(role: &str) -> &'static str {
    if role.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

fn set_status(
    rt: &tokio::runtime::Runtime,
    dir: &std::path::Path,
    id: &str,
    active: bool,
    out: &Output,
) -> Result<Code> {
    let home = Home::open(dir)?;
    let p = rt.block_on(directory::set_status(&home, id, active))?;
    if out.json {
        out.print_json(&person_json(&p));
    } else {
        println!("{} is {}", p.id, p.status);
    }
    Ok(Code::Ok)
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
