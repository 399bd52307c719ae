//! Licence identifiers in the GB/T 36904 form
//! `1.2.156.3005.2.<type code>.<issuer USCC>.<serial>.<3-digit version>.<check char>`.
//!
//! The standard's check character is not reproduced; the simulator's is deterministic and
//! documented here so a test can recompute it: take every character before the check character
//! except the dots, value a digit as itself and a letter A–Z as 10–35, sum each value times its
//! 1-based position, and write the sum modulo 36 as `0`–`9`, `A`–`Z`.

const ALPHABET: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// The check character of an id's body (everything before the last dot).
pub(crate) fn check_char(body: &str) -> char {
    let sum: u64 = body
        .chars()
        .filter(|c| *c != '.')
        .enumerate()
        .map(|(i, c)| {
            let value = c.to_digit(36).map_or(0, u64::from);
            (i as u64 + 1) * value
        })
        .sum();
    ALPHABET
        .get(usize::try_from(sum % 36).unwrap_or(0))
        .map_or('0', |b| char::from(*b))
}

/// A licence id for the `serial`-th licence (version 001).
pub(crate) fn licence_id(type_code: &str, issuer_code: &str, serial: u64) -> String {
    let body = format!("1.2.156.3005.2.{type_code}.{issuer_code}.{serial:06}.001");
    let check = check_char(&body);
    format!("{body}.{check}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_the_standard_shape_and_a_reproducible_check_char() {
        let id = licence_id("111000000000000001", "11330106002489836K", 7);
        let parts: Vec<&str> = id.split('.').collect();
        assert_eq!(&parts[..5], ["1", "2", "156", "3005", "2"]);
        assert_eq!(parts[5], "111000000000000001");
        assert_eq!(parts[6], "11330106002489836K");
        assert_eq!(parts[7], "000007");
        assert_eq!(parts[8], "001");
        assert_eq!(parts[9].len(), 1);
        assert_eq!(
            id,
            licence_id("111000000000000001", "11330106002489836K", 7)
        );
        assert_ne!(
            id,
            licence_id("111000000000000001", "11330106002489836K", 8)
        );
        // By hand: "12" → 1·1 + 2·2 = 5.
        assert_eq!(check_char("1.2"), '5');
        // "Z" is 35 at position 1.
        assert_eq!(check_char("Z"), 'Z');
    }
}
