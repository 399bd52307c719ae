//! Text people type that others will see or hear: hall, category, counter and staff names,
//! addresses, citizens' names. One rule for all of it, applied once at the edge.
//!
//! The decision: NFKC-normalise first (full-width `Ａ１` becomes `A1`, the ideographic space a
//! plain one, so one name has one spelling and the board reads what it shows), then refuse what
//! cannot be seen — control characters, every format character (Unicode category Cf: U+202E
//! that reverses the text after it, U+200B, U+FEFF …), line and paragraph separators,
//! private-use and unassigned code points, and the blank fillers that render as nothing
//! (Hangul U+115F, U+1160, U+3164, U+FFA0, Braille U+2800). Runs of white space become one
//! space; the ends are trimmed.

use unicode_normalization::UnicodeNormalization as _;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory as _};

/// A refused input: which field, and why (in Chinese).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InvalidInput {
    /// The wire name of the field, e.g. `rules.slotMinutes` or `days[2].breakStart`.
    pub field: String,
    pub reason: String,
}

impl InvalidInput {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Why text was refused by [`normalise`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unreadable {
    #[error("不能包含控制字符、格式字符或不可见的填充字符")]
    Invisible,
}

/// Blank characters that are letters to Unicode (so no category test catches them) but show
/// nothing: the Hangul fillers and the blank Braille pattern.
const FILLERS: [char; 5] = ['\u{115F}', '\u{1160}', '\u{3164}', '\u{FFA0}', '\u{2800}'];

/// Whether `c` may stand in a name.
fn visible(c: char) -> bool {
    if FILLERS.contains(&c) {
        return false;
    }
    !matches!(
        c.general_category(),
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
            | GeneralCategory::PrivateUse
            | GeneralCategory::Surrogate
            | GeneralCategory::Unassigned
    )
}

/// NFKC, refused if anything invisible is left; white space is kept as it is (after NFKC, which
/// makes most of it a plain space), for callers with rules of their own about spaces.
///
/// # Errors
/// As [`normalise`].
pub fn nfkc_visible(raw: &str) -> Result<String, Unreadable> {
    let out: String = raw.nfkc().collect();
    if out.chars().all(|c| is_space(c) || visible(c)) {
        Ok(out)
    } else {
        Err(Unreadable::Invisible)
    }
}

/// White space that is not a control character nor a line or paragraph separator.
fn is_space(c: char) -> bool {
    c.is_whitespace() && c != '\u{2028}' && c != '\u{2029}' && !c.is_control()
}

/// NFKC, every run of white space made one space, trimmed; refused if anything invisible is
/// left. The result may be empty: length rules are the caller's.
///
/// # Errors
/// [`Unreadable::Invisible`] for a control, format, separator, private-use or unassigned
/// character, or a blank filler.
pub fn normalise(raw: &str) -> Result<String, Unreadable> {
    let mut out = String::with_capacity(raw.len());
    let mut space = false;
    for c in raw.nfkc() {
        if is_space(c) {
            space = true;
            continue;
        }
        if !visible(c) {
            return Err(Unreadable::Invisible);
        }
        if space && !out.is_empty() {
            out.push(' ');
        }
        space = false;
        out.push(c);
    }
    Ok(out)
}

/// Normalised text of 1 to `max` characters: a name, an address (see the module's rule).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text(String);

impl Text {
    /// # Errors
    /// Empty once normalised, longer than `max` characters, or holding something invisible;
    /// the refusal names `field`.
    pub fn parse(field: &str, raw: &str, max: usize) -> Result<Self, InvalidInput> {
        let text = normalise(raw).map_err(|e| InvalidInput::new(field, e.to_string()))?;
        if text.is_empty() {
            return Err(InvalidInput::new(field, "不能为空"));
        }
        if text.chars().count() > max {
            return Err(InvalidInput::new(field, format!("不能超过{max}个字符")));
        }
        Ok(Self(text))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn full_width_and_compatibility_forms_become_one_spelling() {
        assert_eq!(normalise("Ａ１号窗口").unwrap(), "A1号窗口");
        assert_eq!(
            normalise("  市民中心\u{3000}\u{3000}B区 ").unwrap(),
            "市民中心 B区"
        );
        assert_eq!(normalise("ﾊﾟｽﾎﾟｰﾄ").unwrap(), "パスポート");
        assert_eq!(normalise("Ⅻ").unwrap(), "XII");
        assert_eq!(normalise("").unwrap(), "");
    }

    #[test]
    fn invisible_characters_are_refused() {
        for bad in [
            "1号\u{202E}口窗",
            "1号\u{200B}窗口",
            "\u{FEFF}窗口",
            "窗\u{00AD}口",
            "\u{115F}",
            "窗\u{1160}口",
            "\u{3164}",
            "窗口\u{FFA0}",
            "\u{2800}",
            "窗\u{2028}口",
            "窗\t口",
            "窗\u{0}口",
            "窗\u{E000}口",
            "窗\u{0378}口",
        ] {
            assert_eq!(normalise(bad), Err(Unreadable::Invisible), "{bad:?}");
        }
    }

    #[test]
    fn text_names_the_field_and_bounds_the_length() {
        assert_eq!(
            Text::parse("name", " １号窗口 ", 10).unwrap().as_str(),
            "1号窗口"
        );
        assert_eq!(
            Text::parse("name", "\u{3000}", 10).unwrap_err().field,
            "name"
        );
        assert!(Text::parse("name", &"名".repeat(11), 10).is_err());
        // NFKC may lengthen: the bound applies to what is stored.
        assert!(Text::parse("name", "㍿", 1).is_err());
        let refused = Text::parse("counters[0].name", "a\u{202E}b", 10).unwrap_err();
        assert_eq!(refused.field, "counters[0].name");
        assert!(refused.reason.contains("格式字符"), "{refused:?}");
    }

    proptest! {
        #[test]
        fn accepted_text_is_stable_and_visible(raw in any::<String>()) {
            if let Ok(text) = normalise(&raw) {
                prop_assert_eq!(normalise(&text), Ok(text.clone()));
                prop_assert!(text.chars().all(|c| c == ' ' || visible(c) && !c.is_whitespace()));
                prop_assert!(!text.starts_with(' ') && !text.ends_with(' ') && !text.contains("  "));
            }
        }

        #[test]
        fn chinese_names_pass_unchanged(name in "[\u{4e00}-\u{9fa5}]{1,20}") {
            prop_assert_eq!(normalise(&name), Ok(name.clone()));
        }
    }
}
