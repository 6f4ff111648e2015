//! The clients over TLS, as on AWS, where every endpoint is `https`: the system's roots
//! (here `SSL_CERT_FILE` naming a test CA, which is how rustls-native-certs lets a
//! system's roots be replaced), the certificate checked against the endpoint's name,
//! and one keep-alive connection through TLS for a handler's sequential calls.
//!
//! The certificates are made by the `openssl` command for each run; a TLS terminator
//! in this test forwards to the in-process fake of `@connections` and DynamoDB. A test
//! binary of its own: the roots are read once per process.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use wsgen_handler::testing::FakeAws;
use wsgen_handler::{ConnectionStore, Connections, Delivery};

/// A CA and a certificate it signed for `localhost` (only), in `dir`: `ca.pem`,
/// `leaf.pem`, `leaf.key`.
fn certificates(dir: &Path) {
    let openssl = |args: &str| {
        let out = Command::new("openssl")
            .args(args.split_whitespace())
            .current_dir(dir)
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run openssl (install it: apt install openssl): {e}")
            });
        assert!(
            out.status.success(),
            "openssl {args}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    openssl(&format!(
        "req -x509 -subj /CN=wsgen-test-CA -days 2 {ec} -keyout ca.key -out ca.pem"
    ));
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(&format!(
        "req -subj /CN=localhost {ec} -keyout leaf.key -out leaf.csr"
    ));
    openssl(
        "x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
         -extfile leaf.ext -out leaf.pem",
    );
}

/// What the terminator saw: TLS connections accepted, and the protocol each negotiated
/// (ALPN).
#[derive(Default)]
struct Seen {
    connections: AtomicUsize,
    alpn: Mutex<Vec<Option<Vec<u8>>>>,
}

/// Accepts TLS on 127.0.0.1 with `dir`'s `leaf` certificate and forwards the plaintext
/// to `backend` (which speaks HTTP/1.1 only, so that is all it offers through ALPN).
async fn terminator(dir: &Path, backend: SocketAddr) -> (SocketAddr, Arc<Seen>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(dir.join("leaf.pem"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(dir.join("leaf.key")).unwrap();
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Seen::default());
    let shared = seen.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, seen) = (acceptor.clone(), shared.clone());
            tokio::spawn(async move {
                // A client that refuses the certificate ends its handshake: nothing to do.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                seen.connections.fetch_add(1, Ordering::SeqCst);
                let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
                seen.alpn.lock().unwrap().push(alpn);
                let mut plain = tokio::net::TcpStream::connect(backend).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    (addr, seen)
}

#[tokio::test]
async fn posts_and_table_calls_go_over_tls_to_a_verified_endpoint() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    certificates(dir);
    // Before the first `https` call, which loads the roots (once per process).
    std::env::set_var("SSL_CERT_FILE", dir.join("ca.pem"));
    std::env::remove_var("SSL_CERT_DIR");

    let aws = FakeAws::start().await;
    let backend: SocketAddr = aws.domain().parse().unwrap();
    let (tls, seen) = terminator(dir, backend).await;
    let endpoint = format!("https://localhost:{}", tls.port());
    let mut config = aws.sdk_config().into_builder();
    config.set_endpoint_url(Some(endpoint.clone()));
    let config = config.build();

    // @connections: POST, GET, DELETE, all through one TLS connection (keep-alive).
    let conns = Connections::new(&config, &format!("{endpoint}/dev"));
    aws.connect("c1");
    assert_eq!(
        conns.post("c1", "over tls").await.unwrap(),
        Delivery::Delivered
    );
    assert_eq!(aws.received("c1"), ["over tls"]);
    assert!(conns.get("c1").await.unwrap().is_some());
    assert_eq!(conns.delete("c1").await.unwrap(), Delivery::Delivered);
    // The connections table, through the same pool.
    let store = ConnectionStore::new(&config, "conns");
    store.put("c2", None).await.unwrap();
    let listed: Vec<String> = store
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(listed, ["c2"]);
    assert_eq!(
        seen.connections.load(Ordering::SeqCst),
        1,
        "sequential calls reuse one TLS connection"
    );
    // HTTP/1.1: without feature `http2` the client offers no ALPN (HTTP/1.1 is then
    // the protocol); with it, h2 and http/1.1, and this endpoint picks http/1.1.
    let offered = cfg!(feature = "http2").then(|| b"http/1.1".to_vec());
    assert_eq!(*seen.alpn.lock().unwrap(), [offered]);

    // The certificate names `localhost` only: the same endpoint by address is refused,
    // with an error that says why, and nothing reaches the fake.
    let by_address = Connections::new(&config, &format!("https://127.0.0.1:{}/dev", tls.port()));
    aws.connect("c3");
    let e = by_address
        .post("c3", "never")
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("certificate"), "{e}");
    assert!(aws.received("c3").is_empty());
    assert_eq!(seen.connections.load(Ordering::SeqCst), 1);
}
