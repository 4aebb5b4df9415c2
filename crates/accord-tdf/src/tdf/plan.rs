//! The segment plan of a manifest: where each segment lies in the plaintext and in the
//! payload, the hash it must have, and the aggregate of those hashes that the root
//! signature and the assertions bind. Apart because `open`, `verify_label` and
//! `check_unsigned` all read the segment list the same way.

use crate::crypto::GCM_OVERHEAD;
use crate::manifest::Manifest;
use crate::tdf::MAX_SEGMENT_SIZE;
use crate::Error;

/// One segment's place and expected hash.
pub(super) struct SegPlan {
    pub(super) index: usize,
    pub(super) pt_off: u64,
    pub(super) ct_off: u64,
    pub(super) size: u64,
    pub(super) enc_size: u64,
    pub(super) hash: Vec<u8>,
}

pub(super) struct Plan {
    pub(super) segs: Vec<SegPlan>,
    pub(super) plaintext_size: u64,
}

/// The segment plan and the aggregate of segment hashes; with `payload_size`, also
/// check that the segments fill the payload entry exactly.
pub(super) fn plan(
    m: &Manifest,
    payload_size: Option<u64>,
    legacy: bool,
) -> Result<(Plan, Vec<u8>), Error> {
    let ii = &m.encryption_information.integrity_information;
    let (mut pt, mut ct) = (0u64, 0u64);
    let mut segs = Vec::with_capacity(ii.segments.len());
    let mut aggregate = Vec::new();
    for (i, s) in ii.segments.iter().enumerate() {
        if s.encrypted_segment_size != s.segment_size.saturating_add(GCM_OVERHEAD as u64) {
            return Err(Error::Integrity(format!(
                "segment {i}: encrypted size is not size + 28"
            )));
        }
        if s.encrypted_segment_size > MAX_SEGMENT_SIZE + GCM_OVERHEAD as u64 {
            return Err(Error::Unsupported(format!(
                "segment {i} is larger than {MAX_SEGMENT_SIZE} bytes"
            )));
        }
        let raw = crate::b64_decode(&s.hash, "segments.hash")?;
        let hash = if legacy {
            hex::decode(&raw)
                .map_err(|_| Error::Manifest(format!("segment {i}: legacy hash is not hex")))?
        } else {
            raw.clone()
        };
        aggregate.extend_from_slice(&raw);
        segs.push(SegPlan {
            index: i,
            pt_off: pt,
            ct_off: ct,
            size: s.segment_size,
            enc_size: s.encrypted_segment_size,
            hash,
        });
        pt += s.segment_size;
        ct += s.encrypted_segment_size;
    }
    if let Some(size) = payload_size.filter(|s| *s != ct) {
        return Err(Error::Integrity(format!(
            "payload is {size} bytes but the manifest's segments add up to {ct} (truncated or extended)"
        )));
    }
    Ok((
        Plan {
            segs,
            plaintext_size: pt,
        },
        aggregate,
    ))
}
