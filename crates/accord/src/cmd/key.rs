//! `accord key`: the node's own keys over an agreement's life (rotate them, see them).
//! The work is `accord_node::rotation`'s; this prints it.

use crate::exit::{Code, Output};
use accord_agreement::amendment::KeyKind;
use accord_node::home::Home;
use accord_node::rotation::{self, RotateOptions};
use anyhow::{Context, Result};
use clap::Subcommand;
use std::path::PathBuf;

/// `accord key ...`.
#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// Make a new KAS, signing, TLS, log or witness key, amend every agreement in
    /// force to name it, and use it; the old one stays for what it did.
    #[command(
        after_help = "Example:\n  accord key rotate --dir pak kas --reason \"scheduled rotation\"\n  accord --json key rotate --dir pak kas --reason \"scheduled rotation\"\n  accord key rotate --dir pak signing --reason \"custodian left\"\n  accord key rotate --dir pak tls --grace-days 7\n  accord key rotate --dir pak log --grace-days 14\n  # {\"kind\", \"old\", \"new\", \"effective\", \"grace_until\"?, \"agreements\": [{\"id\", \"outcome\", \"reason\"?, \"records\"}]}\n\n\
Every agreement held that is countersigned and has not ended gets an amendment naming the new key, signed with the party's signing key in force; the node (running or not) uses the new key from then on, and partners' nodes receive the amended agreement over federation within seconds and use it once they verify it. A draft or an ended agreement is left alone (listed as skipped, with why).\n\n\
kas: a new KAS key of the same algorithm. The old private key stays in keys/kas/<kid>.key, so every object sealed to it still opens, here and through partners.\n\n\
signing: a new signing key, which signs its own amendment too. Labels, receipts and equipment records are signed with it; the old key's public half stays in keys/signing/<kid>.pub, and partners keep every signing key the party has had, so what the old key signed still verifies.\n\n\
If an agreement in force cannot be amended, nothing is switched: the node keeps its key and the new one waits in keys/pending/ for the next run, which finishes what this one began. Rotation is not a response to a stolen key: what the old key signed or opened stays valid until `accord key revoke` says from when it is not.\n\n\
tls: a new TLS key and certificate from the node's CA, for the node's names. The amendment gives the old key a grace period (--grace-days, 7 by default, at most 90) during which partners accept both. The new key waits in keys/tls.next.key until every partner of every agreement in force has acknowledged the amended copy; the running node then presents it (server and client, party.json follows), or 15 minutes before the grace ends at the latest. People's credentials of format 2 (issued since accord 2026-12-06) trust the node's CA for its name and follow it; older ones pin the old key and must be renewed (`accord user renew`).\n\n\
log: a new key for the node's audit log, of the same name (the log's origin never changes). From the moment it is in place the log signs every checkpoint with the new key and the old one, until the grace ends (--grace-days, 7 by default, at most 90): partners' witnesses, and anyone verifying the log with `accord audit verify --log-key`, accept either; after it, the new key alone signs, and partners refuse the old one. The old private key is kept in keys/log/.\n\n\
witness: a new key for the node's witness, which the amendment pins in the agreement (a witness key no amendment pinned is known by what the node gives over its pinned TLS). The witness cosigns with the new key and the old one until the grace ends; partners check its cosignatures with the keys the agreement pins. The old private key is kept in keys/witness/.\n\n\
offline-kas keys are the party's, not the node's: amend them with `accord agreement amend`.\n\n\
Exit codes: 0 rotated, 1 refused (another rotation of the node is running, an agreement in force could not be amended, a TLS key rotated before still waits to be presented), 2 usage or input error (no node home, offline-kas, an empty reason, --grace-days out of range or for another kind)."
    )]
    Rotate {
        /// The node home.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// Which key: kas, signing, tls, log or witness.
        #[arg(value_parser = parse_kind)]
        kind: KeyKind,
        /// Why, for the amendment ("scheduled rotation", "custodian left").
        #[arg(long, default_value = "scheduled rotation")]
        reason: String,
        /// tls, log and witness: days partners still accept the old key (1 to 90; 7 by
        /// default).
        #[arg(long, value_name = "DAYS")]
        grace_days: Option<u32>,
    },
    /// Revoke a key of this node as compromised since a time: a KAS or signing key then
    /// serves only objects shown to have existed before; a TLS, log or witness key is
    /// no longer accepted by partners.
    #[command(
        after_help = "Example:\n  accord key revoke --dir pak kas --kid 9b1c...e4 --compromised 2029-02-01T00:00:00Z --reason \"KAS host image exfiltrated\"\n  accord --json key revoke --dir pak kas --kid 9b1c...e4 --compromised 2029-02-01 --reason \"...\"\n  accord key revoke --dir pak signing --kid 41d0...7a --compromised 2029-02-01 --reason \"signing host stolen\"\n  accord key revoke --dir pak log --kid \"pak.example/log+1a2b3c4d\" --compromised 2029-02-01 --reason \"log host stolen\"\n  # {\"kind\", \"kid\", \"compromised\", \"replaced_by\"?, \"agreements\": [{\"id\", \"outcome\", \"reason\"?, \"records\"}]}\n\n\
The revocation is in force at the node at once (a running node reads it within 200 ms). When the key is the current one it is then replaced (as `key rotate` does), so the node never stands without one; a signing key's replacement is signed by the revoked key and the new one, as every signing amendment is. Every agreement in force gets a `revoke` record, signed with the party's signing key in force, which partners receive over federation.\n\n\
The node (and each partner, from the record) then takes the revoked key only for objects shown to have existed before --compromised: the node signed their label, or received them from a partner, earlier (the node's `sealed` record, kept since accord 2026-12-05). kas: the KAS releases no share wrapped to the key for anything else; an OpenTDF client's request carries no manifest, so it is always refused. signing: a label the key signed vouches for nothing else, at this node and at partners. Anything refused is refused with rule `key-revoked` and a reason naming the revocation. A thief who holds a KAS key can still unwrap what was sealed to it: revocation stops the nodes releasing more, and tells people why.\n\n\
tls, log, witness: partners stop accepting the key from the moment they hold the record, grace period or not (a TLS key is then refused on connection, a checkpoint signed by the log key alone is not cosigned, a cosignature by the witness key is not kept); this node stops signing with a revoked log or witness key at once, and does not take a checkpoint signed by a revoked log key as its own when it checks its log against partners' witnesses at start. A current TLS key is replaced first and the node presents the new one once partners acknowledged it (until then they refuse the node's connections, which are retried). --kid is the TLS pin (SPKI SHA-256, hex), or the log or witness key's name+hash (`accord key list`).\n\n\
Exit codes: 0 revoked, 1 refused (another rotation running; the revocation stands here but could not yet be recorded in an agreement: run again), 2 usage or input error (no node home, a kid the node does not hold, a compromise time in the future, an empty reason)."
    )]
    Revoke {
        /// The node home.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// Which key: kas or signing.
        #[arg(value_parser = parse_kind)]
        kind: KeyKind,
        /// The key's kid (`accord key list`; a signing key's ES384 half's).
        #[arg(long, value_name = "KID")]
        kid: String,
        /// From when the key is held compromised (RFC 3339 with a zone, or YYYY-MM-DD).
        #[arg(long, value_name = "TIME")]
        compromised: String,
        /// Why, for the record.
        #[arg(long)]
        reason: String,
    },
    /// The keys the node has had, by kind: since when, and which are current.
    #[command(
        after_help = "Example:\n  accord key list --dir pak\n  accord --json key list --dir pak\n  # {\"keys\": [{\"kind\", \"id\", \"since\", \"replaced\"?, \"compromised\"?, \"revoked_because\"?}], \"kas_held\": [\"<kid>\", ...], \"tls_waiting\"?: \"<pin>\", \"custody\": [{\"key\", \"custody\": \"file\"|\"pkcs11\", \"token\"?, \"file\"}]}\n\n\
A node that never rotated a key lists its current ones only (`since` unknown). kas_held is every KAS private key the node holds: objects sealed to any of them open. tls_waiting is a rotated TLS key the node presents once partners acknowledged it.\n\n\
Exit codes: 0 ok, 2 usage or input error (no node home)."
    )]
    List {
        /// The node home.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
    },
}

fn parse_kind(s: &str) -> Result<KeyKind, String> {
    KeyKind::parse(s).ok_or_else(|| {
        format!(
            "`{s}`: give one of {}",
            KeyKind::ALL.map(|k| k.as_str()).join(", ")
        )
    })
}

/// Run `accord key ...`.
pub fn run(cmd: KeyCommand, out: &Output) -> Result<Code> {
    match cmd {
        KeyCommand::Rotate {
            dir,
            kind,
            reason,
            grace_days,
        } => {
            let home = Home::open(&dir)?;
            let opts = RotateOptions {
                kind,
                reason,
                at: accord_agreement::Time::now(),
                grace_days,
            };
            let r = match change_keys(out, rotation::rotate(&home, &opts))? {
                Ok(r) => r,
                Err(code) => return Ok(code),
            };
            if out.json {
                out.print_json(&serde_json::to_value(&r)?);
            } else {
                println!(
                    "{} key rotated at the {} node: {} -> {} (from {})",
                    r.kind,
                    home.config.party,
                    short(&r.old),
                    short(&r.new),
                    r.effective
                );
                for a in &r.agreements {
                    match &a.reason {
                        None => println!(
                            "  agreement {}: amended ({} records); partners receive it over federation",
                            a.id, a.records
                        ),
                        Some(why) => println!("  agreement {}: skipped: {why}", a.id),
                    }
                }
                match r.kind {
                    KeyKind::Kas => println!(
                        "the old key stays in keys/kas/: what was sealed to it still opens"
                    ),
                    KeyKind::Tls => println!(
                        "partners accept the old key until {}; the node presents the new one once they have acknowledged it (keys/tls.next.key until then). Credentials issued before accord 2026-12-06 pin the old key: renew them",
                        r.grace_until.as_deref().unwrap_or("the grace ends")
                    ),
                    KeyKind::Log | KeyKind::Witness => println!(
                        "the old key signs beside the new one until {} (kept in keys/{}/); partners accept either until then, the new one alone after",
                        r.grace_until.as_deref().unwrap_or("the grace ends"),
                        r.kind
                    ),
                    _ => println!(
                        "the old key's public half stays in keys/signing/: what it signed still verifies"
                    ),
                }
            }
            Ok(Code::Ok)
        }
        KeyCommand::Revoke {
            dir,
            kind,
            kid,
            compromised,
            reason,
        } => {
            let compromised = accord_agreement::Time::parse_time_or_date(&compromised)
                .context("--compromised")?;
            let home = Home::open(&dir)?;
            let opts = rotation::RevokeOptions {
                kind,
                kid,
                compromised,
                reason,
                at: accord_agreement::Time::now(),
            };
            let r = match change_keys(out, rotation::revoke(&home, &opts))? {
                Ok(r) => r,
                Err(code) => return Ok(code),
            };
            if out.json {
                out.print_json(&serde_json::to_value(&r)?);
            } else {
                println!(
                    "{} key {} revoked at the {} node, compromised since {}",
                    if r.kind == KeyKind::Kas {
                        "KAS"
                    } else {
                        "signing"
                    },
                    short(&r.kid),
                    home.config.party,
                    r.compromised
                );
                if let Some(n) = &r.replaced_by {
                    println!("  replaced first by {}", short(n));
                }
                for a in &r.agreements {
                    match &a.reason {
                        None => println!(
                            "  agreement {}: revocation recorded ({} records)",
                            a.id, a.records
                        ),
                        Some(why) => println!("  agreement {}: skipped: {why}", a.id),
                    }
                }
            }
            Ok(Code::Ok)
        }
        KeyCommand::List { dir } => {
            let home = Home::open(&dir)?;
            let kas_held = accord_keys::history::kas_ring_kids(&home.layout.keys())?;
            let mut keys = home.history.keys.clone();
            let signing =
                accord_keys::load_signing_public(&home.layout.key(accord_keys::SIGNING_PUB))?;
            let current = [
                (
                    "signing",
                    accord_agreement::SigningKeys::from_public(&signing)?
                        .kids()
                        .0,
                ),
                ("kas", kas_held[0].clone()),
                (
                    "tls",
                    home.party
                        .node
                        .as_ref()
                        .map(|n| n.tls_spki_sha256.clone())
                        .unwrap_or_default(),
                ),
            ];
            // A rotated TLS key waiting for partners' acknowledgement (tls.next.crt).
            let next_crt = home.layout.keys().join("tls.next.crt");
            let tls_waiting = match std::fs::read_to_string(&next_crt) {
                Ok(pem) => accord_node_api::pki::certs_from_pem(&pem)?
                    .first()
                    .map(|der| accord_node_api::pki::spki_pin(der))
                    .transpose()?,
                Err(_) => None,
            };
            // The log key party.json names, and the witness's key.
            let log = home
                .party
                .node
                .as_ref()
                .map(|n| accord_agreement::amendment::verifier_key_id(&n.log_verifier_key))
                .unwrap_or_default();
            let witness = std::fs::read_to_string(home.layout.dir.join("witness/witness.vkey"))
                .map(|v| accord_agreement::amendment::verifier_key_id(v.trim()))
                .unwrap_or_default();
            let current = current
                .into_iter()
                .chain([("log", log), ("witness", witness)]);
            // A node that never rotated a kind lists its current key of that kind.
            for (kind, id) in current {
                if !id.is_empty() && !keys.iter().any(|k| k.kind == kind && k.id == id) {
                    keys.push(accord_keys::history::HistoryEntry {
                        kind: kind.into(),
                        id,
                        since: "unknown".into(),
                        replaced: None,
                        accepted_until: None,
                        compromised: None,
                        revoked_because: None,
                    });
                }
            }
            if out.json {
                let mut v = serde_json::json!({
                    "keys": keys,
                    "kas_held": kas_held,
                    "custody": accord_node::key_places(&home),
                });
                if let Some(pin) = &tls_waiting {
                    v["tls_waiting"] = serde_json::json!(pin);
                }
                out.print_json(&v);
            } else {
                for k in &keys {
                    let mut state = match (&k.replaced, &k.accepted_until) {
                        (Some(t), Some(u)) => format!("replaced {t}, accepted until {u}"),
                        (Some(t), None) => format!("replaced {t}"),
                        (None, _) if k.kind == "tls" && tls_waiting.as_ref() == Some(&k.id) => {
                            "next: presented once partners acknowledged it".to_string()
                        }
                        (None, _) => "current".to_string(),
                    };
                    if let Some(c) = &k.compromised {
                        state.push_str(&format!(
                            ", REVOKED: compromised since {c} ({})",
                            k.revoked_because.as_deref().unwrap_or("no reason given")
                        ));
                    }
                    let held = if k.kind == "kas" && kas_held.contains(&k.id) {
                        ", private key held"
                    } else {
                        ""
                    };
                    println!(
                        "{:<8} {}  since {}  {state}{held}",
                        k.kind,
                        short(&k.id),
                        k.since
                    );
                }
                for p in accord_node::key_places(&home) {
                    println!("{p}");
                }
            }
            Ok(Code::Ok)
        }
    }
}

/// Run a change to the node's keys: its result, or the exit code of a refusal (1, the
/// message printed) when the node's keys could not be changed as asked.
fn change_keys<T>(
    out: &Output,
    change: impl std::future::Future<Output = Result<T, accord_node::Error>>,
) -> Result<Result<T, Code>> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    match rt.block_on(change) {
        Ok(r) => Ok(Ok(r)),
        Err(accord_node::Error::Refused(msg)) => Ok(Err(out.refused(
            &format!("error: {msg}"),
            &msg,
            vec![],
            Code::Negative,
        ))),
        Err(e) => Err(e.into()),
    }
}

fn short(id: &str) -> String {
    // A log or witness key's id (`name+hash`) is short already, and whole is what
    // `key revoke --kid` takes.
    if id.contains('+') {
        return id.to_string();
    }
    match id.get(..16) {
        Some(s) if id.len() > 16 => format!("{s}…"),
        _ => id.to_string(),
    }
}
