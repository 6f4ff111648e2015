//! The AWS-compatible engines the deploy tests run against, each started once per test
//! binary on 127.0.0.1 with a free port, and gone with the test binary (the launchers in
//! tests/engine/ watch their parent):
//!
//! - moto's server (installed in .venv by .ci/run): S3, CloudFormation, Lambda, IAM,
//!   DynamoDB and Logs, without running anything (and it skips AWS::ApiGatewayV2);
//! - ministack (installed in .venv-ministack by .ci/run): CloudFormation that creates
//!   WebSocket APIs, their data plane, and the handlers' zips run as processes.

use crate::support::repo;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// An engine's server process.
pub struct Engine {
    pub endpoint: String,
    pub port: u16,
    child: Mutex<Child>,
}

impl Engine {
    /// The process id of the engine (the processes it starts are its children).
    pub fn pid(&self) -> u32 {
        self.child.lock().unwrap_or_else(|e| e.into_inner()).id()
    }
}

/// Starts `launcher` (a script of tests/engine/) with the Python of `venv` on a free
/// port; waits until it answers.
fn start(venv: &str, launcher: &str) -> Engine {
    let python = repo().join(venv).join("bin/python");
    assert!(
        python.is_file(),
        "{} is missing: run `bash .ci/run` once (it installs the AWS engines there)",
        python.display()
    );
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let name = launcher.trim_end_matches(".py");
    let log = std::fs::File::create(std::env::temp_dir().join(format!("wsgen-{name}-{port}.log")))
        .unwrap();
    let child = Command::new(&python)
        .arg(repo().join("tests/engine").join(launcher))
        .arg(port.to_string())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{launcher} did not start on port {port} (see its log in {})",
            std::env::temp_dir().display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Engine {
        endpoint: format!("http://127.0.0.1:{port}"),
        port,
        child: Mutex::new(child),
    }
}

/// The shared moto server, started on first use. Tests isolate themselves by region.
pub fn moto() -> &'static Engine {
    static MOTO: OnceLock<Engine> = OnceLock::new();
    MOTO.get_or_init(|| start(".venv", "moto_server.py"))
}

/// The shared ministack, started on first use. Tests isolate themselves by region.
pub fn ministack() -> &'static Engine {
    static MINISTACK: OnceLock<Engine> = OnceLock::new();
    MINISTACK.get_or_init(|| start(".venv-ministack", "ministack_server.py"))
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
    sdk_config_of(moto(), region).await
}

/// SDK configuration for checking an engine's state from the tests.
pub async fn sdk_config_of(engine: &Engine, region: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(wsgen_cli::cloud::aws::https_client())
        .region(aws_config::Region::new(region.to_string()))
        .endpoint_url(&engine.endpoint)
        .credentials_provider(aws_credential_types::Credentials::for_tests())
        .load()
        .await
}

impl Engine {
    /// One API call to the engine through botocore (tests/engine/aws_call.py), for
    /// services wsgen builds no SDK client for: the result, or `{"Error": {"Code", ..}}`.
    pub fn call(
        &self,
        region: &str,
        service: &str,
        operation: &str,
        params: serde_json::Value,
    ) -> serde_json::Value {
        let out = Command::new(repo().join(".venv-ministack/bin/python"))
            .arg(repo().join("tests/engine/aws_call.py"))
            .args([&self.endpoint, region, service, operation])
            .arg(params.to_string())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "aws_call.py {service} {operation}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// The processes the engine runs for functions whose names start with `prefix` (its
    /// Lambda workers: children with `AWS_LAMBDA_FUNCTION_NAME` in their environment).
    pub fn workers(&self, prefix: &str) -> Vec<String> {
        let engine = self.pid().to_string();
        let mut found = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let dir = entry.path();
            let Ok(stat) = std::fs::read_to_string(dir.join("stat")) else {
                continue;
            };
            // pid (comm) state ppid ...: comm may hold spaces, so split after its ')'.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1));
            if ppid != Some(engine.as_str()) {
                continue;
            }
            let environ = std::fs::read(dir.join("environ")).unwrap_or_default();
            for var in environ.split(|b| *b == 0) {
                if let Some(name) = var.strip_prefix(b"AWS_LAMBDA_FUNCTION_NAME=") {
                    let name = String::from_utf8_lossy(name);
                    if name.starts_with(prefix) {
                        found.push(name.into_owned());
                    }
                }
            }
        }
        found.sort();
        found
    }
}
