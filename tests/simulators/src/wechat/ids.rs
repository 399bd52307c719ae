//! Identifiers that look like the real ones, so that a client which makes assumptions about their
//! length or alphabet meets them here first and not in production.

use base64::{Engine as _, engine::general_purpose::STANDARD};
use rand::Rng as _;

/// The alphabet of openids, unionids and access tokens: base64url without padding.
const URL_SAFE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

fn pick(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(alphabet[rng.random_range(0..alphabet.len())]))
        .collect()
}

/// 28 characters starting with `o`, like `o6_bmjrPTlm6_2sgVt7hMZOPfL2M`.
pub(crate) fn openid() -> String {
    format!("o{}", pick(URL_SAFE, 27))
}

/// Same shape as an openid; WeChat's unionids are indistinguishable from openids by eye.
pub(crate) fn unionid() -> String {
    format!("o{}", pick(URL_SAFE, 27))
}

/// A `wx.login` code: 32 alphanumerics, like `0d1Dkt000ZBDxR1TnS200sAhRx0Dkt0M`.
pub(crate) fn login_code() -> String {
    pick(ALPHANUMERIC, 32)
}

/// A getPhoneNumber code: 64 lowercase hex digits.
pub(crate) fn phone_code() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// A face-verification verify_id: opaque, long (WeChat allows up to 256 characters).
pub(crate) fn verify_id() -> String {
    format!("vid_{}", pick(URL_SAFE, 120))
}

/// An access token: a numeric prefix, `_`, then 133 base64url characters (136 in all).
pub(crate) fn access_token() -> String {
    format!("86_{}", pick(URL_SAFE, 133))
}

/// Where a simulator's `msgid`s start counting: a random 19-digit number, so that a client which
/// reads a `msgid` into a float (or 32 bits) loses it here first.
pub(crate) fn msgid_base() -> u64 {
    rand::rng().random_range(2_000_000_000_000_000_000..3_000_000_000_000_000_000)
}

/// 16 random bytes, base64 with the standard alphabet — a `session_key` or an AES key.
pub(crate) fn key16() -> String {
    STANDARD.encode(rand::random::<[u8; 16]>())
}

/// The request id WeChat appends to every errmsg, like `6540c3a5-3c9a1e3b-1e5d3f7a`.
pub(crate) fn rid() -> String {
    let [a, b, c]: [u32; 3] = rand::random();
    format!("{a:08x}-{b:08x}-{c:08x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_have_the_real_shapes() {
        let openid = openid();
        assert_eq!(openid.len(), 28);
        assert!(openid.starts_with('o'));
        assert_eq!(login_code().len(), 32);
        assert_eq!(phone_code().len(), 64);
        assert_eq!(access_token().len(), 136);
        assert_eq!(STANDARD.decode(key16()).map(|k| k.len()).ok(), Some(16));
    }
}
