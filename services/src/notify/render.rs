//! Filling a kind's texts from its payload, and cutting each subscribe-message value to what
//! WeChat accepts for its type (the key's prefix: `thing1` is a `thing`). A value past its
//! limit would be refused whole (47003); a shortened one still tells the citizen what happened.
//!
//! Timestamps in a payload (RFC 3339) are shown in Asia/Shanghai; in `time` and `date` fields
//! as `2026年11月24日 09:00`, elsewhere as `11月24日 09:00`.

use chrono::{DateTime, NaiveDate};
use serde_json::Value;

/// The type of a subscribe-message field, from its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Thing,
    Number,
    Letter,
    Symbol,
    CharacterString,
    Time,
    Date,
    Amount,
    PhoneNumber,
    CarNumber,
    Name,
    Phrase,
}

impl FieldType {
    /// `thing1` → `Thing`; `None` for an unknown prefix or a key without its number.
    pub fn of_key(key: &str) -> Option<FieldType> {
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
}

fn is_cjk(c: char) -> bool {
    matches!(c, '\u{4e00}'..='\u{9fff}' | '\u{3400}'..='\u{4dbf}')
}

fn is_symbol(c: char) -> bool {
    c.is_ascii_punctuation()
}

fn take(s: impl Iterator<Item = char>, n: usize) -> String {
    s.take(n).collect()
}

/// Cuts to `max` characters, marking the cut with an ellipsis.
fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out = take(s.chars(), max - 1);
    out.push('…');
    out
}

/// Makes `value` acceptable for a field of type `ty`; a time or date that is not one becomes
/// `now`, the moment the notification is made.
pub fn fit(ty: FieldType, value: &str, now: chrono::DateTime<chrono::Utc>) -> String {
    let value = value.trim();
    let out = match ty {
        FieldType::Thing => shorten(value, 20),
        FieldType::Number => {
            let negative = value.starts_with('-');
            let mut seen_dot = false;
            let digits: String = take(
                value.chars().filter(|&c| {
                    if c == '.' && !seen_dot {
                        seen_dot = true;
                        return true;
                    }
                    c.is_ascii_digit()
                }),
                if negative { 31 } else { 32 },
            );
            let digits = digits.trim_end_matches('.');
            let digits = if digits.starts_with('.') {
                format!("0{digits}")
            } else {
                digits.to_owned()
            };
            if negative && !digits.is_empty() {
                format!("-{digits}")
            } else {
                digits
            }
        }

        FieldType::Letter => take(value.chars().filter(char::is_ascii_alphabetic), 32),
        FieldType::Symbol => take(value.chars().filter(|&c| is_symbol(c)), 5),
        FieldType::CharacterString => take(value.chars().filter(|c| c.is_ascii_graphic()), 32),
        // Filled from timestamps by `fill`; anything else (a missing payload field) would be
        // refused by WeChat, so it becomes the moment the notification was made.
        FieldType::Time | FieldType::Date if looks_like_time(value) => value.to_owned(),
        FieldType::Time | FieldType::Date => now
            .with_timezone(&crate::time::SHANGHAI)
            .format("%Y年%-m月%-d日 %H:%M")
            .to_string(),
        FieldType::Amount => {
            let sign = value.chars().next().filter(|c| "¥￥$€£".contains(*c));
            let digits: String = take(
                value.chars().filter(|c| c.is_ascii_digit() || *c == '.'),
                13,
            );
            let (whole, frac) = digits.split_once('.').unwrap_or((&digits, ""));
            let whole = take(whole.chars(), 10);
            let frac = take(frac.chars().filter(char::is_ascii_digit), 2);
            let mut out = sign.map(String::from).unwrap_or_default();
            out.push_str(if whole.is_empty() { "0" } else { &whole });
            if !frac.is_empty() {
                out.push('.');
                out.push_str(&frac);
            }
            if value.ends_with('元') {
                out.push('元');
            }
            out
        }
        FieldType::PhoneNumber => {
            let kept: String = value
                .chars()
                .filter(|c| c.is_ascii_digit() || "+-() ".contains(*c))
                .collect();
            let collapsed = kept.split_whitespace().collect::<Vec<_>>().join(" ");
            take(collapsed.chars(), 17).trim_end().to_owned()
        }
        FieldType::CarNumber => take(value.chars().filter(|c| !c.is_whitespace()), 8),
        FieldType::Name => {
            if value.chars().any(is_cjk) {
                take(value.chars().filter(|&c| is_cjk(c)), 10)
            } else {
                take(
                    value
                        .chars()
                        .filter(|c| c.is_ascii_alphabetic() || *c == ' '),
                    20,
                )
                .trim()
                .to_owned()
            }
        }
        FieldType::Phrase => take(value.chars().filter(|&c| is_cjk(c)), 5),
    };
    if out.is_empty() { placeholder(ty) } else { out }
}

/// A date, a time, or a range of them as `fill` writes them.
fn looks_like_time(value: &str) -> bool {
    value.split('~').all(|part| {
        let part = part.trim();
        !part.is_empty()
            && part.chars().any(|c| c.is_ascii_digit())
            && part
                .chars()
                .all(|c| c.is_ascii_digit() || " :-/年月日".contains(c))
    })
}

/// What to send when nothing of a value survives: WeChat refuses empty values.
fn placeholder(ty: FieldType) -> String {
    match ty {
        FieldType::Number | FieldType::Amount => "0".into(),
        FieldType::Letter | FieldType::CharacterString | FieldType::Name => "-".into(),
        FieldType::Symbol => "-".into(),
        FieldType::Phrase => "无".into(),
        _ => "-".into(),
    }
}

/// A payload value as text for a field: timestamps formatted in Asia/Shanghai.
fn show(value: &Value, long_dates: bool) -> String {
    match value {
        Value::String(s) => {
            if let Ok(at) = DateTime::parse_from_rfc3339(s) {
                let local = at.with_timezone(&crate::time::SHANGHAI);
                let format = if long_dates {
                    "%Y年%-m月%-d日 %H:%M"
                } else {
                    "%-m月%-d日 %H:%M"
                };
                local.format(format).to_string()
            } else if let Ok(day) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
                day.format(if long_dates {
                    "%Y年%-m月%-d日"
                } else {
                    "%-m月%-d日"
                })
                .to_string()
            } else {
                s.clone()
            }
        }
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Fills `{name}` placeholders from `payload`. A missing name is left visible as `-` (and named
/// in the returned list) rather than failing: a notification is never lost to a template slip.
pub fn fill(template: &str, payload: &Value, long_dates: bool) -> (String, Vec<String>) {
    let mut out = String::with_capacity(template.len());
    let mut missing = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                let name = &after[..close];
                match payload.get(name) {
                    Some(v) => out.push_str(&show(v, long_dates)),
                    None => {
                        out.push('-');
                        missing.push(name.to_owned());
                    }
                }
                rest = &after[close + 1..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    (out, missing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn fit_now(ty: FieldType, value: &str) -> String {
        fit(ty, value, crate::time::Clock::system().now())
    }

    #[test]
    fn keys_name_their_types() {
        assert_eq!(FieldType::of_key("thing1"), Some(FieldType::Thing));
        assert_eq!(
            FieldType::of_key("character_string12"),
            Some(FieldType::CharacterString)
        );
        assert_eq!(
            FieldType::of_key("phone_number3"),
            Some(FieldType::PhoneNumber)
        );
        assert_eq!(FieldType::of_key("thing"), None);
        assert_eq!(FieldType::of_key("color1"), None);
    }

    #[test]
    fn a_long_chinese_item_name_is_shortened_not_refused() {
        let name = "不动产登记（国有建设用地使用权及房屋所有权首次登记）申请";
        let out = fit_now(FieldType::Thing, name);
        assert_eq!(out.chars().count(), 20);
        assert!(out.ends_with('…'));
        assert!(out.starts_with("不动产登记"));
        assert_eq!(
            fit_now(FieldType::Thing, "居民身份证换领"),
            "居民身份证换领"
        );
    }

    #[test]
    fn each_type_is_cut_to_its_limit() {
        assert_eq!(fit_now(FieldType::Number, "第12.5.6号").as_str(), "12.56");
        assert_eq!(fit_now(FieldType::Number, "-3"), "-3");
        assert_eq!(fit_now(FieldType::Number, ".5"), "0.5");
        assert_eq!(
            fit_now(FieldType::Time, "2026年11月24日 09:00~09:30"),
            "2026年11月24日 09:00~09:30"
        );
        assert!(
            fit_now(FieldType::Time, "-").contains('年'),
            "a missing time becomes now"
        );
        assert!(fit_now(FieldType::Date, "明天").contains('年'));
        assert_eq!(fit_now(FieldType::Number, &"9".repeat(40)).len(), 32);
        assert_eq!(fit_now(FieldType::Letter, "ab1c"), "abc");
        assert_eq!(fit_now(FieldType::Symbol, "a-+*/%$"), "-+*/%");
        assert_eq!(fit_now(FieldType::CharacterString, "A001 号"), "A001");
        assert_eq!(
            fit_now(FieldType::CharacterString, &"x".repeat(40)).len(),
            32
        );
        assert_eq!(fit_now(FieldType::Amount, "¥12.345元"), "¥12.34元");
        assert_eq!(fit_now(FieldType::Amount, "免费"), "0");
        assert_eq!(
            fit_now(FieldType::PhoneNumber, "电话 0851-8888 8888 转 123456"),
            "0851-8888 8888 12"
        );
        assert_eq!(fit_now(FieldType::CarNumber, "贵A 12345 6"), "贵A123456");
        assert_eq!(fit_now(FieldType::Name, "张*"), "张");
        assert_eq!(
            fit_now(FieldType::Name, "阿依古丽·买买提·艾合买提江"),
            "阿依古丽买买提艾合买"
        );
        assert_eq!(
            fit_now(FieldType::Name, "John Smith-Jones 3rd"),
            "John SmithJones rd"
        );
        assert_eq!(fit_now(FieldType::Phrase, "已受理（待审核）"), "已受理待审");
        assert_eq!(fit_now(FieldType::Phrase, "ok"), "无");
    }

    #[test]
    fn timestamps_are_shown_in_shanghai_time() {
        let payload = json!({ "start": "2026-11-24T01:00:00Z", "end": "2026-11-24T01:30:00Z", "day": "2026-11-25" });
        let (time, missing) = fill("{start}~{end}", &payload, true);
        assert!(missing.is_empty());
        assert_eq!(time, "2026年11月24日 09:00~2026年11月24日 09:30");
        assert_eq!(fill("{day}", &payload, true).0, "2026年11月25日");
        assert_eq!(
            fill("请于{start}前往", &payload, false).0,
            "请于11月24日 09:00前往"
        );
        // Across midnight in Shanghai: 16:30 UTC is 00:30 the next day.
        assert_eq!(
            fill("{t}", &json!({ "t": "2026-12-31T16:30:00Z" }), true).0,
            "2027年1月1日 00:30"
        );
    }

    #[test]
    fn placeholders_fill_from_the_payload_and_missing_ones_are_named() {
        let (out, missing) = fill(
            "您的{item}已受理，编号{no}，{absent}",
            &json!({ "item": "户口迁移", "no": 42 }),
            false,
        );
        assert_eq!(out, "您的户口迁移已受理，编号42，-");
        assert_eq!(missing, vec!["absent".to_owned()]);
        assert_eq!(
            fill("no braces {open", &json!({}), false).0,
            "no braces {open"
        );
    }

    proptest! {
        #[test]
        fn a_fitted_thing_is_never_longer_than_twenty_and_never_empty(s in "\\PC{0,60}") {
            let out = fit_now(FieldType::Thing, &s);
            prop_assert!(out.chars().count() <= 20);
            prop_assert!(!out.is_empty());
        }

        #[test]
        fn a_fitted_character_string_is_ascii_and_short(s in "\\PC{0,60}") {
            let out = fit_now(FieldType::CharacterString, &s);
            prop_assert!(out.chars().count() <= 32);
            prop_assert!(out.chars().all(|c| c.is_ascii_graphic()));
        }

        #[test]
        fn a_fitted_phrase_is_at_most_five_chinese_characters(s in "\\PC{0,30}") {
            let out = fit_now(FieldType::Phrase, &s);
            prop_assert!(out.chars().count() <= 5);
            prop_assert!(out.chars().all(is_cjk));
        }
    }
}
