//! Opening: key shares released and checked against their policy bindings, the root
//! signature, the label and every other assertion, and only then the segments the
//! range needs, each checked against the signed list as it decrypts. Apart from `seal`
//! because the two share formats, not steps.

use super::inspect::load;
use super::metadata::decrypt_metadata;
use super::pipeline::{align_at, batch_len, for_each_segment, reserve, Pool};
use super::plan::{plan, SegPlan};
use super::verify::{attribute_label, check_label};
use crate::assertion::{self, LABEL_ID, MARKING_ID};
use crate::crypto::{self, GCM_OVERHEAD, TAG_LEN};
use crate::keyaccess;
use crate::label::LabelSummary;
use crate::manifest::KeyAccess;
use crate::tdf::Progress;
use crate::Error;
use accord_keys::{KasPrivateKey, VerifyingKey};
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, NONCE_LEN};
use std::io::{Read, Seek, SeekFrom, Write};
use std::sync::mpsc::{channel, sync_channel};
use zeroize::Zeroizing;

/// A key share released by a KAS elsewhere (a node's online KAS), for [`open`].
///
/// `open` does not take it on trust: it checks the share against the policy binding of
/// every key access object of its split, so a wrong share, or one released for another
/// policy, fails as a policy binding integrity error.
#[derive(Clone)]
pub struct ReleasedShare {
    /// The split id (`sid`) of the key access objects it was released for.
    pub sid: String,
    /// The 32-byte share.
    pub share: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for ReleasedShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the share.
        f.debug_struct("ReleasedShare")
            .field("sid", &self.sid)
            .field("share", &format_args!("<{} bytes>", self.share.len()))
            .finish()
    }
}

/// How to open.
pub struct OpenOptions<'a> {
    /// Local KAS private keys.
    pub kas_keys: &'a [KasPrivateKey],
    /// Shares already released elsewhere (empty: every share from `kas_keys`). A split
    /// with a share here uses it; the others are unwrapped with `kas_keys`.
    pub released: &'a [ReleasedShare],
    /// Trusted signer keys for the label assertion.
    pub trusted_signers: &'a [VerifyingKey],
    /// Plaintext byte range `[start, end)`; `None` for everything.
    pub range: Option<(u64, u64)>,
    /// Progress callback.
    pub progress: Option<Progress<'a>>,
    /// For an object that carries no label assertion at all (an OpenTDF SDK sealed
    /// it): the marking of the label a node rebuilt from its policy's attributes when
    /// it decided to release the key. `None` refuses such an object, as every open
    /// with local keys must: nobody vouched for its label. An object that carries a
    /// label assertion is always checked as one, whatever this says.
    pub decided_unlabelled: Option<&'a str>,
}

/// What `open` found and wrote.
#[derive(Debug, Clone)]
pub struct OpenSummary {
    /// The label (verified).
    pub label: LabelSummary,
    /// The label XML.
    pub label_xml: String,
    /// The marking (verified).
    pub marking: String,
    /// Who signed the label; `None` for an object opened under
    /// [`OpenOptions::decided_unlabelled`], whose label is its policy's attributes.
    pub signer: Option<assertion::Signer>,
    /// Plaintext size of the whole object.
    pub plaintext_size: u64,
    /// Bytes written.
    pub written: u64,
    /// Segments decrypted.
    pub segments_decrypted: usize,
    /// Decrypted `encryptedMetadata`, if any.
    pub metadata: Option<String>,
    /// The agreement named in the policy, if any (verified with the label).
    pub agreement: Option<String>,
}

/// The label an object opens under: its checked assertion, or its attributes.
struct Checked {
    label: LabelSummary,
    label_xml: String,
    marking: String,
    signer: Option<assertion::Signer>,
    agreement: Option<String>,
}

/// One segment on its way through `open`: the sealed segment as read and the
/// plaintext as written, each at the alignment of its file offset ([`align_at`]). The
/// plaintext buffer is zeroized when dropped.
#[derive(Default)]
struct OpenBuf {
    sealed: Vec<u8>,
    sealed_at: usize,
    plain: Zeroizing<Vec<u8>>,
    plain_at: usize,
}

/// Check one segment's tag against the signed list (so a reordered segment is caught
/// even though it would authenticate), then decrypt it out of place, from the read
/// alignment to the write alignment, in one pass. `out_offset` is where the
/// segment's first plaintext byte would go in the output.
fn open_segment(
    gcm: &LessSafeKey,
    payload_key: &[u8],
    hs256: bool,
    b: &mut OpenBuf,
    meta: &SegPlan,
    out_offset: u64,
) -> Result<(), Error> {
    let i = meta.index;
    let enc = &b.sealed[b.sealed_at..b.sealed_at + meta.enc_size as usize];
    let tag_ok = if hs256 {
        crypto::ct_eq(&crypto::hmac_sha256(payload_key, enc), &meta.hash)
    } else {
        crypto::ct_eq(&enc[enc.len() - TAG_LEN..], &meta.hash)
    };
    if !tag_ok {
        return Err(Error::Integrity(format!(
            "segment {i}: hash does not match the signed segment list (changed or reordered)"
        )));
    }
    let len = meta.size as usize;
    reserve(&mut b.plain, len);
    b.plain_at = align_at(&b.plain, out_offset);
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&enc[..NONCE_LEN]);
    gcm.open_separate_gather(
        Nonce::assume_unique_for_key(nonce),
        Aad::empty(),
        &enc[NONCE_LEN..NONCE_LEN + len],
        &enc[NONCE_LEN + len..],
        &mut b.plain[b.plain_at..b.plain_at + len],
    )
    .map_err(|_| Error::Integrity(format!("segment {i}: authentication failed (changed)")))?;
    Ok(())
}

/// Open a container: every check, then the plaintext (or a byte range of it) to `output`.
pub fn open<R: Read + Seek + Send, W: Write>(
    r: &mut R,
    mut output: W,
    opts: &OpenOptions,
) -> Result<OpenSummary, Error> {
    let (layout, m, value) = load(r)?;
    let ei = &m.encryption_information;
    let legacy = m.schema_version.is_empty();
    if ei.method.algorithm != "AES-256-GCM" {
        return Err(Error::Unsupported(format!(
            "payload cipher `{}`",
            ei.method.algorithm
        )));
    }
    let seg_alg = ei
        .integrity_information
        .segment_hash_alg
        .to_ascii_uppercase();
    if seg_alg != "GMAC" && seg_alg != "HS256" {
        return Err(Error::Unsupported(format!(
            "segment hash algorithm `{seg_alg}`"
        )));
    }
    let root_alg = ei
        .integrity_information
        .root_signature
        .alg
        .to_ascii_uppercase();
    if root_alg != "HS256" && root_alg != "GMAC" {
        return Err(Error::Unsupported(format!(
            "root signature algorithm `{root_alg}`"
        )));
    }
    for k in &ei.key_access {
        if !["hybrid-wrapped", "mlkem-wrapped", "ec-wrapped", "wrapped"]
            .contains(&k.key_type.as_str())
        {
            return Err(Error::Unsupported(format!(
                "key access type `{}`",
                k.key_type
            )));
        }
    }

    // 1. Key shares: one per split id; each split needs one key that releases it.
    let mut sids: Vec<&str> = Vec::new();
    for k in &ei.key_access {
        if !sids.contains(&k.sid.as_str()) {
            sids.push(&k.sid);
        }
    }
    let mut payload_key = Zeroizing::new([0u8; 32]);
    let mut missing = Vec::new();
    let mut metadata = None;
    for sid in &sids {
        let kaos: Vec<&KeyAccess> = ei.key_access.iter().filter(|k| k.sid == *sid).collect();
        if let Some(rel) = opts.released.iter().find(|r| r.sid == *sid) {
            // Released elsewhere: bound to this policy by every key access object of
            // the split, or it is the wrong share.
            for kao in &kaos {
                keyaccess::check_policy_binding(&rel.share, &ei.policy, &kao.policy_binding)?;
            }
            if rel.share.len() != 32 {
                return Err(Error::Integrity(format!(
                    "released share for split `{sid}` is {} bytes, not 32",
                    rel.share.len()
                )));
            }
            if metadata.is_none() {
                if let Some(kao) = kaos.iter().find(|k| !k.encrypted_metadata.is_empty()) {
                    metadata = Some(decrypt_metadata(&rel.share, &kao.encrypted_metadata)?);
                }
            }
            for (k, b) in payload_key.iter_mut().zip(rel.share.iter()) {
                *k ^= b;
            }
            continue;
        }
        let mut share: Option<Zeroizing<Vec<u8>>> = None;
        let mut integrity_err = None;
        'find: for kao in &kaos {
            let by_kid: Vec<&KasPrivateKey> = opts
                .kas_keys
                .iter()
                .filter(|k| {
                    keyaccess::key_fits(k, &kao.key_type) && k.public_key().kid() == kao.kid
                })
                .collect();
            let candidates: Vec<&KasPrivateKey> = if by_kid.is_empty() {
                opts.kas_keys
                    .iter()
                    .filter(|k| keyaccess::key_fits(k, &kao.key_type))
                    .collect()
            } else {
                by_kid.clone()
            };
            for key in candidates {
                match keyaccess::unwrap(key, kao) {
                    Ok(s) => {
                        keyaccess::check_policy_binding(&s, &ei.policy, &kao.policy_binding)?;
                        if metadata.is_none() && !kao.encrypted_metadata.is_empty() {
                            metadata = Some(decrypt_metadata(&s, &kao.encrypted_metadata)?);
                        }
                        share = Some(s);
                        break 'find;
                    }
                    Err(e) if !by_kid.is_empty() => integrity_err = Some(e),
                    Err(_) => {}
                }
            }
        }
        match share {
            Some(s) => {
                for (k, b) in payload_key.iter_mut().zip(s.iter()) {
                    *k ^= b;
                }
            }
            None => {
                if let Some(e) = integrity_err {
                    return Err(e);
                }
                let who: Vec<String> = kaos
                    .iter()
                    .map(|k| format!("{} kid {}", k.key_type, k.kid.get(..16).unwrap_or(&k.kid)))
                    .collect();
                missing.push(format!(
                    "share {} (needs one of: {})",
                    if sid.is_empty() { "\"\"" } else { sid },
                    who.join(", ")
                ));
            }
        }
    }
    if !missing.is_empty() {
        return Err(Error::NoKey(format!(
            "no given KAS key releases {}",
            missing.join("; ")
        )));
    }

    // 2. Root signature over the segment hashes.
    let (plan, aggregate) = plan(&m, Some(layout.payload.size), legacy)?;
    let sig = crate::b64_decode(
        &ei.integrity_information.root_signature.sig,
        "rootSignature.sig",
    )?;
    let ok = if root_alg == "HS256" {
        let mac = crypto::hmac_sha256(&payload_key[..], &aggregate);
        if legacy {
            crypto::ct_eq(&sig, hex::encode(mac).as_bytes())
        } else {
            crypto::ct_eq(&sig, &mac)
        }
    } else {
        false
    };
    if !ok {
        return Err(Error::Integrity(
            "root signature does not match the segment hashes".into(),
        ));
    }

    // 3. Assertions: the label must be there, signed by a trusted signer, and agree
    //    with the policy; every other assertion must verify too.
    let labelled = m
        .assertions
        .iter()
        .any(|a| a.id == LABEL_ID || a.id == MARKING_ID);
    let checked = match opts.decided_unlabelled {
        Some(marking) if !labelled => {
            let (label, agreement) = attribute_label(&m)?;
            Checked {
                label,
                label_xml: String::new(),
                marking: marking.to_string(),
                signer: None,
                agreement,
            }
        }
        _ => {
            let c = check_label(&m, &value, &aggregate, legacy, opts.trusted_signers)?;
            Checked {
                label: c.label,
                label_xml: c.label_xml,
                marking: c.marking,
                signer: Some(c.signer),
                agreement: c.agreement,
            }
        }
    };
    for a in &m.assertions {
        if a.id != LABEL_ID && a.id != MARKING_ID {
            assertion::verify(
                a,
                &aggregate,
                legacy,
                None,
                opts.trusted_signers,
                &payload_key[..],
                true,
            )?;
        }
    }

    // 4. Segments: decrypt those the range needs, checking each tag against the
    //    signed list before any of its plaintext is written.
    let (start, end) = match opts.range {
        Some((s, e)) if s > e || e > plan.plaintext_size => {
            return Err(Error::Usage(format!(
                "range {s}:{e} is outside the plaintext (0:{})",
                plan.plaintext_size
            )))
        }
        Some(r) => r,
        None => (0, plan.plaintext_size),
    };
    let wanted: Vec<&SegPlan> = plan
        .segs
        .iter()
        .filter(|s| s.size > 0 && s.pt_off < end && s.pt_off + s.size > start)
        .collect();
    let gcm = crypto::gcm_key(&payload_key[..])?;
    let max_enc = wanted
        .iter()
        .map(|s| s.enc_size)
        .max()
        .unwrap_or(GCM_OVERHEAD as u64);
    let per_batch = batch_len(max_enc);
    let payload_off = layout.payload.data_offset;
    let hs256 = seg_alg == "HS256";
    let mut written = 0u64;
    // The same three stages as `seal`: a worker thread reads a batch and checks and
    // decrypts it in place on every core, this thread writes the plaintext of the batch
    // before it; only checked segments reach this thread. Buffers are recycled through
    // a [`Pool`] and zeroized when dropped (they held plaintext), not after every batch.
    let result: Result<(), Error> = std::thread::scope(|scope| {
        type Batch = Vec<OpenBuf>;
        let (full_tx, full_rx) = sync_channel::<Result<Batch, Error>>(1);
        let (free_tx, free_rx) = channel::<Batch>();
        let (wanted_ref, gcm, payload_key) = (&wanted, &gcm, &payload_key);
        scope.spawn(move || {
            let mut pool = Pool::new(free_rx);
            for chunk in wanted_ref.chunks(per_batch) {
                let Some(mut spare) = pool.get() else { return };
                let mut batch: Batch = Vec::with_capacity(chunk.len());
                for s in chunk {
                    let mut b = spare.pop().unwrap_or_default();
                    let (at, n) = (payload_off + s.ct_off, s.enc_size as usize);
                    reserve(&mut b.sealed, n);
                    b.sealed_at = align_at(&b.sealed, at);
                    let res = r
                        .seek(SeekFrom::Start(at))
                        .and_then(|_| r.read_exact(&mut b.sealed[b.sealed_at..b.sealed_at + n]));
                    if let Err(e) = res {
                        let _ = full_tx.send(Err(Error::Integrity(format!(
                            "segment {}: cannot be read ({e})",
                            s.index
                        ))));
                        return;
                    }
                    batch.push(b);
                }
                let mut work: Vec<(&mut OpenBuf, &SegPlan)> =
                    batch.iter_mut().zip(chunk.iter().copied()).collect();
                let checked = for_each_segment(&mut work, |(b, meta)| {
                    let out = meta.pt_off.wrapping_sub(start);
                    open_segment(gcm, &payload_key[..], hs256, b, meta, out)
                });
                drop(work);
                if full_tx.send(checked.map(|()| batch)).is_err() {
                    return;
                }
            }
        });
        let mut idx = 0usize;
        for batch in full_rx {
            let batch = batch?;
            for (b, meta) in batch.iter().zip(&wanted[idx..]) {
                let plain = &b.plain[b.plain_at..b.plain_at + meta.size as usize];
                let from = start.saturating_sub(meta.pt_off) as usize;
                let to = ((end - meta.pt_off) as usize).min(plain.len());
                output
                    .write_all(&plain[from..to])
                    .map_err(|e| Error::io("writing the output", e))?;
                written += (to - from) as u64;
                if let Some(p) = opts.progress {
                    p(meta.size);
                }
            }
            idx += batch.len();
            let _ = free_tx.send(batch);
        }
        Ok(())
    });
    result?;
    output
        .flush()
        .map_err(|e| Error::io("writing the output", e))?;
    Ok(OpenSummary {
        label_xml: checked.label_xml,
        label: checked.label,
        marking: checked.marking,
        signer: checked.signer,
        plaintext_size: plan.plaintext_size,
        written,
        segments_decrypted: wanted.len(),
        metadata,
        agreement: checked.agreement,
    })
}
