//! A mainland China mobile number.
//!
//! Stored and compared as the bare 11 digits (`13800138000`): a `+86`/`86` country prefix is
//! stripped on the way in, so one phone has one spelling and its blind index is stable. A phone
//! number is personal information: `Debug` prints it masked.

use std::fmt;

/// A checked mainland mobile number: 11 digits, `1` then `3`–`9`, then 9 digits.
#[derive(Clone, PartialEq, Eq)]
pub struct PhoneNumber(String);

/// Why a string is not a mainland mobile number. The messages are meant for the citizen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PhoneNumberError {
    #[error("请填写手机号码")]
    Empty,
    #[error("手机号码只能包含数字")]
    Characters,
    #[error("手机号码应为11位数字")]
    Length,
    #[error("请填写中国大陆手机号码（以13至19开头）")]
    NotMobile,
}

impl PhoneNumber {
    /// Parses a mobile number as a citizen typed it: surrounding whitespace is ignored, and a
    /// leading `+86` or `86`, optionally followed by a space or a dash, is stripped.
    ///
    /// # Errors
    /// [`PhoneNumberError::Empty`] when nothing is left after trimming;
    /// [`PhoneNumberError::Characters`] for anything but digits after the prefix;
    /// [`PhoneNumberError::Length`] unless exactly 11 digits remain;
    /// [`PhoneNumberError::NotMobile`] unless they start with `13`–`19`.
    pub fn parse(input: &str) -> Result<Self, PhoneNumberError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(PhoneNumberError::Empty);
        }
        let number = strip_country_code(trimmed);
        if !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PhoneNumberError::Characters);
        }
        if number.len() != 11 {
            return Err(PhoneNumberError::Length);
        }
        if !matches!(number.as_bytes(), [b'1', b'3'..=b'9', ..]) {
            return Err(PhoneNumberError::NotMobile);
        }
        Ok(Self(number.to_owned()))
    }

    /// The 11 digits. For the field cipher, the blind index and the SMS/WeChat APIs only.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number as it may be shown: `138****8000`.
    pub fn masked(&self) -> String {
        let head = self.0.get(..3).unwrap_or_default();
        let tail = self.0.get(7..).unwrap_or_default();
        format!("{head}****{tail}")
    }
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PhoneNumber").field(&self.masked()).finish()
    }
}

/// Strips `+86` or `86` and one optional space or dash after it. A mainland mobile number starts
/// with `1`, so an input starting with `86` is never a bare number.
fn strip_country_code(input: &str) -> &str {
    let Some(rest) = input
        .strip_prefix("+86")
        .or_else(|| input.strip_prefix("86"))
    else {
        return input;
    };
    rest.strip_prefix([' ', '-']).unwrap_or(rest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_bare_mobile_number_is_accepted() {
        assert_eq!(
            PhoneNumber::parse(" 13800138000 ").unwrap().as_str(),
            "13800138000"
        );
    }

    #[test]
    fn a_country_code_prefix_is_stripped() {
        for input in [
            "+8613800138000",
            "+86 13800138000",
            "+86-13800138000",
            "8613800138000",
            "86 13800138000",
            "86-13800138000",
        ] {
            assert_eq!(
                PhoneNumber::parse(input).unwrap().as_str(),
                "13800138000",
                "{input}"
            );
        }
    }

    #[test]
    fn non_digits_are_refused() {
        for input in [
            "138-0013-8000",
            "1380013800a",
            "+86  13800138000",
            "+1 13800138000",
            "１３８００１３８０００",
        ] {
            assert_eq!(
                PhoneNumber::parse(input),
                Err(PhoneNumberError::Characters),
                "{input}"
            );
        }
    }

    #[test]
    fn wrong_lengths_are_refused() {
        for input in ["1380013800", "138001380001", "+861380013800"] {
            assert_eq!(
                PhoneNumber::parse(input),
                Err(PhoneNumberError::Length),
                "{input}"
            );
        }
    }

    #[test]
    fn numbers_that_are_not_mobile_are_refused() {
        for input in ["12800138000", "10086100860", "02012345678", "23800138000"] {
            assert_eq!(
                PhoneNumber::parse(input),
                Err(PhoneNumberError::NotMobile),
                "{input}"
            );
        }
    }

    #[test]
    fn empty_input_is_refused() {
        assert_eq!(PhoneNumber::parse("  "), Err(PhoneNumberError::Empty));
    }

    #[test]
    fn masked_hides_the_middle_four_digits() {
        let phone = PhoneNumber::parse("13800138000").unwrap();
        assert_eq!(phone.masked(), "138****8000");
        assert_eq!(format!("{phone:?}"), "PhoneNumber(\"138****8000\")");
    }

    proptest! {
        #[test]
        fn every_mainland_mobile_number_round_trips(
            number in "1[3-9][0-9]{9}",
            prefix in proptest::sample::select(vec!["", "+86", "+86 ", "86-", " 86 "]),
        ) {
            let phone = PhoneNumber::parse(&format!("{prefix}{number}")).unwrap();
            prop_assert_eq!(phone.as_str(), number.as_str());
            prop_assert_eq!(PhoneNumber::parse(phone.as_str()), Ok(phone.clone()));
        }

        #[test]
        fn arbitrary_strings_never_panic(input in any::<String>()) {
            if let Ok(phone) = PhoneNumber::parse(&input) {
                prop_assert_eq!(phone.as_str().len(), 11);
                prop_assert_eq!(phone.masked().len(), 11);
            }
        }
    }
}
