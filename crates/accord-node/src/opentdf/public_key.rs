//! `kas.AccessService/PublicKey`: the KAS public key an OpenTDF client encrypts to.

use crate::node::{Node, OwnKeys};
use crate::tokens::OpenTdf;
use accord_keys::{KasAlg, KasPrivateKey};
use accord_node_api::opentdf::connect::{Code, ConnectError};
use accord_node_api::opentdf::kas::{PublicKeyRequest, PublicKeyResponse};

/// The OpenTDF algorithm names of the keys a node can hold (`lib/ocrypto/key_type.go`).
pub(crate) fn opentdf_alg(alg: KasAlg) -> &'static str {
    match alg {
        KasAlg::HybridP384MlKem1024 => "hpqt:secp384r1-mlkem1024",
        KasAlg::MlKem1024 => "mlkem:1024",
        KasAlg::EcP256 => "ec:secp256r1",
        KasAlg::EcP384 => "ec:secp384r1",
        KasAlg::Rsa2048 => "rsa:2048",
    }
}

impl Node {
    /// The state of the OpenTDF component, or the `unimplemented` answer of a node
    /// whose node.toml has no `[opentdf]`.
    pub(crate) fn opentdf(&self) -> Result<&OpenTdf, ConnectError> {
        self.opentdf.as_ref().ok_or_else(|| ConnectError {
            code: Code::Unimplemented,
            message: format!(
                "the {} node does not serve OpenTDF clients: its officer enables them with `accord opentdf enable`",
                self.party()
            ),
        })
    }

    /// The KAS key of OpenTDF algorithm `name` (empty: `rsa:2048`, as the platform).
    pub(crate) fn kas_key_for<'k>(keys: &'k OwnKeys, name: &str) -> Option<&'k KasPrivateKey> {
        let name = if name.is_empty() { "rsa:2048" } else { name };
        keys.kas().iter().find(|k| opentdf_alg(k.alg()) == name)
    }

    /// `POST /kas.AccessService/PublicKey`. Public: a public key is no secret.
    pub fn opentdf_public_key(
        &self,
        req: &PublicKeyRequest,
    ) -> Result<PublicKeyResponse, ConnectError> {
        self.opentdf()?;
        if !matches!(req.fmt.as_str(), "" | "pkcs8") {
            return Err(ConnectError {
                code: Code::InvalidArgument,
                message: format!(
                    "fmt `{}`: this KAS answers its keys as PEM (fmt `pkcs8`)",
                    req.fmt
                ),
            });
        }
        let keys = self.own();
        let key = Self::kas_key_for(&keys, &req.algorithm).ok_or_else(|| {
            let held: Vec<&str> = keys.kas().iter().map(|k| opentdf_alg(k.alg())).collect();
            ConnectError {
                code: Code::NotFound,
                message: format!(
                    "no key for algorithm `{}` on the {} node (it holds {})",
                    req.algorithm,
                    self.party(),
                    held.join(", ")
                ),
            }
        })?;
        Ok(PublicKeyResponse {
            public_key: key.public_key().to_pem(),
            // A legacy client (`v` = "1") takes the key alone.
            kid: if req.v == "1" {
                String::new()
            } else {
                key.public_key().kid()
            },
        })
    }
}
