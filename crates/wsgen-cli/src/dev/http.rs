//! The HTTP servers of `wsgen dev` (the gateway with its `@connections` API and page,
//! each function's Lambda Runtime API): HTTP/1.1 on a loopback listener, with what a
//! local server owes the machine it runs on:
//!
//! - a client gets [`HEADER_READ_TIMEOUT`] to send a request's headers, then the
//!   connection is closed (half-sent requests do not pile up);
//! - only requests for a loopback host are answered (`Host: 127.0.0.1:P`, `localhost`,
//!   `[::1]`): a web page that rebinds its own DNS name to 127.0.0.1 gets 403, not the
//!   app's connections (DNS rebinding);
//! - the peer's address reaches handlers as axum's `ConnectInfo<SocketAddr>`.

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, Response, StatusCode};
use axum::Router;
use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;
use tokio::net::TcpListener;

/// How long a client may take to send a request's headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `router` on `listener` until `shutdown` resolves (connections still open then
/// end with the runtime).
pub async fn serve(listener: TcpListener, router: Router, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                // Out of file descriptors, say: wait for some to be freed.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            _ = &mut shutdown => return,
        };
        // Frames and answers go out as soon as they are written (no Nagle delay behind
        // an unacknowledged segment): each is a message someone waits for.
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
            let router = router.clone();
            async move {
                if let Some(host) = foreign_host(&req) {
                    return Ok::<_, Infallible>(refuse_host(&host));
                }
                req.extensions_mut().insert(ConnectInfo(peer));
                use tower::ServiceExt;
                router.oneshot(req.map(Body::new)).await
            }
        });
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .with_upgrades()
                .await;
        });
    }
}

/// The request's `Host` when it is not a loopback name or address.
fn foreign_host<B>(req: &Request<B>) -> Option<String> {
    let host = req.headers().get("host")?;
    let host = String::from_utf8_lossy(host.as_bytes()).into_owned();
    (!is_loopback(&host)).then_some(host)
}

/// `127.0.0.1:3001`, `localhost`, `app.localhost:3001`, `[::1]:3001`: names that only
/// ever reach this machine.
pub fn is_loopback(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => match host.rsplit_once(':') {
            Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
            _ => host,
        },
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn refuse_host(host: &str) -> Response<Body> {
    let mut response = Response::new(Body::from(format!(
        "wsgen dev answers requests for 127.0.0.1 and localhost only, not for `{host}`\n"
    )));
    *response.status_mut() = StatusCode::FORBIDDEN;
    response
}

#[cfg(test)]
mod tests {
    use super::is_loopback;

    #[test]
    fn loopback_hosts() {
        for ok in [
            "127.0.0.1:3001",
            "127.0.0.1",
            "localhost:3001",
            "LOCALHOST.",
            "app.localhost:80",
            "[::1]:3001",
            "127.1.2.3:9",
        ] {
            assert!(is_loopback(ok), "{ok}");
        }
        for bad in [
            "attacker.example:3001",
            "localhost.attacker.example",
            "10.0.0.1:3001",
            "[::2]:3001",
            "",
            "127.0.0.1.nip.io:3001",
        ] {
            assert!(!is_loopback(bad), "{bad}");
        }
    }
}
