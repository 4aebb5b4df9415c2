//! Reading and writing key files. Private key files are created with mode 0600 in the
//! same `open` call that creates them (never widened then narrowed), and existing
//! files are never overwritten.

use crate::kas::{KasAlg, KasPrivateKey, KasPublicKey};
use crate::party::{
    check_party_code, KasKeyEntry, PartyDescriptor, SigningKeyEntries, SigningKeyEntry,
};
use crate::pkcs11::Token;
use crate::signing::{ClassicalAlg, SigningKey, SigningPublicKeys};
use crate::Error;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zeroize::Zeroizing;

/// Largest key file read.
pub const MAX_KEY_FILE: u64 = 64 * 1024;

fn io(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        cause: source,
    }
}

fn create(path: &Path, mode: u32) -> Result<File, Error> {
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    opts.open(path).map_err(|e| io(path, e))
}

/// Create a new file readable and writable by its owner only (0600) and write `data`.
pub fn write_private_file(path: &Path, data: &[u8]) -> Result<(), Error> {
    let mut f = create(path, 0o600)?;
    f.write_all(data).map_err(|e| io(path, e))?;
    f.sync_all().map_err(|e| io(path, e))
}

/// Create a new world-readable (0644) file and write `data`.
pub fn write_public_file(path: &Path, data: &[u8]) -> Result<(), Error> {
    let mut f = create(path, 0o644)?;
    f.write_all(data).map_err(|e| io(path, e))?;
    f.sync_all().map_err(|e| io(path, e))
}

/// Replace (or create) `path` with `data` so that a reader, or the file after a crash,
/// is the old file or the new, never part of one: written beside it (owner-only when
/// `private`, else 0644), flushed, renamed over it, and the directory flushed.
pub fn replace_file(path: &Path, data: &[u8], private: bool) -> Result<(), Error> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = path.with_file_name(format!(".{name}.new"));
    let _ = std::fs::remove_file(&tmp);
    if private {
        write_private_file(&tmp, data)?;
    } else {
        write_public_file(&tmp, data)?;
    }
    std::fs::rename(&tmp, path).map_err(|e| io(path, e))?;
    if let Some(dir) = path.parent() {
        // The rename itself is durable only once the directory is.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Read a key file (at most [`MAX_KEY_FILE`] bytes) into zeroizing memory.
pub fn read_key_file(path: &Path) -> Result<Zeroizing<String>, Error> {
    let f = File::open(path).map_err(|e| io(path, e))?;
    let mut buf = Zeroizing::new(Vec::new());
    f.take(MAX_KEY_FILE + 1)
        .read_to_end(&mut buf)
        .map_err(|e| io(path, e))?;
    if buf.len() as u64 > MAX_KEY_FILE {
        return Err(Error::Pem(format!(
            "{}: larger than {MAX_KEY_FILE} bytes, not a key file",
            path.display()
        )));
    }
    let text = std::str::from_utf8(&buf)
        .map_err(|_| Error::Pem(format!("{}: not UTF-8 text", path.display())))?;
    Ok(Zeroizing::new(text.to_string()))
}

fn in_file<T>(path: &Path, r: Result<T, Error>) -> Result<T, Error> {
    r.map_err(|e| Error::InFile {
        path: path.to_path_buf(),
        cause: Box::new(e),
    })
}

/// Load a KAS private key file.
pub fn load_kas_private(path: &Path) -> Result<KasPrivateKey, Error> {
    load_kas_private_in(path, None)
}

/// Load a KAS private key file whose classical half may live in `token`.
pub fn load_kas_private_in(
    path: &Path,
    token: Option<&Arc<Token>>,
) -> Result<KasPrivateKey, Error> {
    let text = read_key_file(path)?;
    in_file(path, KasPrivateKey::from_pem_in(&text, token))
}

/// Load a KAS public key file.
pub fn load_kas_public(path: &Path) -> Result<KasPublicKey, Error> {
    let text = read_key_file(path)?;
    in_file(path, KasPublicKey::from_pem(&text))
}

/// Load a signing key file.
pub fn load_signing_key(path: &Path) -> Result<SigningKey, Error> {
    load_signing_key_in(path, None)
}

/// Load a signing key file whose classical half may live in `token`.
pub fn load_signing_key_in(path: &Path, token: Option<&Arc<Token>>) -> Result<SigningKey, Error> {
    let text = read_key_file(path)?;
    in_file(path, SigningKey::from_pem_in(&text, token))
}

/// Load a signing public key file.
pub fn load_signing_public(path: &Path) -> Result<SigningPublicKeys, Error> {
    let text = read_key_file(path)?;
    in_file(path, SigningPublicKeys::from_pem(&text))
}

/// Load and validate a `party.json`.
pub fn load_party(path: &Path) -> Result<PartyDescriptor, Error> {
    let f = File::open(path).map_err(|e| io(path, e))?;
    let mut buf = Vec::new();
    f.take(crate::party::MAX_PARTY_JSON as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|e| io(path, e))?;
    in_file(path, PartyDescriptor::from_json(&buf))
}

/// What `accord keygen` makes.
#[derive(Debug, Clone)]
pub struct KeygenOptions {
    /// Party code (ISO 3166 trigraph).
    pub party: String,
    /// Party name (defaults to the code).
    pub name: Option<String>,
    /// Signing authority.
    pub authority: Option<String>,
    /// National policy id.
    pub policy_id: Option<String>,
    /// KAS key algorithm.
    pub kas: KasAlg,
    /// Classical signing algorithm (ML-DSA-87 is always added).
    pub signing: ClassicalAlg,
}

/// The files `keygen` wrote.
#[derive(Debug, Clone)]
pub struct KeygenOutput {
    /// The descriptor written to `party.json`.
    pub party: PartyDescriptor,
    /// Paths written, in order.
    pub files: Vec<PathBuf>,
}

/// File names inside a key directory.
pub const KAS_KEY: &str = "kas.key";
/// KAS public key file name.
pub const KAS_PUB: &str = "kas.pub";
/// Signing key file name.
pub const SIGNING_KEY: &str = "signing.key";
/// Signing public key file name.
pub const SIGNING_PUB: &str = "signing.pub";
/// Party descriptor file name.
pub const PARTY_JSON: &str = "party.json";

/// Generate a KAS key pair and a signing key pair into `dir` (created 0700 when missing)
/// and write `kas.key kas.pub signing.key signing.pub party.json`. Refuses to overwrite
/// any existing file (checked before anything is written).
pub fn keygen(dir: &Path, opts: &KeygenOptions) -> Result<KeygenOutput, Error> {
    check_party_code(&opts.party)?;
    if !dir.exists() {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            b.mode(0o700);
        }
        b.create(dir).map_err(|e| io(dir, e))?;
    }
    let names = [KAS_KEY, KAS_PUB, SIGNING_KEY, SIGNING_PUB, PARTY_JSON];
    for n in names {
        let p = dir.join(n);
        if p.exists() {
            return Err(io(
                &p,
                std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "already exists; not overwriting keys",
                ),
            ));
        }
    }
    let kas = KasPrivateKey::generate(opts.kas)?;
    let signing = SigningKey::generate(opts.signing)?;
    let party = PartyDescriptor {
        party: opts.party.clone(),
        name: opts.name.clone().unwrap_or_else(|| opts.party.clone()),
        authority: opts.authority.clone(),
        policy_id: opts.policy_id.clone(),
        signing_keys: SigningKeyEntries {
            classical: SigningKeyEntry::from_key(&signing.public_keys().classical),
            ml_dsa_87: SigningKeyEntry::from_key(&signing.public_keys().ml_dsa),
        },
        kas_keys: vec![KasKeyEntry::from_key(kas.public_key())],
        node: None,
    };
    party.validate()?;
    let files: Vec<PathBuf> = names.iter().map(|n| dir.join(n)).collect();
    write_private_file(&files[0], kas.to_pem()?.as_bytes())?;
    write_public_file(&files[1], kas.public_key().to_pem().as_bytes())?;
    write_private_file(&files[2], signing.to_pem()?.as_bytes())?;
    write_public_file(&files[3], signing.public_keys().to_pem().as_bytes())?;
    write_public_file(&files[4], party.to_json().as_bytes())?;
    Ok(KeygenOutput { party, files })
}
