//! Restore: a backup read twice. The first pass checks every member against the
//! manifest (size and SHA-256, none missing, none extra, every path one a node home
//! has) and writes nothing; the second writes the home, hashing again as it goes. Then
//! the database is put in place (SQLite's file, or `pg_restore` into the empty database
//! given), and the audit log is opened once, which replays its journal exactly as a
//! node's start after a crash does.

use super::{crypt, database, Manifest, ManifestSignature, Member, FORMAT, MANIFEST, MANIFEST_SIG};
use crate::home::{mkdir_private, Home, NodeConfig, NODE_TOML};
use crate::Error;
use accord_keys::KasPrivateKey;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

/// How to restore.
#[derive(Debug, Clone)]
pub struct RestoreOptions<'a> {
    /// The recovery key an encrypted backup needs.
    pub recovery_key: Option<&'a KasPrivateKey>,
    /// The party's signing keys, from a copy of its `party.json` the officer trusts
    /// (not the one inside the backup): the manifest must carry their signature.
    pub signer: &'a accord_keys::SigningPublicKeys,
    /// For a backup of a PostgreSQL node: the (empty) database to restore into.
    pub database: Option<String>,
    /// Replace what a non-empty directory holds.
    pub force: bool,
}

/// What restore did.
#[derive(Debug)]
pub struct Restored {
    /// The backup's manifest.
    pub manifest: Manifest,
    /// The restored log's size, once opened.
    pub log_size: u64,
}

/// The longest manifest read.
const MAX_MANIFEST: u64 = 256 << 20;
/// Largest manifest signature read (two signatures in base64: about 6 KiB).
const MAX_SIGNATURE: u64 = 64 << 10;
/// The most members a backup may have.
const MAX_MEMBERS: usize = 1_000_000;

/// The top-level names of a node home a backup may write.
const TOP: [&str; 7] = [
    "database",
    "log",
    "blobs",
    "keys",
    "witness",
    "policies",
    "party.json",
];

/// A member's path checked: relative, `/`-separated names of letters, digits, `.`,
/// `-`, `_` (none `.` or `..`), under a name a node home has.
fn checked_path(path: &str) -> Result<(), String> {
    let parts: Vec<&str> = path.split('/').collect();
    let ok = path.len() <= 1024
        && parts.iter().all(|p| {
            !p.is_empty()
                && *p != "."
                && *p != ".."
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        })
        && (TOP.contains(&parts[0])
            || path == NODE_TOML
            || path == MANIFEST
            || path == MANIFEST_SIG);
    if ok {
        Ok(())
    } else {
        Err(format!("the member {path:?} is not a path in a node home"))
    }
}

/// The longest member path a GNU long-name entry may give (a node home's longest is
/// under 200 bytes; [`checked_path`] allows 1,024).
const MAX_LONG_NAME: u64 = 1024;

/// The path of the member `e` of an archive read raw: a GNU long-name entry (how tar
/// writes a path over 100 bytes) is read here, bounded, into `long_name` for the member
/// after it, and gives `None`; no other extension header is accepted. The tar crate
/// would read a long-name entry whole, whatever size it declares: a crafted backup could
/// ask for gigabytes before any check.
fn member_path<R: Read>(
    e: &mut tar::Entry<'_, R>,
    long_name: &mut Option<String>,
) -> Result<Option<String>, Error> {
    let kind = e.header().entry_type();
    if kind == tar::EntryType::GNULongName {
        let declared = e.header().size().map_err(read_err)?;
        if declared > MAX_LONG_NAME {
            return Err(damaged(format!(
                "a member's long name has {declared} bytes, more than {MAX_LONG_NAME}"
            )));
        }
        let mut name = Vec::new();
        e.take(MAX_LONG_NAME)
            .read_to_end(&mut name)
            .map_err(read_err)?;
        while name.last() == Some(&0) {
            name.pop();
        }
        let name = String::from_utf8(name).map_err(|_| damaged("a member's path is not UTF-8"))?;
        if long_name.replace(name).is_some() {
            return Err(damaged("two long names for one member"));
        }
        return Ok(None);
    }
    if kind.is_pax_global_extensions()
        || kind.is_pax_local_extensions()
        || kind == tar::EntryType::GNULongLink
    {
        return Err(damaged(
            "an extension header accord does not write (PAX, or a long link name)",
        ));
    }
    match long_name.take() {
        Some(name) => Ok(Some(name)),
        None => Ok(Some(
            String::from_utf8(e.path_bytes().into_owned())
                .map_err(|_| damaged("a member's path is not UTF-8"))?,
        )),
    }
}

/// A backup that does not check out: [`Error::Refused`], a negative answer.
fn damaged(what: impl std::fmt::Display) -> Error {
    Error::Refused(format!(
        "the backup is damaged or was changed: {what}; nothing was restored"
    ))
}

/// An error reading the archive: a cut-short one said so.
fn read_err(e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        damaged(format!("it is cut short ({e})"))
    } else {
        damaged(e)
    }
}

/// Open the backup at `input` for reading its archive (decrypting it when it is
/// encrypted).
fn open(input: &Path, key: Option<&KasPrivateKey>) -> Result<Box<dyn Read>, Error> {
    let f = std::fs::File::open(input).map_err(|e| Error::io(input, e))?;
    let mut r = BufReader::with_capacity(1 << 20, f);
    let head = r.fill_buf().map_err(|e| Error::io(input, e))?;
    if head.starts_with(crypt::MAGIC) {
        r.consume(crypt::MAGIC.len());
        let key = key.ok_or_else(|| {
            Error::Input(format!(
                "{} is encrypted to a recovery key: give --recovery-key with its private key",
                input.display()
            ))
        })?;
        return Ok(Box::new(crypt::Decryptor::new(r, key)?));
    }
    if head.is_empty() {
        return Err(Error::Input(format!("{} is empty", input.display())));
    }
    if key.is_some() {
        // An encrypted backup replaced by a plain one: refused, not read as plain.
        return Err(Error::Refused(format!(
            "{} is not encrypted, but --recovery-key was given: it is not the encrypted backup you expected; nothing was restored",
            input.display()
        )));
    }
    Ok(Box::new(r))
}

/// Check the backup at `input` (decrypting it with `key` when it is encrypted) as
/// restore does first, writing nothing: its manifest, or what is wrong
/// ([`Error::Refused`] for a damaged or changed backup, or one the party's node did not
/// sign). With `signer`, the manifest's signature is checked against it; without, only
/// that the members match the manifest (which anyone could have written).
pub fn check(
    input: &Path,
    key: Option<&KasPrivateKey>,
    signer: Option<&accord_keys::SigningPublicKeys>,
) -> Result<Manifest, Error> {
    let c = check_signed(open(input, key)?)?;
    if let Some(signer) = signer {
        authenticate(&c.manifest, &c.text, c.signature.as_deref(), signer)?;
    }
    Ok(c.manifest)
}

/// Check every member of the archive at `input` against its manifest, and the
/// manifest's signature against `signer`; write nothing.
fn verify(
    input: &Path,
    key: Option<&KasPrivateKey>,
    signer: &accord_keys::SigningPublicKeys,
) -> Result<Manifest, Error> {
    check(input, key, Some(signer))
}

/// The manifest is signed by `signer` (both signatures), or the backup is refused.
fn authenticate(
    m: &Manifest,
    text: &[u8],
    sig: Option<&[u8]>,
    signer: &accord_keys::SigningPublicKeys,
) -> Result<(), Error> {
    let not = |why: String| {
        Error::Refused(format!(
            "the backup is not one the {} node signed with the keys given (--signer): {why}; nothing was restored",
            m.party
        ))
    };
    let sig = sig.ok_or_else(|| not(format!("it has no {MANIFEST_SIG}")))?;
    let sig: ManifestSignature =
        serde_json::from_slice(sig).map_err(|e| not(format!("{MANIFEST_SIG}: {e}")))?;
    let b64 = |s: &str| {
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, s)
            .map_err(|e| not(format!("{MANIFEST_SIG}: {e}")))
    };
    signer
        .verify_both(
            &super::manifest_message(text),
            &b64(&sig.classical)?,
            &b64(&sig.ml_dsa_87)?,
        )
        .map_err(|_| not("the signature does not verify".into()))
}

/// Check every member of an archive (unencrypted) against its manifest: its manifest,
/// or what is wrong ([`Error::Refused`] for a damaged archive). Reads all of it once,
/// holding a hash per member and the manifest (bounded: 1,000,000 members, 256 MiB).
/// The manifest's signature is not checked here ([`check`] does, given the signer).
pub fn check_archive(r: impl Read) -> Result<Manifest, Error> {
    Ok(check_signed(r)?.manifest)
}

/// An archive whose members match its manifest: the manifest, its bytes as written
/// (what the signature covers) and its signature member, if any.
struct Checked {
    manifest: Manifest,
    text: Vec<u8>,
    signature: Option<Vec<u8>>,
}

/// [`check_archive`], also giving the manifest's bytes and its signature member.
fn check_signed(r: impl Read) -> Result<Checked, Error> {
    let mut ar = tar::Archive::new(r);
    let mut seen: HashMap<String, (u64, String)> = HashMap::new();
    let mut manifest = None;
    let mut manifest_text = Vec::new();
    let mut signature = None;
    let mut long_name = None;
    for e in ar.entries().map_err(read_err)?.raw(true) {
        let mut e = e.map_err(read_err)?;
        if seen.len() >= MAX_MEMBERS {
            return Err(damaged(format!("more than {MAX_MEMBERS} members")));
        }
        let Some(path) = member_path(&mut e, &mut long_name)? else {
            continue;
        };
        checked_path(&path).map_err(damaged)?;
        if e.header().entry_type() != tar::EntryType::Regular {
            return Err(damaged(format!("the member {path} is not a file")));
        }
        let declared = e.header().size().map_err(read_err)?;
        let short = |n: u64| {
            damaged(format!(
                "it is cut short: the member {path} has {n} of its {declared} bytes"
            ))
        };
        if path == MANIFEST {
            let mut text = Vec::new();
            (&mut e)
                .take(MAX_MANIFEST)
                .read_to_end(&mut text)
                .map_err(read_err)?;
            if (text.len() as u64) < declared.min(MAX_MANIFEST) {
                return Err(short(text.len() as u64));
            }
            let m: Manifest = serde_json::from_slice(&text)
                .map_err(|err| damaged(format!("{MANIFEST}: {err}")))?;
            manifest = Some(m);
            manifest_text = text;
            continue;
        }
        if path == MANIFEST_SIG {
            let mut sig = Vec::new();
            (&mut e)
                .take(MAX_SIGNATURE)
                .read_to_end(&mut sig)
                .map_err(read_err)?;
            if (sig.len() as u64) < declared.min(MAX_SIGNATURE) {
                return Err(short(sig.len() as u64));
            }
            if signature.replace(sig).is_some() {
                return Err(damaged(format!("the member {MANIFEST_SIG} is there twice")));
            }
            continue;
        }
        let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        let mut buf = vec![0u8; 1 << 16];
        let mut n = 0u64;
        loop {
            let k = e.read(&mut buf).map_err(read_err)?;
            if k == 0 {
                break;
            }
            ctx.update(&buf[..k]);
            n += k as u64;
        }
        if n < declared {
            return Err(short(n));
        }
        let sha = hex::encode(ctx.finish().as_ref());
        if seen.insert(path.clone(), (n, sha)).is_some() {
            return Err(damaged(format!("the member {path} is there twice")));
        }
    }
    let m = manifest.ok_or_else(|| {
        damaged(format!(
            "it has no {MANIFEST} (it is cut short, or not an accord backup)"
        ))
    })?;
    if m.format != FORMAT {
        return Err(Error::Input(format!(
            "the backup is in the format {:?}; this accord reads {FORMAT}",
            m.format
        )));
    }
    for Member { path, size, sha256 } in &m.members {
        match seen.remove(path) {
            None => return Err(damaged(format!("the member {path:?} is missing"))),
            Some((n, _)) if n != *size => {
                return Err(damaged(format!(
                    "the member {path:?} has {n} bytes, the manifest says {size}"
                )))
            }
            Some((_, s)) if s != *sha256 => {
                return Err(damaged(format!(
                    "the member {path:?} does not match its SHA-256 in the manifest"
                )))
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = seen.keys().min() {
        return Err(damaged(format!(
            "the member {extra} is not in the manifest"
        )));
    }
    Ok(Checked {
        manifest: m,
        text: manifest_text,
        signature,
    })
}

/// Write every member (but the manifest) under `dir`, the database file into `db_dir`.
fn extract(
    input: &Path,
    key: Option<&KasPrivateKey>,
    m: &Manifest,
    dir: &Path,
    db_dir: &Path,
) -> Result<(), Error> {
    let want: HashMap<&str, &Member> = m.members.iter().map(|x| (x.path.as_str(), x)).collect();
    let mut written: Vec<PathBuf> = Vec::with_capacity(m.members.len());
    let mut ar = tar::Archive::new(open(input, key)?);
    let mut long_name = None;
    for e in ar.entries().map_err(read_err)?.raw(true) {
        let mut e = e.map_err(read_err)?;
        let Some(path) = member_path(&mut e, &mut long_name)? else {
            continue;
        };
        if path == MANIFEST || path == MANIFEST_SIG {
            continue;
        }
        let member = want
            .get(path.as_str())
            .ok_or_else(|| damaged(format!("the member {path} is not in the manifest")))?;
        checked_path(&path).map_err(damaged)?;
        let to = match path.strip_prefix("database/") {
            Some(name) => db_dir.join(name),
            None => dir.join(&path),
        };
        if let Some(parent) = to.parent() {
            mkdir_private(parent)?;
        }
        let mode = e.header().mode().unwrap_or(0o600) & 0o644 | 0o600;
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(mode);
        }
        let mut f = o.open(&to).map_err(|err| Error::io(&to, err))?;
        let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let k = e.read(&mut buf).map_err(read_err)?;
            if k == 0 {
                break;
            }
            ctx.update(&buf[..k]);
            f.write_all(&buf[..k]).map_err(|err| Error::io(&to, err))?;
        }
        if hex::encode(ctx.finish().as_ref()) != member.sha256 {
            return Err(damaged(format!(
                "the member {path} changed between the check and the restore"
            )));
        }
        written.push(to);
    }
    if written.len() != m.members.len() {
        return Err(damaged(format!(
            "{} of its {} members were read the second time: it changed between the check and the restore",
            written.len(),
            m.members.len()
        )));
    }
    // Durable before the home is used: the files, then their directories, synced
    // together (one after another, a thousand objects took seconds of fsyncs).
    let mut dirs: Vec<PathBuf> = written
        .iter()
        .filter_map(|p| p.parent().map(Path::to_path_buf))
        .collect();
    dirs.sort();
    dirs.dedup();
    use rayon::prelude::*;
    for set in [&written, &dirs] {
        set.par_iter().try_for_each(|p| {
            std::fs::File::open(p)
                .and_then(|f| f.sync_all())
                .map_err(|e| Error::io(p, e))
        })?;
    }
    Ok(())
}

/// Whether `dir` is missing or empty.
fn empty(dir: &Path) -> Result<bool, Error> {
    match std::fs::read_dir(dir) {
        Ok(mut rd) => Ok(rd.next().is_none()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(Error::io(dir, e)),
    }
}

/// Restore the backup `input` into the node home `dir`.
pub async fn restore(
    input: &Path,
    dir: &Path,
    opts: &RestoreOptions<'_>,
) -> Result<Restored, Error> {
    let key = opts.recovery_key;
    // Blocking file work in an async function: restore is a command of its own.
    let m = verify(input, key, opts.signer)?;
    match (m.database.as_str(), &opts.database) {
        ("postgres", None) => {
            return Err(Error::Input(
                "this backup holds a PostgreSQL database: give --database postgres://... naming an empty database to restore it into".into(),
            ))
        }
        ("sqlite", Some(_)) => {
            return Err(Error::Input(
                "this backup holds an embedded SQLite database, restored as DIR/node.db: leave out --database".into(),
            ))
        }
        ("sqlite" | "postgres", _) => {}
        (other, _) => {
            return Err(Error::Input(format!(
                "the backup's database is {other:?}, which this accord does not know"
            )))
        }
    }
    if empty(dir)? {
        // Nothing to lose: restore in place, and leave nothing half-restored behind.
        let existed = dir.exists();
        mkdir_private(dir)?;
        let result = restore_into(input, dir, &m, opts).await;
        if result.is_err() {
            if existed {
                empty_out(dir);
            } else {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
        return result;
    }
    if !opts.force {
        return Err(Error::Exists(format!(
            "{} exists and is not empty: restore into a new or empty directory, or give --force to replace what it holds",
            dir.display()
        )));
    }
    // Not under a running node (which holds its log's lock).
    let lock = dir.join("log/.accord/lock");
    if let Ok(f) = std::fs::File::open(&lock) {
        #[allow(clippy::incompatible_msrv)]
        if f.try_lock().is_err() {
            return Err(Error::Input(format!(
                "a node is running in {}: stop it first",
                dir.display()
            )));
        }
    }
    // --force: the home is restored beside DIR and swapped in only once every step has
    // passed (the database restored, the schema and the log checked), so that a restore
    // that fails, a database that is not empty say, leaves DIR as it was.
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "home".into());
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{name}.restoring-"))
        .tempdir_in(&parent)
        .map_err(|e| Error::io(&parent, e))?;
    let result = restore_into(input, staging.path(), &m, opts).await?;
    let old = parent.join(format!(
        ".{name}.replaced-{}",
        staging
            .path()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    std::fs::rename(dir, &old).map_err(|e| Error::io(dir, e))?;
    let staged = staging.keep();
    if let Err(e) = std::fs::rename(&staged, dir) {
        // Put the old home back: nothing is lost.
        let _ = std::fs::rename(&old, dir);
        let _ = std::fs::remove_dir_all(&staged);
        return Err(Error::io(dir, e));
    }
    let _ = std::fs::remove_dir_all(&old);
    Ok(result)
}

/// Extract the backup into `dir` and finish the home there (database, log, checks).
async fn restore_into(
    input: &Path,
    dir: &Path,
    m: &Manifest,
    opts: &RestoreOptions<'_>,
) -> Result<Restored, Error> {
    let db_dir = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
    extract(input, opts.recovery_key, m, dir, db_dir.path())?;
    finish(dir, db_dir.path(), m, opts).await
}

/// Remove what `dir` holds, best effort (a restore that failed).
fn empty_out(dir: &Path) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            let _ = if p.is_dir() {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
        }
    }
}

/// Put the database in place, open the log once (replaying its journal), and check
/// the home opens.
async fn finish(
    dir: &Path,
    db_dir: &Path,
    m: &Manifest,
    opts: &RestoreOptions<'_>,
) -> Result<Restored, Error> {
    mkdir_private(&dir.join("blobs"))?;
    if m.database == "sqlite" {
        let from = db_dir.join("node.db");
        let to = dir.join("node.db");
        std::fs::copy(&from, &to).map_err(|e| Error::io(&to, e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| Error::io(&to, e))?;
        }
    } else if let Some(url) = &opts.database {
        database::pg_restore(url, &db_dir.join("node.pgdump")).await?;
        // node.toml names the database restored into.
        let path = dir.join(NODE_TOML);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let mut cfg: NodeConfig = toml::from_str(&text).map_err(|e| Error::Home {
            dir: dir.to_path_buf(),
            msg: format!("{NODE_TOML}: {e}"),
        })?;
        cfg.database = Some(url.clone());
        let toml = toml::to_string_pretty(&cfg).map_err(|e| Error::Input(e.to_string()))?;
        std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
        accord_keys::write_private_file(
            &path,
            format!("# Accord node configuration (accord init; accord restore)\n{toml}").as_bytes(),
        )?;
    }
    let home = Home::open(dir)?;
    let (schema, _) = home.schema().await?;
    if schema != m.schema {
        return Err(Error::Input(format!(
            "the restored database has schema {schema}, the backup's manifest says {}",
            m.schema
        )));
    }
    let log = crate::log_keys::open_log(&home, Default::default(), accord_agreement::Time::now())?;
    let cp = log.close()?;
    if cp.checkpoint.size != m.log_size {
        return Err(Error::Input(format!(
            "the restored audit log has {} entries, the backup's manifest says {}",
            cp.checkpoint.size, m.log_size
        )));
    }
    Ok(Restored {
        manifest: m.clone(),
        log_size: cp.checkpoint.size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An archive of `members` (path, bytes) with a manifest naming `listed`.
    fn archive(members: &[(&str, &[u8])], listed: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let add = |b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]| {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o600);
            h.set_entry_type(tar::EntryType::Regular);
            b.append_data(&mut h, path, data).unwrap();
        };
        for (p, d) in members {
            add(&mut b, p, d);
        }
        let m = Manifest {
            format: FORMAT.into(),
            party: "PAK".into(),
            node_url: "https://127.0.0.1:8443".into(),
            accord_version: "0".into(),
            created: "2026-12-02T00:00:00Z".into(),
            database: "sqlite".into(),
            schema: 1,
            log_origin: "o".into(),
            log_size: 0,
            log_checkpoint_size: 0,
            members: listed
                .iter()
                .map(|(p, d)| Member {
                    path: p.to_string(),
                    size: d.len() as u64,
                    sha256: hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, d)),
                })
                .collect(),
        };
        add(&mut b, MANIFEST, &serde_json::to_vec(&m).unwrap());
        b.into_inner().unwrap()
    }

    fn refused(data: &[u8]) -> String {
        match check_archive(data) {
            Err(Error::Refused(e)) => e,
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn long_names_are_read_bounded_and_other_extensions_refused() {
        // A path over 100 bytes, as the node's blobs have: written with a GNU long
        // name, read back whole.
        let long = format!("blobs/inbox/USA.{}.{}.tdf", "0".repeat(36), "a".repeat(64));
        let members: &[(&str, &[u8])] = &[(long.as_str(), b"sealed")];
        let m = check_archive(&archive(members, members)[..]).unwrap();
        assert_eq!(m.members[0].path, long);
        // A long-name header declaring 16 GiB: refused at once, nothing read.
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::GNULongName);
        h.set_size(1 << 34);
        h.set_path("././@LongLink").unwrap();
        h.set_cksum();
        let mut data = h.as_bytes().to_vec();
        data.extend_from_slice(&[0u8; 1024]);
        let e = refused(&data);
        assert!(e.contains("long name has 17179869184 bytes"), "{e}");
        // A PAX header (which accord never writes): refused.
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::XHeader);
        h.set_size(0);
        h.set_path("pax").unwrap();
        h.set_cksum();
        let mut data = h.as_bytes().to_vec();
        data.extend_from_slice(&[0u8; 1024]);
        assert!(refused(&data).contains("extension header"));
    }

    #[test]
    fn an_archive_is_checked_member_by_member_against_its_manifest() {
        let good: &[(&str, &[u8])] = &[("keys/a.key", b"key"), ("party.json", b"{}")];
        let m = check_archive(&archive(good, good)[..]).unwrap();
        assert_eq!(m.members.len(), 2);
        let e = refused(&archive(
            &[("keys/a.key", b"kez"), ("party.json", b"{}")],
            good,
        ));
        assert!(
            e.contains("\"keys/a.key\" does not match its SHA-256"),
            "{e}"
        );
        let e = refused(&archive(&good[..1], good));
        assert!(e.contains("\"party.json\" is missing"), "{e}");
        let e = refused(&archive(good, &good[..1]));
        assert!(e.contains("party.json is not in the manifest"), "{e}");
        // A name the tar writer would refuse to write, written by hand.
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_entry_type(tar::EntryType::Regular);
        h.as_old_mut().name[..9].copy_from_slice(b"keys/../x");
        h.set_cksum();
        let mut b = tar::Builder::new(Vec::new());
        b.append(&h, &b"k"[..]).unwrap();
        let e = refused(&b.into_inner().unwrap());
        assert!(e.contains("not a path in a node home"), "{e}");
        let whole = archive(good, good);
        let e = refused(&whole[..whole.len() - 1100]);
        assert!(
            e.contains("cut short") || e.contains("no MANIFEST.json"),
            "{e}"
        );
        let e = refused(&archive(good, &[]));
        assert!(e.contains("not in the manifest"), "{e}");
        assert!(refused(&whole[..100]).contains("damaged"));
    }

    #[test]
    fn member_paths_stay_in_a_node_home() {
        for ok in [
            "log/.accord/log.key",
            "blobs/inbox/PAK.x.tdf",
            "node.toml",
            "database/node.db",
            "log/tile/0/x001/000.p/5",
        ] {
            assert!(super::checked_path(ok).is_ok(), "{ok}");
        }
        for bad in [
            "../x",
            "/etc/passwd",
            "log/../../x",
            "log//x",
            "other/x",
            "log/a b",
            "",
            "keys/./x",
        ] {
            assert!(super::checked_path(bad).is_err(), "{bad}");
        }
    }
}
