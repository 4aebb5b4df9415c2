//! Roles: what a person may do at their own node, beside what they may read.
//!
//! The decision ([`crate::decide`]) says whether a person may read an object; a role
//! says which of the node's duties they may perform at all: a member exchanges objects
//! (inbox, open, seal, send, outbox) and reads the agreements, an officer also manages
//! the node's people and agreements and reads its whole audit log, a custodian keeps
//! equipment accounts (transfers, receipts, hand receipts, inventories, incidents,
//! end-use checks). Anyone may sign an equipment record that names them (a holder, a
//! witness). The table is here,
//! in one function ([`Role::may`]), so that the API and the console ask the same
//! question and no route writes its own.

use std::fmt;

/// A person's role at their node (`accord user add --role`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Role {
    /// Sees and sends what they are entitled to.
    #[default]
    Member,
    /// Also enrols, suspends and resumes people, changes roles, loads agreements and
    /// answers audits, and opens equipment accounts.
    Officer,
    /// Also keeps equipment accounts: transfers, receipts, hand receipts, inventories,
    /// incidents, end-use checks.
    Custodian,
}

/// What a route asks to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Duty {
    /// Read the inbox, open, seal, send, follow the outbox: every person's work (each
    /// object is still decided by [`crate::decide`]).
    Exchange,
    /// Read the agreements the node holds and the node's status.
    ReadAgreements,
    /// Enrol people, suspend and resume them, change their roles.
    ManagePeople,
    /// Load a new or renewed agreement.
    ManageAgreements,
    /// Read the node's whole audit log and every person's decisions.
    ReadAudit,
    /// Open equipment accounts and name their custodians.
    ManageAccounts,
    /// Read the equipment ledger and its records.
    ReadEquipment,
    /// Keep an equipment account: draft and sign its records, import items.
    KeepEquipment,
    /// Sign an equipment record that names the person (a holder, a witness).
    SignEquipment,
}

impl Role {
    /// Every role, as `--role` offers them.
    pub const ALL: [Role; 3] = [Role::Member, Role::Officer, Role::Custodian];

    /// As the directory, the API and `--role` spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Officer => "officer",
            Role::Custodian => "custodian",
        }
    }

    /// The role of a name (`member`, `officer`), or an error listing the roles.
    pub fn parse(s: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("role `{s}` is not one of member, officer, custodian"))
    }

    /// Whether this role may perform `duty`; when not, why, in words.
    pub fn may(self, duty: Duty) -> Result<(), String> {
        let (allowed, whose) = match duty {
            Duty::Exchange | Duty::ReadAgreements | Duty::SignEquipment => (true, ""),
            Duty::ManagePeople
            | Duty::ManageAgreements
            | Duty::ReadAudit
            | Duty::ManageAccounts => (self == Role::Officer, "officers"),
            Duty::KeepEquipment => (self == Role::Custodian, "custodians"),
            Duty::ReadEquipment => (
                matches!(self, Role::Officer | Role::Custodian),
                "officers and custodians",
            ),
        };
        if allowed {
            Ok(())
        } else {
            Err(format!(
                "{} is for {whose}, and this person's role is {}",
                duty.describe(),
                self.as_str()
            ))
        }
    }
}

impl Duty {
    /// The duty in words, for a refusal.
    pub fn describe(self) -> &'static str {
        match self {
            Duty::Exchange => "exchanging objects",
            Duty::ReadAgreements => "reading the agreements",
            Duty::ManagePeople => "managing people",
            Duty::ManageAgreements => "loading agreements",
            Duty::ReadAudit => "reading the node's audit log",
            Duty::ManageAccounts => "opening equipment accounts",
            Duty::ReadEquipment => "reading the equipment ledger",
            Duty::KeepEquipment => "keeping an equipment account",
            Duty::SignEquipment => "signing an equipment record",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_exchange_officers_manage() {
        for d in [Duty::Exchange, Duty::ReadAgreements] {
            assert!(Role::Member.may(d).is_ok());
            assert!(Role::Officer.may(d).is_ok());
        }
        for d in [Duty::ManagePeople, Duty::ManageAgreements, Duty::ReadAudit] {
            let e = Role::Member.may(d).unwrap_err();
            assert!(e.contains("for officers") && e.contains("member"), "{e}");
            assert!(Role::Officer.may(d).is_ok());
            assert!(Role::Custodian.may(d).is_err());
        }
        let e = Role::Officer.may(Duty::KeepEquipment).unwrap_err();
        assert!(e.contains("for custodians"), "{e}");
        assert!(Role::Custodian.may(Duty::KeepEquipment).is_ok());
        assert!(Role::Member.may(Duty::ReadEquipment).is_err());
        for r in Role::ALL {
            assert!(r.may(Duty::SignEquipment).is_ok());
        }
    }

    #[test]
    fn roles_parse_by_name_only() {
        assert_eq!(Role::parse("officer"), Ok(Role::Officer));
        assert_eq!(Role::parse("member"), Ok(Role::Member));
        assert_eq!(Role::parse("custodian"), Ok(Role::Custodian));
        for bad in ["Officer", "admin", "", "officer "] {
            assert!(Role::parse(bad)
                .unwrap_err()
                .contains("member, officer, custodian"));
        }
    }
}
