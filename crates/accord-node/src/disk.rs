//! The disk reserve: room a node keeps free for its audit log and database.
//!
//! Objects arrive from partners (and from the node's own people) in sizes up to
//! `exchange::MAX_OBJECT`. If they could fill the disk, the next audit entry could
//! not be written, and a KAS that cannot log cannot release anything: a partner's large
//! deliveries would stop the node's own people from opening their documents. So a
//! body is taken only while the free space would stay above the reserve, and the answer
//! otherwise is `507 Insufficient Storage`, which a sending node treats as "try later":
//! the object stays queued at the sender, nothing is lost.
//!
//! The reserve is `disk_reserve_mib` in `node.toml` ([`DEFAULT_RESERVE_MIB`] when
//! absent). Deliveries are checked before their first byte (against their declared
//! length) and again while they stream, since several may stream at once.

use crate::refusal::Refusal;
use accord_node_api::Kind;
use std::path::Path;

/// The reserve when node.toml names none: 512 MiB, room for some hundreds of thousands
/// of audit entries and their database rows.
pub const DEFAULT_RESERVE_MIB: u64 = 512;

/// The bytes free to an unprivileged writer on the filesystem holding `path`.
pub fn free_bytes(path: &Path) -> std::io::Result<u64> {
    let s = rustix::fs::statvfs(path)?;
    Ok(s.f_bavail.saturating_mul(s.f_frsize))
}

/// Why `incoming` more bytes cannot be taken into `dir`, if they cannot: they would
/// leave less than `reserve` bytes free. A filesystem that cannot say how much is free
/// is not refused on that account (the write itself will fail if it is full).
pub fn shortfall(dir: &Path, reserve: u64, incoming: u64) -> Option<String> {
    let free = free_bytes(dir).ok()?;
    if free.saturating_sub(incoming) >= reserve {
        return None;
    }
    Some(if incoming > 0 {
        format!(
            "this node keeps {} free for its audit log and database, and {} more would leave {} free; try again later",
            mib(reserve),
            mib(incoming),
            mib(free.saturating_sub(incoming))
        )
    } else {
        format!(
            "this node keeps {} free for its audit log and database, and only {} is free; try again later",
            mib(reserve),
            mib(free)
        )
    })
}

/// [`shortfall`] as the refusal a client gets: 507, rule `storage`.
pub(crate) fn check_room(dir: &Path, reserve: u64, incoming: u64) -> Result<(), Refusal> {
    match shortfall(dir, reserve, incoming) {
        None => Ok(()),
        Some(why) => Err(Refusal::new(
            Kind::NoRoom,
            accord_node_api::wire::Rule::Storage,
            why,
        )),
    }
}

fn mib(bytes: u64) -> String {
    format!("{} MiB", bytes >> 20)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reserve_above_the_free_space_refuses_and_says_how_much() {
        let dir = tempfile::tempdir().unwrap();
        let free = free_bytes(dir.path()).unwrap();
        assert!(free > 0);
        assert_eq!(shortfall(dir.path(), 0, 0), None);
        let why = shortfall(dir.path(), free + (1 << 30), 0).unwrap();
        assert!(why.contains("keeps") && why.contains("MiB free"), "{why}");
        // The declared length counts against the reserve.
        let why = shortfall(dir.path(), 1 << 20, free).unwrap();
        assert!(why.contains("more would leave 0 MiB free"), "{why}");
        let r = check_room(dir.path(), u64::MAX, 0).unwrap_err();
        assert_eq!(
            (r.kind, r.reasons[0].rule.as_str()),
            (Kind::NoRoom, "storage")
        );
    }
}
