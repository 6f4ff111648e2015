//! Local IAM: each function's process gets its own access key id (so the local
//! endpoints know which function calls them, from the SigV4 `Authorization` header),
//! and a call is allowed only when the function's role allows it, as the synthesized
//! template says: an explicit `Deny` wins, then any `Allow` whose action and resource
//! patterns (`*`, `?`) match. Callers that are not the app's functions (a test's SDK,
//! curl) keep full access. Conditions are not evaluated (a statement with one counts as
//! met). The `@connections` API (`gateway/connections.rs`) and the embedded DynamoDB
//! (`dynamodb_proxy.rs`) check their callers with it.

use super::model::{DevFunction, DevStatement};
use axum::http::HeaderMap;

/// The access key id a function's process signs its requests with.
pub fn access_key(logical_id: &str) -> String {
    let digest = wsgen::digest::sha256_hex(logical_id.as_bytes());
    format!("AKIAWSGENDEV{}", digest[..8].to_ascii_uppercase())
}

/// The access key id of a SigV4 `Authorization` header
/// (`AWS4-HMAC-SHA256 Credential=AKID/date/region/service/aws4_request, ...`).
pub fn caller_key(authorization: &str) -> Option<&str> {
    let credential = authorization.split("Credential=").nth(1)?;
    credential.split('/').next().filter(|k| !k.is_empty())
}

/// The access key id a request was signed with, when it was signed.
pub fn signer(headers: &HeaderMap) -> Option<&str> {
    caller_key(headers.get("authorization")?.to_str().ok()?)
}

/// Whether `statements` allow `action` on `resource`.
pub fn allows(statements: &[DevStatement], action: &str, resource: &str) -> bool {
    let applies = |s: &DevStatement| {
        s.actions
            .iter()
            .any(|a| matches(&a.to_ascii_lowercase(), &action.to_ascii_lowercase()))
            && s.resources.iter().any(|r| matches(r, resource))
    };
    !statements.iter().any(|s| !s.allow && applies(s))
        && statements.iter().any(|s| s.allow && applies(s))
}

/// IAM's wildcards: `*` any run of characters, `?` any one (policies of roles and of
/// Lambda authorizers alike).
pub fn matches(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    // Iterative glob matching with backtracking to the last `*`.
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < t.len() {
        if i < p.len() && (p[i] == '?' || p[i] == t[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some((i, j));
            i += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|c| *c == '*')
}

/// What a denied call answers, as AWS words it.
pub fn denial(function: &DevFunction, action: &str, resource: &str) -> String {
    let role = function.role.as_deref().unwrap_or("role");
    format!(
        "User: arn:aws:sts::{}:assumed-role/{role}/{} is not authorized to perform: {action} on resource: {resource} because no identity-based policy allows the {action} action",
        super::model::LOCAL_ACCOUNT,
        function.name
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow(actions: &[&str], resources: &[&str]) -> DevStatement {
        DevStatement {
            allow: true,
            actions: actions.iter().map(|s| s.to_string()).collect(),
            resources: resources.iter().map(|s| s.to_string()).collect(),
            conditional: false,
        }
    }

    #[test]
    fn statements_allow_by_action_and_resource_patterns_and_deny_wins() {
        let post = "arn:aws:execute-api:us-east-1:000000000000:api/live/POST/@connections/*";
        let granted = [allow(&["execute-api:ManageConnections"], &[post])];
        let arn = |method: &str| {
            format!(
                "arn:aws:execute-api:us-east-1:000000000000:api/live/{method}/@connections/abc="
            )
        };
        assert!(allows(
            &granted,
            "execute-api:ManageConnections",
            &arn("POST")
        ));
        assert!(allows(
            &granted,
            "Execute-API:manageconnections",
            &arn("POST")
        ));
        assert!(!allows(
            &granted,
            "execute-api:ManageConnections",
            &arn("GET")
        ));
        assert!(!allows(&granted, "execute-api:Invoke", &arn("POST")));
        assert!(!allows(&[], "execute-api:ManageConnections", &arn("POST")));
        let any = [allow(
            &["execute-api:*"],
            &["arn:aws:execute-api:*:*:api/*/???/@connections/*"],
        )];
        assert!(allows(&any, "execute-api:ManageConnections", &arn("GET")));
        assert!(!allows(&any, "execute-api:ManageConnections", &arn("POST")));
        let mut denied = any.to_vec();
        denied.push(DevStatement {
            allow: false,
            ..allow(&["execute-api:ManageConnections"], &[&arn("GET")])
        });
        assert!(!allows(
            &denied,
            "execute-api:ManageConnections",
            &arn("GET")
        ));
    }

    #[test]
    fn policy_wildcards() {
        assert!(matches("execute-api:*", "execute-api:Invoke"));
        assert!(matches("*", "anything"));
        assert!(matches(
            "arn:aws:execute-api:*:*:abc/*/$connect",
            "arn:aws:execute-api:us-east-1:0:abc/live/$connect"
        ));
        assert!(matches("a?c", "abc"));
        assert!(!matches(
            "arn:aws:execute-api:*:*:other/*",
            "arn:aws:execute-api:us-east-1:0:abc/live/$connect"
        ));
        assert!(!matches("abc", "abcd"));
    }

    #[test]
    fn keys_and_callers() {
        let key = access_key("SendMessage");
        assert_eq!(key.len(), 20);
        assert_ne!(key, access_key("OnConnect"));
        let header = format!("AWS4-HMAC-SHA256 Credential={key}/20261202/us-east-1/execute-api/aws4_request, SignedHeaders=host, Signature=x");
        assert_eq!(caller_key(&header), Some(key.as_str()));
        assert_eq!(caller_key("Bearer x"), None);
    }
}
