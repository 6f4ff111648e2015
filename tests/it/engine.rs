//! The AWS-compatible engine the deploy tests run against: moto's server (installed in
//! .venv by .ci/run), started once per test binary on 127.0.0.1 with a free port. It
//! exits with the test binary (tests/engine/moto_server.py watches its parent).

use crate::support::repo;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

pub struct Moto {
    pub endpoint: String,
    _child: Mutex<Child>,
}

/// The shared moto server, started on first use. Tests isolate themselves by region.
pub fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| {
        let python = std::env::var_os("WSGEN_TEST_PYTHON")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| repo().join(".venv/bin/python"));
        assert!(
            python.is_file(),
            "{} is missing: run `bash .ci/run` once (it installs moto[server] there)",
            python.display()
        );
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let log =
            std::fs::File::create(std::env::temp_dir().join(format!("wsgen-moto-{port}.log")))
                .unwrap();
        let child = Command::new(&python)
            .arg(repo().join("tests/engine/moto_server.py"))
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "moto did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto {
            endpoint: format!("http://127.0.0.1:{port}"),
            _child: Mutex::new(child),
        }
    })
}

/// The environment of a wsgen run against moto: dummy credentials, no profile files,
/// no instance metadata lookups.
pub fn aws_env(cmd: &mut Command) {
    for var in [
        "AWS_PROFILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_SESSION_TOKEN",
        "AWS_MAX_ATTEMPTS",
    ] {
        cmd.env_remove(var);
    }
    let nowhere = std::env::temp_dir().join("wsgen-tests-no-aws-config");
    cmd.env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_CONFIG_FILE", &nowhere)
        .env("AWS_SHARED_CREDENTIALS_FILE", &nowhere)
        .env("AWS_EC2_METADATA_DISABLED", "true");
}

/// SDK configuration for checking moto's state from the tests.
pub async fn sdk_config(region: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_string()))
        .endpoint_url(&moto().endpoint)
        .credentials_provider(aws_credential_types::Credentials::for_tests())
        .load()
        .await
}
