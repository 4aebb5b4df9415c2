//! Sealing: the key splits and their shares wrapped for every KAS, the policy, the
//! payload encrypted segment by segment in a streaming pipeline, then the manifest with
//! its signed label and marking assertions. Apart from `open` because the two share
//! formats, not steps.

use super::metadata::encrypt_metadata;
use super::pipeline::{align_at, batch_len, for_each_segment, read_full, reserve, Pool};
use crate::assertion::{self, AssertionSigner};
use crate::crypto::{self, GCM_OVERHEAD, TAG_LEN};
use crate::keyaccess;
use crate::label::{self, BoundLabel, LabelSummary};
use crate::manifest::{
    AttributeObject, EncryptionInformation, IntegrityInformation, KeyAccess, Manifest, Method,
    Payload, PolicyBody, PolicyObject, RootSignature, Segment, MAX_SEGMENTS, SCHEMA_VERSION,
};
use crate::tdf::{Progress, MAX_SEGMENT_SIZE, MIN_SEGMENT_SIZE};
use crate::zip::{self, ZipWriter};
use crate::Error;
use accord_keys::KasPublicKey;
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, NONCE_LEN};
use std::io::{Read, Write};
use std::sync::mpsc::{channel, sync_channel};
use zeroize::Zeroizing;

/// One KAS a share is wrapped for.
#[derive(Debug, Clone)]
pub struct Recipient {
    /// The KAS public key.
    pub kas: KasPublicKey,
    /// The KAS URL written in the key access object.
    pub url: String,
    /// The party the KAS decides for (ISO 3166 trigraph), when known.
    pub party: Option<String>,
}

/// How to seal.
pub struct SealOptions<'a> {
    /// Every KAS key to wrap shares for.
    pub recipients: Vec<Recipient>,
    /// Parties that must each release their own share (empty: one share for all).
    pub require: Vec<String>,
    /// Signs the label and marking assertions: the originator's
    /// [`accord_keys::SigningKey`], or a remote signer (a node that signs the label
    /// only after checking the person may apply it).
    pub signer: &'a dyn AssertionSigner,
    /// The label.
    pub label: BoundLabel,
    /// Plaintext segment size.
    pub segment_size: u64,
    /// MIME type of the plaintext.
    pub mime_type: String,
    /// Metadata encrypted with each share (`encryptedMetadata`), if any.
    pub metadata: Option<String>,
    /// The agreement the object is exchanged under, if any: written into the policy
    /// as one more data attribute ([`label::agreement_fqn`]), so that it is bound to
    /// every key share and to the label signature, and a KAS can decide by it.
    pub agreement: Option<String>,
    /// Progress callback.
    pub progress: Option<Progress<'a>>,
}

/// What `seal` wrote.
#[derive(Debug, Clone)]
pub struct SealSummary {
    /// Plaintext bytes.
    pub plaintext_size: u64,
    /// Segments.
    pub segments: usize,
    /// Container bytes.
    pub container_size: u64,
    /// The manifest written.
    pub manifest: Manifest,
}

struct Split {
    sid: String,
    share: Zeroizing<[u8; 32]>,
    recipients: Vec<Recipient>,
}

fn plan_splits(opts: &SealOptions) -> Result<Vec<Split>, Error> {
    if opts.recipients.is_empty() {
        return Err(Error::Usage("at least one KAS public key is needed".into()));
    }
    if opts.require.is_empty() {
        return Ok(vec![Split {
            sid: String::new(),
            share: crypto::random_key()?,
            recipients: opts.recipients.clone(),
        }]);
    }
    let mut splits = Vec::new();
    for party in &opts.require {
        if splits.iter().any(|s: &Split| &s.sid == party) {
            return Err(Error::Usage(format!("party {party} is required twice")));
        }
        let recipients: Vec<Recipient> = opts
            .recipients
            .iter()
            .filter(|r| r.party.as_deref() == Some(party.as_str()))
            .cloned()
            .collect();
        if recipients.is_empty() {
            return Err(Error::Usage(format!(
                "party {party} is required but no KAS key of {party} was given (use --kas-pub {party}=FILE or its party.json)"
            )));
        }
        splits.push(Split {
            sid: party.clone(),
            share: crypto::random_key()?,
            recipients,
        });
    }
    for r in &opts.recipients {
        match &r.party {
            Some(p) if opts.require.contains(p) => {}
            other => {
                return Err(Error::Usage(format!(
                    "KAS key {} belongs to {}, which is not in the required parties",
                    &r.kas.kid()[..16],
                    other.as_deref().unwrap_or("no known party")
                )))
            }
        }
    }
    Ok(splits)
}

fn uuid_v4() -> Result<String, Error> {
    let mut b = *crypto::random_key()?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(&b[..16]);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

/// One segment on its way through `seal`: the plaintext as read, and the sealed
/// segment (`nonce ‖ ciphertext ‖ tag`) as written, each placed at the alignment of its
/// file offset (see [`align_at`]).
#[derive(Default)]
struct SegBuf {
    plain: Vec<u8>,
    plain_at: usize,
    sealed: Vec<u8>,
    sealed_at: usize,
    len: usize,
    crc: u32,
}

impl SegBuf {
    fn sealed(&self) -> &[u8] {
        &self.sealed[self.sealed_at..self.sealed_at + self.len + GCM_OVERHEAD]
    }
}

/// Encrypt one segment (`nonce ‖ ciphertext ‖ tag`) for container offset `offset`, and
/// take its CRC-32 for the ZIP entry while it is in cache.
fn seal_segment(gcm: &LessSafeKey, s: &mut SegBuf, offset: u64) -> Result<(), Error> {
    let mut nonce = [0u8; NONCE_LEN];
    aws_lc_rs::rand::fill(&mut nonce).map_err(|_| Error::Crypto("random nonce".into()))?;
    let len = s.len;
    reserve(&mut s.sealed, len + GCM_OVERHEAD);
    s.sealed_at = align_at(&s.sealed, offset);
    let out = &mut s.sealed[s.sealed_at..s.sealed_at + len + GCM_OVERHEAD];
    out[..NONCE_LEN].copy_from_slice(&nonce);
    let (ct, tag) = out[NONCE_LEN..].split_at_mut(len);
    // Out of place, from the read alignment to the write alignment, in one pass.
    gcm.seal_out_of_place_scatter(
        Nonce::assume_unique_for_key(nonce),
        Aad::empty(),
        &s.plain[s.plain_at..s.plain_at + len],
        ct,
        &[],
        tag,
    )
    .map_err(|_| Error::Crypto("AES-GCM encryption failed".into()))?;
    let mut h = crc32fast::Hasher::new();
    h.update(out);
    s.crc = h.finalize();
    Ok(())
}

/// Seal `input` into a container written to `output`.
pub fn seal<R: Read + Send, W: Write>(
    mut input: R,
    output: W,
    opts: &SealOptions,
) -> Result<SealSummary, Error> {
    let seg = opts.segment_size;
    if !(MIN_SEGMENT_SIZE..=MAX_SEGMENT_SIZE).contains(&seg) {
        return Err(Error::Usage(format!(
            "segment size {seg} is outside {MIN_SEGMENT_SIZE}..={MAX_SEGMENT_SIZE}"
        )));
    }
    let summary = LabelSummary::from_xml(&opts.label.xml)?;
    let mut fqns = summary.attribute_fqns();
    if let Some(id) = &opts.agreement {
        fqns.push(label::agreement_fqn(id)?);
    }
    let splits = plan_splits(opts)?;
    let mut payload_key = Zeroizing::new([0u8; 32]);
    for s in &splits {
        for (k, b) in payload_key.iter_mut().zip(s.share.iter()) {
            *k ^= b;
        }
    }
    let policy = PolicyObject {
        uuid: uuid_v4()?,
        body: PolicyBody {
            data_attributes: fqns
                .into_iter()
                .map(|a| AttributeObject {
                    attribute: a,
                    display_name: String::new(),
                    is_default: false,
                    pub_key: String::new(),
                    kas_url: String::new(),
                })
                .collect(),
            dissem: Vec::new(),
        },
    };
    let policy_b64 = crate::b64_encode(
        serde_json::to_string(&policy)
            .unwrap_or_default()
            .as_bytes(),
    );
    let mut key_access = Vec::new();
    for s in &splits {
        let binding = keyaccess::policy_binding(&s.share[..], &policy_b64);
        let metadata = match &opts.metadata {
            Some(m) => encrypt_metadata(&s.share[..], m)?,
            None => String::new(),
        };
        for r in &s.recipients {
            let w = keyaccess::wrap(&r.kas, &s.share[..])?;
            key_access.push(KeyAccess {
                key_type: w.key_type.into(),
                url: r.url.clone(),
                protocol: "kas".into(),
                wrapped_key: w.wrapped_key,
                policy_binding: serde_json::to_value(&binding).unwrap_or_default(),
                encrypted_metadata: metadata.clone(),
                kid: r.kas.kid(),
                sid: s.sid.clone(),
                schema_version: "1.0".into(),
                ephemeral_public_key: w.ephemeral_public_key,
            });
        }
    }

    // Stream the payload in three overlapping stages: a worker thread reads a batch of
    // segments and encrypts it on every core (rayon) while the data is still in cache,
    // this thread writes the batch before it and records the segment list, and written
    // batches go back to the worker ([`Pool`]), so memory stays at a few batches
    // whatever the input size.
    let gcm = crypto::gcm_key(&payload_key[..])?;
    let mut zw = ZipWriter::start(output)?;
    let payload_at = zw.position();
    let per_batch = batch_len(seg);
    let seg_len = seg as usize;
    let mut segments = Vec::new();
    let mut aggregate = Vec::new();
    let mut total = 0u64;
    let mut container = 0u64;
    let result: Result<(), Error> = std::thread::scope(|scope| {
        let (full_tx, full_rx) = sync_channel::<Result<Vec<SegBuf>, Error>>(1);
        let (free_tx, free_rx) = channel::<Vec<SegBuf>>();
        let gcm = &gcm;
        scope.spawn(move || {
            let mut pool = Pool::new(free_rx);
            let mut eof = false;
            let mut count = 0usize;
            while !eof {
                let Some(mut spare) = pool.get() else { return };
                let mut batch = Vec::with_capacity(per_batch);
                for _ in 0..per_batch {
                    let mut b = spare.pop().unwrap_or_default();
                    reserve(&mut b.plain, seg_len);
                    b.plain_at = align_at(&b.plain, ((count + batch.len()) as u64) * seg);
                    match read_full(&mut input, &mut b.plain[b.plain_at..b.plain_at + seg_len]) {
                        Ok(0) => {
                            eof = true;
                            break;
                        }
                        Ok(n) => {
                            b.len = n;
                            batch.push(b);
                            if n < seg_len {
                                eof = true;
                                break;
                            }
                        }
                        Err(e) => {
                            let _ = full_tx.send(Err(Error::io("reading the input", e)));
                            return;
                        }
                    }
                }
                if batch.is_empty() {
                    return;
                }
                let first = count;
                count += batch.len();
                let sealed = if count > MAX_SEGMENTS {
                    Err(Error::Usage(format!(
                        "input needs more than {MAX_SEGMENTS} segments; use a larger --segment-size"
                    )))
                } else {
                    let mut work: Vec<(u64, &mut SegBuf)> = batch
                        .iter_mut()
                        .enumerate()
                        .map(|(i, s)| {
                            (
                                payload_at + (first + i) as u64 * (seg + GCM_OVERHEAD as u64),
                                s,
                            )
                        })
                        .collect();
                    for_each_segment(&mut work, |(at, s)| seal_segment(gcm, s, *at))
                };
                if full_tx.send(sealed.map(|()| batch)).is_err() {
                    return;
                }
            }
        });
        for batch in full_rx {
            let batch = batch?;
            for s in &batch {
                let enc = s.sealed();
                zw.write_payload_with_crc(enc, s.crc)?;
                let tag = &enc[enc.len() - TAG_LEN..];
                aggregate.extend_from_slice(tag);
                segments.push(Segment {
                    hash: crate::b64_encode(tag),
                    segment_size: s.len as u64,
                    encrypted_segment_size: enc.len() as u64,
                });
                total += s.len as u64;
                container += enc.len() as u64;
                if let Some(p) = opts.progress {
                    p(s.len as u64);
                }
            }
            let _ = free_tx.send(batch);
        }
        Ok(())
    });
    result?;

    let root = crypto::hmac_sha256(&payload_key[..], &aggregate);
    let mut manifest = Manifest {
        encryption_information: EncryptionInformation {
            key_access_type: "split".into(),
            policy: policy_b64,
            key_access,
            method: Method {
                algorithm: "AES-256-GCM".into(),
                iv: String::new(),
                is_streamable: true,
            },
            integrity_information: IntegrityInformation {
                root_signature: RootSignature {
                    alg: "HS256".into(),
                    sig: crate::b64_encode(&root),
                },
                segment_hash_alg: "GMAC".into(),
                segment_size_default: seg,
                encrypted_segment_size_default: seg + GCM_OVERHEAD as u64,
                segments,
            },
        },
        payload: Payload {
            kind: "reference".into(),
            url: zip::PAYLOAD_NAME.into(),
            protocol: "zip".into(),
            mime_type: if opts.mime_type.is_empty() {
                "application/octet-stream".into()
            } else {
                opts.mime_type.clone()
            },
            is_encrypted: true,
        },
        assertions: Vec::new(),
        schema_version: SCHEMA_VERSION.into(),
    };
    let value = serde_json::to_value(&manifest).map_err(|e| Error::Manifest(e.to_string()))?;
    let digest = assertion::manifest_digest(&value)?;
    let unsigned = vec![
        assertion::label_assertion(&opts.label.xml),
        assertion::marking_assertion(&opts.label.marking),
    ];
    let mut assertions = unsigned.clone();
    opts.signer
        .sign_assertions(&mut assertions, &value, &aggregate, &digest)?;
    // A remote signer must only add the bindings.
    for (a, u) in assertions.iter().zip(&unsigned) {
        if a.binding.method != "jws" || a.binding.signature.is_empty() {
            return Err(Error::Crypto(format!(
                "the signer left assertion `{}` without a JWS binding",
                u.id
            )));
        }
        let mut bare = a.clone();
        bare.binding = Default::default();
        if &bare != u {
            return Err(Error::Integrity(format!(
                "the signer changed assertion `{}` instead of only signing it",
                u.id
            )));
        }
    }
    manifest.assertions = assertions;
    let json = manifest.to_json();
    zw.finish(&json)?;
    let segments = manifest
        .encryption_information
        .integrity_information
        .segments
        .len();
    Ok(SealSummary {
        plaintext_size: total,
        segments,
        container_size: container,
        manifest,
    })
}
