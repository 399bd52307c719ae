use sea_orm::entity::prelude::*;

/// A request for someone's consent to an application made for them (代办) from another
/// account. `status`: `PENDING`, `ACCEPTED`, `REFUSED`, `EXPIRED`; `answered_at` is when the
/// person accepted or refused.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "application_consents")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    #[sea_orm(unique)]
    pub application_id: String,
    /// The citizen who applied (the agent).
    pub requester_id: i64,
    /// The citizen asked (the applicant), by their verified account.
    pub person_id: i64,
    /// The blind index of the person's ID number when asked.
    pub person_index: String,
    pub status: crate::status::ConsentStatus,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub answered_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
