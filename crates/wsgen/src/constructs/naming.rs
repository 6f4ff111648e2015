//! Stable, readable logical IDs derived from construct paths.

use crate::digest::sha256_hex;

/// The logical ID for a construct path: each part's letters and digits, each word
/// capitalized, joined. `["ChatApi", "send-message", "Route"]` gives
/// `ChatApiSendMessageRoute`; `$connect` gives `Connect`. A part with no letters or
/// digits becomes `H` and 8 hex digits of its hash, so every ID is non-empty.
pub fn logical_id(parts: &[&str]) -> String {
    let mut out = String::new();
    for part in parts {
        let mut piece = String::new();
        for word in part.split(|c: char| !c.is_ascii_alphanumeric()) {
            let mut chars = word.chars();
            if let Some(first) = chars.next() {
                piece.push(first.to_ascii_uppercase());
                piece.extend(chars);
            }
        }
        if piece.is_empty() {
            piece = format!("H{}", &sha256_hex(part.as_bytes())[..8]);
        }
        out.push_str(&piece);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_readable_and_alphanumeric() {
        assert_eq!(
            logical_id(&["ChatApi", "$connect", "Route"]),
            "ChatApiConnectRoute"
        );
        assert_eq!(
            logical_id(&["ChatApi", "send-message", "Route"]),
            "ChatApiSendMessageRoute"
        );
        assert_eq!(
            logical_id(&["Api", "sendmessage", "Route"]),
            "ApiSendmessageRoute"
        );
        let weird = logical_id(&["Api", "+", "Route"]);
        assert!(weird.starts_with("ApiH") && weird.ends_with("Route") && weird.len() == 17);
        assert!(weird.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
