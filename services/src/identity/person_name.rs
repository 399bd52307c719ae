//! A citizen's real name, as on their identity document.
//!
//! Names are letters of any script (Chinese characters included), the middle dot `·` that joins the
//! parts of minority and foreign names (`阿依古丽·买买提`), and single spaces between Latin-script
//! words (`Zhang San`). The look-alike dots that input methods produce (`•`, `・`) become `·`, so
//! one person's name has one spelling. A name is personal information: `Debug` prints it masked.

use std::fmt;

/// The longest name we accept, in characters.
const MAX_CHARS: usize = 30;

/// The middle dot (U+00B7) used in transliterated names.
const MIDDLE_DOT: char = '·';

/// A checked real name: 1–30 characters, trimmed, with normalised separators.
#[derive(Clone, PartialEq, Eq)]
pub struct PersonName(String);

/// Why a string is not a real name. The messages are meant for the citizen who typed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PersonNameError {
    #[error("请填写姓名")]
    Empty,
    #[error("姓名不能超过30个字")]
    TooLong,
    #[error("姓名只能包含文字、间隔号“·”或英文名之间的空格")]
    Characters,
    #[error("间隔号“·”或空格不能位于姓名开头或结尾，也不能连续出现")]
    Separator,
}

impl PersonName {
    /// Parses a name as a citizen typed it, NFKC-normalised as every name is ([`crate::text`]:
    /// full-width letters become plain ones, format and filler characters are refused).
    /// Surrounding whitespace is ignored; `•` (U+2022) and `・` (U+30FB) become `·` (U+00B7), and
    /// an ideographic space (U+3000) becomes a plain space.
    ///
    /// # Errors
    /// [`PersonNameError::Empty`] when nothing is left after trimming; [`PersonNameError::TooLong`]
    /// past 30 characters; [`PersonNameError::Characters`] for digits, punctuation, symbols, control
    /// characters or a space inside a Chinese (non-Latin-script) name; [`PersonNameError::Separator`]
    /// for a dot at either end, or two separators in a row.
    pub fn parse(input: &str) -> Result<Self, PersonNameError> {
        // The shared rule first: NFKC (full-width letters, the ideographic space), and nothing
        // invisible — the Hangul fillers are letters to Unicode and would pass the test below.
        let input = crate::text::nfkc_visible(input).map_err(|_| PersonNameError::Characters)?;
        let chars: Vec<char> = input
            .trim()
            .chars()
            .map(|c| match c {
                '\u{2022}' | '\u{30FB}' => MIDDLE_DOT,
                '\u{3000}' => ' ',
                other => other,
            })
            .collect();
        if chars.is_empty() {
            return Err(PersonNameError::Empty);
        }
        if chars.len() > MAX_CHARS {
            return Err(PersonNameError::TooLong);
        }
        if chars
            .iter()
            .any(|c| !(c.is_alphabetic() || *c == MIDDLE_DOT || *c == ' '))
        {
            return Err(PersonNameError::Characters);
        }
        let is_separator = |c: char| c == MIDDLE_DOT || c == ' ';
        if chars.first().is_some_and(|c| is_separator(*c))
            || chars.last().is_some_and(|c| is_separator(*c))
            || chars
                .windows(2)
                .any(|pair| is_separator(pair[0]) && is_separator(pair[1]))
        {
            return Err(PersonNameError::Separator);
        }
        // Separators are now single and inner, so each space has a letter on either side.
        let space_between_non_latin = chars
            .windows(3)
            .any(|w| w[1] == ' ' && (!is_spaced_script(w[0]) || !is_spaced_script(w[2])));
        if space_between_non_latin {
            return Err(PersonNameError::Characters);
        }
        Ok(Self(chars.into_iter().collect()))
    }

    /// The full name, for the field cipher and for documents the citizen asked for.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name as it may be shown to others: its first character, then one `*` per remaining
    /// character (`张三` → `张*`, `欧阳娜娜` → `欧***`).
    pub fn masked(&self) -> String {
        let mut chars = self.0.chars();
        let first = chars.next().map(String::from).unwrap_or_default();
        let rest = chars.count();
        format!("{first}{}", "*".repeat(rest))
    }
}

impl fmt::Debug for PersonName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PersonName").field(&self.masked()).finish()
    }
}

/// Letters of the scripts that separate words with spaces (Latin, Greek, Cyrillic …): everything
/// alphabetic below the CJK blocks, which start at U+2E80.
fn is_spaced_script(c: char) -> bool {
    c.is_alphabetic() && u32::from(c) < 0x2E80
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn chinese_names_are_accepted() {
        for name in ["张三", "欧阳娜娜", "李", "王小明"] {
            assert_eq!(PersonName::parse(name).unwrap().as_str(), name);
        }
    }

    #[test]
    fn minority_and_foreign_names_with_a_middle_dot_are_accepted() {
        let name = PersonName::parse("阿依古丽·买买提").unwrap();
        assert_eq!(name.as_str(), "阿依古丽·买买提");
    }

    #[test]
    fn look_alike_dots_are_normalised_to_the_middle_dot() {
        for input in ["阿依古丽•买买提", "阿依古丽・买买提"] {
            assert_eq!(
                PersonName::parse(input).unwrap(),
                PersonName::parse("阿依古丽·买买提").unwrap()
            );
        }
    }

    #[test]
    fn latin_names_with_single_inner_spaces_are_accepted() {
        assert_eq!(
            PersonName::parse("  John Smith ").unwrap().as_str(),
            "John Smith"
        );
        assert_eq!(
            PersonName::parse("José María Núñez").unwrap().as_str(),
            "José María Núñez"
        );
        assert_eq!(
            PersonName::parse("Zhang\u{3000}San").unwrap().as_str(),
            "Zhang San"
        );
    }

    #[test]
    fn empty_and_blank_names_are_refused() {
        for input in ["", "   ", "\u{3000}"] {
            assert_eq!(PersonName::parse(input), Err(PersonNameError::Empty));
        }
    }

    #[test]
    fn thirty_characters_are_accepted_and_thirty_one_refused() {
        let thirty = "张".repeat(30);
        assert!(PersonName::parse(&thirty).is_ok());
        assert_eq!(
            PersonName::parse(&"张".repeat(31)),
            Err(PersonNameError::TooLong)
        );
    }

    #[test]
    fn digits_punctuation_and_control_characters_are_refused() {
        for input in [
            "张三1",
            "张三!",
            "张.三",
            "张-三",
            "O'Brien",
            "张\t三",
            "张\u{0}三",
            "张三😀",
            "张，三",
        ] {
            assert_eq!(
                PersonName::parse(input),
                Err(PersonNameError::Characters),
                "{input:?}"
            );
        }
    }

    #[test]
    fn full_width_letters_are_normalised_and_invisible_characters_refused() {
        assert_eq!(
            PersonName::parse("Ｊｏｈｎ　Ｓｍｉｔｈ").unwrap().as_str(),
            "John Smith"
        );
        for input in [
            "张\u{202E}三",
            "张\u{200B}三",
            "\u{115F}",
            "张\u{1160}",
            "\u{3164}",
            "张\u{FFA0}三",
            "\u{FEFF}张三",
        ] {
            assert_eq!(
                PersonName::parse(input),
                Err(PersonNameError::Characters),
                "{input:?}"
            );
        }
    }

    #[test]
    fn a_space_inside_a_chinese_name_is_refused() {
        assert_eq!(PersonName::parse("张 三"), Err(PersonNameError::Characters));
        assert_eq!(
            PersonName::parse("John 张"),
            Err(PersonNameError::Characters)
        );
    }

    #[test]
    fn misplaced_separators_are_refused() {
        for input in [
            "·张三",
            "张三·",
            "张··三",
            "John  Smith",
            "John· Smith",
            "•张三",
        ] {
            assert_eq!(
                PersonName::parse(input),
                Err(PersonNameError::Separator),
                "{input:?}"
            );
        }
    }

    #[test]
    fn masked_keeps_only_the_first_character() {
        assert_eq!(PersonName::parse("张三").unwrap().masked(), "张*");
        assert_eq!(PersonName::parse("欧阳娜娜").unwrap().masked(), "欧***");
        assert_eq!(PersonName::parse("李").unwrap().masked(), "李");
    }

    #[test]
    fn debug_prints_the_masked_name() {
        let debug = format!("{:?}", PersonName::parse("欧阳娜娜").unwrap());
        assert_eq!(debug, "PersonName(\"欧***\")");
    }

    proptest! {
        #[test]
        fn arbitrary_strings_never_panic(input in any::<String>()) {
            if let Ok(name) = PersonName::parse(&input) {
                let count = name.as_str().chars().count();
                prop_assert!((1..=MAX_CHARS).contains(&count));
                prop_assert_eq!(name.masked().chars().count(), count);
                prop_assert_eq!(PersonName::parse(name.as_str()), Ok(name.clone()));
            }
        }

        #[test]
        fn chinese_names_round_trip(name in "[\u{4e00}-\u{9fa5}]{1,15}(·[\u{4e00}-\u{9fa5}]{1,14})?") {
            let parsed = PersonName::parse(&name).unwrap();
            prop_assert_eq!(parsed.as_str(), name.as_str());
        }

        #[test]
        fn latin_names_round_trip(name in "[A-Za-z]{1,10}( [A-Za-z]{1,9}){0,2}") {
            let parsed = PersonName::parse(&name).unwrap();
            prop_assert_eq!(parsed.as_str(), name.as_str());
        }
    }
}
