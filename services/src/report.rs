//! One line for a log: an error and every cause under it, as the request error path logs them
//! (`{:#}` of an `anyhow::Error`). A `thiserror` enum shows only its own message with `{}` and
//! `{:#}` alike, so "the platform answered something invalid" lost the why; walk the sources.

use std::error::Error;

/// `error: cause: cause …` on one line, no backtrace. A cause whose text the line already ends
/// with (a message that formats its source) is not repeated.
pub fn causes(error: &(dyn Error + 'static)) -> String {
    let mut line = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        if !text.is_empty() && !line.ends_with(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        next = cause.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::province::ProvinceError;

    #[test]
    fn every_cause_of_a_typed_error_is_on_the_line() {
        let e = ProvinceError::Invalid(
            anyhow::anyhow!("sblsh `X1` does not start with the item code")
                .context("read the receipt"),
        );
        assert_eq!(
            causes(&e),
            "the platform answered something invalid: read the receipt: sblsh `X1` does not start with the item code"
        );
        let line = causes(&e);
        assert!(!line.contains('\n'), "{line}");
    }

    #[test]
    fn a_message_that_already_shows_its_cause_is_not_doubled() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer: {0}")]
        struct Outer(#[source] std::io::Error);
        let e = Outer(std::io::Error::other("disk full"));
        assert_eq!(causes(&e), "outer: disk full");
    }
}
