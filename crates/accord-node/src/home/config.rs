//! `node.toml`: the node's configuration, as `accord init` writes it and an operator
//! edits it (unknown keys refused).

use accord_node_api::pki;
use serde::{Deserialize, Serialize};

/// The configuration file name.
pub const NODE_TOML: &str = "node.toml";
/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8443";

/// `node.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// The party (ISO 3166 trigraph).
    pub party: String,
    /// The party's name.
    pub name: String,
    /// Address to listen on (`127.0.0.1:8443`).
    pub listen: String,
    /// The URL partners and people use (`https://host:port`).
    pub url: String,
    /// The national policy's name (one of `policies/`).
    pub national_policy: String,
    /// The audit log's origin line.
    pub log_origin: String,
    /// A database URL; absent means the embedded SQLite file `node.db`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// Disk space kept free for the audit log and the database, in MiB: deliveries
    /// that would eat into it are answered 507 and retried later by their sender
    /// ([`crate::disk::DEFAULT_RESERVE_MIB`] when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_reserve_mib: Option<u64>,
    /// Where to serve `/metrics` (Prometheus text format, plain HTTP), for instance
    /// `127.0.0.1:9464`; absent: no metrics listener. Bind it to loopback or a
    /// management network: it shows counts, never a name, but anyone who reaches it
    /// may read them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<String>,
    /// How many days a person's credential is valid from its issue (`accord user add`,
    /// `accord user renew`): 1 to 1095, [`pki::PERSON_VALIDITY_DAYS`] (365) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_validity_days: Option<u32>,
    /// OpenTDF clients (`[opentdf]`, made by `accord opentdf enable`): absent, the node
    /// answers them that it does not serve them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opentdf: Option<OpenTdfConfig>,
    /// A PKCS#11 token the classical halves of the node's signing and KAS keys live in
    /// (`[pkcs11]`, [`crate::custody`]); absent: every key is a file in `keys/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pkcs11: Option<crate::custody::Pkcs11Config>,
}

/// How the node serves OpenTDF clients (`docs/opentdf.md`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct OpenTdfConfig {
    /// `required` (default): every access token is bound to a DPoP key and every rewrap
    /// carries a DPoP proof, whose key must have signed the signed request token.
    /// `optional`: a plain Bearer token is taken too (otdf-python 0.11 sends only
    /// that); its signed request token cannot be checked, and the audit entry says so.
    #[serde(default)]
    pub dpop: DpopMode,
    /// The highest classification (a name of the national policy) released to an
    /// OpenTDF client: every key it receives travels under RSA-OAEP or ECDH, which a
    /// quantum computer would open. `CONFIDENTIAL` when absent.
    #[serde(default = "default_classical_ceiling")]
    pub classical_ceiling: String,
    /// How long an access token of the node's issuer lives, in seconds (30 to 3600;
    /// 300 when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_lifetime_secs: Option<u32>,
    /// An external OpenID Connect issuer (Keycloak, say) whose access tokens the node
    /// takes beside its own: `[opentdf.issuer]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<IssuerConfig>,
}

/// `[opentdf.issuer]`: an external OpenID Connect issuer trusted for the node's people.
/// A token it signs names a person of this node by one of its claims; the person's
/// clearance and status are still the node's record.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct IssuerConfig {
    /// The issuer's URL (`https://kc.example/realms/accord`), or its discovery
    /// document's (the same followed by `/.well-known/openid-configuration`).
    pub discovery: String,
    /// The audience its tokens must name (`aud`) to be taken here.
    pub audience: String,
    /// The claim whose value is the id of a person of this node. It must be one only
    /// the issuer's administrators set (not a name a user may choose or edit, as
    /// `preferred_username` can be in a realm with self-registration): whoever the
    /// claim names is asking.
    pub person_claim: String,
    /// A PEM file of the CA certificates the issuer's TLS is checked against instead
    /// of the system's roots (relative to the node's home, or absolute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
}

impl IssuerConfig {
    /// The issuer's URL (`discovery` without the document's path).
    pub fn issuer(&self) -> &str {
        accord_node_api::opentdf::oidc::issuer_of(&self.discovery)
    }

    /// What is wrong with this section, if anything, in a node whose URL is
    /// `node_url`.
    pub fn check(&self, node_url: &str) -> Result<(), String> {
        if accord_node_api::opentdf::oidc::same_issuer(self.issuer(), node_url) {
            return Err(format!(
                "discovery = \"{}\" is this node itself, whose tokens it takes anyway",
                self.discovery
            ));
        }
        if !accord_node_api::opentdf::oidc::is_https(&self.discovery) {
            return Err(format!(
                "discovery = \"{}\" is not an https URL (the issuer's, https://HOST/...)",
                self.discovery
            ));
        }
        if self.audience.trim().is_empty() {
            return Err(
                "audience is empty: name the audience the issuer's tokens carry for this node"
                    .into(),
            );
        }
        if self.person_claim.trim().is_empty() {
            return Err("person_claim is empty".into());
        }
        Ok(())
    }
}

/// The classical ceiling when node.toml sets none.
pub const DEFAULT_CLASSICAL_CEILING: &str = "CONFIDENTIAL";

fn default_classical_ceiling() -> String {
    DEFAULT_CLASSICAL_CEILING.into()
}

impl OpenTdfConfig {
    /// Token lifetime, bounded.
    pub fn token_lifetime(&self) -> i64 {
        i64::from(self.token_lifetime_secs.unwrap_or(300).clamp(30, 3600))
    }
}

/// Whether DPoP is required of OpenTDF clients.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DpopMode {
    /// Every token bound to a key, every rewrap proven with it.
    #[default]
    Required,
    /// Bearer tokens accepted too.
    Optional,
}

impl NodeConfig {
    /// The highest classification released under a classical key wrapping:
    /// `[opentdf] classical_ceiling`, else CONFIDENTIAL.
    pub fn classical_ceiling(&self) -> &str {
        self.opentdf
            .as_ref()
            .map_or(DEFAULT_CLASSICAL_CEILING, |o| o.classical_ceiling.as_str())
    }

    /// How many days a person's credential is valid.
    pub fn credential_validity_days(&self) -> u32 {
        self.credential_validity_days
            .unwrap_or(pki::PERSON_VALIDITY_DAYS)
    }

    /// The disk reserve in bytes.
    pub fn disk_reserve(&self) -> u64 {
        self.disk_reserve_mib
            .unwrap_or(crate::disk::DEFAULT_RESERVE_MIB)
            .saturating_mul(1 << 20)
    }
}
