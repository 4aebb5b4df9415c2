//! `accord opentdf`: serve OpenTDF clients (otdf-python, the Go and web SDKs) from a
//! node, and `accord user opentdf-client`, the credentials a person gives such a client.

use crate::exit::{Code, Output};
use accord_node::home::DpopMode;
use anyhow::Result;
use clap::Subcommand;
use std::path::{Path, PathBuf};

/// `accord opentdf ...`.
#[derive(Subcommand, Debug)]
pub enum OpenTdfCommand {
    /// Let OpenTDF clients use the node: make its classical KAS keys (RSA-2048, EC
    /// P-384) and its token key, and add `[opentdf]` to node.toml.
    #[command(
        after_help = "Example:\n  accord opentdf enable --dir pak\n  accord opentdf enable --dir pak --dpop optional --classical-ceiling RESTRICTED\n\n\
Then restart the node (`accord serve`) and give people client credentials with `accord user opentdf-client`. An OpenTDF client receives every key under RSA-OAEP or ECDH, which a quantum computer could open: the node releases nothing above the classical ceiling (default CONFIDENTIAL) to one. --dpop optional also takes Bearer tokens, whose signed request tokens cannot be checked (otdf-python 0.11 needs it); the audit log says so on each entry. Existing keys and an existing [opentdf] are kept. docs/opentdf.md has the whole guide.\n\n\
Exit codes: 0 ok, 2 usage or input error (no node home, a ceiling the national policy does not have)."
    )]
    Enable {
        /// The node home.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// `required` (every token bound to a DPoP key) or `optional` (Bearer too).
        #[arg(long, value_name = "MODE", default_value = "required", value_parser = parse_dpop)]
        dpop: DpopMode,
        /// The highest classification of the national policy released to an OpenTDF client.
        #[arg(long, value_name = "CLASSIFICATION", default_value = "CONFIDENTIAL")]
        classical_ceiling: String,
    },
}

fn parse_dpop(s: &str) -> Result<DpopMode, String> {
    match s {
        "required" => Ok(DpopMode::Required),
        "optional" => Ok(DpopMode::Optional),
        _ => Err(format!("`{s}`: give required or optional")),
    }
}

/// Run `accord opentdf ...`.
pub fn run(cmd: OpenTdfCommand, out: &Output) -> Result<Code> {
    match cmd {
        OpenTdfCommand::Enable {
            dir,
            dpop,
            classical_ceiling,
        } => {
            let e = accord_node::opentdf::enable(&dir, dpop, &classical_ceiling)?;
            if out.json {
                out.print_json(&serde_json::json!({
                    "made": e.made,
                    "configured": e.configured,
                    "dpop": e.dpop,
                    "classical_ceiling": e.classical_ceiling,
                    "keys": e.keys.iter().map(|(alg, kid)| serde_json::json!({"algorithm": alg, "kid": kid})).collect::<Vec<_>>(),
                }));
            } else {
                for m in &e.made {
                    println!("made keys/{m} (owner-only)");
                }
                if e.configured {
                    println!(
                        "added [opentdf] to node.toml: restart the node to serve OpenTDF clients"
                    );
                } else {
                    println!("node.toml already has [opentdf]: kept as it is");
                }
                println!(
                    "DPoP {}; classical ceiling {}",
                    match e.dpop {
                        DpopMode::Required => "required",
                        DpopMode::Optional => "optional (Bearer tokens taken too)",
                    },
                    e.classical_ceiling
                );
                for (alg, kid) in &e.keys {
                    println!("KAS key {alg}: kid {kid}");
                }
            }
            Ok(Code::Ok)
        }
    }
}

/// `accord user opentdf-client`: issue client credentials and write them owner-only.
pub fn issue_client(
    dir: &Path,
    id: &str,
    output: &Path,
    force: bool,
    out: &Output,
) -> Result<Code> {
    let home = accord_node::home::Home::open(dir)?;
    if output.exists() && !force {
        anyhow::bail!(
            "{} already exists: give --force to replace it, or another -o",
            output.display()
        );
    }
    let rt = tokio::runtime::Runtime::new()?;
    let c = rt.block_on(accord_node::directory::issue_opentdf_client(&home, id))?;
    if force {
        let _ = std::fs::remove_file(output);
    }
    let url = home.config.url.trim_end_matches('/');
    let file = zeroize::Zeroizing::new(serde_json::to_string_pretty(&serde_json::json!({
        "platform_endpoint": url,
        "token_endpoint": format!("{url}/oauth/token"),
        "client_id": c.client_id,
        "client_secret": c.client_secret.as_str(),
    }))?);
    accord_keys::write_private_file(output, file.as_bytes())?;
    if out.json {
        out.print_json(&serde_json::json!({
            "person": c.person,
            "client_id": c.client_id,
            "file": output.display().to_string(),
        }));
    } else {
        println!(
            "issued {} OpenTDF client {}; its secret is in {} (owner-only): hand it over as you would a credential",
            c.person,
            c.client_id,
            output.display()
        );
        if home.config.opentdf.is_none() {
            println!(
                "note: this node does not serve OpenTDF clients yet (`accord opentdf enable`)"
            );
        }
    }
    Ok(Code::Ok)
}
