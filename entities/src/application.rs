use sea_orm::entity::prelude::*;

/// An application (申办). `id` is the `clientRequestId` sent to the platform. `status` is the
/// delivery to the platform (`SUBMITTING`, `QUEUED`, `SUBMITTED`, `INVALID`, `PARKED`); `phase`
/// and `case_version` are those of the newest case event stored. `private_cipher` holds the
/// applicant, agent and postal address, encrypted.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "applications")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub citizen_id: i64,
    pub item_code: String,
    pub handle_item_code: String,
    pub item_name: String,
    pub idempotency_key: Option<String>,
    pub fingerprint: Option<String>,
    pub form: String,
    pub materials: String,
    pub obtain_way: i16,
    pub private_cipher: String,
    pub on_behalf: bool,
    pub status: crate::status::Delivery,
    pub phase: Option<crate::status::CasePhase>,
    pub case_version: i64,
    #[sea_orm(unique)]
    pub sblsh: Option<String>,
    pub received_at: Option<DateTimeUtc>,
    pub problem: Option<String>,
    pub tracking_no: Option<String>,
    pub submitted_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub last_event_at: Option<DateTimeUtc>,
    pub polled_at: Option<DateTimeUtc>,
    /// When the reconciler should ask the platform about this case; NULL once it is final.
    pub poll_due_at: Option<DateTimeUtc>,
    /// The family member applied for (`family_members.id`): the applicant; the account's
    /// citizen is the agent.
    pub member_id: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
