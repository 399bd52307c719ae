//! Searching the catalogue by a keyword in the item's name or department.

use crate::province::ItemType;

/// The longest keyword, in characters.
pub const MAX_KEYWORD_CHARS: usize = 50;
/// The last page one may ask for.
pub const MAX_PAGE: u64 = 1000;
/// The largest page.
pub const MAX_PAGE_SIZE: u64 = 50;

/// One line of a search result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemSummary {
    pub item_code: String,
    pub name: String,
    pub department: String,
    pub item_type: ItemType,
    /// Working days promised.
    pub promised_days: i32,
    /// 1–4; 4 is fully online.
    pub online_level: i32,
    pub bookable: bool,
}

/// A page of a search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemPage {
    pub items: Vec<ItemSummary>,
    /// Items matching, on every page.
    pub total: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// More than [`MAX_KEYWORD_CHARS`] characters after trimming.
    #[error("关键词不能超过{MAX_KEYWORD_CHARS}个字")]
    KeywordTooLong,
    /// A page outside 1–[`MAX_PAGE`].
    #[error("页码应在1至{MAX_PAGE}之间")]
    BadPage,
    /// A page size outside 1–[`MAX_PAGE_SIZE`].
    #[error("每页条数应在1至{MAX_PAGE_SIZE}之间")]
    BadPageSize,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// A keyword, trimmed, `None` when empty.
///
/// # Errors
/// [`SearchError::KeywordTooLong`].
pub(super) fn keyword(raw: Option<&str>) -> Result<Option<String>, SearchError> {
    let Some(keyword) = raw.map(str::trim).filter(|k| !k.is_empty()) else {
        return Ok(None);
    };
    if keyword.chars().count() > MAX_KEYWORD_CHARS {
        return Err(SearchError::KeywordTooLong);
    }
    Ok(Some(keyword.to_owned()))
}

/// `%keyword%` for `LIKE … ESCAPE '\'`: the keyword's own `%`, `_` and `\` match themselves.
pub(super) fn contains_pattern(keyword: &str) -> String {
    let mut pattern = String::with_capacity(keyword.len() + 2);
    pattern.push('%');
    for c in keyword.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_in_a_keyword_match_themselves() {
        assert_eq!(contains_pattern("身份证"), "%身份证%");
        assert_eq!(contains_pattern("100%_a\\b"), "%100\\%\\_a\\\\b%");
    }

    #[test]
    fn keywords_are_trimmed_and_bounded() {
        assert_eq!(keyword(Some("  社保 ")).unwrap().as_deref(), Some("社保"));
        assert_eq!(keyword(Some("   ")).unwrap(), None);
        assert_eq!(keyword(None).unwrap(), None);
        assert!(keyword(Some(&"字".repeat(50))).is_ok());
        assert!(matches!(
            keyword(Some(&"字".repeat(51))),
            Err(SearchError::KeywordTooLong)
        ));
    }
}
