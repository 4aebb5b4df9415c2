//! `accord node systemd`: a hardened systemd unit for a node home, so that a node runs
//! as a service of its own user, with nothing writable but its home and nothing it does
//! not need (no new privileges, no devices, no kernel tunables, a system-call filter).
//! The unit committed under `packaging/systemd/` is this command's output for
//! `/srv/accord/node`, checked by a test.

use crate::exit::{Code, Output};
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::{Path, PathBuf};

/// Arguments of `accord node systemd`.
#[derive(Args, Debug)]
#[command(
    after_help = "Example:\n  accord node systemd --dir /srv/accord/pak --user accord \\\n      -o /etc/systemd/system/accord-pak.service\n  systemctl daemon-reload && systemctl enable --now accord-pak\n\nThe unit runs `accord serve --dir DIR` as USER (create it first: useradd --system\n--home-dir DIR accord; chown -R accord: DIR), with DIR the only writable path, JSON\nlogs to the journal, and a restart on failure. docs/operations.md says more.\n\nExit codes: 0 ok, 2 usage or input error (no node home, an existing -o file without --force)."
)]
pub struct SystemdArgs {
    /// The node home.
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// The system user the node runs as.
    #[arg(long, value_name = "USER", default_value = "accord")]
    pub user: String,
    /// The accord binary the unit starts (default: this one).
    #[arg(long, value_name = "PATH")]
    pub binary: Option<PathBuf>,
    /// Where to write the unit (default: standard output).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Overwrite FILE if it exists.
    #[arg(long)]
    pub force: bool,
}

/// Write or print the unit.
pub fn systemd(args: SystemdArgs, out: &Output) -> Result<Code> {
    let home = accord_node::home::Home::open(&args.dir)?;
    let dir = std::path::absolute(&args.dir)
        .with_context(|| format!("{}: absolute path", args.dir.display()))?;
    let binary = match args.binary {
        Some(b) => b,
        None => std::env::current_exe().context("the path of this accord binary")?,
    };
    if let Some(p) = home.config.pkcs11.as_ref().filter(|p| p.pin_file.is_none()) {
        eprintln!(
            "warning: node.toml's [pkcs11] has no pin_file: a service started by systemd has no \
             {} to log in to token {:?} with; give pin_file (an owner-only file readable by the \
             service's user)",
            accord_keys::pkcs11::PIN_ENV,
            p.token
        );
    }
    let unit = unit(&Service {
        party: &home.config.party,
        dir: &dir,
        user: &args.user,
        binary: &binary,
        listen: &home.config.listen,
        postgres: home
            .config
            .database
            .as_deref()
            .is_some_and(|d| d.starts_with("postgres")),
        pkcs11: home
            .config
            .pkcs11
            .as_ref()
            .map(|p| (p.token.as_str(), p.module.as_path())),
    })?;
    match &args.output {
        None => print!("{unit}"),
        Some(path) => {
            if path.exists() && !args.force {
                bail!(
                    "{} already exists: give --force to overwrite it",
                    path.display()
                );
            }
            std::fs::write(path, &unit).with_context(|| format!("writing {}", path.display()))?;
            if out.json {
                out.print_json(&serde_json::json!({"unit": path.display().to_string()}));
            } else {
                eprintln!("wrote {}", path.display());
            }
        }
    }
    Ok(Code::Ok)
}

/// What the unit is for.
pub struct Service<'a> {
    /// The party code (the unit's description).
    pub party: &'a str,
    /// The node home, absolute.
    pub dir: &'a Path,
    /// The system user.
    pub user: &'a str,
    /// The accord binary.
    pub binary: &'a Path,
    /// node.toml's listen address (a port below 1024 needs one capability).
    pub listen: &'a str,
    /// Whether the database is PostgreSQL (then the unit starts after it).
    pub postgres: bool,
    /// The PKCS#11 token the node's keys live in (`[pkcs11]`): its label and module.
    pub pkcs11: Option<(&'a str, &'a Path)>,
}

/// The unit's text.
pub fn unit(s: &Service<'_>) -> Result<String> {
    for (what, p) in [("--dir", s.dir), ("--binary", s.binary)] {
        let text = p.to_str().unwrap_or("");
        if !p.is_absolute() || text.is_empty() || text.contains(char::is_whitespace) {
            bail!(
                "{what} {}: give an absolute path without spaces",
                p.display()
            );
        }
    }
    if s.user.is_empty()
        || !s
            .user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
    {
        bail!("--user {:?}: letters, digits, '-' and '_' only", s.user);
    }
    let low_port = s
        .listen
        .rsplit(':')
        .next()
        .and_then(|p| p.parse::<u16>().ok())
        .is_some_and(|p| p < 1024);
    let (dir, binary) = (s.dir.display(), s.binary.display());
    let after = if s.postgres {
        "network-online.target postgresql.service"
    } else {
        "network-online.target"
    };
    let capability = if low_port { "CAP_NET_BIND_SERVICE" } else { "" };
    // A home under /home needs ProtectHome=read-only for ReadWritePaths to reach it.
    let protect_home = if s.dir.starts_with("/home") || s.dir.starts_with("/root") {
        "read-only"
    } else {
        "yes"
    };
    // A token's module runs in the node: a software token (SoftHSM2) keeps its tokens
    // in files it must write; a hardware one is reached through pcscd's socket
    // (AF_UNIX, allowed) or a device, which PrivateDevices= hides.
    let token = match s.pkcs11 {
        Some((label, module)) => {
            let softhsm = module.to_string_lossy().contains("softhsm");
            format!(
                "\n# The keys' classical halves are in the PKCS#11 token {label:?} ({}). Its PIN is\n\
                 # node.toml's pin_file (owner-only), never this unit. A USB token reached without\n\
                 # pcscd needs PrivateDevices=no and DeviceAllow= for it.\n{}",
                module.display(),
                if softhsm {
                    "# SoftHSM2 writes its token files (directories.tokendir in softhsm2.conf).\n\
                     ReadWritePaths=-/var/lib/softhsm/tokens\n"
                } else {
                    ""
                }
            )
        }
        None => String::new(),
    };
    Ok(format!(
        "# The {party} party's Accord node (made by `accord node systemd`).
[Unit]
Description=Accord node of {party} ({dir})
Wants=network-online.target
After={after}

[Service]
Type=exec
User={user}
Group={user}
WorkingDirectory={dir}
ExecStart={binary} serve --dir {dir}
Environment=ACCORD_LOG_FORMAT=json
# SIGTERM stops accepting, lets requests finish and closes the audit log cleanly.
KillSignal=SIGTERM
TimeoutStopSec=30
Restart=on-failure
RestartSec=5
LimitNOFILE=65536
UMask=0077

# Nothing writable but the node home; nothing it does not need.
ReadWritePaths={dir}
{token}ProtectSystem=strict
ProtectHome={protect_home}
PrivateTmp=yes
PrivateDevices=yes
NoNewPrivileges=yes
CapabilityBoundingSet={capability}
AmbientCapabilities={capability}
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
ProcSubset=pid
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
RemoveIPC=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallFilter=~@privileged @resources

[Install]
WantedBy=multi-user.target
",
        party = s.party,
        user = s.user,
    ))
}
