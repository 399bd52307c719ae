//! A staff member's username, password and display name, each parsed once at the edge.

use secrecy::{ExposeSecret as _, SecretString};

/// A login name: 3 to 64 of `a-z 0-9 . _ -`, starting with a letter, compared in lower case
/// (`Zhang.Wei` logs in as `zhang.wei`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsernameError {
    #[error("用户名长度应为 3 至 64 个字符")]
    Length,
    #[error("用户名只能包含字母、数字和 . _ -，且以字母开头")]
    Characters,
}

impl Username {
    /// # Errors
    /// [`UsernameError`] for a name of the wrong length or with other characters.
    pub fn parse(raw: &str) -> Result<Self, UsernameError> {
        let name = raw.trim().to_ascii_lowercase();
        if !(3..=64).contains(&name.len()) {
            return Err(UsernameError::Length);
        }
        let starts_with_letter = name.bytes().next().is_some_and(|b| b.is_ascii_lowercase());
        let allowed = name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
        if !starts_with_letter || !allowed {
            return Err(UsernameError::Characters);
        }
        Ok(Self(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password that meets the policy: 10 to 128 characters. Length is what makes a password
/// strong; no composition rules (NIST SP 800-63B).
pub struct Password(SecretString);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("密码长度应为 10 至 128 个字符")]
pub struct WeakPassword;

impl Password {
    pub const MIN_CHARS: usize = 10;
    pub const MAX_CHARS: usize = 128;

    /// # Errors
    /// [`WeakPassword`] outside 10 to 128 characters.
    pub fn parse(raw: SecretString) -> Result<Self, WeakPassword> {
        let chars = raw.expose_secret().chars().count();
        if (Self::MIN_CHARS..=Self::MAX_CHARS).contains(&chars) {
            Ok(Self(raw))
        } else {
            Err(WeakPassword)
        }
    }

    pub fn secret(&self) -> &SecretString {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password([REDACTED])")
    }
}

/// The name colleagues and citizens see: 1 to 64 characters, normalised as every name is
/// ([`crate::text`]: NFKC, no control, format or filler characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("显示名称应为 1 至 64 个可见字符")]
pub struct InvalidDisplayName;

impl DisplayName {
    /// # Errors
    /// [`InvalidDisplayName`] when empty, too long or holding invisible characters.
    pub fn parse(raw: &str) -> Result<Self, InvalidDisplayName> {
        let name = crate::text::normalise(raw).map_err(|_| InvalidDisplayName)?;
        if (1..=64).contains(&name.chars().count()) {
            Ok(Self(name))
        } else {
            Err(InvalidDisplayName)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_trimmed_lowercased_and_restricted() {
        assert_eq!(
            Username::parse(" Zhang.Wei ").unwrap().as_str(),
            "zhang.wei"
        );
        assert_eq!(Username::parse("ab"), Err(UsernameError::Length));
        assert_eq!(Username::parse(&"a".repeat(65)), Err(UsernameError::Length));
        for bad in ["1abc", "_abc", "ab c", "张伟abc", "a@b.c"] {
            assert!(Username::parse(bad).is_err(), "{bad}");
        }
        assert!(Username::parse("clerk_01-a").is_ok());
    }

    #[test]
    fn passwords_are_10_to_128_characters_counted_as_characters() {
        let p = |s: &str| Password::parse(SecretString::from(s.to_owned()));
        assert!(p("123456789").is_err());
        assert!(p("1234567890").is_ok());
        assert!(p(&"x".repeat(128)).is_ok());
        assert!(p(&"x".repeat(129)).is_err());
        // Ten Chinese characters are ten characters, though thirty bytes.
        assert!(p("一二三四五六七八九十").is_ok());
        assert_eq!(
            format!("{:?}", p("1234567890").unwrap()),
            "Password([REDACTED])"
        );
    }

    #[test]
    fn display_names_are_trimmed_and_bounded() {
        assert_eq!(DisplayName::parse(" 王芳 ").unwrap().as_str(), "王芳");
        assert!(DisplayName::parse("  ").is_err());
        assert!(DisplayName::parse(&"名".repeat(65)).is_err());
        assert!(DisplayName::parse("a\u{0}b").is_err());
        assert_eq!(
            DisplayName::parse("王芳（Ａ组）").unwrap().as_str(),
            "王芳(A组)"
        );
        for bad in [
            "王\u{202E}芳",
            "王\u{200B}芳",
            "\u{115F}",
            "\u{3164}\u{3164}",
        ] {
            assert!(DisplayName::parse(bad).is_err(), "{bad:?}");
        }
    }
}
