//! `post-cpu serve`: the fake `@connections` API on loopback, its URL on stdout, until
//! stdin closes.
//! `post-cpu measure URL N [wsgen|sdk]`: N sequential posts with each client (or the
//! one named, for a profiler), alternating rounds, and the process's CPU time (user +
//! system, getrusage) per post for each.

use aws_sdk_apigatewaymanagement as sdk;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use wsgen_handler::testing::FakeAws;
use wsgen_handler::{Connections, Delivery};

/// Connections the fake knows (posts go round them).
const IDS: usize = 100;
const ROUNDS: usize = 5;

fn cpu() -> Duration {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes the struct it is given.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let t = |tv: libc::timeval| Duration::new(tv.tv_sec as u64, tv.tv_usec as u32 * 1000);
    t(usage.ru_utime) + t(usage.ru_stime)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("serve") => {
            let aws = FakeAws::start().await;
            for i in 0..IDS {
                aws.connect(&format!("conn-{i}="));
            }
            println!("{}", aws.endpoint());
            // Forget what was received, so memory stays flat over long runs.
            let state = aws.state.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    let mut s = state.lock().unwrap();
                    s.log.clear();
                    for c in s.connections.values_mut() {
                        c.received.clear();
                    }
                }
            });
            let mut buf = [0u8; 1];
            let _ = tokio::io::stdin().read(&mut buf).await;
        }
        Some("measure") => {
            let url = &args[1];
            let n: usize = args[2].parse().expect("N");
            // `wsgen` or `sdk`: that client only, for a profiler.
            measure(url, n, args.get(3).map(String::as_str)).await;
        }
        _ => {
            eprintln!("usage: post-cpu serve | post-cpu measure URL N");
            std::process::exit(2);
        }
    }
}

async fn measure(url: &str, n: usize, only: Option<&str>) {
    let config = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(
            aws_sdk_apigatewaymanagement::config::SharedCredentialsProvider::new(
                aws_sdk_apigatewaymanagement::config::Credentials::new(
                    "AKIDEXAMPLE",
                    "secret",
                    Some("session-token".into()),
                    None,
                    "bench",
                ),
            ),
        )
        .build();
    let stage = format!("{url}/live");
    let ours = Connections::new(&config, &stage);
    let theirs = sdk::Client::from_conf(
        sdk::config::Builder::from(&config)
            .endpoint_url(&stage)
            .build(),
    );
    let message = br#"{"from":"bench","data":"a chat message of about sixty bytes."}"#;
    let id = |i: usize| format!("conn-{}=", i % IDS);
    let sdk_post = |i: usize| {
        theirs
            .post_to_connection()
            .connection_id(id(i))
            .data(message.to_vec().into())
            .send()
    };
    // Warm both: connections pooled, credentials cached, code paged in.
    for i in 0..200 {
        assert_eq!(
            ours.post(&id(i), &message[..]).await.unwrap(),
            Delivery::Delivered
        );
        sdk_post(i).await.unwrap();
    }
    let (mut ours_cpu, mut theirs_cpu) = (Duration::ZERO, Duration::ZERO);
    let (mut ours_wall, mut theirs_wall) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..ROUNDS {
        let (c, w) = (cpu(), Instant::now());
        for i in 0..n {
            if only == Some("sdk") {
                break;
            }
            ours.post(&id(i), &message[..]).await.unwrap();
        }
        ours_wall += w.elapsed();
        ours_cpu += cpu() - c;
        let (c, w) = (cpu(), Instant::now());
        for i in 0..n {
            if only == Some("wsgen") {
                break;
            }
            sdk_post(i).await.unwrap();
        }
        theirs_wall += w.elapsed();
        theirs_cpu += cpu() - c;
    }
    if only.is_some() {
        return;
    }
    let per = |d: Duration| d.as_secs_f64() * 1e6 / (n * ROUNDS) as f64;
    println!(
        "wsgen-handler Connections::post: {:.1} µs CPU per post ({:.1} µs wall)",
        per(ours_cpu),
        per(ours_wall)
    );
    println!(
        "AWS SDK PostToConnection:        {:.1} µs CPU per post ({:.1} µs wall)",
        per(theirs_cpu),
        per(theirs_wall)
    );
    println!(
        "ratio (SDK / wsgen-handler): {:.1}x",
        theirs_cpu.as_secs_f64() / ours_cpu.as_secs_f64()
    );
}
