//! Citizens: who they are (WeChat openid), their phone, their real-name identity.

mod id_card;
mod person_name;
mod phone;

pub use id_card::{IdCardNo, IdCardNoError};
pub use person_name::{PersonName, PersonNameError};
pub use phone::{PhoneNumber, PhoneNumberError};

mod citizens;
mod profile;
mod service;

pub use citizens::openid_of;
// Other capabilities (licences) decrypt the bound identity inside the server.
pub(crate) use citizens::{ID_CARD, NAME, PHONE, context as field_context, find as find_citizen};
pub use profile::{CitizenProfile, IdentitySummary};
pub use service::{
    BindIdentityError, BindPhoneError, IdentityService, LoggedIn, LoginError, LoginLimits,
    PhoneProof,
};
