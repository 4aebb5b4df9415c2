//! The cipher of a released share: the KAS seals each share it releases under the
//! session key it agreed with the requester (and the partner node's KAS under the one it
//! agreed with the asking node), so that the share crosses the wire, and any proxy,
//! encrypted to the one who asked. AAD binds a sealed share to its object and split.

use crate::Error;
use zeroize::Zeroizing;

/// AES-256-GCM of a share under the session key; AAD binds it to object and split.
pub fn seal_share(
    session: &[u8],
    object_id: &str,
    sid: &str,
    share: &[u8],
) -> Result<Vec<u8>, Error> {
    use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
    let key = LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, session).map_err(|_| Error::Crypto("session key".into()))?,
    );
    let mut nonce = [0u8; NONCE_LEN];
    aws_lc_rs::rand::fill(&mut nonce).map_err(|_| Error::Crypto("random nonce".into()))?;
    let aad = format!("{object_id}\0{sid}");
    let mut buf = share.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad.as_bytes()),
        &mut buf,
    )
    .map_err(|_| Error::Crypto("sealing a share".into()))?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&buf);
    Ok(out)
}

/// Open what [`seal_share`] made.
pub fn open_share(
    session: &[u8],
    object_id: &str,
    sid: &str,
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, Error> {
    use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
    if sealed.len() < NONCE_LEN + 16 {
        return Err(Error::Crypto("released share is too short".into()));
    }
    let key = LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, session).map_err(|_| Error::Crypto("session key".into()))?,
    );
    let nonce = Nonce::try_assume_unique_for_key(&sealed[..NONCE_LEN])
        .map_err(|_| Error::Crypto("nonce".into()))?;
    let mut buf = Zeroizing::new(sealed[NONCE_LEN..].to_vec());
    let aad = format!("{object_id}\0{sid}");
    let n = key
        .open_in_place(nonce, Aad::from(aad.as_bytes()), &mut buf)
        .map_err(|_| {
            Error::Crypto(
                "a released share does not decrypt (wrong session key or altered answer)".into(),
            )
        })?
        .len();
    buf.truncate(n);
    Ok(buf)
}
