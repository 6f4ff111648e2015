//! HTTP, HTTP_PROXY and MOCK integrations, as API Gateway runs them for WebSocket
//! routes:
//!
//! - HTTP_PROXY: the message body goes as is, with the integration's method, to its
//!   URL; the backend's status and body come back.
//! - HTTP: the request template chosen by the template selection expression (falling
//!   back to `$default`, else the passthrough behaviour) makes the body; request
//!   parameters set headers; the `$default` integration response's template (if any)
//!   makes what a two-way route sends back.
//! - MOCK: the request template gives the status (`{"statusCode": 200}`), the response
//!   template the body.
//!
//! Templates support the substitutions API Gateway documents for WebSocket APIs:
//! `$input.body`, `$input.json('$.path')`, `$input.path('$.path')`, `$context.*`
//! (`connectionId`, `routeKey`, `requestId`, `stage`, `domainName`, `apiId`,
//! `eventType`, `messageId`, `connectedAt`, `requestTimeEpoch`, `identity.sourceIp`,
//! `authorizer.*`) and `$stageVariables.*` (empty locally). VTL directives (`#if`,
//! `#set`, `#foreach`) are not evaluated: such a template is refused with an error.

use super::model::{select_route, HttpIntegration};
use crate::https::client;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde_json::Value;

/// What the integration answered: a status and a body, as a proxy response.
pub struct Answer {
    pub status: u16,
    pub body: String,
}

/// Runs an integration for `event` (the Lambda proxy event API Gateway would build:
/// `requestContext`, `body`, and on `$connect` the headers).
pub async fn run(i: &HttpIntegration, event: &Value) -> Result<Answer, String> {
    let body = event.get("body").and_then(Value::as_str).unwrap_or("");
    let ctx = event.get("requestContext").cloned().unwrap_or(Value::Null);
    match i.kind.as_str() {
        "HTTP_PROXY" => send(i, body.to_string(), &ctx).await,
        "HTTP" => {
            let request = match request_template(i, body)? {
                Some(t) => render(t, body, &ctx)?,
                None => body.to_string(),
            };
            let mut answer = send(i, request, &ctx).await?;
            if let Some(t) = i.response_templates.get("$default") {
                answer.body = render(t, &answer.body, &ctx)?;
            }
            Ok(answer)
        }
        "MOCK" => {
            let status = match request_template(i, body)? {
                Some(t) => {
                    let out = render(t, body, &ctx)?;
                    serde_json::from_str::<Value>(&out)
                        .ok()
                        .and_then(|v| v.get("statusCode")?.as_u64())
                        .ok_or_else(|| {
                            format!(
                                "the MOCK request template gave {out:?}, not {{\"statusCode\": N}}"
                            )
                        })? as u16
                }
                None => 200,
            };
            let body = match i.response_templates.get("$default") {
                Some(t) => render(t, body, &ctx)?,
                None => String::new(),
            };
            Ok(Answer { status, body })
        }
        other => Err(format!("{other} integrations are not served by wsgen dev")),
    }
}

/// The request template for a message: the selection expression's key, else
/// `$default`; `None` to pass the body through. Errors as API Gateway refuses.
fn request_template<'i>(i: &'i HttpIntegration, body: &str) -> Result<Option<&'i String>, String> {
    let key = i
        .template_selection
        .as_deref()
        .and_then(|e| select_route(e, body))
        .unwrap_or_else(|| "$default".into());
    let found = i
        .request_templates
        .get(&key)
        .or_else(|| i.request_templates.get("$default"));
    match (found, i.passthrough.as_str()) {
        (Some(t), _) => Ok(Some(t)),
        (None, "NEVER") => Err("no request template matches and the passthrough behavior is NEVER (API Gateway answers 415 Unsupported Media Type)".into()),
        (None, "WHEN_NO_TEMPLATES") if !i.request_templates.is_empty() => Err("no request template matches and the passthrough behavior is WHEN_NO_TEMPLATES (API Gateway answers 415 Unsupported Media Type)".into()),
        (None, _) => Ok(None),
    }
}

async fn send(i: &HttpIntegration, body: String, ctx: &Value) -> Result<Answer, String> {
    let method = hyper::Method::from_bytes(i.method.as_bytes())
        .map_err(|_| format!("`{}` is not an HTTP method", i.method))?;
    let mut request = hyper::Request::builder()
        .method(method)
        .uri(&i.uri)
        .header("content-type", "application/json");
    for (destination, source) in &i.request_parameters {
        let Some(header) = destination.strip_prefix("integration.request.header.") else {
            continue;
        };
        let value =
            if let Some(literal) = source.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
                literal.to_string()
            } else if let Some(path) = source.strip_prefix("context.") {
                context_value(ctx, path)
            } else {
                continue;
            };
        request = request.header(header, value);
    }
    let request = request
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| format!("invalid request to {}: {e}", i.uri))?;
    let response = client()?
        .request(request)
        .await
        .map_err(|e| format!("{} {}: {e}", i.method, i.uri))?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("{} {}: {e}", i.method, i.uri))?
        .to_bytes();
    Ok(Answer {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// `$context.a.b` from the event's request context.
fn context_value(ctx: &Value, path: &str) -> String {
    let pointer = format!("/{}", path.replace('.', "/"));
    match ctx.pointer(&pointer) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// `$.a.b[0]` of a JSON body.
fn json_path<'v>(v: &'v Value, path: &str) -> Option<&'v Value> {
    let rest = path.trim().strip_prefix('$')?;
    let mut cur = v;
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '.' => {
                let mut name = String::new();
                while let Some(&n) = chars.peek() {
                    if n == '.' || n == '[' {
                        break;
                    }
                    name.push(n);
                    chars.next();
                }
                cur = cur.get(&name)?;
            }
            '[' => {
                let mut index = String::new();
                for n in chars.by_ref() {
                    if n == ']' {
                        break;
                    }
                    index.push(n);
                }
                let key = index.trim_matches(['\'', '"']);
                cur = match key.parse::<usize>() {
                    Ok(n) => cur.get(n)?,
                    Err(_) => cur.get(key)?,
                };
            }
            _ => return None,
        }
    }
    Some(cur)
}

/// Renders a mapping template (see the module documentation for what it supports).
pub fn render(template: &str, body: &str, ctx: &Value) -> Result<String, String> {
    if template.lines().any(|l| {
        let t = l.trim_start();
        ["#if", "#set", "#foreach", "#else", "#end", "#elseif"]
            .iter()
            .any(|d| t.starts_with(d))
    }) {
        return Err("the template uses VTL directives (#if, #set, #foreach), which wsgen dev does not evaluate: use substitutions only, or a Lambda integration".into());
    }
    let json: Option<Value> = serde_json::from_str(body).ok();
    let mut out = String::with_capacity(template.len() + body.len());
    let mut rest = template;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        let (value, used) = substitution(after, body, json.as_ref(), ctx)?;
        out.push_str(&value);
        rest = &after[used..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The value of the substitution at the start of `s` (which starts with `$`) and how
/// many bytes it takes; a `$` that starts none is kept as is.
fn substitution(
    s: &str,
    body: &str,
    json: Option<&Value>,
    ctx: &Value,
) -> Result<(String, usize), String> {
    let call = |prefix: &str| -> Option<(String, usize)> {
        let rest = s.strip_prefix(prefix)?;
        let quote = rest.chars().next().filter(|c| *c == '\'' || *c == '"')?;
        let end = rest[1..].find(quote)?;
        let arg = rest[1..1 + end].to_string();
        let close = rest[1 + end + 1..].strip_prefix(')')?;
        let _ = close;
        Some((arg, prefix.len() + end + 3))
    };
    if let Some((path, used)) = call("$input.json(") {
        let v = json.and_then(|j| json_path(j, &path)).cloned();
        return Ok((
            v.map(|v| v.to_string()).unwrap_or_else(|| "null".into()),
            used,
        ));
    }
    if let Some((path, used)) = call("$input.path(") {
        let v = json.and_then(|j| json_path(j, &path));
        let text = match v {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        };
        return Ok((text, used));
    }
    if s.starts_with("$input.body") {
        return Ok((body.to_string(), "$input.body".len()));
    }
    for (prefix, braced) in [
        ("$context.", false),
        ("${context.", true),
        ("$stageVariables.", false),
    ] {
        if let Some(rest) = s.strip_prefix(prefix) {
            let len = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '_'))
                .unwrap_or(rest.len());
            let name = rest[..len].trim_end_matches('.');
            let mut used = prefix.len() + name.len();
            if braced {
                if !rest[name.len()..].starts_with('}') {
                    return Ok(("$".into(), 1));
                }
                used += 1;
            }
            let value = if prefix == "$stageVariables." {
                String::new()
            } else {
                context_value(ctx, name)
            };
            return Ok((value, used));
        }
    }
    Ok(("$".into(), 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn templates_substitute_input_and_context() {
        let ctx = json!({"connectionId": "abc=", "routeKey": "send", "identity": {"sourceIp": "127.0.0.1"}});
        let body = r#"{"action":"send","message":{"text":"hi"},"list":[1,2]}"#;
        assert_eq!(
            render(r#"{"id":"$context.connectionId","m":$input.json('$.message'),"t":"$input.path('$.message.text')","n":$input.json('$.list[1]')}"#, body, &ctx).unwrap(),
            r#"{"id":"abc=","m":{"text":"hi"},"t":"hi","n":2}"#
        );
        assert_eq!(render("$input.body", body, &ctx).unwrap(), body);
        assert_eq!(
            render(
                "${context.routeKey} from $context.identity.sourceIp.",
                body,
                &ctx
            )
            .unwrap(),
            "send from 127.0.0.1."
        );
        assert_eq!(
            render("costs $5 $input.json('$.missing')", body, &ctx).unwrap(),
            "costs $5 null"
        );
        assert!(render("#set($x = 1)\n$x", body, &ctx)
            .unwrap_err()
            .contains("VTL"));
    }

    #[test]
    fn request_templates_follow_selection_and_passthrough() {
        let mut i = HttpIntegration {
            kind: "HTTP".into(),
            passthrough: "WHEN_NO_MATCH".into(),
            template_selection: Some("$request.body.kind".into()),
            ..Default::default()
        };
        assert_eq!(request_template(&i, "{}").unwrap(), None);
        i.request_templates.insert("a".into(), "A".into());
        assert_eq!(
            request_template(&i, r#"{"kind":"a"}"#)
                .unwrap()
                .map(String::as_str),
            Some("A")
        );
        assert_eq!(request_template(&i, r#"{"kind":"b"}"#).unwrap(), None);
        i.passthrough = "NEVER".into();
        assert!(request_template(&i, r#"{"kind":"b"}"#).is_err());
        i.request_templates.insert("$default".into(), "D".into());
        assert_eq!(
            request_template(&i, r#"{"kind":"b"}"#)
                .unwrap()
                .map(String::as_str),
            Some("D")
        );
    }
}
