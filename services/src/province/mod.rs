//! The provincial government-service platform (省一体化政务服务平台): the outbound client, the
//! wire types (catalogue items, applications, case events, licences, evaluations) and the request
//! signing both directions share.
//!
//! The decision a reader needs: one HMAC scheme signs our requests to the platform (with the app key
//! and secret the platform issued us) and the platform's callbacks to the gateway (with the
//! gateway's own key and secret); [`Verifier`] checks the latter, nonce replay cache included.
//! [`ProvinceClient`] retries only what is safe to retry — every POST carries a `clientRequestId`
//! the platform deduplicates on — and stops calling a failing platform ([`ProvinceError::CircuitOpen`]).

mod backoff;
mod breaker;
mod client;
mod error;
pub mod outbox;
mod signing;
mod wire;

pub use self::client::{
    BundleApplicationRequest, BundleCase, BundleItem, BundleReceipt, BundlesPage, CatalogueBundle,
    ProvinceClient, ProvinceConfig, SharedMaterial,
};
pub use self::error::ProvinceError;
pub use self::signing::{
    APP_KEY_HEADER, Credentials, HeaderInput, NONCE_HEADER, SIGNATURE_HEADER, SignedHeaders,
    TIMESTAMP_HEADER, Verifier, VerifyError, canonical_string, sign,
};
pub use self::wire::{
    Agent, Applicant, ApplicationRequest, CaseEvent, CaseState, CatalogueItem, EvaluationRequest,
    ItemType, ItemsPage, LicenceDetail, LicenceField, LicenceStatus, LicenceStatusReply,
    LicenceSummary, MaterialSpec, MaterialUpload, Phase, PostAddress, SubmitReceipt,
    SupplementRequest, UseCause,
};
