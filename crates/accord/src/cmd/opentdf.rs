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
    /// Trust an external OpenID Connect issuer (Keycloak, say) for the node's people:
    /// its access tokens are taken beside the node's own, a claim naming the person.
    #[command(
        after_help = "Example:\n  accord opentdf issuer --dir pak --discovery https://sso.pak.example/realms/accord --audience accord-kas --person-claim accord_person\n  accord opentdf issuer --dir pak --discovery https://sso.pak.example/realms/accord --audience accord-kas \\\n      --person-claim accord_person --ca-file sso-ca.pem\n\n\
The issuer's discovery document (<URL>/.well-known/openid-configuration) and key set are read now, so that a wrong URL, CA or key set shows here; then [opentdf.issuer] is added to node.toml and the node takes the issuer's tokens from its next start. A token is taken when the issuer's key signed it, its `aud` includes --audience, it is in its lifetime (60 s of skew), and its --person-claim names a person of this node; that person's clearance and status are the node's record, as for every caller. Choose a claim only the issuer's administrators set (in Keycloak, a user attribute mapped into the token, users not allowed to edit it). `accord user suspend` stops a person's issuer tokens; `accord user revoke` stops only what this node issued. OpenTDF clients are pointed at the issuer's token endpoint by the node's /.well-known/opentdf-configuration. --ca-file is copied into keys/ and trusted instead of the system's roots. One issuer at a time: edit node.toml to change it.\n\n\
Exit codes: 0 ok, 2 usage or input error (no node home, OpenTDF not enabled, an issuer already set, an issuer that cannot be read)."
    )]
    Issuer {
        /// The node home.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// The issuer's URL (or its discovery document's), https.
        #[arg(long, value_name = "URL")]
        discovery: String,
        /// The audience (`aud`) its tokens carry for this node.
        #[arg(long, value_name = "AUDIENCE")]
        audience: String,
        /// The claim whose value is a person's id on this node: one only the issuer's
        /// administrators set (a username users may choose or edit would let them choose who they are).
        #[arg(long, value_name = "CLAIM")]
        person_claim: String,
        /// CA certificates (PEM) to check the issuer's TLS with, instead of the system's.
        #[arg(long, value_name = "FILE")]
        ca_file: Option<PathBuf>,
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
        OpenTdfCommand::Issuer {
            dir,
            discovery,
            audience,
            person_claim,
            ca_file,
        } => {
            let config = accord_node::home::IssuerConfig {
                discovery,
                audience,
                person_claim,
                ca_file: ca_file.map(|f| f.display().to_string()),
            };
            let rt = tokio::runtime::Runtime::new()?;
            let t = rt.block_on(accord_node::opentdf::trust_issuer(&dir, config))?;
            if out.json {
                out.print_json(&serde_json::to_value(&t)?);
            } else {
                println!(
                    "trusting {} ({} signing key{}; token endpoint {}): restart the node to take its tokens",
                    t.issuer,
                    t.keys,
                    if t.keys == 1 { "" } else { "s" },
                    t.token_endpoint.as_deref().unwrap_or("not published")
                );
                println!(
                    "a token names a person of this node by `{}`, and must carry audience {}",
                    t.person_claim, t.audience
                );
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
