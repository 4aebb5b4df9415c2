//! The keys a record of the agreement's history can change, as the document holds
//! them: which kind of key ([`KeyKind`]) and the new key an amendment brings in
//! ([`NewKey`]). What the amendments make of them over time (epochs, the rules) is
//! the `amendment` module's.

use crate::document::KasKey;
use crate::signature::{HybridSignature, SigningKeys};
use serde::Serialize;
use std::fmt;

/// Which of a party's keys an amendment changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyKind {
    /// The hybrid key that signs the party's records and labels.
    Signing,
    /// The node's online KAS keys.
    Kas,
    /// The party's offline KAS keys (`parties.kas-keys`).
    OfflineKas,
    /// The node's TLS key (its SPKI pin).
    Tls,
    /// The node's audit-log key.
    Log,
    /// The node's witness key.
    Witness,
}

impl KeyKind {
    /// Every kind, in document order.
    pub const ALL: [KeyKind; 6] = [
        KeyKind::Signing,
        KeyKind::Kas,
        KeyKind::OfflineKas,
        KeyKind::Tls,
        KeyKind::Log,
        KeyKind::Witness,
    ];

    /// The name in documents and on the command line (`offline-kas`).
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Signing => "signing",
            KeyKind::Kas => "kas",
            KeyKind::OfflineKas => "offline-kas",
            KeyKind::Tls => "tls",
            KeyKind::Log => "log",
            KeyKind::Witness => "witness",
        }
    }

    /// Read a kind's name.
    pub fn parse(text: &str) -> Option<KeyKind> {
        KeyKind::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// Whether an old key of this kind may stay accepted for a grace period after its
    /// replacement takes effect (keys a partner checks a connection or a checkpoint
    /// with, which cannot all switch at one instant).
    pub fn has_grace(self) -> bool {
        matches!(self, KeyKind::Tls | KeyKind::Log | KeyKind::Witness)
    }
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The key an amendment brings in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewKey {
    /// New signing keys, and their signature over the same message
    /// ([`crate::Record::message`]): the new key's consent and proof of possession.
    Signing {
        /// The new keys.
        keys: SigningKeys,
        /// Their signature.
        new_signature: HybridSignature,
    },
    /// The new set of KAS keys (online or offline, as the amendment's kind says).
    Kas(Vec<KasKey>),
    /// The node's new TLS pin, and its new URL when it moves.
    Tls {
        /// SHA-256 of the new SubjectPublicKeyInfo, lower-case hex.
        spki_sha256: String,
        /// The node's new URL, if it changes.
        url: Option<String>,
    },
    /// A new verifier key (C2SP note verifier key) of the log or the witness.
    Verifier(String),
}

/// The id a key is known by in amendments: a KAS key's `kid`, a TLS pin, a signing
/// key's ECDSA kid, a log or witness key's `name+hash`.
pub fn verifier_key_id(vkey: &str) -> String {
    // `name+hash+base64`, and standard base64 may itself hold `+`.
    let mut parts = vkey.splitn(3, '+');
    match (parts.next(), parts.next()) {
        (Some(name), Some(hash)) => format!("{name}+{hash}"),
        _ => vkey.to_string(),
    }
}

impl NewKey {
    /// The ids of the keys it brings in.
    pub fn ids(&self) -> Vec<String> {
        match self {
            NewKey::Signing { keys, .. } => vec![keys.kids().0],
            NewKey::Kas(keys) => keys.iter().map(|k| k.kid.clone()).collect(),
            NewKey::Tls { spki_sha256, .. } => vec![spki_sha256.clone()],
            NewKey::Verifier(v) => vec![verifier_key_id(v)],
        }
    }

    /// Whether this is the right form for `kind`.
    pub fn fits(&self, kind: KeyKind) -> bool {
        matches!(
            (kind, self),
            (KeyKind::Signing, NewKey::Signing { .. })
                | (KeyKind::Kas | KeyKind::OfflineKas, NewKey::Kas(_))
                | (KeyKind::Tls, NewKey::Tls { .. })
                | (KeyKind::Log | KeyKind::Witness, NewKey::Verifier(_))
        )
    }
}

/// The first 16 characters of a key id, for messages.
pub(crate) fn short(id: &str) -> String {
    if id.chars().count() > 16 {
        format!("{}…", id.chars().take(16).collect::<String>())
    } else {
        id.to_string()
    }
}
