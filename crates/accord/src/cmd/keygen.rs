//! `accord keygen`: make a party's KAS key pair, signing key pair and `party.json`.

use crate::exit::{Code, Output};
use accord_keys::{ClassicalAlg, KasAlg, KeygenOptions};
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

/// Generate a KAS key pair, a signing key pair (classical + ML-DSA-87) and party.json.
#[derive(Args, Debug)]
#[command(
    after_help = KEYGEN_HELP
)]
pub struct KeygenArgs {
    /// Directory to write the keys into (created 0700 when missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Party code, an ISO 3166 trigraph.
    #[arg(long, default_value = "PAK")]
    pub party: String,
    /// KAS key algorithm.
    #[arg(long, default_value = "hybrid-p384-mlkem1024",
          value_parser = ["hybrid-p384-mlkem1024", "mlkem1024", "ec-p384", "ec-p256", "rsa2048"])]
    pub kas: String,
    /// Classical signing algorithm (an ML-DSA-87 key is always made too).
    #[arg(long, default_value = "es384", value_parser = ["es384", "ed25519"])]
    pub signing: String,
    /// The party's name in party.json (default: the party code).
    #[arg(long)]
    pub name: Option<String>,
    /// The signing authority, e.g. "Joint Staff Headquarters".
    #[arg(long)]
    pub authority: Option<String>,
    /// The party's national policy identifier.
    #[arg(long)]
    pub policy: Option<String>,
}

pub fn run(args: KeygenArgs, out: &Output) -> Result<Code> {
    let opts = KeygenOptions {
        party: args.party,
        name: args.name,
        authority: args.authority,
        policy_id: args.policy,
        kas: args.kas.parse::<KasAlg>()?,
        signing: args.signing.parse::<ClassicalAlg>()?,
    };
    let made = accord_keys::keygen(&args.out, &opts)?;
    let p = &made.party;
    if out.json {
        out.print_json(&serde_json::json!({
            "party": p.party,
            "dir": args.out.display().to_string(),
            "files": made.files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>(),
            "kas": { "alg": p.kas_keys[0].alg, "kid": p.kas_keys[0].kid },
            "signing": {
                "classical": { "alg": p.signing_keys.classical.alg, "kid": p.signing_keys.classical.kid },
                "ml_dsa_87": { "alg": p.signing_keys.ml_dsa_87.alg, "kid": p.signing_keys.ml_dsa_87.kid },
            },
        }));
    } else {
        println!("party {} keys written to {}", p.party, args.out.display());
        for f in &made.files {
            println!("  {}", f.display());
        }
        println!("  KAS {} kid {}", p.kas_keys[0].alg, p.kas_keys[0].kid);
        println!(
            "  signing {} kid {}",
            p.signing_keys.classical.alg, p.signing_keys.classical.kid
        );
        println!(
            "  signing {} kid {}",
            p.signing_keys.ml_dsa_87.alg, p.signing_keys.ml_dsa_87.kid
        );
    }
    Ok(Code::Ok)
}

// `--help` texts: examples stay under 76 columns, so that an 80-column terminal
// does not break them for copy and paste; prose is one line a paragraph, which clap
// wraps.
const KEYGEN_HELP: &str = "\
Example:
  accord keygen --out keys/pak --party PAK --name Pakistan \\
      --authority \"Joint Staff Headquarters\" --policy PAK

Writes DIR/kas.key DIR/kas.pub DIR/signing.key DIR/signing.pub DIR/party.json. Private keys (*.key) are created with mode 0600; existing files are never overwritten.

Exit codes: 0 ok, 2 usage or input error.";
