//! A connection's session: frames in and out within API Gateway's limits, route
//! selection and invocation per message, error frames, idle and maximum durations,
//! `$disconnect` however it ends.

use super::*;

/// The error frame API Gateway sends (`{"message", "connectionId", "requestId"}`).
pub(super) fn error_frame(message: &str, connection_id: &str, request_id: &str) -> Message {
    Message::Text(Utf8Bytes::from(
        json!({"message": message, "connectionId": connection_id, "requestId": request_id})
            .to_string(),
    ))
}

/// A connection's life: its frames in and out, each message routed and invoked, until
/// it closes; then `$disconnect`.
pub(super) async fn serve(gw: Arc<Gateway>, served: Served, peer: Peer, socket: WebSocket) {
    let Peer {
        id,
        connected_at,
        source_ip,
        user_agent,
        ..
    } = peer.clone();
    use futures_util::{SinkExt, StreamExt};
    let _in_flight = InFlight::new(&gw);
    let (outbox, mut rx, mut closed) = Outbox::new();
    let last_active = Arc::new(Mutex::new(SystemTime::now()));
    gw.connections
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(
            id.clone(),
            Connection {
                outbox: outbox.clone(),
                connected_at,
                last_active: last_active.clone(),
                source_ip: source_ip.clone(),
                user_agent: user_agent.clone(),
                stage: served.stage.clone(),
            },
        );
    let (mut sink, mut stream) = socket.split();
    let opened = Instant::now();
    let mut idle_deadline = Instant::now() + gw.config.idle_timeout;
    let max_deadline = opened + gw.config.max_duration;
    // How the connection ended: (code, reason).
    let mut closing: Option<(u16, String)> = None;
    let ended: (u16, String) = loop {
        let deadline = idle_deadline.min(max_deadline);
        tokio::select! {
            out = rx.recv() => match out {
                Some(m) => {
                    outbox.sent(&m);
                    // Traffic either way keeps a connection from being idle.
                    idle_deadline = Instant::now() + gw.config.idle_timeout;
                    // A client that takes longer than WRITE_TIMEOUT to take a frame is
                    // not reading; a close asked for meanwhile (DELETE, shutdown, a full
                    // outbox) does not wait for it either.
                    tokio::select! {
                        sent = tokio::time::timeout(WRITE_TIMEOUT, sink.send(m)) => match sent {
                            Ok(Ok(())) => {}
                            Ok(Err(_)) => break (1006, "Connection lost".into()),
                            Err(_) => break (STALLED.0, STALLED.1.into()),
                        },
                        _ = closed.changed() => {
                            break closed.borrow().clone().unwrap_or((STALLED.0, STALLED.1.into()));
                        }
                    }
                }
                None => break (1006, "Connection lost".into()),
            },
            _ = closed.changed(), if closing.is_none() => {
                let (code, reason) = closed.borrow().clone().unwrap_or((GOING_AWAY, "Going away".into()));
                if (code, reason.as_str()) == STALLED {
                    break (code, reason);
                }
                let frame = Message::Close(Some(CloseFrame { code, reason: Utf8Bytes::from(reason.clone()) }));
                let _ = tokio::time::timeout(Duration::from_secs(1), sink.send(frame)).await;
                closing = Some((code, reason));
                // Wait (briefly) for the client's close; the read branch ends the loop.
                idle_deadline = Instant::now() + Duration::from_secs(2);
            }
            msg = stream.next() => match msg {
                None => break closing.clone().unwrap_or((1006, "Connection lost".into())),
                Some(Err(e)) => {
                    // A frame the protocol forbids, or one over the limits: the close
                    // code that says why (RFC 6455), then the connection ends.
                    if let Some((code, reason)) = close_for(e) {
                        let frame = Message::Close(Some(CloseFrame { code, reason: Utf8Bytes::from_static(reason) }));
                        let _ = tokio::time::timeout(WRITE_TIMEOUT, sink.send(frame)).await;
                        break (code, reason.into());
                    }
                    break closing.clone().unwrap_or((1006, "Connection lost".into()));
                }
                Some(Ok(Message::Close(frame))) => {
                    if let Some((code, reason)) = closing.clone() {
                        break (code, reason);
                    }
                    let (code, reason) = frame.map(|f| (f.code, f.reason.to_string())).unwrap_or((1005, String::new()));
                    let _ = sink.send(Message::Close(Some(CloseFrame { code: if code == 1005 { NORMAL } else { code }, reason: Utf8Bytes::from(reason.clone()) }))).await;
                    break (code, if reason.is_empty() { "Client closed".into() } else { reason });
                }
                Some(Ok(Message::Text(t))) => {
                    idle_deadline = Instant::now() + gw.config.idle_timeout;
                    *last_active.lock().unwrap_or_else(|e| e.into_inner()) = SystemTime::now();
                    spawn_message(&gw, &gw.current(&served), &peer, t.to_string(), false, outbox.clone());
                }
                Some(Ok(Message::Binary(b))) => {
                    idle_deadline = Instant::now() + gw.config.idle_timeout;
                    *last_active.lock().unwrap_or_else(|e| e.into_inner()) = SystemTime::now();
                    let body = aws_smithy_types::base64::encode(&b);
                    spawn_message(&gw, &gw.current(&served), &peer, body, true, outbox.clone());
                }
                Some(Ok(_)) => {} // ping and pong: answered by the WebSocket layer
            },
            _ = tokio::time::sleep_until(deadline.into()) => {
                if let Some(c) = closing.clone() {
                    break c;
                }
                // Idle timeout and maximum duration both close with 1001, as API Gateway does.
                let (code, reason) = (GOING_AWAY, "Going away");
                let _ = sink.send(Message::Close(Some(CloseFrame { code, reason: Utf8Bytes::from_static(reason) }))).await;
                break (code, reason.into());
            }
        }
    };
    gw.forget(&id);
    let served = gw.current(&served);
    if let Some(route) = served.api.routes.get("$disconnect") {
        let started = Instant::now();
        let mut ctx = gw.request_context(&served, "$disconnect", "DISCONNECT", &peer);
        ctx.insert("disconnectStatusCode".into(), json!(ended.0));
        ctx.insert("disconnectReason".into(), json!(ended.1));
        let event = json!({
            "headers": {"Host": gw.domain, "x-api-key": "", "X-Forwarded-For": "", "x-restapi": ""},
            "multiValueHeaders": {"Host": [gw.domain], "x-api-key": [""], "X-Forwarded-For": [""], "x-restapi": [""]},
            "requestContext": ctx,
            "isBase64Encoded": false,
        });
        let result = gw.invoke(route, event).await;
        let (status, detail) = match result {
            Ok(_) => (200, format!("{} {}", ended.0, ended.1)),
            Err(e) => (500, e.to_string()),
        };
        gw.log("$disconnect", &id, status, started.elapsed(), &detail);
    }
}

/// The close code and reason for a read error that is the client's fault: 1009 for a
/// frame or message over the limits, 1007 for text that is not UTF-8, 1002 for any other
/// protocol violation (an unmasked frame, reserved bits or opcodes, a bad close frame);
/// none when the connection itself failed.
pub(super) fn close_for(e: axum::Error) -> Option<(u16, &'static str)> {
    match e.into_inner().downcast_ref::<tungstenite::Error>()? {
        tungstenite::Error::Capacity(_) => Some((TOO_BIG, "Message too big")),
        tungstenite::Error::Utf8(_) => Some((INVALID_PAYLOAD, "Invalid UTF-8 in a text message")),
        // A TCP connection that ended without a close frame: nothing to answer (1006).
        tungstenite::Error::Protocol(
            tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
        ) => None,
        tungstenite::Error::Protocol(_) => Some((PROTOCOL_ERROR, "Protocol error")),
        _ => None,
    }
}

pub(super) fn spawn_message(
    gw: &Arc<Gateway>,
    served: &Served,
    peer: &Peer,
    body: String,
    binary: bool,
    outbox: Outbox,
) {
    let id = peer.id.as_str();
    let started = Instant::now();
    let selected = if binary {
        None
    } else {
        select_route(&served.api.route_selection, &body)
    };
    let route = selected
        .as_deref()
        .and_then(|k| served.api.routes.get(k))
        .filter(|r| !r.key.starts_with('$'))
        .or_else(|| served.api.routes.get("$default"))
        .cloned();
    let ctx = gw.request_context(
        served,
        route.as_ref().map_or("$default", |r| r.key.as_str()),
        "MESSAGE",
        peer,
    );
    let request_id = ctx
        .get("requestId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let Some(route) = route else {
        let _ = outbox.send(error_frame("Forbidden", id, &request_id));
        gw.log(
            selected.as_deref().unwrap_or("(none)"),
            id,
            403,
            started.elapsed(),
            "no route matches and there is no $default",
        );
        return;
    };
    if !gw.throttles.admit(served, &route.key) {
        let _ = outbox.send(error_frame("Too Many Requests", id, &request_id));
        gw.log(
            &route.key,
            id,
            429,
            started.elapsed(),
            "throttled: over the stage's rate and burst limits for this route",
        );
        return;
    }
    // API Gateway validates a message against its route's model before the
    // integration, and answers one that does not match itself; the connection stays.
    if let Some(Err(why)) = route.models.as_ref().map(|m| m.check(&body, binary)) {
        let _ = outbox.send(error_frame(INVALID_BODY, id, &request_id));
        gw.log(&route.key, id, 400, started.elapsed(), &why);
        return;
    }
    let (gw, id) = (gw.clone(), id.to_string());
    let in_flight = InFlight::new(&gw);
    tokio::spawn(async move {
        let _in_flight = in_flight;
        let event = json!({"requestContext": ctx, "body": body, "isBase64Encoded": binary});
        match gw.invoke(&route, event).await {
            Ok(response) => {
                if route.two_way {
                    if let Some(body) = response.get("body") {
                        let text = match body {
                            Value::String(s) => s.clone(),
                            Value::Null => String::new(),
                            other => other.to_string(),
                        };
                        if !text.is_empty() {
                            let _ = outbox.send(Message::Text(Utf8Bytes::from(text)));
                            // The frame goes out before the log line is written.
                            tokio::task::yield_now().await;
                        }
                    }
                }
                gw.log(&route.key, &id, 200, started.elapsed(), "");
            }
            Err(e) => {
                let frame = error_frame(e.client_message(), &id, &request_id);
                let _ = outbox.send(frame);
                gw.log(&route.key, &id, 500, started.elapsed(), &e.to_string());
            }
        }
    });
}
