use sea_orm::entity::prelude::*;

/// A counter (窗口) of a hall.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "counters")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub hall_id: i64,
    pub number: i32,
    pub name: String,
    pub active: bool,
    /// What the board reads out after "到"; `None`: the number (`1号窗口`).
    pub spoken_name: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
