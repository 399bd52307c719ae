use sea_orm::entity::prelude::*;

/// One face verification (人脸核身) of a person by a citizen's WeChat account: the person named
/// (encrypted), WeChat's verify_id and how the attempt ended.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "identity_verifications")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Ours, sent to WeChat as `out_seq_no` and shown to the mini-program as the verification id.
    #[sea_orm(unique)]
    pub out_seq_no: String,
    pub citizen_id: i64,
    pub name_cipher: String,
    pub id_card_cipher: String,
    /// Blind index of the ID number (the per-ID-number attempt limit, the binding).
    pub id_card_index: String,
    pub verify_id: Option<String>,
    pub expires_at: Option<DateTimeUtc>,
    /// `STARTING`, `PENDING`, `PASSED`, `FAILED`, `EXPIRED`.
    pub status: crate::status::VerificationStatus,
    pub verify_ret: Option<i64>,
    pub errcode: Option<i64>,
    pub created_at: DateTimeUtc,
    pub completed_at: Option<DateTimeUtc>,
    /// `SELF` (the account's own identity) or `MEMBER` (a family member on its phone).
    pub purpose: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
