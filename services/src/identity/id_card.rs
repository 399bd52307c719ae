//! The resident identity card number (居民身份号码, GB 11643-1999).
//!
//! An [`IdCardNo`] can only be built by [`IdCardNo::parse`], which checks everything the number
//! itself can tell us: its shape, its province, its birth date and its MOD 11-2 check digit. The
//! number is sensitive personal information, so the type has no `Display` and no `Serialize`, and
//! its `Debug` prints the masked form: the full number leaves only through [`IdCardNo::as_str`],
//! which is meant for the field cipher and the blind index.

use std::fmt;

use chrono::NaiveDate;

/// Province-level codes (the first two digits) that GB/T 2260 assigns, plus 71 (Taiwan) and
/// 81/82/83 (Hong Kong, Macao and Taiwan residence permits, which use the same format).
const PROVINCES: &[u8] = &[
    11, 12, 13, 14, 15, // North
    21, 22, 23, // North-east
    31, 32, 33, 34, 35, 36, 37, // East
    41, 42, 43, 44, 45, 46, // Centre and south
    50, 51, 52, 53, 54, // South-west
    61, 62, 63, 64, 65, // North-west
    71, 81, 82, 83, // Taiwan; Hong Kong, Macao and Taiwan residence permits
];

/// Weights of the first 17 digits in the MOD 11-2 check (2^(17-i) mod 11).
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];

/// The check character for each remainder of the weighted sum modulo 11.
const CHECK_CHARS: [u8; 11] = *b"10X98765432";

/// The earliest birth date we accept.
const EARLIEST_BIRTH: (i32, u32, u32) = (1900, 1, 1);

/// A checked 18-character resident ID number; the last character is a digit or an upper-case `X`.
#[derive(Clone, PartialEq, Eq)]
pub struct IdCardNo {
    value: String,
    birth_date: NaiveDate,
}

/// Why a string is not a resident ID number. The messages are meant for the citizen who typed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdCardNoError {
    #[error("身份证号码应为18位")]
    Length,
    #[error("身份证号码前17位应为数字，最后一位应为数字或字母X")]
    Characters,
    #[error("身份证号码的地区代码不正确，请检查前两位")]
    Region,
    #[error("身份证号码中的出生日期不正确，请检查第7至14位")]
    BirthDate,
    #[error("身份证号码校验位不正确，请检查是否输错")]
    CheckDigit,
}

impl IdCardNo {
    /// Parses a resident ID number as a citizen typed it: surrounding whitespace is ignored and a
    /// lower-case `x` is accepted for the check character. A birth date is "in the future" relative
    /// to today's date in China (UTC+8) by the system clock: for reading a number already stored
    /// (masking it); a service checks a number typed now with [`IdCardNo::parse_as_of`] and its
    /// clock's today.
    ///
    /// # Errors
    /// [`IdCardNoError::Length`] unless it has 18 characters; [`IdCardNoError::Characters`] unless
    /// the first 17 are digits and the last a digit or `X`; [`IdCardNoError::Region`] when the first
    /// two digits are not a province code; [`IdCardNoError::BirthDate`] when characters 7–14 are not
    /// a real date between 1900-01-01 and today; [`IdCardNoError::CheckDigit`] when the MOD 11-2
    /// check character does not match (which catches any single mistyped digit).
    pub fn parse(input: &str) -> Result<Self, IdCardNoError> {
        Self::parse_as_of(input, crate::time::Clock::system().today())
    }

    /// [`IdCardNo::parse`] with "today" given, for tests and for checking a number as of a date.
    ///
    /// # Errors
    /// As [`IdCardNo::parse`].
    pub fn parse_as_of(input: &str, today: NaiveDate) -> Result<Self, IdCardNoError> {
        let trimmed = input.trim();
        if trimmed.chars().count() != 18 {
            return Err(IdCardNoError::Length);
        }
        // 18 characters; now they must all be ASCII, so bytes and characters coincide.
        let bytes = trimmed.as_bytes();
        if bytes.len() != 18 {
            return Err(IdCardNoError::Characters);
        }
        let (body, last) = bytes.split_at(17);
        let check = match last {
            [c @ b'0'..=b'9'] => *c,
            [b'x' | b'X'] => b'X',
            _ => return Err(IdCardNoError::Characters),
        };
        let mut digits = [0u8; 17];
        for (digit, byte) in digits.iter_mut().zip(body) {
            if !byte.is_ascii_digit() {
                return Err(IdCardNoError::Characters);
            }
            *digit = byte - b'0';
        }

        let province = digits[0] * 10 + digits[1];
        if !(1..=8).contains(&digits[0]) || !PROVINCES.contains(&province) {
            return Err(IdCardNoError::Region);
        }

        let birth_date = birth_date_of(&digits).ok_or(IdCardNoError::BirthDate)?;
        let (y, m, d) = EARLIEST_BIRTH;
        let earliest = NaiveDate::from_ymd_opt(y, m, d).ok_or(IdCardNoError::BirthDate)?;
        if birth_date < earliest || birth_date > today {
            return Err(IdCardNoError::BirthDate);
        }

        if check_char(&digits) != check {
            return Err(IdCardNoError::CheckDigit);
        }

        let mut value = String::with_capacity(18);
        value.extend(digits.iter().map(|d| char::from(b'0' + d)));
        value.push(char::from(check));
        Ok(Self { value, birth_date })
    }

    /// The full number. Only for the field cipher and the blind index: never log it, never show it.
    pub fn as_str(&self) -> &str {
        &self.value
    }

    /// The number as it may be shown: the first 3 and last 4 characters, e.g. `520***********123X`.
    pub fn masked(&self) -> String {
        let head = self.value.get(..3).unwrap_or_default();
        let tail = self.value.get(14..).unwrap_or_default();
        format!("{head}{}{tail}", "*".repeat(11))
    }

    /// The date of birth encoded in characters 7–14.
    pub fn birth_date(&self) -> NaiveDate {
        self.birth_date
    }
}

impl fmt::Debug for IdCardNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("IdCardNo").field(&self.masked()).finish()
    }
}

/// The calendar date in digits 7–14 (`YYYYMMDD`), if it is one.
fn birth_date_of(digits: &[u8; 17]) -> Option<NaiveDate> {
    let number = |range: std::ops::Range<usize>| {
        digits[range]
            .iter()
            .fold(0u32, |acc, d| acc * 10 + u32::from(*d))
    };
    let year = i32::try_from(number(6..10)).ok()?;
    NaiveDate::from_ymd_opt(year, number(10..12), number(12..14))
}

/// The MOD 11-2 check character (ISO 7064) of the first 17 digits.
fn check_char(digits: &[u8; 17]) -> u8 {
    let sum: u32 = digits
        .iter()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(*d) * w)
        .sum();
    CHECK_CHARS[(sum % 11) as usize]
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Datelike;
    use proptest::prelude::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn today() -> NaiveDate {
        date(2025, 6, 30)
    }

    /// Appends the right check character to 17 digits.
    fn with_check(first17: &str) -> String {
        let mut digits = [0u8; 17];
        for (d, b) in digits.iter_mut().zip(first17.bytes()) {
            *d = b - b'0';
        }
        format!("{first17}{}", char::from(check_char(&digits)))
    }

    #[test]
    fn the_classic_example_number_is_valid() {
        let id = IdCardNo::parse("11010519491231002X").unwrap();
        assert_eq!(id.as_str(), "11010519491231002X");
        assert_eq!(id.birth_date(), date(1949, 12, 31));
    }

    #[test]
    fn a_lower_case_x_and_surrounding_spaces_are_accepted_and_normalised() {
        let id = IdCardNo::parse("  11010519491231002x\n").unwrap();
        assert_eq!(id.as_str(), "11010519491231002X");
    }

    #[test]
    fn the_style_guide_example_number_is_valid() {
        let id = IdCardNo::parse("52010219900101123X").unwrap();
        assert_eq!(id.masked(), "520***********123X");
        assert_eq!(id.birth_date(), date(1990, 1, 1));
    }

    #[test]
    fn a_number_with_a_digit_check_character_is_valid() {
        let number = with_check("44030419851120401");
        assert_eq!(number, "440304198511204014");
        let id = IdCardNo::parse(&number).unwrap();
        assert_eq!(id.birth_date(), date(1985, 11, 20));
    }

    #[test]
    fn masked_keeps_the_first_three_and_last_four_characters() {
        let id = IdCardNo::parse("11010519491231002X").unwrap();
        assert_eq!(id.masked(), "110***********002X");
        assert_eq!(id.masked().chars().count(), 18);
    }

    #[test]
    fn debug_never_shows_the_full_number() {
        let id = IdCardNo::parse("11010519491231002X").unwrap();
        let debug = format!("{id:?}");
        assert!(!debug.contains("11010519491231002X"), "{debug}");
        assert!(debug.contains("110***********002X"), "{debug}");
        assert!(!format!("{:?}", Some(id)).contains("19491231"));
    }

    #[test]
    fn wrong_lengths_are_refused() {
        for input in [
            "",
            "1101051949123100",
            "11010519491231002X1",
            "110105194912310",
        ] {
            assert_eq!(
                IdCardNo::parse(input),
                Err(IdCardNoError::Length),
                "{input}"
            );
        }
    }

    #[test]
    fn non_digits_are_refused() {
        for input in [
            "1101051949123100XX",
            "11010519491231a02X",
            "11010519491231002Y",
            "１１０１０５１９４９１２３１００２X", // full-width digits
            "11010519491 31002X",
        ] {
            assert_eq!(
                IdCardNo::parse(input),
                Err(IdCardNoError::Characters),
                "{input}"
            );
        }
    }

    #[test]
    fn unknown_province_codes_are_refused() {
        for first17 in [
            "01010519491231002",
            "10010519491231002",
            "16010519491231002",
            "24010519491231002",
            "38010519491231002",
            "47010519491231002",
            "55010519491231002",
            "66010519491231002",
            "72010519491231002",
            "84010519491231002",
            "91010519491231002",
        ] {
            assert_eq!(
                IdCardNo::parse(&with_check(first17)),
                Err(IdCardNoError::Region),
                "{first17}"
            );
        }
    }

    #[test]
    fn hong_kong_macao_and_taiwan_codes_are_accepted() {
        for first17 in [
            "71000019800101001",
            "81000019800101001",
            "82000019800101001",
            "83000019800101001",
        ] {
            assert!(IdCardNo::parse(&with_check(first17)).is_ok(), "{first17}");
        }
    }

    #[test]
    fn impossible_or_out_of_range_birth_dates_are_refused() {
        for first17 in [
            "11010519490230002", // 30 February
            "11010520230229002", // 2023 is not a leap year
            "11010519491301002", // month 13
            "11010519490000002", // month 0
            "11010518991231002", // before 1900
            "11010520250701002", // after "today"
        ] {
            assert_eq!(
                IdCardNo::parse_as_of(&with_check(first17), today()),
                Err(IdCardNoError::BirthDate),
                "{first17}"
            );
        }
    }

    #[test]
    fn the_edges_of_the_birth_date_range_are_accepted() {
        for first17 in [
            "11010519000101002",
            "11010520250630002",
            "11010520000229002",
        ] {
            assert!(
                IdCardNo::parse_as_of(&with_check(first17), today()).is_ok(),
                "{first17}"
            );
        }
    }

    #[test]
    fn a_wrong_check_character_is_refused() {
        assert_eq!(
            IdCardNo::parse("110105194912310021"),
            Err(IdCardNoError::CheckDigit)
        );
        assert_eq!(
            IdCardNo::parse("520102199001011230"),
            Err(IdCardNoError::CheckDigit)
        );
    }

    #[test]
    fn errors_speak_chinese_to_the_citizen() {
        assert_eq!(IdCardNoError::Length.to_string(), "身份证号码应为18位");
        for error in [
            IdCardNoError::Characters,
            IdCardNoError::Region,
            IdCardNoError::BirthDate,
            IdCardNoError::CheckDigit,
        ] {
            assert!(error.to_string().starts_with("身份证号码"));
        }
    }

    /// A valid number as of [`today`]: any province, any area digits, any date in range, any
    /// sequence number, and the computed check character.
    fn valid_number() -> impl Strategy<Value = String> {
        let provinces: Vec<u8> = PROVINCES.to_vec();
        let earliest = date(1900, 1, 1);
        let span = (today() - earliest).num_days();
        (
            proptest::sample::select(provinces),
            0u32..10_000,
            0..=span,
            0u32..1_000,
        )
            .prop_map(move |(province, area, offset, sequence)| {
                let birth = earliest + chrono::Duration::days(offset);
                with_check(&format!(
                    "{province:02}{area:04}{:04}{:02}{:02}{sequence:03}",
                    birth.year(),
                    birth.month(),
                    birth.day()
                ))
            })
    }

    proptest! {
        #[test]
        fn a_generated_valid_number_parses_and_round_trips(number in valid_number()) {
            let id = IdCardNo::parse_as_of(&number, today()).unwrap();
            prop_assert_eq!(id.as_str(), number.as_str());
            let again = IdCardNo::parse_as_of(id.as_str(), today()).unwrap();
            prop_assert_eq!(&again, &id);
            let lower = number.to_lowercase();
            prop_assert_eq!(IdCardNo::parse_as_of(&lower, today()).unwrap(), id);
        }

        #[test]
        fn changing_any_one_digit_is_refused(
            number in valid_number(),
            position in 0usize..18,
            replacement in proptest::sample::select(b"0123456789X".to_vec()),
        ) {
            let mut bytes = number.into_bytes();
            prop_assume!(bytes[position] != replacement);
            prop_assume!(position == 17 || replacement != b'X');
            bytes[position] = replacement;
            let changed = String::from_utf8(bytes).unwrap();
            prop_assert!(IdCardNo::parse_as_of(&changed, today()).is_err(), "{}", changed);
        }

        #[test]
        fn swapping_two_different_adjacent_digits_is_refused(
            number in valid_number(),
            position in 0usize..16,
        ) {
            let mut bytes = number.into_bytes();
            prop_assume!(bytes[position] != bytes[position + 1]);
            bytes.swap(position, position + 1);
            let changed = String::from_utf8(bytes).unwrap();
            prop_assert!(IdCardNo::parse_as_of(&changed, today()).is_err(), "{}", changed);
        }

        #[test]
        fn arbitrary_strings_never_panic(input in any::<String>()) {
            let _ = IdCardNo::parse(&input);
        }

        #[test]
        fn arbitrary_18_character_strings_never_panic(input in "[0-9xX\\PC]{18}") {
            if let Ok(id) = IdCardNo::parse(&input) {
                prop_assert_eq!(id.masked().chars().count(), 18);
            }
        }
    }
}
