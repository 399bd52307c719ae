//! An item's code (事项编码) as a citizen sends it, parsed once where it enters (the route), so
//! past the edge nothing trims or re-checks it.
//!
//! The decision a reader needs: a code that cannot name a stored item (empty, or longer than the
//! 64 characters of the `items.item_code` column) is refused as "not found" by the caller, with the
//! same code and message as an unknown one — there is no separate "malformed code" answer on the
//! wire. The column is `string(64)` (migration m20261124_000003); province-api.md, "Identifiers", gives
//! an `itemCode` 31 characters and a `bundleCode` up to 50.

use std::fmt;

/// The longest code the catalogue stores (`items.item_code`, `bundles.bundle_code`).
pub const MAX_CODE_CHARS: usize = 64;

/// A code that cannot name anything stored: empty after trimming, or over [`MAX_CODE_CHARS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidCode;

/// Trimmed, 1 to [`MAX_CODE_CHARS`] characters: the rule shared by item and bundle codes.
pub(crate) fn code(raw: &str) -> Result<String, InvalidCode> {
    let code = raw.trim();
    if code.is_empty() || code.chars().count() > MAX_CODE_CHARS {
        return Err(InvalidCode);
    }
    Ok(code.to_owned())
}

/// An item's code: trimmed, 1 to 64 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ItemCode(String);

impl ItemCode {
    /// # Errors
    /// Empty after trimming, or longer than 64 characters.
    pub fn parse(raw: &str) -> Result<Self, InvalidCode> {
        code(raw).map(Self)
    }

    /// A code read back from a row this service wrote (already parsed once when it came in).
    pub(crate) fn from_stored(code: &str) -> Self {
        Self(code.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for ItemCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_is_trimmed_once() {
        assert_eq!(
            ItemCode::parse("  11330100MB-001 ").unwrap().as_str(),
            "11330100MB-001"
        );
    }

    #[test]
    fn an_empty_or_blank_code_is_refused() {
        assert_eq!(ItemCode::parse(""), Err(InvalidCode));
        assert_eq!(ItemCode::parse(" \t "), Err(InvalidCode));
    }

    #[test]
    fn the_limit_counts_characters_not_bytes() {
        assert!(ItemCode::parse(&"a".repeat(64)).is_ok());
        assert_eq!(ItemCode::parse(&"a".repeat(65)), Err(InvalidCode));
        // 64 Chinese characters are 192 bytes and still fit the column.
        assert!(ItemCode::parse(&"事".repeat(64)).is_ok());
        assert_eq!(ItemCode::parse(&"事".repeat(65)), Err(InvalidCode));
    }
}
