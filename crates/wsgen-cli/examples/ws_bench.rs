//! Load for `wsgen dev` (see bench/dev.sh and BENCHMARKS.md):
//!
//! - `ws_bench roundtrip URL MESSAGE COUNT`: one client sends MESSAGE and waits for the
//!   reply, COUNT times; prints p50, p99 and the mean round trip.
//! - `ws_bench broadcast URL MESSAGE CLIENTS ROUNDS`: CLIENTS connect; the first sends
//!   MESSAGE (a chat broadcast) ROUNDS times; prints how long until every other client
//!   has the message (p50 and max over the rounds).
//! - `ws_bench idle URL CLIENTS`: opens CLIENTS connections, prints `open`, and holds
//!   them until stdin closes.
//! - `ws_bench echo-server`: a bare tokio-tungstenite server on 127.0.0.1 (the
//!   ceiling): echoes messages, and sends `{"action":"sendmessage","data":D}`'s D to
//!   every other client; prints its URL.

use futures_util::{SinkExt, StreamExt};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(url: &str) -> Socket {
    tokio_tungstenite::connect_async(url)
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"))
        .0
}

async fn next_text(s: &mut Socket) -> String {
    loop {
        match tokio::time::timeout(Duration::from_secs(30), s.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return t.to_string(),
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            other => panic!("expected a text message, got {other:?}"),
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

async fn roundtrip(url: &str, message: &str, count: usize) {
    let mut s = connect(url).await;
    // Warm up: start the handler's instances.
    for _ in 0..20 {
        s.send(Message::text(message)).await.unwrap();
        next_text(&mut s).await;
    }
    let mut times = Vec::with_capacity(count);
    for _ in 0..count {
        let start = Instant::now();
        s.send(Message::text(message)).await.unwrap();
        next_text(&mut s).await;
        times.push(start.elapsed());
    }
    times.sort();
    let mean = times.iter().sum::<Duration>() / count as u32;
    println!(
        "roundtrip {count} messages: p50 {} p99 {} mean {}",
        ms(percentile(&times, 0.5)),
        ms(percentile(&times, 0.99)),
        ms(mean)
    );
}

async fn broadcast(url: &str, message: &str, clients: usize, rounds: usize) {
    let started = Instant::now();
    let mut sockets = Vec::with_capacity(clients);
    for chunk in 0..clients.div_ceil(100) {
        let n = (clients - chunk * 100).min(100);
        let batch = futures_util::future::join_all((0..n).map(|_| connect(url))).await;
        sockets.extend(batch);
    }
    println!("{clients} clients connected in {}", ms(started.elapsed()));
    let mut sender = sockets.remove(0);
    let mut times = Vec::new();
    for _ in 0..rounds {
        let start = Instant::now();
        sender.send(Message::text(message)).await.unwrap();
        let receivers = sockets.iter_mut().map(|s| async move {
            next_text(s).await;
            start.elapsed()
        });
        let all = futures_util::future::join_all(receivers).await;
        times.push(all.into_iter().max().unwrap_or_default());
    }
    times.sort();
    let p50 = percentile(&times, 0.5);
    println!(
        "broadcast to {} clients, {rounds} rounds: p50 {} max {} ({:.0} deliveries/s at p50)",
        clients - 1,
        ms(p50),
        ms(*times.last().unwrap()),
        (clients - 1) as f64 / p50.as_secs_f64()
    );
}

async fn idle(url: &str, clients: usize) {
    let started = Instant::now();
    let mut sockets = Vec::with_capacity(clients);
    for chunk in 0..clients.div_ceil(200) {
        let n = (clients - chunk * 200).min(200);
        let batch = futures_util::future::join_all((0..n).map(|_| connect(url))).await;
        sockets.extend(batch);
    }
    println!("open {clients} in {}", ms(started.elapsed()));
    // Hold them until stdin closes.
    let _ = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
    })
    .await;
    drop(sockets);
}

async fn echo_server() {
    use std::sync::{Arc, Mutex};
    type Peers = Arc<Mutex<Vec<(u64, tokio::sync::mpsc::UnboundedSender<Message>)>>>;
    let peers: Peers = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("ws://{}", listener.local_addr().unwrap());
    for id in 0u64.. {
        let (stream, _) = listener.accept().await.unwrap();
        let peers = peers.clone();
        tokio::spawn(async move {
            let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
                return;
            };
            let (mut sink, mut stream) = ws.split();
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Message>();
            peers.lock().unwrap().push((id, tx.clone()));
            let writer = tokio::spawn(async move {
                while let Some(m) = rx.recv().await {
                    if sink.send(m).await.is_err() {
                        break;
                    }
                }
            });
            while let Some(Ok(m)) = stream.next().await {
                let Message::Text(text) = &m else { continue };
                // The chat protocol's broadcast, done in the server itself: the ceiling
                // for wsgen dev's (which goes through a handler, DynamoDB and
                // @connections); anything else is echoed.
                let v: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
                if v["action"] == "sendmessage" {
                    let data = Message::text(v["data"].as_str().unwrap_or_default());
                    for (other, peer) in peers.lock().unwrap().iter() {
                        if *other != id {
                            let _ = peer.send(data.clone());
                        }
                    }
                } else if tx.send(m).is_err() {
                    break;
                }
            }
            peers.lock().unwrap().retain(|(other, _)| *other != id);
            writer.abort();
        });
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| -> &str {
        args.get(i)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("usage: see examples/ws_bench.rs"))
    };
    let number = |i: usize| -> usize { arg(i).parse().expect("a number") };
    match arg(0) {
        "roundtrip" => roundtrip(arg(1), arg(2), number(3)).await,
        "broadcast" => broadcast(arg(1), arg(2), number(3), number(4)).await,
        "idle" => idle(arg(1), number(2)).await,
        "echo-server" => echo_server().await,
        other => panic!("unknown mode {other}: see examples/ws_bench.rs"),
    }
}
