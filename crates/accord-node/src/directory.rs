//! The directory: enrolling people, issuing their credentials, suspending and resuming
//! them, their roles. Used by `accord user ...` against the node home (the running node
//! reads the same database, so a suspension takes effect on the next request) and by
//! officers through the node. Every change is recorded with who made it
//! ([`crate::store::DirectoryChange`]) and reaches the audit log
//! (the `directory_log` module).

use crate::home::Home;
use crate::store::{Actor, DirectoryChange, PersonRecord, Store};
use crate::Error;
use accord_agreement::Role;
use accord_node_api::credential::Credential;
use accord_node_api::pki;
use accord_spif::Clearance;

/// What `accord user add` is given.
#[derive(Debug, Clone)]
pub struct Enrolment {
    /// Identifier.
    pub id: String,
    /// Name.
    pub name: String,
    /// Nationality (ISO 3166 trigraph).
    pub nationality: String,
    /// Clearance file name (for messages) and bytes (spiffy XML or JSON).
    pub clearance: (String, Vec<u8>),
    /// Scopes (`EXERCISES`, ...).
    pub scopes: Vec<String>,
    /// What they may do at the node.
    pub role: Role,
}

/// Check a person id: 1–64 characters of letters, digits, `-`, `_`, `.`, `@`.
pub fn check_person_id(id: &str) -> Result<(), Error> {
    if id.is_empty()
        || id.len() > 64
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b))
    {
        return Err(Error::Input(format!(
            "person id `{id}` must be 1 to 64 letters, digits, '-', '_', '.' or '@'"
        )));
    }
    Ok(())
}

/// Enrol a person and issue their credential (`accord user add`, by the node's
/// operator).
pub async fn add(home: &Home, e: &Enrolment) -> Result<(PersonRecord, Credential), Error> {
    let store = home.store().await?;
    let r = enrol(home, &store, e, Actor::Operator).await;
    store.close().await;
    r
}

/// Enrol a person in `store` and issue their credential, recording who did it.
pub async fn enrol(
    home: &Home,
    store: &Store,
    e: &Enrolment,
    actor: Actor,
) -> Result<(PersonRecord, Credential), Error> {
    check_person_id(&e.id)?;
    if e.name.trim().is_empty() {
        return Err(Error::Input("--name is empty".into()));
    }
    accord_keys::party::check_party_code(&e.nationality).map_err(|_| {
        Error::Input(format!(
            "nationality `{}` is not an ISO 3166 trigraph",
            e.nationality
        ))
    })?;
    let clearance = Clearance::read(&home.policies, &e.clearance.0, &e.clearance.1)?;
    let national = home
        .policies
        .get(&home.config.national_policy)
        .ok_or_else(|| Error::Input("national policy missing".into()))?;
    if clearance.policy.id != national.id {
        return Err(Error::Input(format!(
            "{}: the clearance is under policy {}, but people of {} are cleared under the national policy {}",
            e.clearance.0, clearance.policy.name, home.config.party, national.name
        )));
    }
    let mut scopes = Vec::new();
    for s in &e.scopes {
        let up = s.trim().to_ascii_uppercase();
        if up.is_empty() {
            continue;
        }
        let scope = accord_agreement::Scope::parse(&up).ok_or_else(|| {
            Error::Input(format!(
                "scope `{s}` is not one of EXERCISES, OPERATIONS, TRAINING, BASING, EQUIPMENT"
            ))
        })?;
        if !scopes.contains(&scope.as_str().to_string()) {
            scopes.push(scope.as_str().to_string());
        }
    }
    let person = PersonRecord {
        id: e.id.clone(),
        name: e.name.trim().to_string(),
        party: home.config.party.clone(),
        nationality: e.nationality.clone(),
        clearance: clearance.to_json_string(),
        scopes,
        status: "active".into(),
        role: e.role.as_str().into(),
    };
    let (credential, cert) = issue(home, &e.id)?;
    store.add_person(&person).await?;
    if let Err(err) = store
        .add_credential(&cert.fingerprint, &e.id, &cert.serial, cert.not_after)
        .await
    {
        let _ = store.remove_person(&e.id).await;
        return Err(err);
    }
    let detail = format!(
        "enrolled as {}, scopes {}, credential {}",
        e.role,
        if person.scopes.is_empty() {
            "none".to_string()
        } else {
            person.scopes.join(",")
        },
        &cert.fingerprint[..16]
    );
    store
        .record_change(&DirectoryChange::new(actor, &e.id, "enrol", detail))
        .await?;
    Ok((person, credential))
}

/// A new credential for person `id`, valid for node.toml's `credential_validity_days`
/// (the certificate is the node CA's; nothing is recorded yet).
fn issue(home: &Home, id: &str) -> Result<(Credential, pki::PersonCertificate), Error> {
    let ca_key = home.read_key("ca.key")?;
    let cert = pki::issue_person(
        &home.config.party,
        &ca_key,
        id,
        home.config.credential_validity_days(),
    )?;
    let node_cert = std::fs::read_to_string(home.layout.key("tls.crt"))
        .map_err(|err| Error::io(home.layout.key("tls.crt"), err))?;
    let node = home
        .party
        .node
        .as_ref()
        .ok_or_else(|| Error::Input("party.json has no node part".into()))?;
    let ca_cert = std::fs::read_to_string(home.layout.key("ca.crt"))
        .map_err(|err| Error::io(home.layout.key("ca.crt"), err))?;
    let credential = Credential {
        accord_credential: 2,
        party: home.config.party.clone(),
        person: id.to_string(),
        node_url: home.config.url.clone(),
        node_tls_spki_sha256: node.tls_spki_sha256.clone(),
        node_certificate: node_cert,
        node_ca_certificate: Some(ca_cert),
        certificate: cert.cert.clone(),
        private_key: cert.key.0.clone(),
    };
    Ok((credential, cert))
}

/// Issue a new credential to a person already enrolled (`accord user renew`), as their
/// old one nears its expiry. The old credential stays valid until it expires, so that
/// the person can change over without a gap; it is not revoked.
pub async fn renew(home: &Home, id: &str) -> Result<(PersonRecord, Credential), Error> {
    let store = home.store().await?;
    let r = async {
        let person = store
            .person(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no person `{id}`")))?;
        let (credential, cert) = issue(home, id)?;
        store
            .add_credential(&cert.fingerprint, id, &cert.serial, cert.not_after)
            .await?;
        store
            .record_change(&DirectoryChange::new(
                Actor::Operator,
                id,
                "renew",
                format!("credential {} issued", &cert.fingerprint[..16]),
            ))
            .await?;
        Ok((person, credential))
    }
    .await;
    store.close().await;
    r
}

/// Issue a person a signing key for equipment records (`accord user signing-key`):
/// ECDSA P-384 and ML-DSA-87, as agreements are signed. The node keeps only the public
/// keys, which the records the person signs must carry; the private key goes to the
/// person. A new key replaces the old one for records signed from now on; records
/// already signed keep verifying, since each carries its keys attested by the node.
pub async fn issue_signing_key(
    home: &Home,
    id: &str,
) -> Result<(PersonRecord, accord_keys::SigningKey), Error> {
    let store = home.store().await?;
    let r = async {
        let person = store
            .person(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no person `{id}`")))?;
        let key = accord_keys::SigningKey::generate(accord_keys::ClassicalAlg::Es384)
            .map_err(|e| Error::Crypto(e.to_string()))?;
        store
            .set_signing_keys(id, &key.public_keys().to_pem())
            .await?;
        store
            .record_change(&DirectoryChange::new(
                Actor::Operator,
                id,
                "signing-key",
                format!(
                    "equipment signing key {} issued",
                    &key.public_keys().classical.kid()[..16]
                ),
            ))
            .await?;
        Ok((person, key))
    }
    .await;
    store.close().await;
    r
}

/// Revoke a person's credentials at once (`accord user revoke`): every one not revoked
/// yet, or the one whose certificate has the SHA-256 `fingerprint`. The running node
/// refuses a revoked credential on its next request ("this credential has been
/// revoked"); unlike a suspension, it cannot be undone: the person needs a new
/// credential (`accord user renew`). Returns the person and how many were revoked.
pub async fn revoke(
    home: &Home,
    id: &str,
    fingerprint: Option<&str>,
) -> Result<(PersonRecord, u64), Error> {
    let store = home.store().await?;
    let r = async {
        let person = store
            .person(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no person `{id}`")))?;
        let n = store.revoke_credentials(id, fingerprint).await?;
        if n == 0 {
            return Err(Error::NotFound(match fingerprint {
                Some(f) => format!("{id} holds no credential {f} that is not revoked already"),
                None => format!("{id} holds no credential that is not revoked already"),
            }));
        }
        let detail = match fingerprint {
            Some(f) => format!("credential {} revoked", f.get(..16).unwrap_or(f)),
            None => format!("{n} credential(s) revoked"),
        };
        store
            .record_change(&DirectoryChange::new(Actor::Operator, id, "revoke", detail))
            .await?;
        Ok((person, n))
    }
    .await;
    store.close().await;
    r
}

/// How long a passphrase [`browser_credential`] makes is: 24 letters and digits of an
/// alphabet of 31 (about 119 bits), in groups of four for reading it out.
const PASSPHRASE_CHARS: usize = 24;

/// A person's credential for their browser (the console): PKCS#12 with the node CA's
/// certificate, encrypted under `passphrase`, or under a new random one (returned) to
/// hand over apart from the file.
pub fn browser_credential(
    home: &Home,
    credential: &Credential,
    passphrase: Option<&str>,
) -> Result<(Vec<u8>, zeroize::Zeroizing<String>), Error> {
    let ca_path = home.layout.key("ca.crt");
    let ca_pem = std::fs::read_to_string(&ca_path).map_err(|err| Error::io(&ca_path, err))?;
    let ca = pki::certs_from_pem(&ca_pem)?
        .into_iter()
        .next()
        .ok_or_else(|| Error::Input(format!("{} holds no certificate", ca_path.display())))?;
    let passphrase = match passphrase {
        Some(p) => zeroize::Zeroizing::new(p.to_string()),
        None => new_passphrase()?,
    };
    let p12 = credential.to_pkcs12(&passphrase, Some(&ca))?;
    Ok((p12, passphrase))
}

fn new_passphrase() -> Result<zeroize::Zeroizing<String>, Error> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut out = zeroize::Zeroizing::new(String::with_capacity(PASSPHRASE_CHARS + 5));
    let mut b = zeroize::Zeroizing::new([0u8; 64]);
    aws_lc_rs::rand::fill(&mut b[..]).map_err(|_| Error::Crypto("random passphrase".into()))?;
    // Rejection sampling: only bytes below the largest multiple of the alphabet's size.
    let limit = 256 - (256 % ALPHABET.len());
    let mut n = 0;
    for &x in b.iter() {
        if (x as usize) < limit && n < PASSPHRASE_CHARS {
            if n > 0 && n % 4 == 0 {
                out.push('-');
            }
            out.push(ALPHABET[x as usize % ALPHABET.len()] as char);
            n += 1;
        }
    }
    if n < PASSPHRASE_CHARS {
        return new_passphrase();
    }
    Ok(out)
}

/// Credentials of active people, not revoked, that expire between `from` and `until`
/// (Unix seconds): who they are for and when.
pub async fn expiring(home: &Home, from: i64, until: i64) -> Result<Vec<(String, i64)>, Error> {
    let store = home.store().await?;
    let r = store.credentials_expiring(from, until).await;
    store.close().await;
    r
}

/// Suspend or resume a person (`accord user suspend|resume`, by the node's operator).
pub async fn set_status(home: &Home, id: &str, active: bool) -> Result<PersonRecord, Error> {
    let store = home.store().await?;
    let r = change_status(&store, id, active, Actor::Operator).await;
    store.close().await;
    r
}

/// Give a person a role (`accord user role`, by the node's operator).
pub async fn set_role(home: &Home, id: &str, role: Role) -> Result<PersonRecord, Error> {
    let store = home.store().await?;
    let r = change_role(&store, id, role, Actor::Operator).await;
    store.close().await;
    r
}

/// Suspend or resume a person, recording who did it; the person as they are now.
pub async fn change_status(
    store: &Store,
    id: &str,
    active: bool,
    actor: Actor,
) -> Result<PersonRecord, Error> {
    let status = if active { "active" } else { "suspended" };
    // No record of a change to someone who is not there.
    store
        .person(id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no person `{id}` in this node")))?;
    let c = DirectoryChange::new(actor, id, if active { "resume" } else { "suspend" }, status);
    store.change_status(id, status, &c).await?;
    store
        .person(id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no person `{id}`")))
}

/// Give a person a role, recording who did it and what it was; the person as they are
/// now.
pub async fn change_role(
    store: &Store,
    id: &str,
    role: Role,
    actor: Actor,
) -> Result<PersonRecord, Error> {
    let before = store
        .person(id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no person `{id}`")))?;
    let c = DirectoryChange::new(actor, id, "role", format!("{} → {}", before.role, role));
    store.change_role(id, role, &c).await?;
    store
        .person(id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no person `{id}`")))
}

/// Everyone.
pub async fn list(home: &Home) -> Result<Vec<PersonRecord>, Error> {
    let store = home.store().await?;
    let r = store.people().await;
    store.close().await;
    r
}

/// OpenTDF client credentials issued to a person (`accord user opentdf-client`).
#[derive(Clone, serde::Serialize)]
pub struct IssuedClient {
    /// The person.
    pub person: String,
    /// The client id (public).
    pub client_id: String,
    /// The secret: shown once, kept by the node only as its hash.
    #[serde(serialize_with = "reveal")]
    pub client_secret: zeroize::Zeroizing<String>,
}

impl std::fmt::Debug for IssuedClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedClient")
            .field("person", &self.person)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .finish()
    }
}

fn reveal<S: serde::Serializer>(s: &zeroize::Zeroizing<String>, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(s)
}

/// Issue `id` OpenTDF client credentials, which an OpenTDF SDK exchanges at the node's
/// token endpoint for an access token. Revoked with the person's credentials
/// (`accord user revoke`).
pub async fn issue_opentdf_client(home: &Home, id: &str) -> Result<IssuedClient, Error> {
    let store = home.store().await?;
    let r = async {
        store
            .person(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no person `{id}`")))?;
        let secret = crate::tokens::issuer::new_secret()?;
        let client_id = format!("{id}.{}", &crate::tokens::issuer::new_jti()[..12]);
        store
            .add_opentdf_client(&client_id, id, &crate::tokens::issuer::secret_hash(&secret))
            .await?;
        store
            .record_change(&DirectoryChange::new(
                Actor::Operator,
                id,
                "opentdf-client",
                format!("OpenTDF client {client_id} issued"),
            ))
            .await?;
        Ok(IssuedClient {
            person: id.to_string(),
            client_id,
            client_secret: secret,
        })
    }
    .await;
    store.close().await;
    r
}
