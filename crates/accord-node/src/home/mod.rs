//! The node home: everything a node is, in one directory made by `accord init`.
//!
//! ```text
//! DIR/node.toml      configuration (party, listen address, public URL, database)
//! DIR/party.json     the public descriptor agreements take (with the node part)
//! DIR/policies/      the security policies the node decides by (copied in)
//! DIR/keys/          owner-only: node CA, TLS, signing (ES384 + ML-DSA-87), KAS keys
//! DIR/log/           the audit log (C2SP tiles; its key under log/.accord/)
//! DIR/blobs/         sealed objects held by the node
//! DIR/node.db        the embedded SQLite database (unless node.toml names PostgreSQL)
//! ```

use crate::Error;
use accord_keys::{
    ClassicalAlg, KasAlg, KasKeyEntry, KasPrivateKey, NodeInfo, PartyDescriptor, SigningKey,
    SigningKeyEntries, SigningKeyEntry,
};
use accord_node_api::pki;
use accord_spif::PolicySet;
use std::path::{Path, PathBuf};

mod config;
pub use config::{
    DpopMode, IssuerConfig, NodeConfig, OpenTdfConfig, DEFAULT_CLASSICAL_CEILING, DEFAULT_LISTEN,
    NODE_TOML,
};

/// What `accord init` is asked for.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// Party code.
    pub party: String,
    /// Party name (defaults to the code).
    pub name: Option<String>,
    /// The signing authority named in party.json.
    pub authority: Option<String>,
    /// Policy files or directories.
    pub policies: Vec<PathBuf>,
    /// Listen address.
    pub listen: Option<String>,
    /// Public URL.
    pub url: Option<String>,
    /// Database URL.
    pub database: Option<String>,
    /// `disk_reserve_mib` for node.toml ([`crate::disk::DEFAULT_RESERVE_MIB`] when
    /// `None`).
    pub disk_reserve_mib: Option<u64>,
    /// Make the keys' classical halves in this PKCS#11 token (`[pkcs11]`).
    pub pkcs11: Option<crate::custody::Pkcs11Config>,
}

/// Paths inside a node home.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The home.
    pub dir: PathBuf,
}

impl Layout {
    /// The layout of `dir`.
    pub fn new(dir: &Path) -> Layout {
        Layout {
            dir: dir.to_path_buf(),
        }
    }
    /// `node.toml`.
    pub fn config(&self) -> PathBuf {
        self.dir.join(NODE_TOML)
    }
    /// `party.json`.
    pub fn party(&self) -> PathBuf {
        self.dir.join("party.json")
    }
    /// `policies/`.
    pub fn policies(&self) -> PathBuf {
        self.dir.join("policies")
    }
    /// `keys/`.
    pub fn keys(&self) -> PathBuf {
        self.dir.join("keys")
    }
    /// A key file.
    pub fn key(&self, name: &str) -> PathBuf {
        self.keys().join(name)
    }
    /// `log/`.
    pub fn log(&self) -> PathBuf {
        self.dir.join("log")
    }
    /// `witness/`: the witness of partners' logs (its key, and what it cosigned).
    pub fn witness(&self) -> PathBuf {
        self.dir.join("witness")
    }
    /// `blobs/`.
    pub fn blobs(&self) -> PathBuf {
        self.dir.join("blobs")
    }
    /// The database URL: node.toml's, or the embedded SQLite file's (an absolute path,
    /// percent-encoded, so that a home in `my node/` or `a?b#c/` is still one file and
    /// not a host name or URL parameters).
    pub fn database_url(&self, cfg: &NodeConfig) -> String {
        match &cfg.database {
            Some(u) => u.clone(),
            None => {
                let file = self.dir.join("node.db");
                let file = std::path::absolute(&file).unwrap_or(file);
                format!("sqlite://{}?mode=rwc", percent_encode_path(&file))
            }
        }
    }
}

/// `path` with every byte but `A-Z a-z 0-9 - . _ ~ /` percent-encoded (a path that
/// is not UTF-8 is encoded lossily: [`init`] refuses such a home).
pub(crate) fn percent_encode_path(path: &Path) -> String {
    let text = path.to_string_lossy();
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Make `p` and its missing parents, owner-only (0700); one that exists is left as it is.
pub(crate) fn mkdir_private(p: &Path) -> Result<(), Error> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(p).map_err(|e| Error::io(p, e))
}

/// The rotated-to TLS key in the key directory, waiting for the switch
/// (`accord key rotate tls`, then `tls_switch`).
pub(crate) const TLS_NEXT_KEY: &str = "tls.next.key";
/// Its certificate.
pub(crate) const TLS_NEXT_CRT: &str = "tls.next.crt";

impl Home {
    /// Finish a TLS key switch a crash interrupted: after the key's rename, the
    /// certificate's; after both, `party.json` and the key history, which then name the
    /// key the node presents (what new agreements are drafted and checked against).
    pub(crate) fn finish_tls_switch(&mut self) -> Result<(), Error> {
        let (next_key, next_crt) = (self.layout.key(TLS_NEXT_KEY), self.layout.key(TLS_NEXT_CRT));
        let crt = self.layout.key("tls.crt");
        if !next_key.exists() && next_crt.exists() {
            std::fs::rename(&next_crt, &crt).map_err(|e| Error::io(&crt, e))?;
        }
        let pem = std::fs::read_to_string(&crt).map_err(|e| Error::io(&crt, e))?;
        let Some(der) = pki::certs_from_pem(&pem)?.into_iter().next() else {
            return Err(Error::Input(format!("{}: no certificate", crt.display())));
        };
        let pin = pki::spki_pin(&der)?;
        let mut party = accord_keys::load_party(&self.layout.party())?;
        let Some(node) = party.node.as_mut() else {
            return Ok(());
        };
        if node.tls_spki_sha256.eq_ignore_ascii_case(&pin) {
            return Ok(());
        }
        let before = std::mem::replace(&mut node.tls_spki_sha256, pin.clone());
        let dir = self.layout.keys();
        let mut history = accord_keys::KeyHistory::load(&dir)?;
        history.add(
            "tls",
            &pin,
            &accord_agreement::Time::now().to_string(),
            Some(&before),
        );
        history.save(&dir)?;
        accord_keys::replace_file(&self.layout.party(), party.to_json().as_bytes(), false)?;
        self.party = party;
        self.history = history;
        Ok(())
    }
}

/// The names a node's TLS certificate is made for: its URL's host, its listening
/// address's, and this host's loopback names.
pub(crate) fn tls_hosts(url: &str, listen: &str) -> Vec<String> {
    let mut hosts = vec![host_of(url), host_of(listen)];
    for h in ["localhost", "127.0.0.1"] {
        hosts.push(h.to_string());
    }
    hosts.dedup();
    hosts
}

fn host_of(url_or_addr: &str) -> String {
    let s = url_or_addr
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let s = s.split('/').next().unwrap_or(s);
    if let Some(rest) = s.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest).to_string();
    }
    match s.rsplit_once(':') {
        Some((h, _)) => h.to_string(),
        None => s.to_string(),
    }
}

/// Create a node home. Refuses a directory that already holds a node.
pub async fn init(dir: &Path, opts: &InitOptions) -> Result<PartyDescriptor, Error> {
    accord_keys::party::check_party_code(&opts.party)?;
    let layout = Layout::new(dir);
    if layout.config().exists() {
        return Err(Error::Exists(format!(
            "{} already holds a node ({} exists)",
            dir.display(),
            NODE_TOML
        )));
    }
    if dir.exists()
        && std::fs::read_dir(dir)
            .map_err(|e| Error::io(dir, e))?
            .next()
            .is_some()
    {
        return Err(Error::Exists(format!(
            "{} exists and is not empty; a node home needs an empty or new directory",
            dir.display()
        )));
    }
    if opts.policies.is_empty() {
        return Err(Error::Input(
            "at least one --policy (a SPIF file or a directory of them) is needed".into(),
        ));
    }
    // Load every policy first: nothing is written if one is bad.
    let mut files: Vec<PathBuf> = Vec::new();
    for p in &opts.policies {
        if p.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| Error::io(p, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x.eq_ignore_ascii_case("xml")))
                .collect();
            v.sort();
            files.extend(v);
        } else {
            files.push(p.clone());
        }
    }
    let mut set = PolicySet::new();
    for f in &files {
        set.load_path(f)?;
    }
    let national = match set
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case(&opts.party))
    {
        Some(p) => p.clone(),
        None if set.len() == 1 => set
            .iter()
            .next()
            .cloned()
            .ok_or_else(|| Error::Input("no policy loaded".into()))?,
        None => {
            let names: Vec<&str> = set.iter().map(|p| p.name.as_str()).collect();
            return Err(Error::Input(format!(
                "none of the policies ({}) is named {}: the national policy of a node is the one named like its party",
                names.join(", "),
                opts.party
            )));
        }
    };
    let listen = opts.listen.clone().unwrap_or_else(|| DEFAULT_LISTEN.into());
    let addr = listen
        .parse::<std::net::SocketAddr>()
        .map_err(|e| Error::Input(format!("--listen `{listen}`: {e} (expected IP:PORT)")))?;
    if addr.ip().is_unspecified() && opts.url.is_none() {
        return Err(Error::Input(format!(
            "--listen {listen} listens on every address, which is no address to reach the node at: give --url https://HOST:{}, the address partners and people use (it goes into party.json, agreements and every credential)",
            addr.port()
        )));
    }
    if opts.database.is_none() && std::path::absolute(dir).map_or(true, |d| d.to_str().is_none()) {
        return Err(Error::Input(format!(
            "the node directory {} is not a UTF-8 path, and the embedded SQLite database is reached by a URL: choose another directory, or give --database",
            dir.display()
        )));
    }
    let url = opts
        .url
        .clone()
        .unwrap_or_else(|| format!("https://{listen}"))
        .trim_end_matches('/')
        .to_string();
    if !url.starts_with("https://") {
        return Err(Error::Input(format!(
            "--url `{url}` must start with https://"
        )));
    }

    // The token first: a wrong module, label or PIN leaves nothing behind.
    let pkcs11 = match &opts.pkcs11 {
        Some(p) => Some(crate::custody::Pkcs11Config {
            // Absolute: the library loaded must not depend on the directory the node
            // is started from.
            module: std::path::absolute(&p.module).map_err(|e| Error::io(&p.module, e))?,
            pin_file: match &p.pin_file {
                Some(f) => Some(std::path::absolute(f).map_err(|e| Error::io(f, e))?),
                None => None,
            },
            ..p.clone()
        }),
        None => None,
    };
    let token = match &pkcs11 {
        Some(p) => Some(p.open(dir)?),
        None => None,
    };
    // Then the database: a wrong --database URL leaves nothing behind.
    mkdir_private(dir)?;
    let cfg = NodeConfig {
        party: opts.party.clone(),
        name: opts.name.clone().unwrap_or_else(|| opts.party.clone()),
        listen: listen.clone(),
        url: url.clone(),
        national_policy: national.name.clone(),
        log_origin: format!("{}/log", url.trim_start_matches("https://")),
        database: opts.database.clone(),
        disk_reserve_mib: Some(
            opts.disk_reserve_mib
                .unwrap_or(crate::disk::DEFAULT_RESERVE_MIB),
        ),
        metrics_listen: None,
        credential_validity_days: None,
        opentdf: None,
        pkcs11,
    };
    let result = async {
        let store = crate::store::Store::connect(&layout.database_url(&cfg)).await?;
        store.close().await;
        // The directory holds clearances: owner-only, like the keys.
        #[cfg(unix)]
        if cfg.database.is_none() {
            use std::os::unix::fs::PermissionsExt;
            let db = dir.join("node.db");
            std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| Error::io(&db, e))?;
        }
        write_home(
            &layout,
            &cfg,
            opts,
            token.as_ref(),
            &files,
            &national.id,
            &listen,
            &url,
        )
    }
    .await;
    if result.is_err() {
        let _ = std::fs::remove_dir_all(dir);
    }
    result
}

#[allow(clippy::too_many_arguments)]
fn write_home(
    layout: &Layout,
    cfg: &NodeConfig,
    opts: &InitOptions,
    token: Option<&std::sync::Arc<accord_keys::Token>>,
    files: &[PathBuf],
    national_id: &str,
    listen: &str,
    url: &str,
) -> Result<PartyDescriptor, Error> {
    let pol = layout.policies();
    std::fs::create_dir_all(&pol).map_err(|e| Error::io(&pol, e))?;
    for f in files {
        let name = f
            .file_name()
            .ok_or_else(|| Error::Input(format!("{} has no file name", f.display())))?;
        let to = pol.join(name);
        if to.exists() {
            return Err(Error::Input(format!(
                "two policy files are named {}",
                name.to_string_lossy()
            )));
        }
        std::fs::copy(f, &to).map_err(|e| Error::io(&to, e))?;
    }
    mkdir_private(&layout.keys())?;
    let certs = pki::make_node_certificates(&cfg.party, &tls_hosts(url, listen))?;
    accord_keys::write_private_file(&layout.key("ca.key"), certs.ca_key.0.as_bytes())?;
    accord_keys::write_public_file(&layout.key("ca.crt"), certs.ca_cert.as_bytes())?;
    accord_keys::write_private_file(&layout.key("tls.key"), certs.tls_key.0.as_bytes())?;
    accord_keys::write_public_file(&layout.key("tls.crt"), certs.tls_cert.as_bytes())?;
    let signing = match token {
        Some(t) => SigningKey::generate_in(t, &crate::custody::key_label(&cfg.party, "signing"))?,
        None => SigningKey::generate(ClassicalAlg::Es384)?,
    };
    accord_keys::write_private_file(
        &layout.key(accord_keys::SIGNING_KEY),
        signing.to_pem()?.as_bytes(),
    )?;
    accord_keys::write_public_file(
        &layout.key(accord_keys::SIGNING_PUB),
        signing.public_keys().to_pem().as_bytes(),
    )?;
    let kas = match token {
        Some(t) => KasPrivateKey::generate_in(
            KasAlg::HybridP384MlKem1024,
            t,
            &crate::custody::key_label(&cfg.party, "kas"),
        )?,
        None => KasPrivateKey::generate(KasAlg::HybridP384MlKem1024)?,
    };
    accord_keys::write_private_file(&layout.key(accord_keys::KAS_KEY), kas.to_pem()?.as_bytes())?;
    accord_keys::write_public_file(
        &layout.key(accord_keys::KAS_PUB),
        kas.public_key().to_pem().as_bytes(),
    )?;
    let log_key = accord_log::writer::create_log(&layout.log(), &cfg.log_origin)?;
    mkdir_private(&layout.blobs())?;
    let kas_entry = KasKeyEntry::from_key(kas.public_key());
    let party = PartyDescriptor {
        party: cfg.party.clone(),
        name: cfg.name.clone(),
        // Agreements need a signing authority; default to the node's operator.
        authority: Some(
            opts.authority
                .clone()
                .unwrap_or_else(|| format!("{} national authority", cfg.party)),
        ),
        policy_id: Some(national_id.to_string()),
        signing_keys: SigningKeyEntries {
            classical: SigningKeyEntry::from_key(&signing.public_keys().classical),
            ml_dsa_87: SigningKeyEntry::from_key(&signing.public_keys().ml_dsa),
        },
        kas_keys: vec![kas_entry.clone()],
        node: Some(NodeInfo {
            url: url.to_string(),
            tls_spki_sha256: certs.tls_spki_sha256.clone(),
            kas_keys: vec![kas_entry],
            log_verifier_key: log_key.verifier().to_string(),
        }),
    };
    party.validate()?;
    accord_keys::write_public_file(&layout.party(), party.to_json().as_bytes())?;
    let toml = toml::to_string_pretty(cfg).map_err(|e| Error::Input(e.to_string()))?;
    // node.toml may hold a database password: owner-only.
    accord_keys::write_private_file(
        &layout.config(),
        format!("# Accord node configuration (accord init)\n{toml}").as_bytes(),
    )?;
    Ok(party)
}

/// Replace node.toml with `text`: written beside it (owner-only, since it may hold a
/// database password), then renamed over it, so that a crash leaves the old or the new.
pub(crate) fn write_config_text(path: &Path, text: &str) -> Result<(), Error> {
    let tmp = path.with_extension("toml.new");
    let _ = std::fs::remove_file(&tmp);
    accord_keys::write_private_file(&tmp, text.as_bytes())?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// A node home read back: configuration, policies, keys.
pub struct Home {
    /// Paths.
    pub layout: Layout,
    /// `node.toml`.
    pub config: NodeConfig,
    /// The policies in `policies/`.
    pub policies: PolicySet,
    /// `party.json`, as read when the home was opened (a running node reads it again
    /// when its keys are rotated: `Node::own`).
    pub party: PartyDescriptor,
    /// `keys/history.json`: every key the node has had (empty until a rotation).
    pub history: accord_keys::KeyHistory,
    /// The token `[pkcs11]` names, once logged in to ([`Home::token`]).
    pub(crate) custody: crate::custody::Custody,
}

impl Home {
    /// Read the home at `dir`.
    pub fn open(dir: &Path) -> Result<Home, Error> {
        let layout = Layout::new(dir);
        let cfg_path = layout.config();
        let text = std::fs::read_to_string(&cfg_path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::Home {
                    dir: dir.to_path_buf(),
                    msg: format!(
                        "no {NODE_TOML}: run `accord init --dir {}` first",
                        dir.display()
                    ),
                }
            } else {
                Error::io(&cfg_path, e)
            }
        })?;
        let config: NodeConfig = toml::from_str(&text).map_err(|e| Error::Home {
            dir: dir.to_path_buf(),
            msg: format!("{NODE_TOML}: {e}"),
        })?;
        let days = config.credential_validity_days();
        if !(1..=pki::MAX_PERSON_VALIDITY_DAYS).contains(&days) {
            return Err(Error::Home {
                dir: dir.to_path_buf(),
                msg: format!(
                    "{NODE_TOML}: credential_validity_days = {days}: give 1 to {}",
                    pki::MAX_PERSON_VALIDITY_DAYS
                ),
            });
        }
        let mut policies = PolicySet::new();
        policies.load_path(&layout.policies())?;
        if policies.get(&config.national_policy).is_none() {
            return Err(Error::Home {
                dir: dir.to_path_buf(),
                msg: format!(
                    "the national policy {} is not in policies/",
                    config.national_policy
                ),
            });
        }
        if let (Some(o), Some(national)) = (&config.opentdf, policies.get(&config.national_policy))
        {
            if national
                .classification_by_name(&o.classical_ceiling)
                .is_none()
            {
                return Err(Error::Home {
                    dir: dir.to_path_buf(),
                    msg: format!(
                        "{NODE_TOML}: [opentdf] classical_ceiling = \"{}\" is not a classification of {} ({})",
                        o.classical_ceiling,
                        national.name,
                        national.classification_names().join(", ")
                    ),
                });
            }
        }
        if let Some(i) = config.opentdf.as_ref().and_then(|o| o.issuer.as_ref()) {
            i.check(&config.url).map_err(|msg| Error::Home {
                dir: dir.to_path_buf(),
                msg: format!("{NODE_TOML}: [opentdf.issuer] {msg}"),
            })?;
        }
        let party = accord_keys::load_party(&layout.party())?;
        if party.party != config.party {
            return Err(Error::Home {
                dir: dir.to_path_buf(),
                msg: format!(
                    "party.json is for {} but node.toml says {}",
                    party.party, config.party
                ),
            });
        }
        let history = accord_keys::KeyHistory::load(&layout.keys())?;
        Ok(Home {
            layout,
            config,
            policies,
            party,
            history,
            custody: Default::default(),
        })
    }

    /// Connect to the node's database. A database an earlier accord made (an older
    /// schema) is not migrated here: upgrading a node in use is a step of its own,
    /// taken with a backup first ([`Home::migrate`], `accord node migrate`).
    ///
    /// A schema that cannot be read (a server slow to start, no answer) fails closed:
    /// connecting anyway would migrate an older database without its backup.
    pub async fn store(&self) -> Result<crate::store::Store, Error> {
        let url = self.layout.database_url(&self.config);
        let at = crate::store::Store::schema_at(&url)
            .await
            .map_err(|e| Error::Home {
                dir: self.layout.dir.clone(),
                msg: format!(
                    "reading the database's schema version: {e}; nothing was opened or changed"
                ),
            })?;
        {
            let known = crate::store::Store::known_schema();
            if at > 0 && at < known {
                return Err(Error::Home {
                    dir: self.layout.dir.clone(),
                    msg: format!(
                        "the database has schema {at}, older than this accord's ({known}): an earlier accord made it. Upgrade it first, with a backup taken before: `accord node migrate --dir {} --backup FILE` (or --no-backup); docs/operations.md, \"Upgrades\"",
                        self.layout.dir.display()
                    ),
                });
            }
        }
        crate::store::Store::connect(&url).await
    }

    /// Apply the migrations this accord has and the database lacks (the node must be
    /// stopped: take a backup first); returns the schema before and after.
    pub async fn migrate(&self) -> Result<(i64, i64), Error> {
        let url = self.layout.database_url(&self.config);
        let before = crate::store::Store::schema_at(&url).await?;
        let store = crate::store::Store::connect(&url).await?;
        store.close().await;
        Ok((before, crate::store::Store::schema_at(&url).await?))
    }

    /// The schema version of the home's database, read without migrating it, and the
    /// newest this build knows.
    pub async fn schema(&self) -> Result<(i64, i64), Error> {
        let at = crate::store::Store::schema_at(&self.layout.database_url(&self.config)).await?;
        Ok((at, crate::store::Store::known_schema()))
    }

    /// When the certificate `keys/NAME` (`tls.crt`, `ca.crt`) expires, in Unix seconds;
    /// `None` when it cannot be read.
    pub fn certificate_not_after(&self, name: &str) -> Option<i64> {
        let pem = std::fs::read_to_string(self.layout.key(name)).ok()?;
        let der = pki::certs_from_pem(&pem).ok()?.into_iter().next()?;
        pki::not_after(&der).ok()
    }

    /// Read a private key file of the home.
    pub fn read_key(&self, name: &str) -> Result<zeroize::Zeroizing<String>, Error> {
        Ok(accord_keys::read_key_file(&self.layout.key(name))?)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn hosts() {
        assert_eq!(
            super::host_of("https://node.pak.example:8443/x"),
            "node.pak.example"
        );
        assert_eq!(super::host_of("127.0.0.1:8443"), "127.0.0.1");
        assert_eq!(super::host_of("[::1]:8443"), "::1");
    }

    fn opts(listen: &str, url: Option<&str>) -> super::InitOptions {
        super::InitOptions {
            party: "PAK".into(),
            name: None,
            authority: None,
            policies: vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies")],
            listen: Some(listen.into()),
            url: url.map(str::to_string),
            database: None,
            disk_reserve_mib: None,
            pkcs11: None,
        }
    }

    /// The embedded database's URL is built from the home's path: spaces, `?`, `#` and
    /// `%` in it must not turn into a host name, URL parameters or escapes.
    #[test]
    fn a_home_whose_path_looks_like_url_syntax_gets_its_own_database() {
        let tmp = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        for name in ["my node", "q?mode=ro#x", "a%20b"] {
            let dir = tmp.path().join(name);
            rt.block_on(super::init(&dir, &opts("127.0.0.1:8443", None)))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(dir.join("node.db").is_file(), "{name}");
            let home = super::Home::open(&dir).unwrap();
            rt.block_on(async { home.store().await.unwrap().close().await });
        }
        // Each is its own file, nothing created elsewhere.
        let mut made: Vec<String> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        made.sort();
        assert_eq!(made, ["a%20b", "my node", "q?mode=ro#x"]);
    }

    #[test]
    fn listening_on_every_address_needs_a_url_to_be_reached_at() {
        let tmp = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let e = rt
            .block_on(super::init(
                &tmp.path().join("a"),
                &opts("0.0.0.0:18555", None),
            ))
            .unwrap_err()
            .to_string();
        assert!(e.contains("give --url https://HOST:18555"), "{e}");
        assert!(!tmp.path().join("a").exists());
        let d = rt
            .block_on(super::init(
                &tmp.path().join("b"),
                &opts("0.0.0.0:18555", Some("https://node.pak.example:18555")),
            ))
            .unwrap();
        assert_eq!(d.node.unwrap().url, "https://node.pak.example:18555");
    }
}
