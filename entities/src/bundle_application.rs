use sea_orm::entity::prelude::*;

/// A 一件事 bundle application. `id` is the `clientRequestId` sent to the platform; `items` the
/// JSON list of item codes applied for (required and chosen optional); `status` the delivery
/// (`SUBMITTING`, `QUEUED`, `SUBMITTED`, `INVALID`, `PARKED`); `bundle_no` the platform's number
/// once it answered. `private_cipher` holds the applicant, agent and postal address, encrypted.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "bundle_applications")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub citizen_id: i64,
    pub bundle_code: String,
    pub bundle_name: String,
    pub idempotency_key: Option<String>,
    pub fingerprint: Option<String>,
    pub items: String,
    pub form: String,
    pub materials: String,
    pub obtain_way: i16,
    pub private_cipher: String,
    pub on_behalf: bool,
    pub member_id: Option<i64>,
    pub status: crate::status::Delivery,
    pub bundle_no: Option<String>,
    pub received_at: Option<DateTimeUtc>,
    pub problem: Option<String>,
    pub submitted_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
