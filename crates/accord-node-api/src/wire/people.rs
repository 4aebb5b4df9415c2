//! The node's people as its officers see and change them (`GET /v1/people`,
//! `PUT /v1/people/{id}/status`, `PUT /v1/people/{id}/role`).

use serde::{Deserialize, Serialize};

/// One person of the node, as an officer sees them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonView {
    /// Identifier.
    pub id: String,
    /// Name.
    pub name: String,
    /// Nationality (ISO 3166 trigraph).
    pub nationality: String,
    /// `active` or `suspended`.
    pub status: String,
    /// `member` or `officer`.
    pub role: String,
    /// Scopes they work in.
    pub scopes: Vec<String>,
    /// Their clearance's classifications, lowest first.
    pub classifications: Vec<String>,
}

/// `PUT /v1/people/{id}/status`: suspend or resume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusChange {
    /// `active` or `suspended`.
    pub status: String,
}

/// `PUT /v1/people/{id}/role`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleChange {
    /// `member` or `officer`.
    pub role: String,
}
