//! The legacy encrypted phone number that older mini-program clients still send: the payload
//! WeChat encrypts with the user's `session_key`, which the gateway must decrypt.

use aes::cipher::{BlockEncryptMut, KeyIvInit, block_padding::Pkcs7};
use anyhow::{Context as _, anyhow};
use base64::{Engine as _, engine::general_purpose::STANDARD};
use serde_json::json;

use super::ids;

type Aes128CbcEnc = cbc::Encryptor<aes::Aes128>;

/// Encrypts the phone-number JSON with AES-128-CBC / PKCS#7 under `session_key` (base64) and a
/// fresh IV. Returns `(encryptedData, iv)`, both base64 with the standard alphabet.
pub(crate) fn encrypt_phone(
    session_key: &str,
    app_id: &str,
    phone: &str,
    timestamp: u64,
) -> anyhow::Result<(String, String)> {
    let key = STANDARD
        .decode(session_key)
        .context("decode the session key")?;
    let iv = STANDARD.decode(ids::key16()).context("decode the iv")?;
    let plaintext = json!({
        "phoneNumber": phone,
        "purePhoneNumber": pure_phone_number(phone),
        "countryCode": "86",
        "watermark": { "timestamp": timestamp, "appid": app_id },
    })
    .to_string();

    let mut buffer = plaintext.clone().into_bytes();
    buffer.resize(plaintext.len() + 16, 0);
    let ciphertext = Aes128CbcEnc::new_from_slices(&key, &iv)
        .map_err(|_| anyhow!("the session key and the iv must be 16 bytes"))?
        .encrypt_padded_mut::<Pkcs7>(&mut buffer, plaintext.len())
        .map_err(|_| anyhow!("pad the phone-number payload"))?;
    Ok((STANDARD.encode(ciphertext), STANDARD.encode(iv)))
}

/// The number without its country prefix, as WeChat reports it in `purePhoneNumber`.
pub(crate) fn pure_phone_number(phone: &str) -> &str {
    phone.strip_prefix("+86").unwrap_or(phone).trim_start()
}
