//! An item of controlled equipment and the words that describe it, each parsed once.
//!
//! An item is known by its nomenclature (or short title: `AN/PRC-117G`, `KIV-77`) and a
//! serial number unique within that nomenclature: the pair is its [`ItemKey`]. Everything
//! else about it (accounting class, the case it came under, who holds title, condition,
//! status) is in [`Item`].

use crate::Error;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest nomenclature, serial number, case or account name accepted.
pub const MAX_NAME: usize = 64;

/// Check a name (nomenclature, serial, case, account, person): 1 to 64 printable ASCII
/// characters from a small set, so that it can sit in a URL path, a CSV cell or a log
/// line without escaping and two spellings of one name cannot differ invisibly.
pub fn check_name(field: &str, value: &str) -> Result<(), Error> {
    if value.is_empty() {
        return Err(Error::field(field, "is empty"));
    }
    if value.len() > MAX_NAME {
        return Err(Error::field(
            field,
            format!("is {} characters long; at most {MAX_NAME}", value.len()),
        ));
    }
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | ':')))
    {
        return Err(Error::field(
            field,
            format!("{value:?} holds {c:?}: only letters, digits and - _ . / : are allowed"),
        ));
    }
    if value.starts_with(['.', '/']) || value.contains("..") || value.contains("//") {
        return Err(Error::field(
            field,
            format!("{value:?} may not start with . or /, nor hold .. or //"),
        ));
    }
    Ok(())
}

/// An item's identity: nomenclature and serial number.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ItemKey {
    /// Nomenclature or short title (`AN/PRC-117G`).
    pub nomenclature: String,
    /// Serial number, unique within the nomenclature.
    pub serial: String,
}

impl ItemKey {
    /// A checked key.
    pub fn new(nomenclature: &str, serial: &str) -> Result<Self, Error> {
        check_name("nomenclature", nomenclature)?;
        check_name("serial", serial)?;
        Ok(ItemKey {
            nomenclature: nomenclature.to_string(),
            serial: serial.to_string(),
        })
    }

    /// Check a key read from outside (`field` names where).
    pub fn check(&self, field: &str) -> Result<(), Error> {
        check_name(&format!("{field}.nomenclature"), &self.nomenclature)?;
        check_name(&format!("{field}.serial"), &self.serial)
    }
}

impl fmt::Display for ItemKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} #{}", self.nomenclature, self.serial)
    }
}

macro_rules! word_enum {
    ($(#[$m:meta])* $name:ident, $what:literal, { $($(#[$vm:meta])* $v:ident => $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vm])* #[serde(rename = $s)] $v),+
        }
        impl $name {
            /// Every value, in order.
            pub const ALL: &'static [$name] = &[$($name::$v),+];
            /// As records, the API and the command line spell it.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$v => $s),+ }
            }
            /// Parse the spelling of [`Self::as_str`]; the error lists every value.
            pub fn parse(s: &str) -> Result<Self, String> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s).ok_or_else(|| {
                    format!(
                        "{} {s:?} is not one of {}",
                        $what,
                        Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
                    )
                })
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

word_enum!(
    /// How an item is accounted for.
    AccountingClass, "accounting class", {
        /// Controlled cryptographic item: accounted for by serial number, always.
        Cci => "cci",
        /// Designated for enhanced end-use monitoring by the provider.
        Eeum => "eeum",
        /// Keying material.
        Keymat => "keymat",
        /// Controlled, without a special class.
        Controlled => "controlled",
    }
);

word_enum!(
    /// The item's physical condition.
    Condition, "condition", {
        /// Serviceable.
        Serviceable => "serviceable",
        /// Unserviceable, repairable.
        Unserviceable => "unserviceable",
        /// Damaged beyond repair.
        Condemned => "condemned",
    }
);

word_enum!(
    /// Where an item stands in its life.
    Status, "status", {
        /// In service in its account.
        InService => "in-service",
        /// Away for repair, still accounted for.
        InRepair => "in-repair",
        /// Shipped to a partner under the agreement, receipt awaited or given.
        Transferred => "transferred",
        /// Destroyed, with witnesses.
        Destroyed => "destroyed",
        /// Reported lost or compromised (an incident).
        Lost => "lost",
        /// Returned to the provider.
        Returned => "returned",
    }
);

impl Status {
    /// Whether the item still sits in its account (an inventory expects to sight it).
    pub fn on_hand(self) -> bool {
        matches!(self, Status::InService | Status::InRepair)
    }
}

/// An item as a party's ledger holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// Nomenclature and serial number.
    #[serde(flatten)]
    pub key: ItemKey,
    /// Accounting class.
    pub class: AccountingClass,
    /// The case or letter of offer it came under (`PK-D-QAB`), when any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case: Option<String>,
    /// The party that holds title (the provider keeps title of some items).
    pub title_holder: String,
    /// The party that transferred it to this one, when it came under an agreement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The agreement it was transferred under, when any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agreement: Option<String>,
    /// The account it is in.
    pub account: String,
    /// The person holding it on a hand receipt, when any (else the custodian).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
    /// Condition.
    pub condition: Condition,
    /// Status.
    pub status: Status,
}

/// Check a party code: three upper-case ASCII letters (ISO 3166 trigraph).
pub fn check_party(field: &str, code: &str) -> Result<(), Error> {
    if code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(Error::field(
            field,
            format!("{code:?} is not a party code (three capital letters, as USA)"),
        ))
    }
}

impl Item {
    /// Check every field of an item read from outside.
    pub fn check(&self, field: &str) -> Result<(), Error> {
        self.key.check(field)?;
        if let Some(c) = &self.case {
            check_name(&format!("{field}.case"), c)?;
        }
        check_party(&format!("{field}.title_holder"), &self.title_holder)?;
        if let Some(p) = &self.provider {
            check_party(&format!("{field}.provider"), p)?;
        }
        if let Some(a) = &self.agreement {
            check_name(&format!("{field}.agreement"), a)?;
        }
        check_name(&format!("{field}.account"), &self.account)?;
        if let Some(h) = &self.holder {
            check_name(&format!("{field}.holder"), h)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_with_the_field_named() {
        assert!(check_name("serial", "KIV77-000123").is_ok());
        assert!(check_name("nomenclature", "AN/PRC-117G").is_ok());
        for bad in [
            "",
            "a b",
            "x\u{0}",
            "../x",
            "/x",
            "a//b",
            "é",
            &"x".repeat(65),
        ] {
            let e = check_name("serial", bad).unwrap_err().to_string();
            assert!(e.starts_with("field `serial`"), "{e}");
        }
    }

    #[test]
    fn words_parse_only_their_spelling() {
        assert_eq!(Status::parse("in-service"), Ok(Status::InService));
        let e = Status::parse("InService").unwrap_err();
        assert!(e.contains("in-service, in-repair"), "{e}");
        assert_eq!(AccountingClass::parse("cci"), Ok(AccountingClass::Cci));
        assert!(Condition::parse("").is_err());
        assert!(Status::InRepair.on_hand() && !Status::Transferred.on_hand());
    }
}
