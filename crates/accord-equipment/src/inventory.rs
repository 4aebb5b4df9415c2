//! An inventory's differences: what a custodian sighted against what the ledger says
//! is on hand. Linear in the number of items (one hash map), so a 100,000-serial
//! inventory is reconciled in milliseconds.

use crate::item::{Condition, ItemKey};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// One item as sighted, or as the ledger expects it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sighting {
    /// The item.
    pub key: ItemKey,
    /// Who holds it (a hand-receipt holder), when anyone does.
    pub holder: Option<String>,
    /// Its condition, when noted.
    pub condition: Option<Condition>,
}

/// An item found with another holder than the ledger's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HolderDifference {
    /// The item.
    #[serde(flatten)]
    pub key: ItemKey,
    /// The holder the ledger names (none: the custodian).
    pub expected: Option<String>,
    /// The holder it was sighted with.
    pub sighted: Option<String>,
}

/// An item whose condition differs from the ledger's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionDifference {
    /// The item.
    #[serde(flatten)]
    pub key: ItemKey,
    /// The condition the ledger holds.
    pub expected: Condition,
    /// The condition reported.
    pub sighted: Condition,
}

/// What differed, each list sorted by item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Differences {
    /// Items that matched.
    pub matched: u64,
    /// Expected and not sighted.
    pub missing: Vec<ItemKey>,
    /// Sighted and not expected.
    pub unexpected: Vec<ItemKey>,
    /// Sighted with another holder.
    #[serde(default)]
    pub wrong_holder: Vec<HolderDifference>,
    /// Sighted in another condition.
    #[serde(default)]
    pub condition: Vec<ConditionDifference>,
}

impl Differences {
    /// Whether nothing differed.
    pub fn is_empty(&self) -> bool {
        self.missing.is_empty()
            && self.unexpected.is_empty()
            && self.wrong_holder.is_empty()
            && self.condition.is_empty()
    }

    /// In words, one line: `98 matched, 1 missing, 1 unexpected`.
    pub fn summary(&self) -> String {
        let mut parts = vec![format!("{} matched", self.matched)];
        for (n, w) in [
            (self.missing.len(), "missing"),
            (self.unexpected.len(), "unexpected"),
            (self.wrong_holder.len(), "with another holder"),
            (self.condition.len(), "in another condition"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {w}"));
            }
        }
        parts.join(", ")
    }
}

/// Compare `sighted` with `expected`. A holder or condition is compared only when the
/// sighting notes one (a scanner that records serials only says nothing of holders).
pub fn differences(expected: &[Sighting], sighted: &[Sighting]) -> Differences {
    let mut want: HashMap<&ItemKey, &Sighting> = expected.iter().map(|s| (&s.key, s)).collect();
    let mut d = Differences::default();
    for s in sighted {
        match want.remove(&s.key) {
            None => d.unexpected.push(s.key.clone()),
            Some(e) => {
                let mut same = true;
                if s.holder.is_some() && s.holder != e.holder {
                    same = false;
                    d.wrong_holder.push(HolderDifference {
                        key: s.key.clone(),
                        expected: e.holder.clone(),
                        sighted: s.holder.clone(),
                    });
                }
                if let (Some(got), Some(exp)) = (s.condition, e.condition) {
                    if got != exp {
                        same = false;
                        d.condition.push(ConditionDifference {
                            key: s.key.clone(),
                            expected: exp,
                            sighted: got,
                        });
                    }
                }
                if same {
                    d.matched += 1;
                }
            }
        }
    }
    d.missing = want.into_keys().cloned().collect();
    d.missing.sort();
    d.unexpected.sort();
    d.unexpected.dedup();
    d.wrong_holder.sort_by(|a, b| a.key.cmp(&b.key));
    d.condition.sort_by(|a, b| a.key.cmp(&b.key));
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(serial: &str, holder: Option<&str>) -> Sighting {
        Sighting {
            key: ItemKey::new("KIV-77", serial).unwrap(),
            holder: holder.map(String::from),
            condition: None,
        }
    }

    #[test]
    fn missing_unexpected_and_wrong_holder() {
        let ledger = [s("1", None), s("2", Some("sgt-khan")), s("3", None)];
        let seen = [s("1", None), s("2", Some("cpl-ali")), s("9", None)];
        let d = differences(&ledger, &seen);
        assert_eq!(d.matched, 1);
        assert_eq!(d.missing, vec![ItemKey::new("KIV-77", "3").unwrap()]);
        assert_eq!(d.unexpected, vec![ItemKey::new("KIV-77", "9").unwrap()]);
        assert_eq!(d.wrong_holder.len(), 1);
        assert_eq!(
            d.summary(),
            "1 matched, 1 missing, 1 unexpected, 1 with another holder"
        );
        assert!(differences(&ledger, &ledger).is_empty());
    }
}
