//! The rules a subscribe message must follow (reference §4): the types a template key can have,
//! the values each type accepts, and the page a message may open.
//!
//! A key is its type followed by digits (`thing1`, `character_string12`). Lengths count
//! characters, not bytes, as WeChat does: twenty Chinese characters are a valid `thing`.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;

use super::wire::WxError;

/// The longest `page` WeChat accepts, in characters.
const PAGE_MAX_CHARS: usize = 1024;
/// The currency signs an `amount` may start with.
const CURRENCY_SIGNS: [char; 5] = ['¥', '￥', '$', '€', '£'];
/// The characters of a `phone_number` besides digits.
const PHONE_SYMBOLS: [char; 5] = ['+', '-', ' ', '(', ')'];

/// The type of a template key, named by the key's prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// ≤ 20 characters of anything.
    Thing,
    /// ≤ 32 characters: digits, at most one decimal point, an optional leading minus.
    Number,
    /// ≤ 32 ASCII letters.
    Letter,
    /// ≤ 5 symbols (neither letters, digits nor spaces).
    Symbol,
    /// ≤ 32 printable ASCII characters (digits, letters, symbols).
    CharacterString,
    /// A 24-hour time, optionally after a date; a range joins two with `~`.
    Time,
    /// A date, optionally followed by a time; a range joins two with `~`.
    Date,
    /// An optional currency sign, ≤ 10 digits, optional decimals, an optional trailing `元`.
    Amount,
    /// ≤ 17 digits and `+`, `-`, space, parentheses.
    PhoneNumber,
    /// ≤ 8 characters.
    CarNumber,
    /// ≤ 10 Chinese characters, or ≤ 20 ASCII letters and spaces; not both.
    Name,
    /// ≤ 5 Chinese characters.
    Phrase,
}

impl Kind {
    /// The type of `key`: its prefix must be a known type and be followed by at least one digit.
    pub(crate) fn of_key(key: &str) -> Option<Self> {
        let prefix = key.trim_end_matches(|c: char| c.is_ascii_digit());
        if prefix.len() == key.len() {
            return None;
        }
        Some(match prefix {
            "thing" => Self::Thing,
            "number" => Self::Number,
            "letter" => Self::Letter,
            "symbol" => Self::Symbol,
            "character_string" => Self::CharacterString,
            "time" => Self::Time,
            "date" => Self::Date,
            "amount" => Self::Amount,
            "phone_number" => Self::PhoneNumber,
            "car_number" => Self::CarNumber,
            "name" => Self::Name,
            "phrase" => Self::Phrase,
            _ => return None,
        })
    }

    /// Whether WeChat takes `value` for a key of this type. An empty or all-blank value is
    /// refused for every type.
    pub(crate) fn accepts(self, value: &str) -> bool {
        if value.trim().is_empty() {
            return false;
        }
        let chars = value.chars().count();
        match self {
            Self::Thing => chars <= 20,
            Self::Number => chars <= 32 && is_number(value),
            Self::Letter => chars <= 32 && value.chars().all(|c| c.is_ascii_alphabetic()),
            Self::Symbol => {
                chars <= 5
                    && value
                        .chars()
                        .all(|c| !c.is_alphanumeric() && !c.is_whitespace())
            }
            Self::CharacterString => chars <= 32 && value.chars().all(|c| matches!(c, ' '..='~')),
            Self::Time => is_time_value(value),
            Self::Date => is_date_value(value),
            Self::Amount => is_amount(value),
            Self::PhoneNumber => {
                chars <= 17
                    && value.chars().any(|c| c.is_ascii_digit())
                    && value
                        .chars()
                        .all(|c| c.is_ascii_digit() || PHONE_SYMBOLS.contains(&c))
            }
            Self::CarNumber => chars <= 8,
            Self::Name => is_name(value, chars),
            Self::Phrase => chars <= 5 && value.chars().all(is_chinese),
        }
    }
}

/// Every key must have a known type (`thing1`, `time2`, …); the error names the first that
/// does not.
pub(crate) fn check_keys<S: AsRef<str>>(keys: &[S]) -> Result<(), String> {
    match keys.iter().find(|key| Kind::of_key(key.as_ref()).is_none()) {
        Some(key) => Err(format!(
            "template key {:?} is not a type followed by digits (thing1, time2, character_string3, …)",
            key.as_ref()
        )),
        None => Ok(()),
    }
}

/// Checks a message's `data` against its template's `keys` and returns key → value.
///
/// `data` maps each key to its text, `None` when the entry was not `{"value": "<text>"}`. A key
/// the template does not have (or of no known type) is 47003 `data.<key>`; a value its type
/// refuses, or a template key left out, is 47003 `data.<key>.value`.
pub(crate) fn check_data(
    keys: &BTreeSet<String>,
    data: BTreeMap<String, Option<String>>,
) -> Result<BTreeMap<String, String>, WxError> {
    let mut accepted = BTreeMap::new();
    for (key, value) in data {
        let Some(kind) = Kind::of_key(&key).filter(|_| keys.contains(&key)) else {
            return Err(WxError::ArgumentInvalid(format!("data.{key}")));
        };
        match value {
            Some(value) if kind.accepts(&value) => {
                accepted.insert(key, value);
            }
            _ => return Err(WxError::ArgumentInvalid(format!("data.{key}.value"))),
        }
    }
    match keys.iter().find(|key| !accepted.contains_key(*key)) {
        Some(missing) => Err(WxError::ArgumentInvalid(format!("data.{missing}.value"))),
        None => Ok(accepted),
    }
}

/// `^[A-Za-z0-9_/\-]+(\?.*)?$`, at most 1024 characters.
pub(crate) fn is_valid_page(page: &str) -> bool {
    let (path, _query) = page.split_once('?').unwrap_or((page, ""));
    page.chars().count() <= PAGE_MAX_CHARS
        && !path.is_empty()
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '/' | '-'))
}

/// `-?\d+(\.\d+)?`
fn is_number(value: &str) -> bool {
    let unsigned = value.strip_prefix('-').unwrap_or(value);
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (unsigned, None),
    };
    all_digits(whole, 1, usize::MAX) && fraction.is_none_or(|f| all_digits(f, 1, usize::MAX))
}

/// `[sign]` `≤ 10 digits` `[.d or .dd]` `[元]`
fn is_amount(value: &str) -> bool {
    let value = value.strip_suffix('元').unwrap_or(value);
    let value = value
        .strip_prefix(|c: char| CURRENCY_SIGNS.contains(&c))
        .unwrap_or(value);
    match value.split_once('.') {
        Some((whole, cents)) => all_digits(whole, 1, 10) && all_digits(cents, 1, 2),
        None => all_digits(value, 1, 10),
    }
}

fn is_name(value: &str, chars: usize) -> bool {
    let chinese = chars <= 10 && value.chars().all(is_chinese);
    let latin = chars <= 20
        && value.chars().any(|c| c.is_ascii_alphabetic())
        && value.chars().all(|c| c.is_ascii_alphabetic() || c == ' ');
    chinese || latin
}

/// A CJK ideograph (the unified blocks, their extensions, the compatibility block, and 〇).
fn is_chinese(c: char) -> bool {
    matches!(c,
        '\u{4E00}'..='\u{9FFF}'
        | '\u{3400}'..='\u{4DBF}'
        | '\u{F900}'..='\u{FAFF}'
        | '\u{20000}'..='\u{2A6DF}'
        | '\u{2A700}'..='\u{2EBEF}'
        | '\u{30000}'..='\u{3134F}'
        | '\u{3007}')
}

fn all_digits(text: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit())
}

/// One side of a `time` or `date` value: what it has.
#[derive(Clone, Copy)]
struct Stamp {
    date: bool,
    time: bool,
}

/// Every side has a time: `09:00`, `2026年11月24日 09:00~09:30`, `09:00:00~2026-11-25 10:00`.
fn is_time_value(value: &str) -> bool {
    stamps(value).is_some_and(|stamps| stamps.iter().all(|s| s.time))
}

/// The first side has a date; a second side has a date, or is a time after a first side with
/// one: `2026-11-24`, `2026年11月24日 09:00~10:00`, `2026/11/24~2026/11/30`.
fn is_date_value(value: &str) -> bool {
    match stamps(value).as_deref() {
        Some([only]) => only.date,
        Some([from, to]) => from.date && (to.date || (from.time && to.time)),
        _ => false,
    }
}

/// One or two stamps joined by `~` (spaces around it allowed).
fn stamps(value: &str) -> Option<Vec<Stamp>> {
    let sides: Vec<&str> = value.split('~').collect();
    if sides.len() > 2 {
        return None;
    }
    sides.into_iter().map(stamp).collect()
}

/// `date`, `time` or `date time` (the space may be left out after `日`).
fn stamp(side: &str) -> Option<Stamp> {
    let side = side.trim();
    match take_date(side) {
        Some(rest) if rest.trim_start().is_empty() => Some(Stamp {
            date: true,
            time: false,
        }),
        Some(rest) => take_time(rest.trim_start())
            .filter(|rest| rest.is_empty())
            .map(|_| Stamp {
                date: true,
                time: true,
            }),
        None => take_time(side)
            .filter(|rest| rest.is_empty())
            .map(|_| Stamp {
                date: false,
                time: true,
            }),
    }
}

/// `YYYY年M月D日`, `YYYY-MM-DD` or `YYYY/MM/DD` (month and day may have one digit), a real
/// calendar date. Returns what follows it; after the numeric forms that must be nothing or a
/// space.
fn take_date(text: &str) -> Option<&str> {
    let (year, rest) = take_number(text, 4, 4)?;
    let separator = rest.chars().next()?;
    let rest = &rest[separator.len_utf8()..];
    let (month, day, rest) = match separator {
        '年' => {
            let (month, rest) = take_number(rest, 1, 2)?;
            let rest = rest.strip_prefix('月')?;
            let (day, rest) = take_number(rest, 1, 2)?;
            (month, day, rest.strip_prefix('日')?)
        }
        '-' | '/' => {
            let (month, rest) = take_number(rest, 1, 2)?;
            let rest = rest.strip_prefix(separator)?;
            let (day, rest) = take_number(rest, 1, 2)?;
            if !(rest.is_empty() || rest.starts_with(' ')) {
                return None;
            }
            (month, day, rest)
        }
        _ => return None,
    };
    let year = i32::try_from(year).ok()?;
    NaiveDate::from_ymd_opt(year, month, day).map(|_| rest)
}

/// `H:MM`, `HH:MM` or `HH:MM:SS` on a 24-hour clock. Returns what follows it.
fn take_time(text: &str) -> Option<&str> {
    let (hour, rest) = take_number(text, 1, 2)?;
    let (minute, rest) = take_number(rest.strip_prefix(':')?, 2, 2)?;
    let rest = match rest.strip_prefix(':') {
        Some(seconds) => {
            let (second, rest) = take_number(seconds, 2, 2)?;
            (second <= 59).then_some(rest)?
        }
        None => rest,
    };
    (hour <= 23 && minute <= 59).then_some(rest)
}

/// `min..=max` leading ASCII digits, not followed by another digit.
fn take_number(text: &str, min: usize, max: usize) -> Option<(u32, &str)> {
    let len = text.bytes().take_while(u8::is_ascii_digit).count();
    if !(min..=max).contains(&len) {
        return None;
    }
    let (digits, rest) = text.split_at(len);
    Some((digits.parse().ok()?, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_a_known_type_followed_by_digits() {
        assert_eq!(Kind::of_key("thing1"), Some(Kind::Thing));
        assert_eq!(
            Kind::of_key("character_string12"),
            Some(Kind::CharacterString)
        );
        assert_eq!(Kind::of_key("phone_number3"), Some(Kind::PhoneNumber));
        assert_eq!(Kind::of_key("thing"), None);
        assert_eq!(Kind::of_key("foo1"), None);
        assert_eq!(Kind::of_key("1"), None);
        assert_eq!(Kind::of_key("Thing1"), None);
        assert!(check_keys(&["thing1", "time2"]).is_ok());
        assert!(check_keys(&["thing1", "bogus2"]).is_err());
    }

    #[test]
    fn times_and_dates() {
        for ok in [
            "09:00",
            "9:05",
            "23:59:59",
            "2026年11月24日 09:00",
            "2026年11月24日09:00",
            "2026-11-24 09:00:30",
            "2026/1/5 18:00",
            "09:00~09:30",
            "2026年11月24日 09:00~09:30",
            "2026-11-24 09:00 ~ 2026-11-25 10:00",
        ] {
            assert!(Kind::Time.accepts(ok), "time {ok:?}");
        }
        for bad in [
            "24:00",
            "09:60",
            "0900",
            "09:0",
            "2026-11-24",
            "2026-11-2409:00",
            "09:00~",
            "09:00~09:30~10:00",
            "2026年13月1日 09:00",
            "morning",
        ] {
            assert!(!Kind::Time.accepts(bad), "time {bad:?}");
        }
        for ok in [
            "2026年11月24日",
            "2026-11-24",
            "2024/02/29",
            "2026年11月24日 09:00",
            "2026年11月24日 09:00~10:00",
            "2026-11-24~2026-11-30",
        ] {
            assert!(Kind::Date.accepts(ok), "date {ok:?}");
        }
        for bad in [
            "2026-02-30",
            "2025/02/29",
            "2026-13-01",
            "26-11-24",
            "09:00",
            "2026-11-24~09:00",
            "2026年11月24",
            "2026.11.24",
        ] {
            assert!(!Kind::Date.accepts(bad), "date {bad:?}");
        }
    }

    #[test]
    fn amounts_numbers_and_phones() {
        for ok in [
            "100",
            "¥100",
            "￥12.50",
            "$0.5",
            "€1",
            "£3",
            "100元",
            "¥1234567890.99元",
        ] {
            assert!(Kind::Amount.accepts(ok), "amount {ok:?}");
        }
        for bad in ["", "¥", "12345678901", "1.234", "¥$1", "-1", "1,000", "元"] {
            assert!(!Kind::Amount.accepts(bad), "amount {bad:?}");
        }
        for ok in ["0", "-12", "3.14", "12345678901234567890123456789012"] {
            assert!(Kind::Number.accepts(ok), "number {ok:?}");
        }
        for bad in [
            "1.2.3",
            ".5",
            "5.",
            "1e5",
            "123456789012345678901234567890123",
        ] {
            assert!(!Kind::Number.accepts(bad), "number {bad:?}");
        }
        assert!(Kind::PhoneNumber.accepts("(010) 8888-6666"));
        assert!(Kind::PhoneNumber.accepts("+86 138-0013-8000"));
        assert!(!Kind::PhoneNumber.accepts("+86 (010) 8888-66660"));
        assert!(!Kind::PhoneNumber.accepts("tel 110"));
    }

    #[test]
    fn pages() {
        assert!(is_valid_page("pages/case/detail?id=1"));
        assert!(is_valid_page("pages/index/index"));
        assert!(is_valid_page("pages/a-b_c?x=中文&y=1"));
        assert!(!is_valid_page(""));
        assert!(!is_valid_page("?id=1"));
        assert!(!is_valid_page("pages/index.html"));
        assert!(!is_valid_page("pages/页面"));
        assert!(!is_valid_page(&"a".repeat(1025)));
        assert!(is_valid_page(&"a".repeat(1024)));
    }
}
