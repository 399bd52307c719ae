//! The halls as citizens see them: every open hall with its week and coming exceptions.

use super::input::{DayException, DayHours, WeeklyHours};
use anyhow::Context as _;
use chrono::{Days, NaiveDate, Weekday};
use entities::{hall, hall_hours};
use sea_orm::{ColumnTrait as _, EntityTrait as _, QueryFilter as _, QueryOrder as _};
use std::collections::BTreeMap;

use super::service::*;

/// How far ahead a citizen sees a hall's date exceptions.
pub(super) const PUBLIC_EXCEPTIONS_DAYS: u64 = 62;

/// A hall as citizens see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicHall {
    pub code: String,
    pub name: String,
    pub address: String,
    pub hours: WeeklyHours,
    /// Upcoming closures and changed hours (only for a single hall).
    pub exceptions: Vec<DayException>,
}

impl HallService {
    /// The open halls with their weekly hours, by code.
    ///
    /// # Errors
    /// The database cannot be read.
    pub async fn public_halls(&self) -> anyhow::Result<Vec<PublicHall>> {
        let halls = hall::Entity::find()
            .filter(hall::Column::Active.eq(true))
            .order_by_asc(hall::Column::Code)
            .all(&self.db)
            .await
            .context("list the open halls")?;
        let mut hours: BTreeMap<i64, Vec<(Weekday, DayHours)>> = BTreeMap::new();
        for row in hall_hours::Entity::find()
            .filter(hall_hours::Column::HallId.is_in(halls.iter().map(|h| h.id)))
            .all(&self.db)
            .await
            .context("read the halls' hours")?
        {
            if let Some(day) = super::queries::day_of(&row) {
                hours.entry(row.hall_id).or_default().push(day);
            }
        }
        Ok(halls
            .into_iter()
            .map(|h| PublicHall {
                hours: WeeklyHours::new(hours.remove(&h.id).unwrap_or_default())
                    .unwrap_or_default(),
                code: h.code,
                name: h.name,
                address: h.address,
                exceptions: Vec::new(),
            })
            .collect())
    }

    /// An open hall by its code, with its exceptions of the coming two months from `today`.
    ///
    /// # Errors
    /// The database cannot be read.
    pub async fn public_hall(
        &self,
        code: &str,
        today: NaiveDate,
    ) -> anyhow::Result<Option<PublicHall>> {
        let Some(h) = super::queries::by_code(&self.db, code, super::Which::Active).await? else {
            return Ok(None);
        };
        let until = today.checked_add_days(Days::new(PUBLIC_EXCEPTIONS_DAYS));
        Ok(Some(PublicHall {
            hours: weekly_hours(&self.db, h.id).await?,
            exceptions: exceptions(&self.db, h.id, today, until).await?,
            code: h.code,
            name: h.name,
            address: h.address,
        }))
    }

    /// The id of the hall with this code.
    ///
    /// # Errors
    /// The database cannot be read.
    pub async fn id_by_code(&self, code: &str) -> anyhow::Result<Option<i64>> {
        super::queries::hall_id_by_code(&self.db, code).await
    }
}
