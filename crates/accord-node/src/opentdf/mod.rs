//! OpenTDF clients: the node's KAS as the OpenTDF platform's API spells it, so that a
//! partner's existing OpenTDF tools (otdf-python, the Go and web SDKs) discover the
//! node, fetch its public keys, encrypt to it and have it rewrap keys for its people.
//!
//! The component owns its state (the token key, the DPoP replay cache) and answers the
//! routes `server/opentdf.rs` serves; the wire forms are `accord_node_api::opentdf`.
//! What it does not own is the decision: a rewrap goes through [`Node::decide_for`] like
//! every other route, with `Wrapping::Classical` because an OpenTDF client receives its
//! key under RSA-OAEP or ECDH only, and every decision is in the audit log before a key
//! leaves (`rewrap.rs`). `docs/opentdf.md` is the operator's guide,
//! `docs/design/opentdf-kas.md` the design with its sources.
//!
//! - `token`: the node's token endpoint (its issuer and DPoP proofs are `crate::tokens`);
//! - `discovery`: `/.well-known/opentdf-configuration` and the OIDC discovery document;
//! - `public_key`: `kas.AccessService/PublicKey`;
//! - `rewrap`: `kas.AccessService/Rewrap`, and the return wrapping of each key.

mod discovery;
mod public_key;
mod rewrap;
mod session;
mod token;

pub use rewrap::Asker;
pub use token::{OAuthError, MAX_TOKEN_REQUEST};

use crate::home::{DpopMode, Home};
use crate::tokens::{classical_keys, issuer};
use crate::Error;
use accord_keys::KasAlg;
use std::path::Path;

pub use crate::tokens::{KAS_EC_KEY, KAS_RSA_KEY, TOKEN_KEY};

/// The path of the KAS as OpenTDF clients name it in a key access object (`<url>/kas`;
/// the SDKs strip `/kas` to find the platform).
pub fn kas_url(node_url: &str) -> String {
    format!("{}/kas", node_url.trim_end_matches('/'))
}

/// What `accord opentdf enable` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Enabled {
    /// Key files made now (existing ones are kept).
    pub made: Vec<String>,
    /// Whether `[opentdf]` was added to node.toml now (false: it was there).
    pub configured: bool,
    /// The DPoP setting in force.
    pub dpop: DpopMode,
    /// The classical ceiling in force.
    pub classical_ceiling: String,
    /// The KAS ids (`kid`) OpenTDF clients may name, by algorithm.
    pub keys: Vec<(String, String)>,
}

/// `accord opentdf enable`: make the classical KAS keys and the token key that are
/// missing, and add `[opentdf]` to node.toml if it is not there. The node reads it at
/// its next start.
pub fn enable(dir: &Path, dpop: DpopMode, classical_ceiling: &str) -> Result<Enabled, Error> {
    let home = Home::open(dir)?;
    let national = home
        .policies
        .get(&home.config.national_policy)
        .ok_or_else(|| Error::Input("the national policy is not loaded".into()))?;
    let ceiling = national
        .classification_by_name(classical_ceiling)
        .ok_or_else(|| {
            Error::Input(format!(
                "--classical-ceiling {classical_ceiling}: not a classification of {} ({})",
                national.name,
                national.classification_names().join(", ")
            ))
        })?
        .name
        .clone();
    let mut made = Vec::new();
    for (name, alg) in [(KAS_RSA_KEY, KasAlg::Rsa2048), (KAS_EC_KEY, KasAlg::EcP384)] {
        let path = home.layout.key(name);
        if !path.exists() {
            // In the node's token when it has one, as its other KAS keys.
            let key = home.new_kas_key(alg)?;
            accord_keys::write_private_file(&path, key.to_pem()?.as_bytes())?;
            made.push(name.to_string());
        }
    }
    let token = home.layout.key(TOKEN_KEY);
    if !token.exists() {
        issuer::make_key(&token)?;
        made.push(TOKEN_KEY.to_string());
    }
    let (configured, dpop, classical_ceiling) = match &home.config.opentdf {
        Some(o) => (false, o.dpop, o.classical_ceiling.clone()),
        None => {
            let path = home.layout.config();
            let mut text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
            if !text.ends_with('\n') {
                text.push('\n');
            }
            let mode = match dpop {
                DpopMode::Required => "required",
                DpopMode::Optional => "optional",
            };
            text.push_str(&format!(
                "\n# OpenTDF clients (docs/opentdf.md).\n[opentdf]\ndpop = \"{mode}\"\nclassical_ceiling = \"{ceiling}\"\n"
            ));
            crate::home::write_config_text(&path, &text)?;
            (true, dpop, ceiling)
        }
    };
    let home = Home::open(dir)?;
    let mut keys = vec![(
        KasAlg::HybridP384MlKem1024.to_string(),
        accord_keys::load_kas_public(&home.layout.key(accord_keys::KAS_PUB))?.kid(),
    )];
    for k in classical_keys(&home)? {
        keys.push((k.alg().to_string(), k.public_key().kid()));
    }
    Ok(Enabled {
        made,
        configured,
        dpop,
        classical_ceiling,
        keys,
    })
}

/// What `accord opentdf issuer` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct IssuerTrusted {
    /// The issuer's URL.
    pub issuer: String,
    /// Its token endpoint, from its discovery document.
    pub token_endpoint: Option<String>,
    /// Its key set's URL.
    pub jwks_uri: String,
    /// How many of its keys the node can verify tokens with.
    pub keys: usize,
    /// The audience its tokens must carry.
    pub audience: String,
    /// The claim naming the person.
    pub person_claim: String,
}

/// The CA file `accord opentdf issuer --ca-file` copies into the home.
pub const ISSUER_CA: &str = "issuer-ca.pem";

/// `accord opentdf issuer`: trust an external OpenID Connect issuer for the node's
/// people. Its discovery document and keys are fetched now, so that a wrong URL, CA or
/// key set is found by the officer rather than by the first client; then
/// `[opentdf.issuer]` is added to node.toml (the node reads it at its next start). A
/// CA file is copied into the home's `keys/`. One issuer at a time: an existing
/// `[opentdf.issuer]` is refused, to be edited in node.toml.
pub async fn trust_issuer(
    dir: &Path,
    mut config: crate::home::IssuerConfig,
) -> Result<IssuerTrusted, Error> {
    let home = Home::open(dir)?;
    let Some(o) = &home.config.opentdf else {
        return Err(Error::Input(format!(
            "this node does not serve OpenTDF clients yet: run `accord opentdf enable --dir {}` first",
            dir.display()
        )));
    };
    if let Some(i) = &o.issuer {
        return Err(Error::Input(format!(
            "node.toml already trusts the issuer {} ([opentdf.issuer]): one issuer at a time; edit node.toml to change it",
            i.discovery
        )));
    }
    config.check(&home.config.url).map_err(Error::Input)?;
    let ca_copy = home.layout.key(ISSUER_CA);
    if let Some(f) = &config.ca_file {
        let pem = std::fs::read_to_string(f).map_err(|e| Error::io(Path::new(f), e))?;
        accord_node_api::tls::roots_client_config(&pem)
            .map_err(|e| Error::Input(format!("--ca-file {f}: {e}")))?;
        std::fs::write(&ca_copy, pem).map_err(|e| Error::io(&ca_copy, e))?;
        config.ca_file = Some(format!("keys/{ISSUER_CA}"));
    }
    let external = crate::tokens::external::External::new(&config, &home.layout.dir)?;
    let (metadata, keys) = external.fetch_now().await.map_err(|e| {
        Error::Input(format!(
            "the issuer {} could not be read: {e}",
            config.issuer()
        ))
    })?;
    let path = home.layout.config();
    let mut text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    if !text.ends_with('\n') {
        text.push('\n');
    }
    let quoted = |s: &str| toml::Value::String(s.to_string()).to_string();
    text.push_str(&format!(
        "\n# An external OpenID Connect issuer for the node's people (docs/opentdf.md).\n[opentdf.issuer]\ndiscovery = {}\naudience = {}\nperson_claim = {}\n",
        quoted(&config.discovery),
        quoted(&config.audience),
        quoted(&config.person_claim)
    ));
    if let Some(f) = &config.ca_file {
        text.push_str(&format!("ca_file = {}\n", quoted(f)));
    }
    crate::home::write_config_text(&path, &text)?;
    Home::open(dir)?;
    Ok(IssuerTrusted {
        issuer: metadata.issuer,
        token_endpoint: metadata.token_endpoint,
        jwks_uri: metadata.jwks_uri,
        keys,
        audience: config.audience,
        person_claim: config.person_claim,
    })
}
