//! `accord seal`: encrypt a file into a sealed object (ZTDF) with its label bound.

use crate::exit::{count, Code, Output};
use crate::input::{display_name, open_file, output_name, read_bounded};
use accord_keys::{KasPublicKey, PartyDescriptor};
use accord_spif::{Label, LabelFormat, PolicySet};
use accord_tdf::{BoundLabel, ErrorKind, Recipient, SealOptions};
use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

/// Encrypt INPUT into a sealed object whose label only its signer could have set.
#[derive(Args, Debug)]
#[command(after_help = SEAL_HELP)]
pub struct SealArgs {
    #[command(flatten)]
    pub choice: crate::profile::Choice,
    /// Offline: a SPIF file or directory of policies (repeatable).
    #[arg(long = "policy", value_name = "P")]
    pub policies: Vec<PathBuf>,
    /// The label as a marking, e.g. "SECRET//REL TO USA, PAK".
    #[arg(
        long,
        value_name = "MARKING",
        conflicts_with = "label_file",
        required_unless_present = "label_file"
    )]
    pub label: Option<String>,
    /// The label as a file (STANAG 4774 XML, spiffy XML or JSON).
    #[arg(long, value_name = "LABEL_FILE")]
    pub label_file: Option<PathBuf>,
    /// Offline: a KAS public key to wrap for: kas.pub, PARTY=kas.pub or party.json
    /// (repeatable).
    #[arg(long = "kas-pub", value_name = "FILE")]
    pub kas_pub: Vec<String>,
    /// Parties that must each release their own key share, e.g. PAK,USA.
    #[arg(long, value_name = "PARTY,PARTY", value_delimiter = ',')]
    pub require: Vec<String>,
    /// Offline: the originator's signing.key (signs the label).
    #[arg(long, value_name = "FILE")]
    pub signing_key: Option<PathBuf>,
    /// Seal through your node with this credential: the node checks the label, names
    /// the KASes and signs the label. Default: $ACCORD_CREDENTIAL, when no offline flag
    /// (--policy, --kas-pub, --signing-key, --mime-type) is given.
    #[arg(
        long,
        value_name = "ID.credential",
        conflicts_with_all = ["policies", "kas_pub", "signing_key", "mime_type"]
    )]
    pub credential: Option<PathBuf>,
    /// Through your node: the agreement the object is exchanged under; every party of
    /// it whose people may read the label gets key access. Without it the node chooses
    /// the one agreement in force that covers the label, and says which.
    #[arg(
        long,
        value_name = "ID",
        conflicts_with_all = ["policies", "kas_pub", "signing_key", "mime_type"]
    )]
    pub agreement: Option<String>,
    /// Through your node: seal under no agreement, for your own party alone (no
    /// partner gets key access), instead of letting the node choose one.
    #[arg(
        long,
        conflicts_with_all = ["agreement", "policies", "kas_pub", "signing_key", "mime_type"]
    )]
    pub national: bool,
    /// Plaintext bytes per segment.
    #[arg(long, value_name = "BYTES", default_value_t = accord_tdf::DEFAULT_SEGMENT_SIZE)]
    pub segment_size: u64,
    /// Offline: the MIME type recorded for the plaintext [default:
    /// application/octet-stream].
    #[arg(long, value_name = "TYPE")]
    pub mime_type: Option<String>,
    /// The file to seal (`-` for standard input).
    pub input: PathBuf,
    /// The sealed object to write (`-` for standard output).
    #[arg(short = 'o', long = "output", value_name = "OUTPUT.tdf")]
    pub output: PathBuf,
    /// Overwrite OUTPUT if it exists (and, for a sealed object, write it to a terminal).
    #[arg(long)]
    pub force: bool,
}

/// `seal --help`: examples kept under 72 columns so that no terminal of 80 columns
/// breaks them; prose as one line a paragraph, which clap wraps.
const SEAL_HELP: &str = "\
Examples (offline, with the party's own keys):
  accord seal --policy policies --label \"SECRET//REL TO USA, PAK\" \\
      --kas-pub keys/usa/party.json --signing-key keys/usa/signing.key \\
      report.pdf -o report.tdf
  accord seal --policy policies --label-file label.xml \\
      --require PAK,USA --kas-pub PAK=keys/pak/kas.pub \\
      --kas-pub USA=keys/usa/kas.pub --signing-key keys/usa/signing.key \\
      - -o out.tdf

--kas-pub takes a kas.pub (its party is read from a party.json beside it), PARTY=kas.pub, or a party.json. Without --require one key share is wrapped for every KAS (any may release it); with --require each named party gets its own share (all must release).

Through your node (it checks the label against your clearance and signs it):
  accord seal --credential pak-officer.credential \\
      --label \"SECRET//REL TO USA, PAK//SCOPE EXERCISES\" \\
      --agreement CISMOA-2023 report.pdf -o report.tdf
Without --agreement the node chooses the one agreement in force under which you may apply the label and a partner gets key access, and the command says which; when more than one does, it lists them and exits 2; --national seals for your own party alone.
With originator control (every required party's KAS must release its share):
  accord seal --credential pak-officer.credential \\
      --label \"SECRET//REL TO USA, PAK//SCOPE OPERATIONS\" \\
      --agreement CISMOA-2023 --require PAK,USA plan.pdf -o plan.tdf

Give either --credential (through your node) or --policy, --kas-pub and --signing-key (offline), not both. ACCORD_CREDENTIAL stands for --credential when no offline flag is given.

The summary line goes to standard error, and none is printed with -o - (the sealed object is on standard output); --json prints a summary on standard output.

Exit codes: 0 ok, 1 the node refused (reasons printed; or a required party gets no key access), 2 usage or input error.";

/// Read the recipients named by one `--kas-pub` value.
fn recipients(arg: &str) -> Result<Vec<Recipient>> {
    let (party, path) = match arg.split_once('=') {
        Some((p, f)) if p.len() == 3 && p.bytes().all(|b| b.is_ascii_uppercase()) => {
            (Some(p.to_string()), PathBuf::from(f))
        }
        _ => (None, PathBuf::from(arg)),
    };
    let bytes = read_bounded(&path)?;
    if bytes.first() == Some(&b'{') {
        let d = PartyDescriptor::from_json(&bytes)
            .with_context(|| format!("reading {}", path.display()))?;
        if let Some(p) = &party {
            if p != &d.party {
                bail!("{} describes party {}, not {p}", path.display(), d.party);
            }
        }
        // The KAS is named by the party's node URL when the descriptor has one, so that
        // any client (an OpenTDF SDK too) can reach it; a URN only for a party without.
        let kas_url = kas_url_of(&d);
        let mut keys: Vec<(KasPublicKey, String)> = d
            .kas_public_keys()?
            .into_iter()
            .map(|k| (k, kas_url.clone()))
            .collect();
        if let Some(node) = &d.node {
            for k in &node.kas_keys {
                keys.push((
                    k.key("node.kas_keys")?,
                    format!("{}/kas", node.url.trim_end_matches('/')),
                ));
            }
        }
        return Ok(keys
            .into_iter()
            .map(|(kas, url)| Recipient {
                kas,
                url,
                party: Some(d.party.clone()),
            })
            .collect());
    }
    let text =
        std::str::from_utf8(&bytes).with_context(|| format!("{} is not text", path.display()))?;
    let kas =
        KasPublicKey::from_pem(text).with_context(|| format!("reading {}", path.display()))?;
    let sibling =
        accord_keys::load_party(&path.parent().unwrap_or(Path::new(".")).join("party.json"))
            .ok()
            .filter(|d| d.kas_keys.iter().any(|k| k.kid == kas.kid()));
    let (party, url) = match (party, sibling) {
        (Some(p), Some(d)) if p == d.party => (Some(p), kas_url_of(&d)),
        (Some(p), _) => (Some(p.clone()), format!("urn:accord:kas:{p}")),
        (None, Some(d)) => (Some(d.party.clone()), kas_url_of(&d)),
        (None, None) => (None, "urn:accord:kas:local".to_string()),
    };
    Ok(vec![Recipient { kas, url, party }])
}

/// The URL a key access object names for `d`'s KAS: its node's (`<url>/kas`, as OpenTDF
/// clients expect), or a URN when the party has no node.
fn kas_url_of(d: &PartyDescriptor) -> String {
    match &d.node {
        Some(n) => format!("{}/kas", n.url.trim_end_matches('/')),
        None => format!("urn:accord:kas:{}", d.party),
    }
}

fn load_policies(paths: &[PathBuf]) -> Result<PolicySet> {
    let mut set = PolicySet::new();
    for p in paths {
        set.load_path(p)
            .with_context(|| format!("loading policies from {}", p.display()))?;
    }
    Ok(set)
}

fn read_label(set: &PolicySet, args: &SealArgs) -> Result<BoundLabel> {
    let label: Label = match (&args.label, &args.label_file) {
        (Some(m), _) => {
            let mut errors = Vec::new();
            let mut found = None;
            for p in set.iter() {
                match p.parse_marking(m, "") {
                    Ok(l) => {
                        found = Some(l);
                        break;
                    }
                    Err(e) => errors.push(e.to_string()),
                }
            }
            match found {
                Some(l) => l,
                None => bail!(
                    "no loaded policy reads the marking `{m}`: {}",
                    errors.join("; ")
                ),
            }
        }
        (None, Some(f)) => {
            let bytes = read_bounded(f)?;
            Label::read(set, &display_name(f), &bytes)?
        }
        (None, None) => bail!("give --label or --label-file"),
    };
    let policy = set.find(&label.policy.id)?;
    let v = policy.validate(&label)?;
    if !v.valid {
        bail!(
            "the label is not valid under policy {}: {}",
            label.policy.name,
            v.reasons.join("; ")
        );
    }
    let marking = policy.render(&label, "")?.text;
    Ok(BoundLabel {
        xml: label.write(LabelFormat::Stanag4774),
        marking,
    })
}

/// The plaintext to seal (`-`: standard input) and its size when it is a file.
pub(crate) fn plaintext_input(path: &Path) -> Result<(Box<dyn Read + Send>, Option<u64>)> {
    if path == Path::new("-") {
        return Ok((Box::new(std::io::stdin()), None));
    }
    let f = open_file(path, "a file to seal")?;
    let size = f.metadata().ok().filter(|m| m.is_file()).map(|m| m.len());
    Ok((Box::new(f), size))
}

/// A progress bar on standard error when it is a terminal, for `total` bytes.
pub(crate) fn progress_bar(total: Option<u64>, what: &str) -> Option<ProgressBar> {
    bar(
        total,
        what,
        "{msg} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
    )
}

/// A progress bar on standard error when it is a terminal, drawn with `template`
/// (a spinner without a `total`).
pub(crate) fn bar(total: Option<u64>, what: &str, template: &str) -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let pb = match total {
        Some(t) => ProgressBar::new(t),
        None => ProgressBar::new_spinner(),
    };
    pb.set_style(
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb.set_message(what.to_string());
    Some(pb)
}

/// Where output goes: a temporary file beside OUTPUT renamed into place only on
/// success (created 0600), or standard output.
pub(crate) enum Sink {
    /// The temporary file, the output path, and whether it may replace a file there.
    File(tempfile::NamedTempFile, PathBuf, bool),
    Stdout,
}

/// What a command writes: a sealed object is binary, which a terminal garbles (and may
/// act on); plaintext is whatever the person sealed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bytes {
    Sealed,
    Plaintext,
}

impl Sink {
    /// The output `path` (`-`: standard output). An existing file is not replaced, and a
    /// sealed object is not written to a terminal, unless `force`: as every command
    /// that writes a file does, and as age refuses binary output to a terminal.
    pub(crate) fn new(path: &Path, force: bool, bytes: Bytes) -> Result<Sink> {
        if path == Path::new("-") {
            if bytes == Bytes::Sealed && !force && std::io::stdout().is_terminal() {
                bail!(
                    "refusing to write a sealed object to the terminal: give -o FILE, or send standard output to a file or a pipe (--force writes it anyway)"
                );
            }
            return Ok(Sink::Stdout);
        }
        if !force && path.exists() {
            bail!(
                "{} already exists: give --force to overwrite it, or another -o",
                path.display()
            );
        }
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let tmp = tempfile::Builder::new()
            .prefix(".accord-")
            .suffix(".partial")
            .tempfile_in(&dir)
            .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
        Ok(Sink::File(tmp, path.to_path_buf(), force))
    }

    pub(crate) fn writer(&mut self) -> Box<dyn Write + '_> {
        match self {
            Sink::File(t, _, _) => {
                Box::new(std::io::BufWriter::with_capacity(1 << 20, t.as_file_mut()))
            }
            Sink::Stdout => Box::new(std::io::BufWriter::with_capacity(
                1 << 20,
                crate::exit::Stdout(std::io::stdout().lock()),
            )),
        }
    }

    pub(crate) fn commit(self) -> Result<()> {
        if let Sink::File(t, path, force) = self {
            t.as_file().sync_all().context("syncing the output")?;
            // Without --force, a file made at OUTPUT meanwhile is not replaced either.
            let kept = if force {
                t.persist(&path).map(|_| ())
            } else {
                t.persist_noclobber(&path).map(|_| ())
            };
            kept.with_context(|| format!("renaming the output into {}", path.display()))?;
        }
        Ok(())
    }
}

/// Which command a library error comes from, to name the file it is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// `seal`: only reading the input and writing the output concern files.
    Seal,
    /// `open`, `inspect`: everything but writing the output concerns the sealed input.
    Open,
}

/// Report a library error, naming the file it is about, and return its exit code.
pub(crate) fn failed(
    e: &accord_tdf::Error,
    role: Role,
    input: &Path,
    output: &Path,
    out: &Output,
) -> Code {
    use accord_tdf::Error as E;
    let about = match e {
        E::Io { what, .. } if what.starts_with("writing") => Some(output_name(output)),
        E::Io { .. } => Some(display_name(input)),
        E::Usage(_) | E::Keys(_) => None,
        _ if role == Role::Open => Some(display_name(input)),
        _ => None,
    };
    let msg = crate::exit::once_positioned(&e.to_string());
    let message = match about {
        Some(name) => format!("{name}: {msg}"),
        None => msg,
    };
    let code = match e.kind() {
        ErrorKind::Integrity => Code::Negative,
        ErrorKind::NoKey => Code::NoKey,
        ErrorKind::Input => Code::Usage,
    };
    out.refused(&format!("error: {message}"), &message, vec![], code)
}

pub fn run(args: SealArgs, out: &Output) -> Result<Code> {
    crate::profile::init(&args.choice);
    // clap refuses --credential together with an offline flag; a credential from the
    // environment gives way to offline flags.
    let offline = !args.policies.is_empty()
        || !args.kas_pub.is_empty()
        || args.signing_key.is_some()
        || args.mime_type.is_some();
    let credential = match &args.credential {
        Some(c) => Some(c.clone()),
        None if !offline => crate::profile::credential(None)?.map(|c| c.path),
        None => None,
    };
    if let Some(cred) = credential {
        return crate::cmd::online::seal(&args, &cred, out);
    }
    if args.agreement.is_some() || args.national {
        bail!("--agreement and --national are for sealing through your node: give --credential (or set ACCORD_CREDENTIAL)");
    }
    let missing: Vec<&str> = [
        ("--policy", args.policies.is_empty()),
        ("--kas-pub", args.kas_pub.is_empty()),
        ("--signing-key", args.signing_key.is_none()),
    ]
    .into_iter()
    .filter_map(|(flag, absent)| absent.then_some(flag))
    .collect();
    let Some(signing_key) = args.signing_key.as_ref().filter(|_| missing.is_empty()) else {
        bail!(
            "to seal offline give --policy, --kas-pub and --signing-key ({} missing), or give --credential to seal through your node",
            missing.join(", ")
        );
    };
    let set = load_policies(&args.policies)?;
    let label = read_label(&set, &args)?;
    let mut recips = Vec::new();
    for k in &args.kas_pub {
        recips.extend(recipients(k)?);
    }
    let signer = accord_node::load_signing_key_file(signing_key)?;
    let (input, total) = plaintext_input(&args.input)?;
    let pb = progress_bar(total, "sealing");
    let tick = |n: u64| {
        if let Some(pb) = &pb {
            pb.inc(n)
        }
    };
    let opts = SealOptions {
        recipients: recips,
        require: args.require.clone(),
        signer: &signer,
        label,
        segment_size: args.segment_size,
        mime_type: args
            .mime_type
            .clone()
            .unwrap_or_else(|| "application/octet-stream".into()),
        metadata: None,
        agreement: None,
        progress: Some(&tick),
    };
    let mut sink = Sink::new(&args.output, args.force, Bytes::Sealed)?;
    let result = accord_tdf::seal(input, sink.writer(), &opts);
    if let Some(pb) = &pb {
        pb.finish_and_clear();
    }
    let summary = match result {
        Ok(s) => s,
        Err(e) => return Ok(failed(&e, Role::Seal, &args.input, &args.output, out)),
    };
    sink.commit()?;
    let kas: Vec<serde_json::Value> = summary
        .manifest
        .encryption_information
        .key_access
        .iter()
        .map(|k| serde_json::json!({"type": k.key_type, "url": k.url, "kid": k.kid, "sid": k.sid}))
        .collect();
    if out.json {
        out.print_json(&serde_json::json!({
            "output": display_name(&args.output),
            "marking": opts.label.marking,
            "plaintext_size": summary.plaintext_size,
            "segments": summary.segments,
            "key_access": kas,
        }));
    } else if args.output != Path::new("-") {
        eprintln!(
            "sealed {} ({}) as {} into {}",
            count(summary.plaintext_size, "byte", "bytes"),
            count(summary.segments as u64, "segment", "segments"),
            opts.label.marking,
            args.output.display()
        );
    }
    Ok(Code::Ok)
}
