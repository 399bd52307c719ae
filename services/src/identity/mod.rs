//! Citizens: who they are (WeChat openid), their phone, their real-name identity — bound only
//! once WeChat's face verification proved it (`verification.rs`); `proven` is the gate every
//! capability that uses an identity passes through.

mod id_card;
mod person_name;
mod phone;

pub use id_card::{IdCardNo, IdCardNoError};
pub use person_name::{PersonName, PersonNameError};
pub use phone::{PhoneNumber, PhoneNumberError};

mod citizens;
mod family;
mod lookup;
mod profile;
mod service;
mod verification;

pub use citizens::{IdentityGate, ProvenIdentity, openid_of, proven};
// Other capabilities (licences) decrypt the bound identity inside the server.
pub(crate) use citizens::{ID_CARD, NAME, PHONE, context as field_context, find as find_citizen};
pub use family::{
    Acting, ActingMember, AddMemberError, DEFAULT_MAX_MEMBERS, FamilyError, FamilyMember,
    FamilyRelation, RevokedBy,
};
pub use lookup::{LookupError, VerifiedPerson};
pub use profile::{CitizenProfile, IdentityNotice, IdentityNoticeKind, IdentitySummary};
pub use service::{BindPhoneError, IdentityService, LoggedIn, LoginError, LoginLimits, PhoneProof};
pub use verification::{
    CompleteVerificationError, FaceFailure, StartVerificationError, StartedVerification,
    VerificationLimits, VerificationStatus, classify,
};
