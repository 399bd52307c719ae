use sea_orm::entity::prelude::*;

/// One rating of one subject: unique on (`subject_kind`, `subject_id`). `indicators` and `tags`
/// are JSON. `comment_status`: `NONE`, `UNCHECKED` (WeChat was down), `PASS`, `REVIEW` (hidden
/// until staff clear it), `CLEARED`, `HIDDEN`. `defaulted`: the window's 基本满意, never the
/// citizen's words.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "evaluations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub subject_kind: crate::status::SubjectKind,
    pub subject_id: String,
    pub invitation_id: i64,
    pub citizen_id: i64,
    pub channel: String,
    pub hall_id: Option<i64>,
    pub counter_id: Option<i64>,
    pub category_id: Option<i64>,
    pub staff_id: Option<i64>,
    pub item_code: Option<String>,
    pub department: Option<String>,
    pub grade: i32,
    pub indicators: String,
    pub tags: String,
    pub comment: Option<String>,
    pub comment_status: crate::status::CommentStatus,
    pub comment_label: Option<i32>,
    pub defaulted: bool,
    pub real_name: bool,
    pub follow_up_grade: Option<i32>,
    pub follow_up_comment: Option<String>,
    pub follow_up_status: Option<crate::status::CommentStatus>,
    pub follow_up_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
