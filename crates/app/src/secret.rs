//! Secrets that cannot be printed, and constant-time comparison.

use std::fmt;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A credential (Direct Line secret, Genesys shared secret, token, key). `Debug` and `Display`
/// print `***`; the value is only reachable through [`Secret::expose`], which makes every use
/// visible in review.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The raw value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when the value is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Compares `presented` with every accepted value in constant time. Both sides are hashed first
/// so neither the length nor the position of the first difference leaks through timing, and all
/// accepted values are compared even after a match (rotation must not reveal which one matched).
pub fn matches_any(presented: &[u8], accepted: &[Secret]) -> bool {
    let presented = Sha256::digest(presented);
    let mut ok = subtle::Choice::from(0u8);
    for secret in accepted {
        let candidate = Sha256::digest(secret.expose().as_bytes());
        ok |= presented.as_slice().ct_eq(candidate.as_slice());
    }
    bool::from(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_printed() {
        let s = Secret::new("super-secret-value");
        assert!(!format!("{s:?} {s}").contains("super"));
    }

    #[test]
    fn rotation() {
        let accepted = [Secret::new("old"), Secret::new("new")];
        assert!(matches_any(b"old", &accepted));
        assert!(matches_any(b"new", &accepted));
        assert!(!matches_any(b"ne", &accepted));
        assert!(!matches_any(b"", &accepted));
        assert!(!matches_any(b"new", &[]));
    }
}
