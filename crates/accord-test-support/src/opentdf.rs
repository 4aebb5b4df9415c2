//! An OpenTDF client of a node, as an OpenTDF SDK behaves: client credentials for a
//! DPoP-bound token, DPoP proofs, signed request tokens, Connect JSON rewraps, the
//! released key unwrapped from the EC session key. For the node's OpenTDF test and
//! its benchmark (the unmodified third-party client is otdf-python, in
//! `scripts/interop/otdf-python.sh`).

use accord_node::home::Home;
use accord_node_api::opentdf::srt::{self, ClientKey};
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use aws_lc_rs::agreement::{self, PrivateKey, UnparsedPublicKey};
use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING,
};
use aws_lc_rs::{digest, hkdf};
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use base64::Engine;
use serde_json::{json, Value};

/// Now, in Unix seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A compact JWS over `claims`, signed by `key` (ES256 or ES384 as `alg` says).
pub fn jws(header: Value, claims: &Value, key: &EcdsaKeyPair) -> String {
    let input = format!(
        "{}.{}",
        B64URL.encode(header.to_string()),
        B64URL.encode(claims.to_string())
    );
    let sig = key.sign(&SystemRandom::new(), input.as_bytes()).unwrap();
    format!("{input}.{}", B64URL.encode(sig.as_ref()))
}

/// An OpenTDF client of one person: a DPoP key (ES256), client credentials, an EC
/// P-256 key the released keys are wrapped to.
pub struct OpenTdfClient {
    /// HTTPS to the node (its TLS key pinned), no client certificate.
    pub http: reqwest::blocking::Client,
    /// The node's URL.
    pub url: String,
    /// The client id.
    pub client_id: String,
    /// The client secret.
    pub secret: String,
    dpop: EcdsaKeyPair,
    ecdh: PrivateKey,
}

impl OpenTdfClient {
    /// Issue `person` of `home` client credentials and make their keys.
    pub fn new(home: &Home, person: &str) -> OpenTdfClient {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let c = rt
            .block_on(accord_node::directory::issue_opentdf_client(home, person))
            .unwrap();
        // No client certificate: an OpenTDF client has none. The node's TLS key pinned.
        let pin = home.party.node.as_ref().unwrap().tls_spki_sha256.clone();
        let tls = accord_node_api::tls::client_config(vec![pin], None).unwrap();
        let http = reqwest::blocking::Client::builder()
            .use_preconfigured_tls(tls)
            .build()
            .unwrap();
        OpenTdfClient {
            http,
            url: home.config.url.trim_end_matches('/').to_string(),
            client_id: c.client_id.clone(),
            secret: c.client_secret.to_string(),
            dpop: EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap(),
            ecdh: PrivateKey::generate(&agreement::ECDH_P256).unwrap(),
        }
    }

    /// The DPoP key as a JWK.
    pub fn jwk(&self) -> Value {
        let p = self.dpop.public_key().as_ref();
        json!({"kty": "EC", "crv": "P-256", "x": B64URL.encode(&p[1..33]), "y": B64URL.encode(&p[33..])})
    }

    /// A DPoP proof for a POST to `htu`, bound to `token` when given.
    pub fn proof(&self, htu: &str, token: Option<&str>) -> String {
        let mut claims = json!({
            "htm": "POST", "htu": htu, "iat": now(), "jti": format!("{:016x}{:016x}", rand_u64(), rand_u64()),
        });
        if let Some(t) = token {
            claims["ath"] = json!(B64URL.encode(digest::digest(&digest::SHA256, t.as_bytes())));
        }
        jws(
            json!({"alg": "ES256", "typ": "dpop+jwt", "jwk": self.jwk()}),
            &claims,
            &self.dpop,
        )
    }

    /// `POST /oauth/token`: (status, body).
    pub fn token_with(&self, secret: &str, dpop: bool) -> (u16, Value) {
        let mut req = self
            .http
            .post(format!("{}/oauth/token", self.url))
            .basic_auth(&self.client_id, Some(secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials");
        if dpop {
            req = req.header(
                "DPoP",
                self.proof(&format!("{}/oauth/token", self.url), None),
            );
        }
        let r = req.send().unwrap();
        (r.status().as_u16(), read_json(r))
    }

    /// A client assertion (RFC 7523 `private_key_jwt`) signed ES384 with the key of
    /// `cred`, its certificate in `x5c`: `iss` and `sub` the person, `aud` the token
    /// endpoint, five minutes, a fresh `jti`; `changes` replaces claims (null removes).
    pub fn assertion(
        &self,
        cred: &accord_node_api::credential::Credential,
        changes: Value,
    ) -> String {
        let der = accord_node_api::pki::pem_blocks(&cred.private_key, "PRIVATE KEY").unwrap();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &der[0]).unwrap();
        let cert = accord_node_api::pki::certs_from_pem(&cred.certificate).unwrap();
        let t = now();
        let mut claims = json!({
            "iss": cred.person, "sub": cred.person, "aud": format!("{}/oauth/token", self.url),
            "iat": t, "exp": t + 300, "jti": format!("{:016x}{:016x}", rand_u64(), rand_u64()),
        });
        if let Value::Object(m) = changes {
            for (k, v) in m {
                if v.is_null() {
                    claims.as_object_mut().unwrap().remove(&k);
                } else {
                    claims[k] = v;
                }
            }
        }
        jws(
            json!({"alg": "ES384", "typ": "JWT", "x5c": [B64.encode(&cert[0])]}),
            &claims,
            &key,
        )
    }

    /// `POST /oauth/token` with a client assertion and a DPoP proof: (status, body).
    pub fn token_by_assertion(&self, assertion: &str) -> (u16, Value) {
        let body = format!(
            "grant_type=client_credentials&client_assertion_type={}&client_assertion={assertion}",
            "urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"
        );
        let r = self
            .http
            .post(format!("{}/oauth/token", self.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .header(
                "DPoP",
                self.proof(&format!("{}/oauth/token", self.url), None),
            )
            .body(body)
            .send()
            .unwrap();
        (r.status().as_u16(), read_json(r))
    }

    /// This client's DPoP key's RFC 7638 thumbprint (what a bound token's `cnf.jkt` is).
    pub fn jkt(&self) -> String {
        let j = self.jwk();
        let c = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            j["x"].as_str().unwrap(),
            j["y"].as_str().unwrap()
        );
        B64URL.encode(digest::digest(&digest::SHA256, c.as_bytes()))
    }

    /// A DPoP-bound access token (panics unless the node grants one).
    pub fn token(&self) -> String {
        let (status, body) = self.token_with(&self.secret.clone(), true);
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["token_type"], "DPoP", "{body}");
        body["access_token"].as_str().unwrap().to_string()
    }

    /// The client's EC public key (SPKI PEM), to which keys are wrapped back.
    pub fn client_pem(&self) -> String {
        let public = self.ecdh.compute_public_key().unwrap();
        let der: PublicKeyX509Der<'_> = public.as_der().unwrap();
        let mut pem = String::new();
        accord_keys::pem::encode_into(&mut pem, "PUBLIC KEY", der.as_ref());
        pem
    }

    /// A signed request token for the key access objects of `tdf`'s manifest.
    pub fn srt(&self, tdf: &[u8]) -> String {
        self.srt_for(&[crate::manifest(tdf)])
    }

    /// A signed request token for the key access objects of each manifest that name
    /// this node's KAS (by URL, as OpenTDF SDKs group them per KAS), one policy request
    /// per object (ids `policy-N`, `kao-N-M`).
    pub fn srt_for(&self, manifests: &[Value]) -> String {
        let requests: Vec<Value> = manifests
            .iter()
            .enumerate()
            .map(|(n, m)| {
                let ei = &m["encryptionInformation"];
                let kaos: Vec<Value> = ei["keyAccess"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .enumerate()
                    .filter(|(_, k)| {
                        let u = k["url"].as_str().unwrap_or("").trim_end_matches('/');
                        u == self.url || u.strip_suffix("/kas") == Some(self.url.as_str())
                    })
                    .map(|(i, k)| json!({"keyAccessObjectId": format!("kao-{n}-{i}"), "keyAccessObject": k}))
                    .collect();
                json!({"policy": {"id": format!("policy-{n}"), "body": ei["policy"]}, "keyAccessObjects": kaos})
            })
            .collect();
        let body = json!({ "clientPublicKey": self.client_pem(), "requests": requests });
        let t = now();
        jws(
            json!({"alg": "ES256", "typ": "JWT"}),
            &json!({"requestBody": body.to_string(), "iat": t, "exp": t + 60}),
            &self.dpop,
        )
    }

    /// `POST /kas.AccessService/Rewrap` (Connect JSON): (status, body).
    pub fn rewrap_raw(&self, token: &str, proof: Option<String>, srt: &str) -> (u16, Value) {
        let url = format!("{}/kas.AccessService/Rewrap", self.url);
        let mut req = self
            .http
            .post(&url)
            .header("content-type", "application/json")
            .header("connect-protocol-version", "1")
            .header("authorization", format!("DPoP {token}"))
            .body(json!({ "signedRequestToken": srt }).to_string());
        if let Some(p) = proof {
            req = req.header("DPoP", p);
        }
        let r = req.send().unwrap();
        (r.status().as_u16(), read_json(r))
    }

    /// Rewrap `tdf`'s keys with a new token and proof.
    pub fn rewrap(&self, tdf: &[u8]) -> (u16, Value) {
        let token = self.token();
        let proof = self.proof(
            &format!("{}/kas.AccessService/Rewrap", self.url),
            Some(&token),
        );
        self.rewrap_raw(&token, Some(proof), &self.srt(tdf))
    }

    /// Rewrap the keys of every object of `manifests` in one request, with `token` and
    /// a fresh proof.
    pub fn rewrap_many(&self, token: &str, manifests: &[Value]) -> (u16, Value) {
        let proof = self.proof(
            &format!("{}/kas.AccessService/Rewrap", self.url),
            Some(token),
        );
        self.rewrap_raw(token, Some(proof), &self.srt_for(manifests))
    }

    /// The key of a permitted result, unwrapped from the session key.
    pub fn unwrap_key(&self, response: &Value, result: &Value) -> Vec<u8> {
        let session = srt::client_key(response["sessionPublicKey"].as_str().unwrap()).unwrap();
        let ClientKey::Ec { point, .. } = session else {
            panic!("an EC session key for an EC client")
        };
        let salt = digest::digest(&digest::SHA256, b"TDF");
        let key = agreement::agree(
            &self.ecdh,
            UnparsedPublicKey::new(&agreement::ECDH_P256, &point),
            (),
            |z| {
                let mut k = [0u8; 32];
                hkdf::Salt::new(hkdf::HKDF_SHA256, salt.as_ref())
                    .extract(z)
                    .expand(&[], hkdf::HKDF_SHA256)
                    .unwrap()
                    .fill(&mut k)
                    .unwrap();
                Ok(k)
            },
        )
        .unwrap();
        let wrapped = B64
            .decode(result["kasWrappedKey"].as_str().unwrap())
            .unwrap();
        let (nonce, ct) = wrapped.split_at(12);
        let k = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &key).unwrap());
        let mut buf = ct.to_vec();
        let plain = k
            .open_in_place(
                Nonce::try_assume_unique_for_key(nonce).unwrap(),
                Aad::empty(),
                &mut buf,
            )
            .unwrap();
        plain.to_vec()
    }
}

/// A response's body as JSON (panics with the body when it is not).
pub fn read_json(r: reqwest::blocking::Response) -> Value {
    let b = r.bytes().unwrap();
    serde_json::from_slice(&b).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&b)))
}

fn rand_u64() -> u64 {
    let mut b = [0u8; 8];
    aws_lc_rs::rand::fill(&mut b).unwrap();
    u64::from_le_bytes(b)
}
