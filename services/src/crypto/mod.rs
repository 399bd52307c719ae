//! Field encryption (AES-256-GCM with key ids, so keys rotate) and keyed blind indexes
//! (HMAC-SHA256), for the personal information the database holds.

mod blind_index;
mod field;

pub use blind_index::BlindIndex;
pub use field::{CryptoError, FieldCipher, FieldContext, KeyMaterial};
