//! The handshake: `$connect`, with the route's authorizer (Lambda REQUEST or IAM)
//! deciding before the upgrade completes.

use super::*;

pub(super) async fn connect(
    gw: Arc<Gateway>,
    stage: String,
    ws: WebSocketUpgrade,
    headers: HeaderMap,
    query: RawQuery,
    addr: SocketAddr,
) -> Response {
    let Some(served) = gw.routing().stages.get(&stage).cloned() else {
        return not_found(&gw);
    };
    let started = Instant::now();
    let id = gw.new_id();
    let connected_at = SystemTime::now();
    let source_ip = addr.ip().to_string();
    let user_agent = headers
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let requested_protocol = headers
        .get("sec-websocket-protocol")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut peer = Peer {
        id: id.clone(),
        connected_at,
        source_ip: source_ip.clone(),
        user_agent: user_agent.clone(),
        authorizer: None,
    };
    let mut accepted_protocol = None;
    if !gw.throttles.admit(&served, "$connect") {
        gw.log(
            "$connect",
            &id,
            429,
            started.elapsed(),
            "throttled: over the stage's rate and burst limits for $connect",
        );
        return (StatusCode::TOO_MANY_REQUESTS, "Too Many Requests\n").into_response();
    }
    if let Some(route) = served.api.routes.get("$connect") {
        let (qs, mqs) = query_maps(query.0.as_deref());
        match &route.authorization {
            Authorization::Lambda(a) => {
                match authorize(&gw, &served, &peer, a, &headers, &qs, &mqs).await {
                    Ok(context) => peer.authorizer = Some(context),
                    Err((status, detail)) => {
                        gw.log("$connect", &id, status.as_u16(), started.elapsed(), &detail);
                        let body = match status {
                            StatusCode::UNAUTHORIZED => "Unauthorized\n",
                            StatusCode::FORBIDDEN => "Forbidden\n",
                            _ => "Internal server error\n",
                        };
                        return (status, body).into_response();
                    }
                }
            }
            Authorization::Iam => gw.warn_once(
                "routes with AWS_IAM authorization are not checked by wsgen dev: every handshake is let through",
            ),
            Authorization::None => {}
        }
        let (header_map, multi) = header_maps(&headers);
        let mut event = json!({
            "headers": header_map,
            "multiValueHeaders": multi,
            "requestContext": gw.request_context(&served, "$connect", "CONNECT", &peer),
            "isBase64Encoded": false,
        });
        if !qs.is_null() {
            event["queryStringParameters"] = qs;
            event["multiValueQueryStringParameters"] = mqs;
        }
        match gw.invoke(route, event).await {
            Err(e) => {
                gw.log("$connect", &id, 500, started.elapsed(), &e.to_string());
                return (StatusCode::INTERNAL_SERVER_ERROR, "Internal server error\n")
                    .into_response();
            }
            Ok(response) => {
                let status = response
                    .get("statusCode")
                    .and_then(Value::as_u64)
                    .unwrap_or(200) as u16;
                if !(200..300).contains(&status) {
                    gw.log(
                        "$connect",
                        &id,
                        status,
                        started.elapsed(),
                        "rejected by the handler",
                    );
                    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN);
                    let body = response
                        .get("body")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    return (code, body).into_response();
                }
                let echoed = response
                    .pointer("/headers/Sec-WebSocket-Protocol")
                    .or_else(|| response.pointer("/headers/sec-websocket-protocol"))
                    .and_then(Value::as_str)
                    .map(str::to_string);
                if let (Some(want), Some(echo)) = (&requested_protocol, echoed) {
                    if want.split(',').any(|p| p.trim() == echo) {
                        accepted_protocol = Some(echo);
                    }
                }
            }
        }
    }
    gw.log("$connect", &id, 200, started.elapsed(), "");
    // A small read buffer (it grows for big messages): tungstenite's default of 128 KiB
    // per connection is most of an idle connection's memory.
    let mut ws = ws
        .max_message_size(MAX_MESSAGE)
        .max_frame_size(MAX_FRAME)
        .read_buffer_size(READ_BUFFER);
    if let Some(p) = accepted_protocol {
        ws = ws.protocols([p]);
    }
    let gw2 = gw.clone();
    ws.on_upgrade(move |socket| async move { serve(gw2, served, peer, socket).await })
}

/// Runs a `$connect` route's Lambda REQUEST authorizer as API Gateway does: a
/// missing identity source is 401 without invoking it, a failed invocation 500 (401
/// when it fails with `Unauthorized`), a policy that does not allow
/// `execute-api:Invoke` on the route 403. Returns `requestContext.authorizer` for
/// the connection's events: the principal and the context.
pub(super) async fn authorize(
    gw: &Gateway,
    served: &Served,
    peer: &Peer,
    authorizer: &DevAuthorizer,
    headers: &HeaderMap,
    qs: &Value,
    mqs: &Value,
) -> Result<Value, (StatusCode, String)> {
    for source in &authorizer.identity_sources {
        let value = if let Some(name) = source.strip_prefix("route.request.header.") {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        } else if let Some(name) = source.strip_prefix("route.request.querystring.") {
            qs.get(name).and_then(Value::as_str).map(str::to_string)
        } else {
            // Stage variables and context values: not modelled locally.
            continue;
        };
        if value.is_none_or(|v| v.is_empty()) {
            return Err((
                StatusCode::UNAUTHORIZED,
                format!("identity source {source} is missing: the authorizer is not invoked"),
            ));
        }
    }
    let Some(function) = &authorizer.function else {
        return Err((
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("authorizer {} has no Lambda function", authorizer.name),
        ));
    };
    let method_arn = format!(
        "arn:aws:execute-api:{LOCAL_REGION}:{LOCAL_ACCOUNT}:{}/{}/$connect",
        served.api.id, served.stage
    );
    let (single, multi) = header_maps(headers);
    let event = json!({
        "type": "REQUEST",
        "methodArn": method_arn,
        "headers": single,
        "multiValueHeaders": multi,
        "queryStringParameters": if qs.is_null() { json!({}) } else { qs.clone() },
        "multiValueQueryStringParameters": if mqs.is_null() { json!({}) } else { mqs.clone() },
        "stageVariables": {},
        "requestContext": gw.request_context(served, "$connect", "CONNECT", peer),
    });
    let started = Instant::now();
    let answer = gw
        .invoke_function(function, event, DEFAULT_INTEGRATION_TIMEOUT_MS)
        .await
        .map_err(|e| {
            let status = if e.to_string().contains("Unauthorized") {
                StatusCode::UNAUTHORIZED
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            };
            (status, format!("authorizer {}: {e}", authorizer.name))
        })?;
    let bad = |why: &str| {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("authorizer {} answered {why}", authorizer.name),
        )
    };
    let statements = match answer.pointer("/policyDocument/Statement") {
        Some(Value::Array(list)) => list.clone(),
        Some(one @ Value::Object(_)) => vec![one.clone()],
        _ => return Err(bad("without a policyDocument with a Statement")),
    };
    let matching = |effect: &str| {
        statements.iter().any(|st| {
            st.get("Effect").and_then(Value::as_str) == Some(effect)
                && strings(st.get("Action"))
                    .iter()
                    .any(|a| crate::dev::iam::matches(a, "execute-api:Invoke"))
                && strings(st.get("Resource"))
                    .iter()
                    .any(|r| crate::dev::iam::matches(r, &method_arn))
        })
    };
    if matching("Deny") || !matching("Allow") {
        return Err((
            StatusCode::FORBIDDEN,
            format!(
                "authorizer {} did not allow execute-api:Invoke on {method_arn}",
                authorizer.name
            ),
        ));
    }
    let mut context = Map::new();
    if let Some(p) = answer.get("principalId") {
        context.insert("principalId".into(), p.clone());
    }
    context.insert(
        "integrationLatency".into(),
        json!(started.elapsed().as_millis() as u64),
    );
    match answer.get("context") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (k, v) in m {
                if v.is_object() || v.is_array() {
                    return Err(bad(&format!(
                        "a context value `{k}` that is not a string, number or boolean"
                    )));
                }
                context.insert(k.clone(), v.clone());
            }
        }
        Some(_) => return Err(bad("a context that is not an object")),
    }
    Ok(Value::Object(context))
}

/// A policy's `Action` or `Resource`: one string or a list.
pub(super) fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}
