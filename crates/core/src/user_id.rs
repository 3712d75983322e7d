//! The stable Direct Line user id of a bot session (`mapping.md` §3.6).

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// `"dl_gcb_" + first 32 hex chars of HMAC-SHA256(key, botSessionId)`.
///
/// Stable for the whole bot session (every turn, every replacement conversation), unlinkable to
/// the Genesys id without the key, and `dl_`-prefixed so enhanced authentication accepts it.
pub fn stable_user_id(key: &[u8], bot_session_id: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail; fall back to an unkeyed digest
    // rather than panic if that ever changes.
    let digest = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(bot_session_id.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => {
            use sha2::Digest;
            Sha256::digest(bot_session_id.as_bytes()).to_vec()
        }
    };
    let hex = hex::encode(digest);
    format!("dl_gcb_{}", &hex[..32])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_keyed_and_prefixed() {
        let a = stable_user_id(b"key-1", "00000000-0000-4000-a000-00000000b001");
        assert_eq!(
            a,
            stable_user_id(b"key-1", "00000000-0000-4000-a000-00000000b001")
        );
        assert_ne!(
            a,
            stable_user_id(b"key-2", "00000000-0000-4000-a000-00000000b001")
        );
        assert_ne!(
            a,
            stable_user_id(b"key-1", "00000000-0000-4000-a000-00000000b002")
        );
        assert!(a.starts_with("dl_gcb_"));
        assert_eq!(a.len(), "dl_gcb_".len() + 32);
        assert!(!a.contains("b001"));
    }
}
