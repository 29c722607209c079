//! Handles: `@alice`. Unique case-insensitively, so they are stored lowercase.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub const HANDLE_LEN_MIN: usize = 3;
pub const HANDLE_LEN_MAX: usize = 32;

/// A validated handle, lowercase, without the `@`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Handle(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a handle is {HANDLE_LEN_MIN} to {HANDLE_LEN_MAX} letters, digits or _ . -, starting with a letter (got {0:?})"
)]
pub struct HandleError(pub String);

impl Handle {
    /// Parses `alice` or `@Alice` (case-insensitive; stored lowercase).
    pub fn new(text: &str) -> Result<Self, HandleError> {
        let bare = text.strip_prefix('@').unwrap_or(text);
        let lower = bare.to_ascii_lowercase();
        let ok = (HANDLE_LEN_MIN..=HANDLE_LEN_MAX).contains(&lower.len())
            && lower.starts_with(|c: char| c.is_ascii_lowercase())
            && lower
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b));
        if !ok {
            return Err(HandleError(text.to_owned()));
        }
        Ok(Self(lower))
    }

    /// The handle without `@`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "@{}", self.0)
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Handle(@{})", self.0)
    }
}

impl FromStr for Handle {
    type Err = HandleError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl Serialize for Handle {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Handle {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Handle::new(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_case_insensitive_and_validated() {
        assert_eq!(
            Handle::new("@Alice").unwrap(),
            Handle::new("alice").unwrap()
        );
        assert_eq!(Handle::new("@Alice").unwrap().to_string(), "@alice");
        for bad in [
            "",
            "ab",
            "1abc",
            "al ice",
            "al@ice",
            "ålice",
            &"a".repeat(33),
            "@",
        ] {
            assert!(Handle::new(bad).is_err(), "{bad:?}");
        }
        assert!(Handle::new("bob.smith-2_x").is_ok());
    }
}
