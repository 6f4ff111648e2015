//! The events handlers receive: `requestContext`, the handshake's headers and query
//! string as API Gateway maps them, and its clocks (`requestTime`, EventBridge's `time`).

use super::*;

impl Gateway {
    pub(super) fn request_context(
        &self,
        served: &Served,
        route_key: &str,
        event_type: &str,
        peer: &Peer,
    ) -> Map<String, Value> {
        let (connection_id, connected_at) = (&peer.id, peer.connected_at);
        let now = SystemTime::now();
        let request_id = self.new_id();
        let mut identity = json!({"sourceIp": peer.source_ip});
        if let Some(ua) = &peer.user_agent {
            identity["userAgent"] = json!(ua);
        }
        let mut ctx = json!({
            "routeKey": route_key,
            "eventType": event_type,
            "extendedRequestId": request_id,
            "requestTime": request_time(now),
            "messageDirection": "IN",
            "stage": served.stage,
            "connectedAt": millis(connected_at),
            "requestTimeEpoch": millis(now),
            "identity": identity,
            "requestId": request_id,
            "domainName": self.domain,
            "connectionId": connection_id,
            "apiId": served.api.id,
        });
        if event_type == "MESSAGE" {
            ctx["messageId"] = json!(self.new_id());
        }
        if let Some(a) = &peer.authorizer {
            ctx["authorizer"] = a.clone();
        }
        ctx.as_object().cloned().unwrap_or_default()
    }
}

pub(super) fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64
}

/// The civil date and time of `t` (UTC): (year, month 1-12, day, seconds of the day).
pub(super) fn civil(t: SystemTime) -> (i64, u32, u32, i64) {
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = wsgen::schedule::civil_from_days(days);
    (year, month, day, rem)
}

/// `23/Nov/2026:04:50:04 +0000`, as API Gateway writes `requestTime`.
pub(super) fn request_time(t: SystemTime) -> String {
    let (year, month, day, rem) = civil(t);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{day:02}/{}/{year}:{:02}:{:02}:{:02} +0000",
        MONTHS[(month - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `2026-11-23T04:50:04Z`, as EventBridge writes `time`.
pub fn iso_time(t: SystemTime) -> String {
    let (year, month, day, rem) = civil(t);
    format!(
        "{year}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The handshake's headers as events carry them: `headers` and `multiValueHeaders`.
pub(super) fn header_maps(headers: &HeaderMap) -> (Map<String, Value>, Map<String, Value>) {
    let (mut single, mut multi) = (Map::new(), Map::new());
    for (k, v) in headers {
        let v = v.to_str().unwrap_or("").to_string();
        single.insert(k.as_str().to_string(), json!(v));
        multi
            .entry(k.as_str().to_string())
            .or_insert_with(|| json!([]))
            .as_array_mut()
            .expect("array")
            .push(json!(v));
    }
    (single, multi)
}

pub(super) fn query_maps(query: Option<&str>) -> (Value, Value) {
    let mut single = Map::new();
    let mut multi: Map<String, Value> = Map::new();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (percent_decode(k), percent_decode(v));
        single.insert(k.clone(), json!(v));
        multi
            .entry(k)
            .or_insert_with(|| json!([]))
            .as_array_mut()
            .expect("array")
            .push(json!(v));
    }
    if single.is_empty() {
        (Value::Null, Value::Null)
    } else {
        (Value::Object(single), Value::Object(multi))
    }
}

pub(super) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match u8::from_str_radix(&s[i + 1..i + 3], 16) {
                Ok(b) => {
                    out.push(b);
                    i += 2;
                }
                Err(_) => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_as_api_gateway_and_eventbridge_write_them() {
        let t = UNIX_EPOCH + Duration::from_secs(1_795_409_404);
        assert_eq!(request_time(t), "23/Nov/2026:04:50:04 +0000");
        assert_eq!(iso_time(t), "2026-11-23T04:50:04Z");
    }
}
