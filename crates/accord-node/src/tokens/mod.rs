//! The credentials of OpenTDF clients, as a running node holds them: the node's token
//! key (its OAuth issuer), the DPoP proofs it has seen, and the classical KAS keys kept
//! for clients that cannot do post-quantum. State only: the routes that use it are
//! the `opentdf` component, and this room imports no component, so that `Node` can hold it.

pub(crate) mod dpop;
pub(crate) mod external;
pub(crate) mod issuer;

use crate::home::{Home, OpenTdfConfig, NODE_TOML};
use crate::Error;
use accord_keys::KasPrivateKey;

/// The node's RSA-2048 KAS key for OpenTDF clients that cannot do post-quantum.
pub const KAS_RSA_KEY: &str = "kas-rsa.key";
/// The node's EC P-384 KAS key, likewise.
pub const KAS_EC_KEY: &str = "kas-ec.key";
/// The node's access-token signing key (ES384).
pub const TOKEN_KEY: &str = "token.key";

/// A running node's OpenTDF state.
pub(crate) struct OpenTdf {
    pub(crate) config: OpenTdfConfig,
    pub(crate) issuer: issuer::Issuer,
    pub(crate) proofs: dpop::ReplayCache,
    /// Client assertion ids seen (`private_key_jwt`), kept as DPoP proof ids are.
    pub(crate) assertions: dpop::ReplayCache,
    /// The external OpenID issuer, when `[opentdf.issuer]` names one.
    pub(crate) external: Option<external::External>,
}

impl OpenTdf {
    /// Read the OpenTDF state of `home`, when node.toml has `[opentdf]`.
    pub(crate) fn load(home: &Home) -> Result<Option<OpenTdf>, Error> {
        let Some(config) = home.config.opentdf.clone() else {
            return Ok(None);
        };
        let issuer = issuer::Issuer::load(&home.layout.key(TOKEN_KEY)).map_err(|e| {
            Error::Home {
                dir: home.layout.dir.clone(),
                msg: format!(
                    "[opentdf] is in {NODE_TOML} but its token key cannot be read ({e}): run `accord opentdf enable --dir {}`",
                    home.layout.dir.display()
                ),
            }
        })?;
        let external = config
            .issuer
            .as_ref()
            .map(|i| external::External::new(i, &home.layout.dir))
            .transpose()?;
        Ok(Some(OpenTdf {
            config,
            issuer,
            proofs: dpop::ReplayCache::default(),
            assertions: dpop::ReplayCache::default(),
            external,
        }))
    }
}

/// The classical KAS keys a home holds (RSA-2048, EC P-384), each when its file exists.
pub(crate) fn classical_keys(home: &Home) -> Result<Vec<KasPrivateKey>, Error> {
    let mut v = Vec::new();
    for name in [KAS_RSA_KEY, KAS_EC_KEY] {
        let path = home.layout.key(name);
        if path.exists() {
            v.push(home.kas_key_at(&path)?);
        }
    }
    Ok(v)
}
