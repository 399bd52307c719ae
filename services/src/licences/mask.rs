//! Masking a licence's personal fields: ID numbers as `520***********1234`, names as `张*`,
//! anything else sensitive down to its first and last characters.

use crate::identity::{IdCardNo, PersonName};

/// `520***********1234` for an ID number; other identifiers keep 3 leading and 4 trailing
/// characters.
pub fn id_number(plain: &str) -> String {
    IdCardNo::parse(plain).map_or_else(|_| generic(plain, 3, 4), |n| n.masked())
}

/// `张*`.
pub fn name(plain: &str) -> String {
    PersonName::parse(plain).map_or_else(|_| generic(plain, 1, 0), |n| n.masked())
}

/// A sensitive field by its key: ID-like keys as ID numbers, name-like keys as names, anything
/// else keeps one character at each end.
pub fn field(key: &str, plain: &str) -> String {
    let key = key.to_ascii_lowercase();
    if key.contains("name") {
        name(plain)
    } else if key.contains("id") || key.contains("no") || key.contains("cert") {
        id_number(plain)
    } else {
        generic(plain, 1, 1)
    }
}

fn generic(plain: &str, head: usize, tail: usize) -> String {
    let chars: Vec<char> = plain.chars().collect();
    if chars.len() <= head + tail {
        return "*".repeat(chars.len());
    }
    let mut out: String = chars[..head].iter().collect();
    out.extend(std::iter::repeat_n('*', chars.len() - head - tail));
    out.extend(&chars[chars.len() - tail..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_follow_the_domain_rules() {
        assert_eq!(id_number("52010219900101123X"), "520***********123X");
        assert_eq!(name("张三"), "张*");
        assert_eq!(field("idNo", "52010219900101123X"), "520***********123X");
        assert_eq!(field("holderName", "欧阳娜娜"), "欧***");
        assert_eq!(field("address", "贵阳市观山湖区"), "贵*****区");
        assert_eq!(generic("ab", 1, 1), "**");
    }
}
