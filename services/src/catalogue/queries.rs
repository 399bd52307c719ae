//! Every read of the catalogue other capabilities make: an item by its code, and the names of
//! items. The sync and the search keep their own queries in the service.

use std::collections::HashMap;

use anyhow::Context as _;
use sea_orm::{ColumnTrait as _, ConnectionTrait, EntityTrait as _, QueryFilter as _};

use entities::item;

/// The item with `code`.
///
/// # Errors
/// The database cannot be read.
pub async fn item(conn: &impl ConnectionTrait, code: &str) -> anyhow::Result<Option<item::Model>> {
    item::Entity::find_by_id(code.to_owned())
        .one(conn)
        .await
        .context("read the item")
}

/// The names of the items with these codes, by code (an unknown code is absent).
///
/// # Errors
/// The database cannot be read.
pub async fn names(
    conn: &impl ConnectionTrait,
    codes: impl IntoIterator<Item = String>,
) -> anyhow::Result<HashMap<String, String>> {
    Ok(item::Entity::find()
        .filter(item::Column::ItemCode.is_in(codes))
        .all(conn)
        .await
        .context("read the items' names")?
        .into_iter()
        .map(|i| (i.item_code, i.name))
        .collect())
}
