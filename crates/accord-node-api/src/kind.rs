//! The kind of a refusal: what sort of "no" a node gave, without saying how HTTP
//! spells it. Components of the node refuse with a kind; the HTTP layer alone turns a
//! kind into a status (the `http` module), the client turns a status back into a kind, and
//! the command line turns a kind into an exit code.

/// What sort of refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// The request is malformed: a body, a query, a path or a header that does not parse
    /// or breaks a limit of the API.
    BadRequest,
    /// The caller is not known: no certificate the node issued or an agreement pins.
    Unauthenticated,
    /// The caller is known and the decision (or an ownership check) says no.
    Denied,
    /// What was named does not exist (for this caller).
    NotFound,
    /// It clashes with what the node holds already (another object under the id, a
    /// forked checkpoint).
    Conflict,
    /// The body came too slowly.
    TooSlow,
    /// The body is larger than the route takes.
    TooLarge,
    /// A byte range outside the object.
    BadRange,
    /// The request is well formed but what it carries was checked and refused (a label
    /// that does not verify, an object the agreement does not cover).
    Unacceptable,
    /// The node failed (a bug, its database); the caller may try again later.
    Internal,
    /// A partner node this request needed could not be reached or failed.
    PartnerFailed,
    /// The node cannot take the request now (too many at once); try again later.
    Unavailable,
    /// The node keeps room free for its audit log and database, and this would eat into
    /// it; try again later.
    NoRoom,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 13] = [
        Kind::BadRequest,
        Kind::Unauthenticated,
        Kind::Denied,
        Kind::NotFound,
        Kind::Conflict,
        Kind::TooSlow,
        Kind::TooLarge,
        Kind::BadRange,
        Kind::Unacceptable,
        Kind::Internal,
        Kind::PartnerFailed,
        Kind::Unavailable,
        Kind::NoRoom,
    ];

    /// Whether the node (or a partner it needed) failed to answer, as against refusing
    /// the request for what it is. A failure may go away if the caller tries again; a
    /// refusal will not.
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            Kind::Internal | Kind::PartnerFailed | Kind::Unavailable | Kind::NoRoom
        )
    }
}
