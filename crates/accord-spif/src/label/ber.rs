//! A minimal reader for BER/DER `ESSSecurityLabel` (RFC 2634): enough to find the policy
//! and classification of a binary label and to say clearly what is not supported.
//!
//! ```text
//! ESSSecurityLabel ::= SET {
//!   security-policy-identifier OBJECT IDENTIFIER,
//!   security-classification    INTEGER OPTIONAL,
//!   privacy-mark               ESSPrivacyMark OPTIONAL,
//!   security-categories        SecurityCategories OPTIONAL }
//! ```

use crate::error::{Error, Result};
use crate::label::Label;
use crate::set::PolicySet;

struct Tlv<'a> {
    tag: u8,
    value: &'a [u8],
}

fn read_tlv<'a>(input: &mut &'a [u8]) -> Option<Tlv<'a>> {
    let (&tag, rest) = input.split_first()?;
    if tag & 0x1f == 0x1f {
        return None; // high tag numbers do not occur in ESSSecurityLabel
    }
    let (&len0, mut rest) = rest.split_first()?;
    let len = if len0 < 0x80 {
        len0 as usize
    } else {
        let n = (len0 & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None; // indefinite or absurd lengths are refused
        }
        let mut l = 0usize;
        for &b in &rest[..n] {
            l = (l << 8) | b as usize;
        }
        rest = &rest[n..];
        l
    };
    if rest.len() < len {
        return None;
    }
    let (value, rest) = rest.split_at(len);
    *input = rest;
    Some(Tlv { tag, value })
}

fn oid_to_string(v: &[u8]) -> Option<String> {
    if v.is_empty() || v.len() > 128 {
        return None;
    }
    let mut arcs: Vec<u64> = Vec::new();
    let mut acc: u64 = 0;
    for (i, &b) in v.iter().enumerate() {
        acc = acc.checked_mul(128)? | (b & 0x7f) as u64;
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (acc / 40).min(2);
                arcs.push(first);
                arcs.push(acc - first * 40);
            } else {
                arcs.push(acc);
            }
            acc = 0;
        } else if i == v.len() - 1 {
            return None;
        }
    }
    Some(
        arcs.iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join("."),
    )
}

/// Read a BER `ESSSecurityLabel`.
pub(crate) fn read_ess_label(set: &PolicySet, source_name: &str, bytes: &[u8]) -> Result<Label> {
    let bad = |why: &str| Error::UnknownFormat {
        source_name: source_name.to_string(),
        reason: format!("not a BER ESSSecurityLabel: {why}"),
    };
    let mut input = bytes;
    let outer = read_tlv(&mut input).ok_or_else(|| bad("truncated"))?;
    if outer.tag != 0x31 || !input.is_empty() {
        return Err(bad("expected one SET"));
    }
    let mut body = outer.value;
    let mut policy_id = None;
    let mut class = None;
    let mut has_categories = false;
    while !body.is_empty() {
        let tlv = read_tlv(&mut body).ok_or_else(|| bad("truncated element"))?;
        match tlv.tag {
            0x06 => policy_id = Some(oid_to_string(tlv.value).ok_or_else(|| bad("bad OID"))?),
            0x02 => {
                if tlv.value.is_empty() || tlv.value.len() > 8 || tlv.value[0] & 0x80 != 0 {
                    return Err(bad("bad classification INTEGER"));
                }
                class = Some(tlv.value.iter().fold(0u64, |a, &b| (a << 8) | b as u64));
            }
            0x31 => has_categories = true,
            _ => {} // privacy mark (PrintableString/UTF8String): display only
        }
    }
    let policy_id = policy_id.ok_or_else(|| bad("no security-policy-identifier"))?;
    let policy = set
        .get(&policy_id)
        .ok_or_else(|| Error::UnknownPolicy(policy_id.clone()))?;
    if has_categories {
        return Err(bad(
            "BER security categories are not supported; use STANAG 4774 XML",
        ));
    }
    let lacv = class.ok_or_else(|| bad("no security-classification"))?;
    let cls = policy
        .classification_by_lacv(lacv)
        .ok_or_else(|| Error::UnknownClassification {
            policy: policy.name.clone(),
            value: format!("lacv {lacv}"),
        })?;
    Label::new(policy, &cls.name)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn oids() {
        assert_eq!(oid_to_string(&[0x29]).unwrap(), "1.1");
        assert_eq!(oid_to_string(&[0x2b, 0x1a, 0x01]).unwrap(), "1.3.26.1");
        assert!(oid_to_string(&[0x81]).is_none());
    }
}
