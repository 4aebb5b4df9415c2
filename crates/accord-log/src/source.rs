//! Reading a published log: its checkpoint, tiles and entry bundles, from a directory
//! or over HTTP(S) from any static web server; and a [`NodeSource`] over tiles so
//! that proofs can be generated from what is published.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::hash::{root_of, Hash};
use crate::merkle::NodeSource;
use crate::tile::{
    entries_path, parse_bundle, parse_tile, tile_path, tile_width, TILE_HEIGHT, TILE_WIDTH,
};
use crate::Error;

/// Largest resource read from a log (a full entry bundle is at most 256 * 65537 bytes).
pub const MAX_RESOURCE: u64 = 256 * 65537 + 1;

/// Somewhere a published log can be read from.
pub trait LogSource {
    /// Fetch a resource by its path relative to the log prefix (`checkpoint`,
    /// `tile/0/000`, ...). A missing resource is [`Error::NotFound`].
    fn fetch(&self, path: &str) -> Result<Vec<u8>, Error>;
    /// A human name for messages.
    fn describe(&self) -> String;
}

/// Refuse paths that could escape the log: only `checkpoint` and `tile/...` made of
/// safe characters.
pub fn check_resource_path(path: &str) -> Result<(), Error> {
    let ok = (path == "checkpoint" || path.starts_with("tile/"))
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'/' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "{path:?} is not a log resource path"
        )))
    }
}

/// A log in a local directory.
#[derive(Debug, Clone)]
pub struct DirSource {
    dir: PathBuf,
}

impl DirSource {
    /// Read the log in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        DirSource { dir: dir.into() }
    }
}

impl LogSource for DirSource {
    fn fetch(&self, path: &str) -> Result<Vec<u8>, Error> {
        check_resource_path(path)?;
        let p = self.dir.join(path);
        let f = match std::fs::File::open(&p) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound(p.display().to_string()))
            }
            Err(e) => return Err(Error::io(p, e)),
        };
        let mut buf = Vec::new();
        f.take(MAX_RESOURCE)
            .read_to_end(&mut buf)
            .map_err(|e| Error::io(&p, e))?;
        if buf.len() as u64 >= MAX_RESOURCE {
            return Err(Error::Tile {
                path: path.into(),
                msg: "too large".into(),
            });
        }
        Ok(buf)
    }
    fn describe(&self) -> String {
        self.dir.display().to_string()
    }
}

/// A log served over HTTP(S) by any static web server.
pub struct HttpSource {
    prefix: String,
    client: reqwest::blocking::Client,
}

/// Install the aws-lc-rs crypto provider for rustls once per process (reqwest is built
/// without a default provider so that `ring` stays out of the tree).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

impl HttpSource {
    /// Read the log at URL `prefix` (`https://host/path`), trusting the system's root
    /// certificates. Must not be used from inside an async runtime (it blocks).
    pub fn new(prefix: &str) -> Result<Self, Error> {
        install_crypto_provider();
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| Error::Http {
                url: prefix.into(),
                msg: describe(&e),
            })?;
        Ok(Self::with_client(prefix, client))
    }

    /// Read the log at `prefix` over TLS configured by the caller: a node's log is
    /// served under its own self-issued certificate, trusted by a pin (a credential or
    /// an agreement names it), not by a public CA.
    pub fn with_tls(prefix: &str, tls: rustls::ClientConfig) -> Result<Self, Error> {
        install_crypto_provider();
        let client = reqwest::blocking::Client::builder()
            .use_preconfigured_tls(tls)
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| Error::Http {
                url: prefix.into(),
                msg: describe(&e),
            })?;
        Ok(Self::with_client(prefix, client))
    }

    /// Read the log at `prefix` with a client the caller built.
    pub fn with_client(prefix: &str, client: reqwest::blocking::Client) -> Self {
        HttpSource {
            prefix: prefix.trim_end_matches('/').to_string(),
            client,
        }
    }
}

/// The rustls error under a transport error, if the TLS handshake failed.
fn tls_error(e: &reqwest::Error) -> Option<&rustls::Error> {
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(x) = src {
        if let Some(t) = x.downcast_ref::<rustls::Error>() {
            return Some(t);
        }
        // io::Error's source() skips the error it wraps (itself often another io::Error):
        // look inside instead.
        src = match x.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => x.source(),
        };
    }
    None
}

/// A failed request: a server whose certificate is not trusted (not the pinned key, or
/// no chain to a trusted root) fails verification, since what it serves cannot be
/// attributed to the log; anything else is a transport error.
pub(crate) fn transport_error(url: &str, e: &reqwest::Error) -> Error {
    match tls_error(e) {
        Some(rustls::Error::InvalidCertificate(c)) => {
            let why = match c {
                // A verifier's own reason (a pin mismatch): its words, not rustls' Debug.
                rustls::CertificateError::Other(o) => o.to_string(),
                c => c.to_string(),
            };
            Error::Verify(format!(
                "{url}: the server's TLS certificate is not trusted: {why}"
            ))
        }
        _ => Error::Http {
            url: url.into(),
            msg: describe(e),
        },
    }
}

/// A transport error with every cause (reqwest's own message hides the TLS reason,
/// such as a certificate that is not the pinned one).
pub(crate) fn describe(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(x) = src {
        let t = x.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = x.source();
    }
    s
}

/// What a server said with a refusal, as `: its words` (the `error` of a JSON problem,
/// or the first line of text; at most 4 KiB read, 300 characters kept), or nothing.
fn server_says(resp: reqwest::blocking::Response) -> String {
    let mut buf = Vec::new();
    if resp.take(4096).read_to_end(&mut buf).is_err() {
        return String::new();
    }
    let text = serde_json::from_slice::<serde_json::Value>(&buf)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_string))
        .unwrap_or_else(|| {
            String::from_utf8_lossy(&buf)
                .lines()
                .next()
                .unwrap_or("")
                .to_string()
        });
    let text: String = text
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(300)
        .collect();
    if text.is_empty() {
        String::new()
    } else {
        format!(": {text}")
    }
}

impl LogSource for HttpSource {
    fn fetch(&self, path: &str) -> Result<Vec<u8>, Error> {
        check_resource_path(path)?;
        let url = format!("{}/{}", self.prefix, path);
        let herr = |msg: String| Error::Http {
            url: url.clone(),
            msg,
        };
        let resp = self
            .client
            .get(&url)
            .send()
            .map_err(|e| transport_error(&url, &e))?;
        if resp.status() == reqwest::StatusCode::NOT_FOUND {
            return Err(Error::NotFound(url));
        }
        if !resp.status().is_success() {
            let status = resp.status();
            return Err(herr(format!("status {status}{}", server_says(resp))));
        }
        let mut buf = Vec::new();
        resp.take(MAX_RESOURCE)
            .read_to_end(&mut buf)
            .map_err(|e| herr(e.to_string()))?;
        if buf.len() as u64 >= MAX_RESOURCE {
            return Err(Error::Tile {
                path: path.into(),
                msg: "too large".into(),
            });
        }
        Ok(buf)
    }
    fn describe(&self) -> String {
        self.prefix.clone()
    }
}

/// Open a log given as a directory path or an `http://` / `https://` URL.
pub fn open_source(log: &str) -> Result<Box<dyn LogSource>, Error> {
    open_source_with_tls(log, None)
}

/// [`open_source`], with the TLS configuration for an `https://` log given by the
/// caller (pinned, with a client certificate, ...). A TLS configuration for a log that
/// is a directory or an `http://` URL is an error: it would silently not be used.
pub fn open_source_with_tls(
    log: &str,
    tls: Option<rustls::ClientConfig>,
) -> Result<Box<dyn LogSource>, Error> {
    match tls {
        Some(tls) if log.starts_with("https://") => Ok(Box::new(HttpSource::with_tls(log, tls)?)),
        Some(_) => Err(Error::Invalid(format!(
            "{log}: a TLS pin or credential applies only to a log at an https:// URL"
        ))),
        None if log.starts_with("https://") || log.starts_with("http://") => {
            Ok(Box::new(HttpSource::new(log)?))
        }
        None => Ok(Box::new(DirSource::new(Path::new(log)))),
    }
}

/// Fetch and parse a hash tile, mapping a missing file to a verification failure that
/// names the tile.
pub fn fetch_tile(
    src: &dyn LogSource,
    level: u32,
    index: u64,
    width: u64,
) -> Result<Vec<Hash>, Error> {
    let path = tile_path(level, index, width);
    let data = src.fetch(&path).map_err(|e| match e {
        Error::NotFound(_) => Error::Tile {
            path: path.clone(),
            msg: "missing".into(),
        },
        e => e,
    })?;
    parse_tile(&path, &data, width)
}

/// Perfect-subtree hashes read from the tiles of a tree of a given size.
pub struct TileNodes<'a> {
    src: &'a dyn LogSource,
    size: u64,
    cache: HashMap<(u32, u64), Vec<Hash>>,
}

impl<'a> TileNodes<'a> {
    /// Nodes of the tree of `size` leaves published by `src`.
    pub fn new(src: &'a dyn LogSource, size: u64) -> Self {
        TileNodes {
            src,
            size,
            cache: HashMap::new(),
        }
    }
}

impl NodeSource for TileNodes<'_> {
    fn node(&mut self, height: u32, index: u64) -> Result<Hash, Error> {
        let level = height / TILE_HEIGHT;
        let r = height % TILE_HEIGHT;
        let first = index << r;
        let n = first / TILE_WIDTH;
        let off = (first % TILE_WIDTH) as usize;
        let width = tile_width(level, n, self.size);
        let count = 1usize << r;
        if (width as usize) < off + count {
            return Err(Error::Proof(format!(
                "node at height {height} index {index} is not in the tree of size {}",
                self.size
            )));
        }
        if self.cache.len() > 256 {
            self.cache.clear();
        }
        if !self.cache.contains_key(&(level, n)) {
            let t = fetch_tile(self.src, level, n, width)?;
            self.cache.insert((level, n), t);
        }
        let t = &self.cache[&(level, n)];
        Ok(if count == 1 {
            t[off]
        } else {
            root_of(&t[off..off + count])
        })
    }
}

/// Read entries `[start, end)` of a tree of `size` from `src`'s entry bundles, calling
/// `f` with each index and entry in order.
pub fn read_entries(
    src: &dyn LogSource,
    size: u64,
    start: u64,
    end: u64,
    mut f: impl FnMut(u64, &[u8]),
) -> Result<(), Error> {
    let mut i = start;
    while i < end.min(size) {
        let n = i / TILE_WIDTH;
        let w = tile_width(0, n, size);
        let path = entries_path(n, w);
        let data = src.fetch(&path)?;
        let entries = parse_bundle(&path, &data, w)?;
        while i < end.min(size) && i / TILE_WIDTH == n {
            f(i, entries[(i % TILE_WIDTH) as usize]);
            i += 1;
        }
    }
    Ok(())
}
