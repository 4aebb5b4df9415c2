//! Reconciliation of what a provider transferred with what the receiver reports holding:
//! the end-use check's result, and the two ledgers compared at any time.

use crate::inventory::{differences, Differences, Sighting};
use crate::item::Status;
use crate::record::Line;
use serde::{Deserialize, Serialize};

/// The result: the differences, and the items the receiver reports no longer in
/// service (destroyed, lost, returned), which the provider must see explained.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reconciliation {
    /// Transferred against reported.
    pub differences: Differences,
    /// Reported, but not in service: (item, status).
    #[serde(default)]
    pub not_in_service: Vec<(crate::ItemKey, Status)>,
}

/// Reconcile `transferred` (the provider's record of what the receiver receipted) with
/// `reported` (the receiver's answer: each item with its condition and status).
pub fn reconcile(transferred: &[Line], reported: &[Line]) -> Reconciliation {
    let expected: Vec<Sighting> = transferred
        .iter()
        .map(|l| Sighting {
            key: l.key.clone(),
            holder: None,
            condition: l.condition,
        })
        .collect();
    let sighted: Vec<Sighting> = reported
        .iter()
        .map(|l| Sighting {
            key: l.key.clone(),
            holder: None,
            condition: l.condition,
        })
        .collect();
    let mut not_in_service: Vec<_> = reported
        .iter()
        .filter_map(|l| match l.status {
            Some(s) if !s.on_hand() => Some((l.key.clone(), s)),
            _ => None,
        })
        .collect();
    not_in_service.sort();
    Reconciliation {
        differences: differences(&expected, &sighted),
        not_in_service,
    }
}
