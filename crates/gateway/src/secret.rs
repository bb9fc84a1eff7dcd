//! A string that must never be shown: debug output and logs see `***`; and the encryption
//! of stored secrets ([`at_rest`]).

pub mod at_rest;

use std::fmt;

use serde::{Deserialize, Serialize};

/// A secret value (an upstream credential, a header value, a master key).
///
/// `Debug` and `Display` print `***`. It does serialize its real value, because the store
/// must persist it; API responses never serialize a `Secret` (they go through
/// [`crate::model::ServerView`]).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The real value, for the one place that must send it (an upstream request, the store).
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn expose_mut(&mut self) -> &mut String {
        &mut self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Compares a presented key with the configured one in constant time.
pub fn keys_match(presented: &str, expected: &Secret) -> bool {
    use subtle::ConstantTimeEq;
    let (a, b) = (presented.as_bytes(), expected.expose().as_bytes());
    // Length is not secret in practice, but compare equal-length buffers so that the
    // comparison time does not depend on where the first difference is.
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "\"***\"");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn keys_match_only_on_equal_strings() {
        let k = Secret::new("abc");
        assert!(keys_match("abc", &k));
        assert!(!keys_match("abd", &k));
        assert!(!keys_match("ab", &k));
        assert!(!keys_match("", &k));
    }
}
