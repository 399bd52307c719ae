//! WeChat's legacy "open data": user data the mini-program receives encrypted under the user's
//! `session_key` (AES-128-CBC, PKCS#7) and passes to us, plus the two signatures built from the
//! `session_key` (the `rawData` signature and the `checkSessionKey` signature).
//!
//! The decision a reader needs: the decrypted JSON is trusted only after its `watermark.appid` is
//! ours, and nothing here ever puts the session key or the decrypted data into an error message.
//! Newer clients get the phone number through `getuserphonenumber` instead (see the client).

use std::fmt;

use aes::Aes128;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockDecryptMut, KeyIvInit};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha1::{Digest, Sha1};
use sha2::Sha256;

/// Why encrypted user data could not be opened. No variant carries key material or plaintext.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LegacyDecryptError {
    /// The session key, the iv or the encrypted data is not base64.
    #[error("session key, iv or encrypted data is not valid base64")]
    BadBase64,
    /// The session key or the iv does not decode to 16 bytes.
    #[error("session key and iv must each decode to 16 bytes")]
    BadKeyOrIv,
    /// AES-CBC decryption or its padding failed: wrong (e.g. stale) session key or iv, or damage.
    #[error("decryption failed: stale session key, wrong iv or corrupted data")]
    Decrypt,
    /// The plaintext is not a JSON object.
    #[error("decrypted data is not a JSON object")]
    NotJson,
    /// `watermark.appid` is missing or belongs to another mini-program.
    #[error("watermark appid does not match this mini-program")]
    WatermarkMismatch,
    /// The data decrypted and is ours, but a field the caller needs is missing or mistyped.
    #[error("decrypted data lacks the field {0}")]
    MissingField(&'static str),
}

/// Decrypts `encryptedData` from `wx.getUserInfo`/`getPhoneNumber` (legacy form) and checks that
/// its watermark names our app. Spaces in the base64 inputs are read as `+`, the usual damage when
/// they travelled through a form or a query string.
///
/// # Errors
/// [`LegacyDecryptError::BadBase64`] when an input is not base64; [`LegacyDecryptError::BadKeyOrIv`]
/// when the key or iv is not 16 bytes; [`LegacyDecryptError::Decrypt`] when decryption or unpadding
/// fails (most often a session key that has since changed); [`LegacyDecryptError::NotJson`] when
/// the plaintext is not a JSON object; [`LegacyDecryptError::WatermarkMismatch`] when
/// `watermark.appid` is not `expected_app_id`.
pub fn decrypt_user_data(
    session_key_b64: &str,
    encrypted_data_b64: &str,
    iv_b64: &str,
    expected_app_id: &str,
) -> Result<Value, LegacyDecryptError> {
    let key = decode(session_key_b64)?;
    let iv = decode(iv_b64)?;
    let mut buffer = decode(encrypted_data_b64)?;
    if key.len() != 16 || iv.len() != 16 {
        return Err(LegacyDecryptError::BadKeyOrIv);
    }
    let decryptor = cbc::Decryptor::<Aes128>::new_from_slices(&key, &iv)
        .map_err(|_| LegacyDecryptError::BadKeyOrIv)?;
    // `decrypt_padded_vec_mut` needs cipher's `alloc` feature, which the workspace does not
    // enable; decrypting in place in the decoded buffer is the same operation without a copy.
    let plaintext = decryptor
        .decrypt_padded_mut::<Pkcs7>(&mut buffer)
        .map_err(|_| LegacyDecryptError::Decrypt)?;
    let value: Value =
        serde_json::from_slice(plaintext).map_err(|_| LegacyDecryptError::NotJson)?;
    if !value.is_object() {
        return Err(LegacyDecryptError::NotJson);
    }
    let app_id = value
        .get("watermark")
        .and_then(|w| w.get("appid"))
        .and_then(Value::as_str);
    if app_id != Some(expected_app_id) {
        return Err(LegacyDecryptError::WatermarkMismatch);
    }
    Ok(value)
}

/// The phone number from legacy `getPhoneNumber` encrypted data.
#[derive(Clone, PartialEq, Eq)]
pub struct PhoneInfo {
    /// As the user sees it; with the country code for numbers outside the mainland.
    pub phone_number: String,
    /// Without the country code.
    pub pure_phone_number: String,
    /// E.g. `"86"`.
    pub country_code: String,
    /// When WeChat produced the data (Unix seconds).
    pub watermark_timestamp: i64,
}

impl fmt::Debug for PhoneInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PhoneInfo")
            .field("phone_number", &mask(&self.phone_number))
            .field("pure_phone_number", &mask(&self.pure_phone_number))
            .field("country_code", &self.country_code)
            .field("watermark_timestamp", &self.watermark_timestamp)
            .finish()
    }
}

/// Decrypts legacy `getPhoneNumber` data and reads the phone fields.
///
/// # Errors
/// Those of [`decrypt_user_data`], and [`LegacyDecryptError::MissingField`] when `phoneNumber`,
/// `purePhoneNumber`, `countryCode` (a string or a number) or `watermark.timestamp` is absent.
pub fn decrypt_phone(
    session_key_b64: &str,
    encrypted_data_b64: &str,
    iv_b64: &str,
    expected_app_id: &str,
) -> Result<PhoneInfo, LegacyDecryptError> {
    let value = decrypt_user_data(session_key_b64, encrypted_data_b64, iv_b64, expected_app_id)?;
    let text = |field: &'static str| {
        value
            .get(field)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or(LegacyDecryptError::MissingField(field))
    };
    let country_code = match value.get("countryCode") {
        Some(Value::String(code)) => code.clone(),
        Some(Value::Number(code)) => code.to_string(),
        _ => return Err(LegacyDecryptError::MissingField("countryCode")),
    };
    let watermark_timestamp = value
        .get("watermark")
        .and_then(|w| w.get("timestamp"))
        .and_then(Value::as_i64)
        .ok_or(LegacyDecryptError::MissingField("watermark.timestamp"))?;
    Ok(PhoneInfo {
        phone_number: text("phoneNumber")?,
        pure_phone_number: text("purePhoneNumber")?,
        country_code,
        watermark_timestamp,
    })
}

/// The `rawData` signature: lower-case `hex(sha1(raw_data + session_key))`, where `session_key` is
/// the base64 string as WeChat issued it.
pub fn raw_data_signature(raw_data: &str, session_key: &str) -> String {
    hex::encode(raw_data_digest(raw_data, session_key))
}

/// Whether `signature` (hex, either case) is the `rawData` signature, compared in constant time.
pub fn verify_raw_data_signature(raw_data: &str, session_key: &str, signature: &str) -> bool {
    let Ok(given) = hex::decode(signature.trim()) else {
        return false;
    };
    let expected = raw_data_digest(raw_data, session_key);
    given.len() == expected.len()
        && std::hint::black_box(
            given
                .iter()
                .zip(expected.iter())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b)),
        ) == 0
}

/// The signature `checkSessionKey` expects: lower-case `hex(hmac_sha256(key = session_key, msg =
/// ""))`, keyed with the bytes of the session key string as WeChat issued it (not its decoding).
pub fn check_session_key_signature(session_key: &str) -> String {
    let mac = hmac_sha256(session_key.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn raw_data_digest(raw_data: &str, session_key: &str) -> [u8; 20] {
    let mut hasher = Sha1::new();
    hasher.update(raw_data.as_bytes());
    hasher.update(session_key.as_bytes());
    hasher.finalize().into()
}

/// HMAC-SHA256 keyed with `key` of any length. HMAC hashes a key longer than the block and
/// zero-pads a shorter one; doing that here lets us use the infallible fixed-size constructor
/// instead of `new_from_slice`, whose error cannot happen for HMAC but would need an `unwrap`.
fn hmac_sha256(key: &[u8]) -> Hmac<Sha256> {
    let mut block = [0u8; 64];
    if key.len() > block.len() {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    <Hmac<Sha256> as Mac>::new(&block.into())
}

fn decode(b64: &str) -> Result<Vec<u8>, LegacyDecryptError> {
    STANDARD
        .decode(b64.trim().replace(' ', "+"))
        .map_err(|_| LegacyDecryptError::BadBase64)
}

/// `13800138000` → `138****8000`; anything short is hidden entirely.
fn mask(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() < 8 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 7))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cbc::cipher::BlockEncryptMut;

    const APP_ID: &str = "wx4f4bc4dec97d474b";
    const SESSION_KEY: &str = "tiihtNczf5v6AKRyjwEUhQ==";
    const IV: &str = "r7BXXKkLb8qrSNn05n0qiA==";
    /// From WeChat's documentation (开放数据校验与解密), decrypting to the demo user "Band".
    const ENCRYPTED_DATA: &str = "CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZMQmRzooG2xrDcvSnxIMXFufNstNGTyaGS9uT5geRa0W4oTOb1WT7fJlAC+oNPdbB+3hVbJSRgv+4lGOETKUQz6OYStslQ142dNCuabNPGBzlooOmB231qMM85d2/fV6ChevvXvQP8Hkue1poOFtnEtpyxVLW1zAo6/1Xx1COxFvrc2d7UL/lmHInNlxuacJXwu0fjpXfz/YqYzBIBzD6WUfTIF9GRHpOn/Hz7saL8xz+W//FRAUid1OksQaQx4CMs8LOddcQhULW4ucetDf96JcR3g0gfRK4PC7E/r7Z6xNrXd2UIeorGj5Ef7b1pJAYB6Y5anaHqZ9J6nKEBvB4DnNLIVWSgARns/8wR2SiRS7MNACwTyrGvt9ts8p12PKFdlqYTopNHR1Vf7XjfhQlVsAJdNiKdYmYVoKlaRv85IfVunYzO0IKXsyl7JCUjCpoG20f0a04COwfneQAGGwd5oa+T8yO5hzuyDb/XcxxmK01EpqOyuxINew==";

    const RAW_DATA: &str = r#"{"nickName":"Band","gender":1,"language":"zh_CN","city":"Guangzhou","province":"Guangdong","country":"CN","avatarUrl":"http://wx.qlogo.cn/mmopen/vi_32/1vZvI39NWFQ9XM4LtQpFrQJ1xlgZxx3w7bQxKARol6503Iuswjjn6nIGBiaycAjAtpujxyzYsrztuuICqIM5ibXQ/0"}"#;
    const RAW_SESSION_KEY: &str = "HyVFkGl5F5OQWJZZaNzBBg==";
    const RAW_SIGNATURE: &str = "75e81ceda165f4ffa64f4068af58c64b8f54b88c";
    const CHECK_SESSION_KEY_SIGNATURE: &str =
        "7154f9f8b4b76b92f541cbf0e37d48840fa06e5e42da92a6f80168a1516a4735";

    /// Encrypts `plaintext` the way WeChat does, for vectors of our own.
    fn encrypt(plaintext: &str) -> String {
        let key = STANDARD.decode(SESSION_KEY).unwrap();
        let iv = STANDARD.decode(IV).unwrap();
        let mut buffer = plaintext.as_bytes().to_vec();
        let len = buffer.len();
        buffer.resize(len + 16, 0);
        let ciphertext = cbc::Encryptor::<Aes128>::new_from_slices(&key, &iv)
            .unwrap()
            .encrypt_padded_mut::<Pkcs7>(&mut buffer, len)
            .unwrap();
        STANDARD.encode(ciphertext)
    }

    #[test]
    fn the_documented_vector_decrypts() {
        let value = decrypt_user_data(SESSION_KEY, ENCRYPTED_DATA, IV, APP_ID).unwrap();
        assert_eq!(value["openId"], "oGZUI0egBJY1zhBYw2KhdUfwVJJE");
        assert_eq!(value["nickName"], "Band");
        assert_eq!(value["watermark"]["appid"], APP_ID);
        assert_eq!(value["watermark"]["timestamp"], 1_477_314_187);
    }

    #[test]
    fn plus_signs_turned_into_spaces_in_transit_still_decrypt() {
        let damaged = ENCRYPTED_DATA.replace('+', " ");
        assert_ne!(damaged, ENCRYPTED_DATA);
        let value = decrypt_user_data(SESSION_KEY, &damaged, IV, APP_ID).unwrap();
        assert_eq!(value["openId"], "oGZUI0egBJY1zhBYw2KhdUfwVJJE");
    }

    #[test]
    fn another_apps_data_is_refused() {
        assert_eq!(
            decrypt_user_data(SESSION_KEY, ENCRYPTED_DATA, IV, "wx0000000000000000"),
            Err(LegacyDecryptError::WatermarkMismatch)
        );
    }

    #[test]
    fn data_without_a_watermark_is_refused() {
        let data = encrypt(r#"{"openId":"o1"}"#);
        assert_eq!(
            decrypt_user_data(SESSION_KEY, &data, IV, APP_ID),
            Err(LegacyDecryptError::WatermarkMismatch)
        );
    }

    #[test]
    fn a_wrong_session_key_is_an_error_not_a_panic() {
        for wrong_key in [
            "HyVFkGl5F5OQWJZZaNzBBg==",
            "AAAAAAAAAAAAAAAAAAAAAA==",
            "tiihtNczf5v6AKRyjwEUhA==",
        ] {
            let result = decrypt_user_data(wrong_key, ENCRYPTED_DATA, IV, APP_ID);
            assert!(
                matches!(
                    result,
                    Err(LegacyDecryptError::Decrypt | LegacyDecryptError::NotJson)
                ),
                "{result:?}"
            );
        }
    }

    #[test]
    fn a_wrong_iv_garbles_the_data_into_an_error() {
        // CBC with a wrong iv only garbles the first block, which holds the start of the JSON.
        let result = decrypt_user_data(SESSION_KEY, ENCRYPTED_DATA, SESSION_KEY, APP_ID);
        assert_eq!(result, Err(LegacyDecryptError::NotJson));
    }

    #[test]
    fn keys_and_ivs_of_the_wrong_length_are_refused() {
        let short = STANDARD.encode([1u8; 15]);
        let long = STANDARD.encode([1u8; 32]);
        for (key, iv) in [
            (short.as_str(), IV),
            (long.as_str(), IV),
            (SESSION_KEY, &short),
        ] {
            assert_eq!(
                decrypt_user_data(key, ENCRYPTED_DATA, iv, APP_ID),
                Err(LegacyDecryptError::BadKeyOrIv)
            );
        }
    }

    #[test]
    fn inputs_that_are_not_base64_are_refused() {
        for (key, data, iv) in [
            ("not base64!", ENCRYPTED_DATA, IV),
            (SESSION_KEY, "%%%", IV),
            (SESSION_KEY, ENCRYPTED_DATA, "r7BXXKkLb8qrSNn05n0qiA="),
        ] {
            assert_eq!(
                decrypt_user_data(key, data, iv, APP_ID),
                Err(LegacyDecryptError::BadBase64)
            );
        }
    }

    #[test]
    fn truncated_or_empty_data_is_an_error_not_a_panic() {
        let ciphertext = STANDARD.decode(ENCRYPTED_DATA).unwrap();
        for cut in [0, 1, 15, 16, 17, 399] {
            let data = STANDARD.encode(&ciphertext[..cut]);
            assert!(
                decrypt_user_data(SESSION_KEY, &data, IV, APP_ID).is_err(),
                "{cut}"
            );
        }
    }

    #[test]
    fn plaintext_that_is_not_a_json_object_is_refused() {
        for plaintext in ["not json", "[1,2]", "\"wx4f4bc4dec97d474b\""] {
            assert_eq!(
                decrypt_user_data(SESSION_KEY, &encrypt(plaintext), IV, APP_ID),
                Err(LegacyDecryptError::NotJson)
            );
        }
    }

    #[test]
    fn error_messages_carry_neither_the_key_nor_the_data() {
        let errors = [
            LegacyDecryptError::BadBase64,
            LegacyDecryptError::BadKeyOrIv,
            LegacyDecryptError::Decrypt,
            LegacyDecryptError::NotJson,
            LegacyDecryptError::WatermarkMismatch,
            LegacyDecryptError::MissingField("phoneNumber"),
        ];
        for error in errors {
            let text = format!("{error} {error:?}");
            assert!(!text.contains(SESSION_KEY));
            assert!(!text.contains("oGZUI0"));
        }
    }

    #[test]
    fn phone_data_with_a_string_country_code_is_read() {
        let data = encrypt(
            r#"{"phoneNumber":"13580006666","purePhoneNumber":"13580006666","countryCode":"86","watermark":{"appid":"wx4f4bc4dec97d474b","timestamp":1477314187}}"#,
        );
        let phone = decrypt_phone(SESSION_KEY, &data, IV, APP_ID).unwrap();
        assert_eq!(
            phone,
            PhoneInfo {
                phone_number: "13580006666".to_owned(),
                pure_phone_number: "13580006666".to_owned(),
                country_code: "86".to_owned(),
                watermark_timestamp: 1_477_314_187,
            }
        );
    }

    #[test]
    fn phone_data_with_a_numeric_country_code_is_read() {
        let data = encrypt(
            r#"{"phoneNumber":"+85261234567","purePhoneNumber":"61234567","countryCode":852,"watermark":{"appid":"wx4f4bc4dec97d474b","timestamp":1700000000}}"#,
        );
        let phone = decrypt_phone(SESSION_KEY, &data, IV, APP_ID).unwrap();
        assert_eq!(phone.country_code, "852");
        assert_eq!(phone.pure_phone_number, "61234567");
        assert_eq!(phone.watermark_timestamp, 1_700_000_000);
    }

    #[test]
    fn phone_data_missing_a_field_names_it() {
        let data = encrypt(
            r#"{"phoneNumber":"13580006666","countryCode":"86","watermark":{"appid":"wx4f4bc4dec97d474b","timestamp":1477314187}}"#,
        );
        assert_eq!(
            decrypt_phone(SESSION_KEY, &data, IV, APP_ID),
            Err(LegacyDecryptError::MissingField("purePhoneNumber"))
        );
    }

    #[test]
    fn phone_info_debug_is_masked() {
        let info = PhoneInfo {
            phone_number: "13580006666".to_owned(),
            pure_phone_number: "13580006666".to_owned(),
            country_code: "86".to_owned(),
            watermark_timestamp: 0,
        };
        let debug = format!("{info:?}");
        assert!(!debug.contains("13580006666"), "{debug}");
        assert!(debug.contains("135****6666"), "{debug}");
    }

    #[test]
    fn the_documented_raw_data_signature_matches() {
        assert_eq!(raw_data_signature(RAW_DATA, RAW_SESSION_KEY), RAW_SIGNATURE);
    }

    #[test]
    fn raw_data_signatures_are_verified() {
        assert!(verify_raw_data_signature(
            RAW_DATA,
            RAW_SESSION_KEY,
            RAW_SIGNATURE
        ));
        assert!(verify_raw_data_signature(
            RAW_DATA,
            RAW_SESSION_KEY,
            &RAW_SIGNATURE.to_uppercase()
        ));
        let mut wrong = RAW_SIGNATURE.to_owned();
        wrong.replace_range(39..40, "d");
        for signature in [wrong.as_str(), "", "75e8", "zz", &RAW_SIGNATURE[..38]] {
            assert!(
                !verify_raw_data_signature(RAW_DATA, RAW_SESSION_KEY, signature),
                "{signature}"
            );
        }
        assert!(!verify_raw_data_signature(
            RAW_DATA,
            SESSION_KEY,
            RAW_SIGNATURE
        ));
        assert!(!verify_raw_data_signature(
            &RAW_DATA.replace("Band", "Bond"),
            RAW_SESSION_KEY,
            RAW_SIGNATURE
        ));
    }

    #[test]
    fn the_check_session_key_signature_is_hmac_sha256_of_nothing_keyed_by_the_session_key() {
        // Computed independently: python3 -c 'import hmac,hashlib;
        // print(hmac.new(b"tiihtNczf5v6AKRyjwEUhQ==", b"", hashlib.sha256).hexdigest())'
        assert_eq!(
            check_session_key_signature(SESSION_KEY),
            CHECK_SESSION_KEY_SIGNATURE
        );
        let mut reference = <Hmac<Sha256> as Mac>::new_from_slice(SESSION_KEY.as_bytes()).unwrap();
        reference.update(b"");
        assert_eq!(
            check_session_key_signature(SESSION_KEY),
            hex::encode(reference.finalize().into_bytes())
        );
    }

    #[test]
    fn the_hmac_helper_agrees_with_the_library_for_every_key_length() {
        for len in [0, 1, 16, 24, 63, 64, 65, 100, 200] {
            let key = vec![0x5Au8; len];
            let mut reference = <Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap();
            reference.update(b"message");
            let mut ours = hmac_sha256(&key);
            ours.update(b"message");
            assert_eq!(
                ours.finalize().into_bytes(),
                reference.finalize().into_bytes(),
                "{len}"
            );
        }
    }
}
