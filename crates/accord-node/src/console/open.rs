//! Opening an object for a person at the node, for the console: the API's own path, run
//! by the node on the person's behalf. The object is fetched as `GET /v1/inbox/{id}`
//! fetches it (its decision and audit entry), its key share released as
//! `POST /v1/kas/rewrap` releases it (the same decision, the same audit entry, durable
//! before the share is used), then decrypted and checked here, to a temporary file that
//! has no name on disk. No rule is written here.

use crate::audit::EntryKind;
use crate::caller::{Caller, Peer};
use crate::exchange::Stored;
use crate::kas::Requester;
use crate::node::Node;
use crate::refusal::Refusal;
use accord_keys::{KasAlg, KasPrivateKey};
use accord_node_api::Kind;
use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;

/// Where an opened object's plaintext is.
pub(crate) enum Plaintext {
    /// In memory (an object to view), wiped when dropped.
    Memory(zeroize::Zeroizing<Vec<u8>>),
    /// In an unnamed temporary file under the node's blobs, at its start (a download).
    File(std::fs::File),
}

/// An object opened for a person.
pub(crate) struct Opened {
    /// The plaintext.
    pub plaintext: Plaintext,
    /// Its size.
    pub size: u64,
    /// The verified marking.
    pub marking: String,
    /// The verified label.
    pub label: accord_spif::Label,
    /// The audit log index of the release.
    pub log_index: u64,
}

/// The bytes of one stored object inside its file.
struct Slice {
    file: std::fs::File,
    start: u64,
    len: u64,
    pos: u64,
}

impl Slice {
    fn open(s: &Stored) -> std::io::Result<Slice> {
        let mut file = std::fs::File::open(&s.path)?;
        file.seek(SeekFrom::Start(s.offset))?;
        Ok(Slice {
            file,
            start: s.offset,
            len: s.size,
            pos: 0,
        })
    }
}

impl Read for Slice {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.len - self.pos;
        let n = (buf.len() as u64).min(left) as usize;
        if n == 0 {
            return Ok(0);
        }
        let n = self.file.read(&mut buf[..n])?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for Slice {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let target = match to {
            SeekFrom::Start(o) => o as i128,
            SeekFrom::End(o) => self.len as i128 + o as i128,
            SeekFrom::Current(o) => self.pos as i128 + o as i128,
        };
        if target < 0 || target > self.len as i128 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "seek outside the object",
            ));
        }
        self.pos = target as u64;
        self.file.seek(SeekFrom::Start(self.start + self.pos))?;
        Ok(self.pos)
    }
}

impl Node {
    /// Open object `id` from `from` for the person on `peer`'s connection: into memory
    /// when it is at most `in_memory` bytes sealed, else into a temporary file.
    pub(crate) async fn open_for(
        self: &Arc<Self>,
        peer: &Peer,
        caller: &Caller,
        from: &str,
        id: &str,
        in_memory: u64,
    ) -> Result<Opened, Refusal> {
        let stored = self.fetch_from(peer, id, Some(from)).await?;
        let r = self.release_and_open(caller, stored, in_memory).await;
        self.answered(EntryKind::Rewrap, caller, r).await
    }

    async fn release_and_open(
        self: &Arc<Self>,
        caller: &Caller,
        stored: Stored,
        in_memory: u64,
    ) -> Result<Opened, Refusal> {
        let s2 = stored.clone();
        let manifest = tokio::task::spawn_blocking(move || {
            let mut slice = Slice::open(&s2)?;
            accord_node_api::client::read_manifest(&mut slice)
                .map_err(|e| std::io::Error::other(e.to_string()))
        })
        .await
        .map_err(Refusal::internal)?
        .map_err(Refusal::internal)?;
        let ephemeral =
            KasPrivateKey::generate(KasAlg::HybridP384MlKem1024).map_err(Refusal::internal)?;
        let mut nonce = [0u8; 32];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| Refusal::internal("random"))?;
        let who = Requester {
            person: Ok(caller.record.clone()),
            party: self.party().to_string(),
            credential: Some(caller.fingerprint.clone()),
            partner: None,
        };
        let answer = self
            .release(
                who,
                vec![manifest.clone()],
                ephemeral.public_key(),
                &hex::encode(nonce),
            )
            .await?;
        let mut released = accord_node_api::client::open_released(&ephemeral, answer)
            .map_err(Refusal::internal)?;
        let Some(r) = released.pop() else {
            return Err(Refusal::internal("the release answered no result"));
        };
        if r.decision != "permit" {
            let first = r
                .reasons
                .first()
                .map(|x| x.text.clone())
                .unwrap_or_default();
            return Err(Refusal {
                kind: Kind::Denied,
                error: format!("the key was not released: {first}"),
                reasons: r.reasons,
                logged: true,
            });
        }
        let kaos = manifest["encryptionInformation"]["keyAccess"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let missing: Vec<String> = kaos
            .iter()
            .filter_map(|k| k["sid"].as_str())
            .filter(|sid| !r.shares.iter().any(|s| &s.sid == sid))
            .map(str::to_string)
            .collect();
        if !missing.is_empty() {
            return Err(Refusal::new(
                Kind::Denied,
                accord_node_api::wire::Rule::KeyAccess,
                "this object also needs a partner's key access service to consent (sealed with --require): open it with `accord open`",
            ));
        }
        let held = self.agreements().await.map_err(Refusal::internal)?;
        let trusted: Vec<accord_keys::VerifyingKey> = self
            .trusted_signers(&held)
            .into_iter()
            .map(|(_, k)| k)
            .collect();
        let tmp = self.home.layout.blobs().join("tmp");
        let memory = stored.size <= in_memory;
        if !memory {
            // The plaintext is about the sealed size: the disk keeps its reserve.
            crate::disk::check_room(
                &self.home.layout.blobs(),
                self.home.config.disk_reserve(),
                stored.size,
            )?;
        }
        let log_index = r.log_index;
        let (plaintext, size, marking, label_xml) = tokio::task::spawn_blocking(move || {
            let mut input = Slice::open(&stored).map_err(Refusal::internal)?;
            let opts = accord_tdf::OpenOptions {
                kas_keys: &[],
                trusted_signers: &trusted,
                range: None,
                progress: None,
                released: &r.shares,
                decided_unlabelled: None,
            };
            let broken = |e: accord_tdf::Error| {
                Refusal::new(
                    Kind::Denied,
                    accord_node_api::wire::Rule::ObjectIntegrity,
                    format!("the object does not open: {e}"),
                )
            };
            if memory {
                let mut out = zeroize::Zeroizing::new(Vec::with_capacity(stored.size as usize));
                let summary = accord_tdf::open(&mut input, &mut *out, &opts).map_err(broken)?;
                let size = out.len() as u64;
                return Ok::<_, Refusal>((
                    Plaintext::Memory(out),
                    size,
                    summary.marking,
                    summary.label_xml,
                ));
            }
            std::fs::create_dir_all(&tmp).map_err(Refusal::internal)?;
            let mut file = tempfile::tempfile_in(&tmp).map_err(Refusal::internal)?;
            let summary = accord_tdf::open(&mut input, &mut file, &opts).map_err(broken)?;
            let size = file.seek(SeekFrom::End(0)).map_err(Refusal::internal)?;
            file.seek(SeekFrom::Start(0)).map_err(Refusal::internal)?;
            Ok((
                Plaintext::File(file),
                size,
                summary.marking,
                summary.label_xml,
            ))
        })
        .await
        .map_err(Refusal::internal)??;
        let label = accord_spif::Label::read(self.policies(), "label", label_xml.as_bytes())
            .map_err(Refusal::internal)?;
        Ok(Opened {
            plaintext,
            size,
            marking,
            label,
            log_index,
        })
    }
}
