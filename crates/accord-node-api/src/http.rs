//! How HTTP spells a refusal's [`Kind`]: the one table the node's HTTP layer answers
//! with and the client reads back.

use crate::kind::Kind;

/// The HTTP status a refusal of `kind` is answered with.
pub fn status(kind: Kind) -> u16 {
    match kind {
        Kind::BadRequest => 400,
        Kind::Unauthenticated => 401,
        Kind::Denied => 403,
        Kind::NotFound => 404,
        Kind::TooSlow => 408,
        Kind::Conflict => 409,
        Kind::TooLarge => 413,
        Kind::BadRange => 416,
        Kind::Unacceptable => 422,
        Kind::Internal => 500,
        Kind::PartnerFailed => 502,
        Kind::Unavailable => 503,
        Kind::NoRoom => 507,
    }
}

/// The kind of refusal an HTTP status says: the inverse of [`status`]. A status this API
/// never answers with (a proxy's 405, a newer node's) is read as the node failing: the
/// caller may try again, and nothing is given up on a status nobody understood.
pub fn kind(status: u16) -> Kind {
    match status {
        400 => Kind::BadRequest,
        401 => Kind::Unauthenticated,
        403 => Kind::Denied,
        404 => Kind::NotFound,
        408 => Kind::TooSlow,
        409 => Kind::Conflict,
        413 => Kind::TooLarge,
        416 => Kind::BadRange,
        422 => Kind::Unacceptable,
        502 => Kind::PartnerFailed,
        503 => Kind::Unavailable,
        507 => Kind::NoRoom,
        _ => Kind::Internal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_reads_back_from_its_status() {
        use Kind::*;
        for k in Kind::ALL {
            assert_eq!(kind(status(k)), k);
            assert_eq!(k.is_failure(), status(k) >= 500, "{k:?}");
        }
        assert_eq!(kind(405), Internal);
        assert_eq!(kind(504), Internal);
    }
}
