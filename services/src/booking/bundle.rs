//! Booking a 一件事 bundle at a hall (issue 19 item 4): one booking for all its items, served at
//! one counter (无差别综合窗口).
//!
//! The decisions a reader needs:
//! - A hall offers a bundle when one of its categories is mapped to every required item of the
//!   bundle ([`crate::bundles::BookingTerms::category_at`], the rule the bundle guide's
//!   `bookable` halls show); that category's slots are the bundle's, and its check-in gives one
//!   ticket of that category.
//! - The booking row keeps the bundle's code where an item booking keeps the item's
//!   (`bookings.item_code`, the booking's *subject*): every rule of a booking — the limits, the
//!   bans, "one live booking per identity, subject and day" (`active_key`), moving, cancelling,
//!   checking in — holds for it unchanged, with the bundle counted as one subject. Item codes
//!   (31 characters) are looked up first, so a code that were both would read as the item.

use super::*;

/// What a booking is for, as resolved at a hall.
#[derive(Debug, Clone)]
pub(super) struct Subject {
    pub code: String,
    pub name: String,
    pub bundle: bool,
}

/// A subject at a hall.
pub(super) enum AtHall {
    /// No such item (or bundle) in the catalogue.
    Unknown,
    /// Not bookable here: the item is not bookable or the hall is inactive; for a bundle, also
    /// no category of the hall handles every required item.
    NotBookable,
    /// Bookable; in this category of the hall (`None`: an item the hall does not handle).
    Handled(Subject, Option<i64>),
}

impl BookingService {
    /// Resolves an item (`bundle` false) or a bundle at a hall.
    pub(super) async fn subject_at(
        &self,
        ctx: &HallModel,
        code: &str,
        bundle: bool,
    ) -> anyhow::Result<AtHall> {
        if bundle {
            let Some(terms) = crate::bundles::booking_terms(&self.db, code).await? else {
                return Ok(AtHall::Unknown);
            };
            return Ok(
                match terms
                    .category_at(|item| ctx.category_of(item))
                    .filter(|_| ctx.hall.active)
                {
                    None => AtHall::NotBookable,
                    Some(category) => AtHall::Handled(
                        Subject {
                            code: terms.bundle_code,
                            name: terms.name,
                            bundle: true,
                        },
                        Some(category),
                    ),
                },
            );
        }
        let Some(item) = self.item(code).await? else {
            return Ok(AtHall::Unknown);
        };
        if !item.bookable || !ctx.hall.active {
            return Ok(AtHall::NotBookable);
        }
        Ok(AtHall::Handled(
            Subject {
                code: item.item_code.clone(),
                name: item.name.clone(),
                bundle: false,
            },
            ctx.category_of(&item.item_code),
        ))
    }

    /// The subject of a booking request, which must be served by the slot's category.
    pub(super) async fn subject_of_slot(
        &self,
        ctx: &HallModel,
        request: &BookRequest,
        category_id: i64,
    ) -> Result<Subject, BookError> {
        match self
            .subject_at(ctx, request.subject.as_str(), request.subject.is_bundle())
            .await?
        {
            AtHall::Unknown => Err(BookError::ItemNotFound),
            AtHall::NotBookable => Err(BookError::ItemNotBookable),
            AtHall::Handled(subject, Some(category)) if category == category_id => Ok(subject),
            AtHall::Handled(..) => Err(BookError::SlotNotForItem),
        }
    }
}

/// A booked subject's code as what it was, an item's or a bundle's (for moving a booking).
pub(super) async fn stored_subject(
    conn: &impl sea_orm::ConnectionTrait,
    code: &str,
) -> anyhow::Result<SubjectCode> {
    if crate::catalogue::queries::item(conn, code).await?.is_some() {
        return Ok(SubjectCode::Item(crate::catalogue::ItemCode::from_stored(
            code,
        )));
    }
    let bundle = crate::bundles::booking_terms(conn, code).await?.is_some();
    Ok(if bundle {
        SubjectCode::Bundle(crate::bundles::BundleCode::from_stored(code))
    } else {
        // Neither (the item left the catalogue): booked as an item, refused as unknown.
        SubjectCode::Item(crate::catalogue::ItemCode::from_stored(code))
    })
}

/// The name of a booked subject, for a notice: the item's, else the bundle's.
pub(super) async fn subject_name(
    conn: &impl sea_orm::ConnectionTrait,
    code: &str,
) -> anyhow::Result<String> {
    if let Some(item) = crate::catalogue::queries::item(conn, code).await? {
        return Ok(item.name);
    }
    Ok(crate::bundles::booking_terms(conn, code)
        .await?
        .map(|b| b.name)
        .unwrap_or_default())
}
