//! The provincial government-service platform (省一体化政务服务平台): the outbound client and the
//! callbacks it sends us. For now, the request signing both directions share.
//!
//! The decision a reader needs: one HMAC scheme signs our requests to the platform (with the app key
//! and secret the platform issued us) and the platform's callbacks to the gateway (with the
//! gateway's own key and secret); [`Verifier`] checks the latter, nonce replay cache included.

mod signing;

pub use self::signing::{
    APP_KEY_HEADER, Credentials, HeaderInput, NONCE_HEADER, SIGNATURE_HEADER, SignedHeaders,
    TIMESTAMP_HEADER, Verifier, VerifyError, canonical_string, sign,
};
