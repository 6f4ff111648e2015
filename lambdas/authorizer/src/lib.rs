//! A `$connect` authorizer: the client passes `?token=...`; the function allows it
//! when the token's SHA-256 digest is one of `TOKEN_SHA256` (`user=hexdigest` pairs,
//! comma-separated), with the user as principal and as `context.user`. The template
//! holds only digests, never the tokens. Make a token and its digest with
//! `t=$(openssl rand -hex 32); printf %s "$t" | sha256sum`.

use sha2::{Digest, Sha256};
use wsgen_handler::authorizer::{AuthorizerRequest, Decision};

/// The environment variable with the allowed digests.
pub const TOKENS_ENV: &str = "TOKEN_SHA256";

/// Users by the hex SHA-256 digest of their token.
pub fn parse_tokens(spec: &str) -> Vec<(String, String)> {
    spec.split(',')
        .filter_map(|pair| {
            let (user, digest) = pair.trim().split_once('=')?;
            Some((digest.trim().to_ascii_lowercase(), user.trim().to_string()))
        })
        .collect()
}

pub fn decide(tokens: &[(String, String)], req: &AuthorizerRequest) -> Decision {
    let Some(token) = req.query.get("token") else {
        return Decision::deny("anonymous");
    };
    let digest: String = Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    match tokens.iter().find(|(d, _)| *d == digest) {
        Some((_, user)) => Decision::allow(user).context("user", user.as_str()),
        None => Decision::deny("anonymous"),
    }
}

/// Runs the function, as its binary's `main` does; `wsgen bundle` links it with the
/// app's other handlers into one binary (`[package.metadata.wsgen] entry` in
/// Cargo.toml).
#[tokio::main(flavor = "current_thread")]
pub async fn main() -> Result<(), wsgen_handler::Error> {
    let tokens = parse_tokens(&std::env::var(TOKENS_ENV).unwrap_or_default());
    let tokens = &tokens;
    wsgen_handler::authorizer::run(move |req| async move { Ok(decide(tokens, &req)) }).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_tokens_are_allowed_with_their_user() {
        let digest: String = Sha256::digest(b"alice-token")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let tokens = parse_tokens(&format!("bob=ab12, alice = {}", digest.to_uppercase()));
        assert_eq!(tokens[0], ("ab12".to_string(), "bob".to_string()));
        let req = |token: Option<&str>| AuthorizerRequest {
            method_arn: "arn".into(),
            headers: Default::default(),
            query: token
                .map(|t| [("token".to_string(), t.to_string())].into())
                .unwrap_or_default(),
        };
        let d = decide(&tokens, &req(Some("alice-token")));
        assert!(d.allow);
        assert_eq!(d.principal_id, "alice");
        assert_eq!(d.context["user"], "alice");
        assert!(!decide(&tokens, &req(Some("guess"))).allow);
        assert!(!decide(&tokens, &req(None)).allow);
    }
}
