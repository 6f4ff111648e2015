//! The `@connections` management API: POST, GET and DELETE
//! `/<stage>/@connections/{id}` (and without the stage, as API Gateway's custom domains).

use super::*;

pub(super) fn gone(id: &str) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-amzn-errortype",
        HeaderValue::from_static("GoneException"),
    );
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    (
        StatusCode::GONE,
        headers,
        json!({"message": format!("connection {id} is gone")}).to_string(),
    )
        .into_response()
}

/// Matches every stage in the `@connections` routes without one.
pub(super) const ANY_STAGE: &str = "";

impl Connection {
    /// Whether the `@connections` API of `stage` reaches this connection.
    fn serves(&self, stage: &str) -> bool {
        stage == ANY_STAGE || self.stage == stage
    }
}

pub(super) fn connection_of(gw: &Gateway, stage: &str, id: &str) -> Option<Outbox> {
    let conns = gw.connections.lock().unwrap_or_else(|e| e.into_inner());
    conns
        .get(id)
        .filter(|c| c.serves(stage))
        .map(|c| c.outbox.clone())
}

pub(super) async fn any_stage_post(
    gw: State<Arc<Gateway>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    connection_post(gw, UrlPath((ANY_STAGE.into(), id)), headers, body).await
}

pub(super) async fn any_stage_get(
    gw: State<Arc<Gateway>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    connection_get(gw, UrlPath((ANY_STAGE.into(), id)), headers).await
}

pub(super) async fn any_stage_delete(
    gw: State<Arc<Gateway>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    connection_delete(gw, UrlPath((ANY_STAGE.into(), id)), headers).await
}

/// Local IAM (see `dev::iam`): a call signed by one of the app's functions must be
/// allowed by its role (`execute-api:ManageConnections` on
/// `arn:aws:execute-api:{region}:{account}:{api}/{stage}/{METHOD}/@connections/{id}`);
/// else API Gateway's 403 `AccessDeniedException` (returned), and a log line naming
/// the grant.
fn authorize(
    gw: &Gateway,
    headers: &HeaderMap,
    method: &str,
    stage: &str,
    id: &str,
) -> Option<Response> {
    // None (allowed) for a caller that is not one of the app's functions.
    let function = gw.lambda.caller(crate::dev::iam::signer(headers)?)?;
    // The stage: the URL's, else (the endpoint without one) the connection's; a gone
    // connection on no stage is left to answer 410.
    let stage = if stage == ANY_STAGE {
        let conns = gw.connections.lock().unwrap_or_else(|e| e.into_inner());
        conns.get(id)?.stage.clone()
    } else {
        stage.to_string()
    };
    let api = gw.routing().stages.get(&stage).map(|s| s.api.id.clone())?;
    let action = "execute-api:ManageConnections";
    let resource = format!(
        "arn:aws:execute-api:{LOCAL_REGION}:{LOCAL_ACCOUNT}:{api}/{stage}/{method}/@connections/{id}"
    );
    if crate::dev::iam::allows(&function.statements, action, &resource) {
        return None;
    }
    let grant = match method {
        "GET" => "grant_get_connections",
        "DELETE" => "grant_delete_connections",
        _ => "grant_manage_connections",
    };
    gw.logs.line(
        &function.name,
        &format!(
            "denied {method} @connections ({action} on {resource}): the function has no such grant; add `stage.{grant}(&function)` for stage `{stage}` in the infra crate"
        ),
    );
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-amzn-errortype",
        HeaderValue::from_static("AccessDeniedException"),
    );
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    let message = crate::dev::iam::denial(&function, action, &resource);
    Some(
        (
            StatusCode::FORBIDDEN,
            headers,
            json!({ "message": message }).to_string(),
        )
            .into_response(),
    )
}

pub(super) async fn connection_post(
    State(gw): State<Arc<Gateway>>,
    UrlPath((stage, id)): UrlPath<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(denied) = authorize(&gw, &headers, "POST", &stage, &id) {
        return denied;
    }
    if body.len() > MAX_MESSAGE {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-amzn-errortype",
            HeaderValue::from_static("PayloadTooLargeException"),
        );
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            headers,
            json!({"message": format!("the message is {} bytes; the limit is {MAX_MESSAGE}", body.len())}).to_string(),
        )
            .into_response();
    }
    let Some(outbox) = connection_of(&gw, &stage, &id) else {
        return gone(&id);
    };
    let message = match std::str::from_utf8(&body) {
        Ok(text) => Message::Text(Utf8Bytes::from(text.to_string())),
        Err(_) => Message::Binary(body),
    };
    match outbox.send(message) {
        Ok(()) => StatusCode::OK.into_response(),
        Err(NotQueued::Stalled) => {
            // The client stopped reading: it is dropped, as gone as a closed one.
            gw.forget(&id);
            gone(&id)
        }
        Err(NotQueued::Gone) => gone(&id),
    }
}

pub(super) async fn connection_get(
    State(gw): State<Arc<Gateway>>,
    UrlPath((stage, id)): UrlPath<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(denied) = authorize(&gw, &headers, "GET", &stage, &id) {
        return denied;
    }
    let conns = gw.connections.lock().unwrap_or_else(|e| e.into_inner());
    let Some(c) = conns.get(&id).filter(|c| c.serves(&stage)) else {
        drop(conns);
        return gone(&id);
    };
    let iso = |t: SystemTime| {
        aws_smithy_types::DateTime::from(t)
            .fmt(aws_smithy_types::date_time::Format::DateTime)
            .unwrap_or_default()
    };
    let mut identity = json!({"sourceIp": c.source_ip});
    if let Some(ua) = &c.user_agent {
        identity["userAgent"] = json!(ua);
    }
    let last = *c.last_active.lock().unwrap_or_else(|e| e.into_inner());
    let body = json!({
        "connectedAt": iso(c.connected_at),
        "lastActiveAt": iso(last),
        "identity": identity,
    });
    ([("content-type", "application/json")], body.to_string()).into_response()
}

pub(super) async fn connection_delete(
    State(gw): State<Arc<Gateway>>,
    UrlPath((stage, id)): UrlPath<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(denied) = authorize(&gw, &headers, "DELETE", &stage, &id) {
        return denied;
    }
    let Some(outbox) = connection_of(&gw, &stage, &id) else {
        return gone(&id);
    };
    // Gone at once for the API (GET and POST answer 410 from now), however busy or
    // stalled the connection is; its session sends the close frame if it can.
    gw.forget(&id);
    outbox.close(NORMAL, "Connection deleted");
    StatusCode::NO_CONTENT.into_response()
}
