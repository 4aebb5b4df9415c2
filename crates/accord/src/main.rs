//! `accord`: the command line. Thin by design: every decision, format and check lives in
//! the libraries (`accord-spif`, `accord-tdf`, `accord-agreement`, `accord-log`); this
//! crate parses arguments, reads files, calls the library and formats the answer.
#![forbid(unsafe_code)]

mod cmd;
mod exit;
mod input;
mod json;
mod passphrase;
mod profile;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Accord: secure exchange of classified information between partner nations under a
/// signed agreement.
#[derive(Parser, Debug)]
#[command(name = "accord", version, propagate_version = true)]
#[command(
    after_help = MAIN_HELP
)]
pub struct Cli {
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// See the whole system work: two parties' nodes, an agreement, an exchange.
    Quickstart(cmd::quickstart::QuickstartArgs),
    // One variant per command group; each group lives in its own module under `cmd/`.
    /// Agreements: draft, approve, sign, terminate, renew, status, verify.
    #[command(subcommand)]
    Agreement(cmd::agreement::AgreementCommand),
    /// The full access decision: person + label + agreement + party + time.
    Decide(cmd::decide::DecideArgs),
    /// Equipment accountability: accounts, items, transfers, receipts, hand receipts,
    /// inventories, incidents, end-use checks.
    #[command(subcommand)]
    Equipment(cmd::equipment::EquipmentCommand),
    /// Show a sealed object's label, signer, key access and segments (no key needed).
    Inspect(cmd::inspect::InspectArgs),
    /// Open a sealed object: through your node (--credential) or with local KAS keys.
    Open(cmd::open::OpenArgs),
    /// OpenTDF clients: let otdf-python and the OpenTDF SDKs use the node's KAS.
    #[command(subcommand, name = "opentdf")]
    OpenTdf(cmd::opentdf::OpenTdfCommand),
    /// Seal a file into a ZTDF container with its label bound (through your node or offline).
    Seal(cmd::seal::SealArgs),
    /// Generate a party's KAS key pair, signing key pair and party.json.
    Keygen(cmd::keygen::KeygenArgs),
    /// A node's own keys over an agreement's life: rotate them, list them.
    #[command(subcommand)]
    Key(cmd::key::KeyCommand),
    /// Tamper-evident audit log: append, prove, verify, witness.
    #[command(subcommand)]
    Audit(cmd::audit::AuditCommand),
    /// Security policies (XML-SPIF): show what a policy defines.
    #[command(subcommand)]
    Policy(cmd::policy::PolicyCommand),
    /// Confidentiality labels: render, parse, check, decide, translate.
    #[command(subcommand)]
    Label(cmd::label::LabelCommand),
    /// Create a party node's home: policies, keys, database, audit log, party.json.
    Init(cmd::node::InitArgs),
    /// Run a party node over HTTPS (KAS, directory, audit log) until SIGTERM or Ctrl-C.
    Serve(cmd::node::ServeArgs),
    /// Back up a node home, running or not (consistent), optionally encrypted.
    Backup(cmd::backup::BackupArgs),
    /// Rebuild a node home from a backup (into a new or empty directory).
    Restore(cmd::backup::RestoreArgs),
    /// A party node: print its public descriptor, write its systemd unit, migrate.
    #[command(subcommand)]
    Node(cmd::node::NodeCommand),
    /// People of a party node: add (issues a credential), suspend, resume, list.
    #[command(subcommand)]
    User(cmd::user::UserCommand),
    /// Send a sealed object to a partner party through your node.
    Send(cmd::exchange::SendArgs),
    /// What you sent, and how each delivery stands (receipts, refusals).
    Outbox(cmd::exchange::OutboxArgs),
    /// What partners sent that you may see.
    Inbox(cmd::exchange::InboxArgs),
    /// Fetch a received sealed object from your node's inbox.
    Fetch(cmd::exchange::FetchArgs),
    /// Who you are, whether your node and its partners answer, what expires soon.
    Status(cmd::status::StatusArgs),
    /// Named profiles (credential and defaults), so that you need not repeat them.
    #[command(subcommand)]
    Profile(cmd::profile::ProfileCommand),
    /// Your credential: show it, protect it with a passphrase, or remove the passphrase.
    #[command(subcommand)]
    Credential(cmd::credential::CredentialCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(cmd::docs::CompletionsArgs),
    /// Write the manual pages (accord.1 and one per command) into a directory.
    Man(cmd::docs::ManArgs),
}

/// Advice for an argument conflict, by the two arguments clap names
/// (`--credential <ID.credential>`, `--kas-key <FILE>`, ...).
fn conflict_tip(a: &str, b: &str) -> Option<&'static str> {
    let name = |s: &str| s.split([' ', '=']).next().unwrap_or("").to_string();
    let (a, b) = (name(a), name(b));
    let pair = |x: &str, y: &str| (a == x && b == y) || (a == y && b == x);
    let any = |x: &str, ys: &[&str]| ys.iter().any(|y| pair(x, y));
    if any("--credential", &["--kas-key", "--trust-signer"]) {
        return Some("give either --credential (open through your node) or --kas-key/--trust-signer (open offline), not both");
    }
    if any(
        "--credential",
        &["--policy", "--kas-pub", "--signing-key", "--mime-type"],
    ) {
        return Some("give either --credential (seal through your node) or --policy/--kas-pub/--signing-key (seal offline), not both");
    }
    if any(
        "--agreement",
        &["--policy", "--kas-pub", "--signing-key", "--mime-type"],
    ) {
        return Some("--agreement is for sealing through your node (--credential), which checks it; an offline seal names no agreement");
    }
    None
}

/// Parse the command line; an argument conflict gets advice on what to give instead.
fn parse() -> Cli {
    match Cli::try_parse() {
        Ok(cli) => cli,
        Err(mut e) => {
            if e.kind() == ErrorKind::ArgumentConflict {
                let arg = |k| match e.get(k) {
                    Some(ContextValue::String(s)) => s.clone(),
                    Some(ContextValue::Strings(v)) => v.first().cloned().unwrap_or_default(),
                    _ => String::new(),
                };
                let (a, b) = (arg(ContextKind::InvalidArg), arg(ContextKind::PriorArg));
                if let Some(tip) = conflict_tip(&a, &b) {
                    e.insert(
                        ContextKind::Suggested,
                        ContextValue::StyledStrs(vec![tip.into()]),
                    );
                }
            }
            // A usage error with `--json` on the command line is JSON on standard
            // output too (help and version stay text: they are what was asked for).
            if e.use_stderr() && json::asked_in_args() {
                let (message, causes) = usage_error_json(&e);
                exit::print_error(message, causes, exit::Code::Usage, vec![]);
                std::process::exit(e.exit_code());
            }
            e.exit()
        }
    }
}

/// A usage error in words for `{"error": ...}`: clap's first paragraph is the message
/// (a list it introduces with `:` joined on one line), each further paragraph (the tip,
/// the usage line, where to find help) a cause. A group given without its command
/// (`accord agreement`) is told so in one line rather than with the group's help.
fn usage_error_json(e: &clap::Error) -> (String, Vec<String>) {
    if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        let path: Vec<String> = std::env::args()
            .skip(1)
            .filter(|a| !a.starts_with('-'))
            .collect();
        let group = std::iter::once("accord".to_string())
            .chain(path)
            .collect::<Vec<_>>();
        return (
            format!("`{}` needs a command", group.join(" ")),
            vec![format!("`{} --help` lists them", group.join(" "))],
        );
    }
    let text = e.render().to_string();
    let mut paragraphs = text
        .split("\n\n")
        .map(|p| {
            let lines: Vec<&str> = p.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
            match lines.split_first() {
                Some((first, rest)) if first.ends_with(':') && !rest.is_empty() => {
                    format!("{first} {}", rest.join(", "))
                }
                _ => lines.join(" "),
            }
        })
        .filter(|p| !p.is_empty());
    let message = paragraphs
        .next()
        .unwrap_or_else(|| "usage error".to_string())
        .trim_start_matches("error: ")
        .to_string();
    (message, paragraphs.collect())
}

fn main() -> ExitCode {
    exit::quiet_on_closed_pipe();
    let cli = parse();
    let out = exit::Output { json: cli.json };
    let result: anyhow::Result<exit::Code> = match cli.command {
        Command::Agreement(cmd) => cmd::agreement::run(cmd, &out),
        Command::Equipment(cmd) => cmd::equipment::run(cmd, &out),
        Command::Decide(args) => cmd::decide::run(args, &out),
        Command::Inspect(args) => cmd::inspect::run(args, &out),
        Command::Open(args) => cmd::open::run(args, &out),
        Command::OpenTdf(cmd) => cmd::opentdf::run(cmd, &out),
        Command::Key(cmd) => cmd::key::run(cmd, &out),
        Command::Seal(args) => cmd::seal::run(args, &out),
        Command::Keygen(args) => cmd::keygen::run(args, &out),
        Command::Audit(cmd) => cmd::audit::run(cmd, &out),
        Command::Policy(cmd) => cmd::policy::run(cmd, &out),
        Command::Label(cmd) => cmd::label::run(cmd, &out),
        Command::Init(args) => cmd::node::init(args, &out),
        Command::Serve(args) => cmd::node::serve(args, &out),
        Command::Node(cmd) => cmd::node::node(cmd, &out),
        Command::Backup(args) => cmd::backup::backup(args, &out),
        Command::Restore(args) => cmd::backup::restore(args, &out),
        Command::User(cmd) => cmd::user::user(cmd, &out),
        Command::Quickstart(args) => cmd::quickstart::run(args, &out),
        Command::Send(args) => cmd::exchange::send(args, &out),
        Command::Outbox(args) => cmd::exchange::outbox(args, &out),
        Command::Inbox(args) => cmd::exchange::inbox(args, &out),
        Command::Fetch(args) => cmd::exchange::fetch(args, &out),
        Command::Status(args) => cmd::status::run(args, &out),
        Command::Profile(cmd) => cmd::profile::run(cmd, &out),
        Command::Credential(cmd) => cmd::credential::run(cmd, &out),
        Command::Completions(args) => cmd::docs::completions(args),
        Command::Man(args) => cmd::docs::man(args, &out),
    };
    exit::finish(result, out.json)
}

// `--help` texts: examples stay under 76 columns, so that an 80-column terminal
// does not break them for copy and paste; prose is one line a paragraph, which clap
// wraps.
const MAIN_HELP: &str = "\
Examples:
  accord quickstart    # two parties' nodes, an agreement, an exchange
  accord status        # who am I, is my node up, what expires soon
  accord policy show policies/usa.xml

Exit codes: 0 ok, 1 negative answer (deny, invalid, integrity failure, refused), 2 usage or input error, 3 no key released, 141 standard output closed early (accord ... | head).";

#[cfg(test)]
mod tests {
    /// clap's own checks of the whole command tree (unique flag names across global
    /// and local arguments, ...), which otherwise fail only when a command is run.
    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
