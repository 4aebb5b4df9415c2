//! Discovery: `/.well-known/opentdf-configuration` (what OpenTDF SDKs read to find the
//! token endpoint and the base key) and the OIDC discovery document of the node's
//! issuer.

use super::public_key::opentdf_alg;
use crate::node::Node;
use accord_keys::KasAlg;
use accord_node_api::opentdf::connect::ConnectError;
use serde_json::{json, Map, Value};

/// The DPoP proof algorithms the node verifies.
pub(crate) const DPOP_ALGS: [&str; 4] = ["ES256", "ES384", "PS256", "RS256"];

impl Node {
    fn origin(&self) -> &str {
        self.home.config.url.trim_end_matches('/')
    }

    /// The issuer's URL (the node's).
    pub(crate) fn issuer_url(&self) -> &str {
        self.origin()
    }

    /// The token endpoint's URL.
    pub(crate) fn token_endpoint(&self) -> String {
        format!("{}/oauth/token", self.origin())
    }

    /// The OIDC discovery document of the node's issuer
    /// (`/.well-known/openid-configuration`).
    pub fn openid_configuration(&self) -> Result<Value, ConnectError> {
        self.opentdf()?;
        let o = self.origin();
        Ok(json!({
            "issuer": o,
            "token_endpoint": self.token_endpoint(),
            "jwks_uri": format!("{o}/oauth/jwks"),
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["ES384"],
            "response_types_supported": ["token"],
            "dpop_signing_alg_values_supported": DPOP_ALGS,
            "id_token_signing_alg_values_supported": ["ES384"],
        }))
    }

    /// `GET /oauth/jwks`.
    pub fn opentdf_jwks(&self) -> Result<Value, ConnectError> {
        Ok(self.opentdf()?.issuer.jwks())
    }

    /// `GET /.well-known/opentdf-configuration` (and the Connect form). Public. The
    /// identity provider it points clients at is the external issuer when node.toml
    /// names one (the organisation's, where its people sign in), else the node.
    pub async fn opentdf_configuration(&self) -> Result<Map<String, Value>, ConnectError> {
        let ot = self.opentdf()?;
        let o = self.origin();
        let mut m = Map::new();
        match &ot.external {
            Some(x) => {
                let mut idp = Map::new();
                idp.insert("issuer".into(), json!(x.issuer()));
                if let Some(md) = x.metadata().await {
                    idp.insert("jwks_uri".into(), json!(md.jwks_uri));
                    if let Some(t) = md.token_endpoint {
                        idp.insert("token_endpoint".into(), json!(t));
                    }
                }
                m.insert("platform_issuer".into(), json!(x.issuer()));
                m.insert("idp".into(), Value::Object(idp));
            }
            None => {
                m.insert("platform_issuer".into(), json!(o));
                m.insert("idp".into(), self.openid_configuration()?);
            }
        }
        m.insert("supports_dpop".into(), json!(true));
        m.insert("dpop_signing_alg_values_supported".into(), json!(DPOP_ALGS));
        m.insert("dpop_nonce_required".into(), json!(false));
        m.insert(
            "dpop_required".into(),
            json!(ot.config.dpop == crate::home::DpopMode::Required),
        );
        m.insert("health".into(), json!({ "endpoint": "/health" }));
        let keys = self.own();
        if let Some(k) = keys
            .kas()
            .iter()
            .find(|k| k.alg() == KasAlg::HybridP384MlKem1024)
        {
            m.insert(
                "base_key".into(),
                json!({
                    "kas_uri": super::kas_url(o),
                    "kas_id": self.party(),
                    "public_key": {
                        "algorithm": opentdf_alg(k.alg()),
                        "kid": k.public_key().kid(),
                        "pem": k.public_key().to_pem(),
                    }
                }),
            );
        }
        Ok(m)
    }
}
