//! The real `wsgen` binary on fixture projects copied to temporary directories:
//! exit code, stdout and stderr snapshotted, paths filtered.

use crate::support::{cfn_lint, fixture, library, repo};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// Infra builds share one target directory (so the wsgen library compiles once); runs
/// are serialized so that no build replaces a binary another test is about to link.
static BUILDS: Mutex<()> = Mutex::new(());

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn snapshot(&self) -> String {
        format!(
            "exit: {}\n----- stdout -----\n{}----- stderr -----\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Where the wsgen the tests run keeps its data (the library sources the projects that
/// `wsgen new` makes build with): one directory, so their builds share those crates.
pub fn data_dir() -> PathBuf {
    fixture_target().with_file_name("wsgen-data")
}

/// Where the fixtures' infra crates build: under `$CARGO_TARGET_DIR` when set (a
/// persistent cache in CI), else under this checkout's `target/`.
fn fixture_target() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target"))
        .join("fixtures")
}

/// A copy of a fixture project whose wsgen dependency points at this checkout.
pub struct Project {
    /// The temporary directory the copy lives in (none for the shared stock project).
    _tmp: Option<tempfile::TempDir>,
    pub dir: PathBuf,
    /// Where its crates build.
    pub target: PathBuf,
}

impl Project {
    /// A copy of fixture `name` whose infra package is renamed `{name}-infra-{tag}`.
    /// Cargo identifies path packages by their path inside the workspace, so two copies
    /// of one fixture would share a build unit in the shared target directory (and
    /// cargo's mtime check could hand one copy the other's binary): each test copy gets
    /// its own package name.
    pub fn new(name: &str, tag: &str) -> Project {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join(name);
        copy_dir(&fixture(name), &dir);
        let library = library().to_str().unwrap().replace('\\', "/");
        let package = format!("name = \"{name}-infra\"");
        let renamed = format!("name = \"{name}-infra-{tag}\"");
        for file in ["infra/Cargo.toml", "Cargo.lock"] {
            let text = std::fs::read_to_string(dir.join(file)).unwrap();
            assert!(text.contains(&package), "{file} names {package}");
            let lambdas = repo().join("lambdas");
            let lambdas = lambdas.to_str().unwrap().replace('\\', "/");
            let text = text
                .replace(&package, &renamed)
                .replace(
                    "path = \"../../../../crates/wsgen\"",
                    &format!("path = \"{library}\""),
                )
                .replace(
                    "path = \"../../../../lambdas/",
                    &format!("path = \"{lambdas}/"),
                );
            std::fs::write(dir.join(file), text).unwrap();
        }
        // The chat fixture's app is the chat blueprint's, included by a relative path
        // into the checkout: the copy gets its own copy of that file, outside its infra
        // crate as in the checkout.
        let main = dir.join("infra/src/main.rs");
        let text = std::fs::read_to_string(&main).unwrap();
        let included = "../../../../../blueprints/chat/infra/src/lib.rs";
        if text.contains(included) {
            std::fs::create_dir_all(dir.join("blueprint")).unwrap();
            std::fs::copy(
                repo().join("blueprints/chat/infra/src/lib.rs"),
                dir.join("blueprint/lib.rs"),
            )
            .unwrap();
            std::fs::write(&main, text.replace(included, "../../blueprint/lib.rs")).unwrap();
        }
        Project {
            _tmp: Some(tmp),
            dir,
            target: fixture_target(),
        }
    }

    /// The `stock` fixture with the repository's handler crates and lockfile copied in,
    /// at `$CARGO_TARGET_DIR/stock-project/stock` (replaced on each run, never leaked);
    /// it builds in a target directory of its own.
    fn stock() -> Project {
        let parent = fixture_target().with_file_name("stock-project");
        let _ = std::fs::remove_dir_all(&parent);
        let dir = parent.join("stock");
        copy_dir(&fixture("stock"), &dir);
        copy_dir(&repo().join("lambdas"), &dir.join("lambdas"));
        copy_dir(&repo().join("tests/handlers"), &dir.join("tests/handlers"));
        std::fs::copy(repo().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
        let manifest = dir.join("infra/Cargo.toml");
        let text = std::fs::read_to_string(&manifest).unwrap();
        let library = library().to_str().unwrap().replace('\\', "/");
        std::fs::write(
            &manifest,
            text.replace(
                "path = \"../../../../crates/wsgen\"",
                &format!("path = \"{library}\""),
            ),
        )
        .unwrap();
        let target = fixture_target().with_file_name("fixtures-stock");
        Project {
            _tmp: None,
            dir,
            target,
        }
    }

    /// The stock project's first bundle (`wsgen.out` as `stock_bundled` left it).
    pub fn bundled(&self) -> PathBuf {
        self.dir.with_file_name("bundled")
    }

    /// The stock fixture, bundled (release) once per test run and shared: building the
    /// seven handlers is the most expensive step of the suite.
    pub fn stock_bundled() -> &'static Project {
        static STOCK: std::sync::OnceLock<Project> = std::sync::OnceLock::new();
        STOCK.get_or_init(|| {
            let p = Project::stock();
            let run = p.wsgen(&["bundle"]);
            assert_eq!(run.code, 0, "{}", run.stderr);
            // A copy the tests read, whatever later runs (wsgen dev's watch) rebuild.
            copy_dir(&p.dir.join("wsgen.out"), &p.bundled());
            p
        })
    }

    pub fn empty() -> Project {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        Project {
            _tmp: Some(tmp),
            dir,
            target: fixture_target(),
        }
    }

    /// The same temporary directory, seen from its subdirectory `name` (a project
    /// `wsgen new` made there), building in the stock project's target directory
    /// (where the handlers' dependencies are built).
    pub fn new_project(mut self, name: &str) -> Project {
        self.dir = self.dir.join(name);
        self.target = fixture_target().with_file_name("fixtures-stock");
        self
    }

    pub fn wsgen(&self, args: &[&str]) -> Run {
        self.wsgen_with_path(args, None)
    }

    /// `wsgen` with `dirs` put in front of PATH.
    pub fn wsgen_with_path(&self, args: &[&str], dirs: Option<&str>) -> Run {
        self.wsgen_with(args, |cmd| {
            if let Some(dirs) = dirs {
                cmd.env(
                    "PATH",
                    format!("{dirs}:{}", std::env::var("PATH").unwrap_or_default()),
                );
            }
        })
    }

    /// `wsgen` with its command adjusted by `configure` (environment variables), which
    /// runs last: what it sets wins.
    pub fn wsgen_with(&self, args: &[&str], configure: impl FnOnce(&mut Command)) -> Run {
        let _guard = BUILDS.lock().unwrap_or_else(|e| e.into_inner());
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wsgen"));
        cmd.args(args)
            .current_dir(&self.dir)
            // Logging only where a test asks for it.
            .env_remove("RUST_LOG")
            .env("WSGEN_DATA_DIR", data_dir())
            .env("CARGO_TARGET_DIR", &self.target)
            .env("CARGO_TERM_QUIET", "true")
            .env("CARGO_TERM_COLOR", "never")
            .env("NO_COLOR", "1")
            .env_remove("WSGEN_OUTDIR")
            .env_remove("WSGEN_PROJECT_DIR");
        configure(&mut cmd);
        let out = cmd.output().unwrap();
        let filter = |s: &[u8]| {
            let s = String::from_utf8_lossy(s).into_owned();
            let s = s.replace(self.dir.to_str().unwrap(), "[PROJECT]");
            s.replace(repo().to_str().unwrap(), "[REPO]")
        };
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: filter(&out.stdout),
            stderr: filter(&out.stderr),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    pub fn write(&self, rel: &str, text: &str) {
        std::fs::write(self.path(rel), text).unwrap();
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let name = e.file_name();
        if ["target", "wsgen.out", "cdk-like.out"].contains(&name.to_str().unwrap()) {
            continue;
        }
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(&name));
        } else {
            // New modification times: cargo rebuilds the copy's crates even where an
            // earlier copy, edited by a test (dev's watch test edits whoami), built
            // them into the same target directory.
            std::fs::copy(e.path(), to.join(&name)).unwrap();
        }
    }
}

#[test]
fn synth_chat_writes_the_assembly_and_prints_yaml() {
    let p = Project::new("chat", "yaml");
    let first = p.wsgen(&["synth"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    insta::assert_snapshot!("synth-chat", first.snapshot());
    let template = p.read("wsgen.out/Chat.template.json");
    let manifest = p.read("wsgen.out/manifest.json");
    insta::assert_snapshot!("synth-chat-template", template);
    insta::assert_snapshot!("synth-chat-manifest", manifest);
    // The stack's AsyncAPI document, beside its template, parses.
    let document = p.read("wsgen.out/Chat.asyncapi.yaml");
    let parsed = crate::asyncapi::parse(&p.path("wsgen.out/Chat.asyncapi.yaml"));
    assert_eq!(
        parsed["operations"]["sendmessage"]["messages"][0],
        "SendMessage"
    );

    // Both forms pass cfn-lint.
    p.write("Chat.template.yaml", &first.stdout);
    cfn_lint(&[
        p.path("wsgen.out/Chat.template.json"),
        p.path("Chat.template.yaml"),
    ]);
    // And say the same: the YAML read back is the JSON template.
    let yaml: serde_json::Value = serde_saphyr::from_str(&first.stdout).unwrap();
    let json: serde_json::Value = serde_json::from_str(&template).unwrap();
    assert_eq!(yaml, json);

    // Again: byte-identical, and no cargo at all (its sources did not change).
    let second = p.wsgen(&["synth"]);
    assert_eq!(second.code, 0);
    assert_eq!(second.stdout, first.stdout);
    assert_eq!(second.stderr, first.stderr);
    assert_eq!(p.read("wsgen.out/Chat.template.json"), template);
    assert_eq!(p.read("wsgen.out/manifest.json"), manifest);
    assert_eq!(p.read("wsgen.out/Chat.asyncapi.yaml"), document);
    assert!(!p.path("wsgen.out").read_dir().unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with(".staging")));

    // --json prints the file's bytes.
    let json = p.wsgen(&["synth", "--json", "--quiet"]);
    assert_eq!((json.code, json.stderr.as_str()), (0, ""));
    assert_eq!(json.stdout, template);
}

/// `wsgen client`: the chat app's module on stdout (TypeScript by default), or written
/// to a file whole; `--json`; a stack without a WebSocket API is refused with exit 2.
#[test]
fn client_generates_the_module() {
    let p = Project::new("chat", "client");
    let ts = p.wsgen(&["client"]);
    assert_eq!(ts.code, 0, "{}", ts.stderr);
    assert!(
        ts.stdout.contains("export class ChatApiClient {"),
        "{}",
        ts.stdout
    );
    assert!(ts
        .stdout
        .contains("sendmessage(message: Omit<ChatApiSendMessage, \"action\">): void"));
    let js = p.wsgen(&["client", "--lang", "js", "--out", "web/client.js"]);
    assert_eq!((js.code, js.stdout.as_str()), (0, ""), "{}", js.stderr);
    insta::assert_snapshot!("client-out", js.snapshot());
    let written = p.read("web/client.js");
    assert!(written.contains("@param {Omit<ChatApiSendMessage, \"action\">} message"));
    let json = p.wsgen(&["client", "--json", "-q"]);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(
        (v["stack"].as_str(), v["module"].as_str()),
        (Some("Chat"), Some(ts.stdout.as_str()))
    );
    let unknown = p.wsgen(&["client", "Nope"]);
    insta::assert_snapshot!("client-unknown-stack", unknown.snapshot());
    assert_eq!(unknown.code, 2);
}

#[test]
fn synth_rebuilds_when_the_infra_changes() {
    let p = Project::new("chat", "rebuild");
    assert_eq!(p.wsgen(&["synth"]).code, 0);
    // The app is in a file outside the infra crate (`#[path]`): what the compiler read
    // is part of the cache key, wherever it is.
    let app = p.read("blueprint/lib.rs");
    p.write(
        "blueprint/lib.rs",
        &app.replace(".memory(256)", ".memory(512)"),
    );
    let run = p.wsgen(&["synth", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("\"MemorySize\": 512"));
    let main = p.read("infra/src/main.rs");
    p.write("infra/src/main.rs", &main.replace("\"Chat\"", "\"Lobby\""));
    // `--quiet` quiets cargo's lines too (the rebuild's `Compiling`, `Finished`), which
    // the other runs quiet through cargo's own setting.
    let run = p.wsgen_with(&["synth", "-q"], |cmd| {
        cmd.env_remove("CARGO_TERM_QUIET");
    });
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stderr, "");
    assert!(p.dir.join("wsgen.out/Lobby.template.json").is_file());
    // A handler's sources change its asset's fingerprint.
    let before = p.read("wsgen.out/manifest.json");
    p.write(
        "lambdas/sendmessage/src/main.rs",
        "fn main() { println!(\"changed\"); }\n",
    );
    assert_eq!(p.wsgen(&["synth", "-q"]).code, 0);
    let after = p.read("wsgen.out/manifest.json");
    assert_ne!(before, after);
    let changed = |m: &str| {
        serde_json::from_str::<serde_json::Value>(m).unwrap()["assets"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<std::collections::BTreeSet<_>>()
    };
    assert_eq!(
        changed(&before).difference(&changed(&after)).count(),
        1,
        "only the sendmessage asset changes"
    );
}

#[test]
fn synth_multiple_stacks() {
    let p = Project::new("full", "stacks");
    let all = p.wsgen(&["synth"]);
    insta::assert_snapshot!("synth-full-all", all.snapshot());
    assert!(
        p.path("cdk-like.out/Realtime.template.json").is_file(),
        "wsgen.toml's `out` is used"
    );
    assert!(
        p.path("cdk-like.out/Realtime.asyncapi.yaml").is_file()
            && !p.path("cdk-like.out/Ops.asyncapi.yaml").exists(),
        "a document for the stack with a WebSocket API only"
    );
    let one = p.wsgen(&["synth", "Realtime", "--quiet"]);
    assert_eq!(one.code, 0);
    insta::assert_snapshot!("synth-full-realtime-yaml", one.stdout);
    p.write("Realtime.template.yaml", &one.stdout);
    cfn_lint(&[
        p.path("Realtime.template.yaml"),
        p.path("cdk-like.out/Ops.template.json"),
        p.path("cdk-like.out/Realtime.template.json"),
    ]);
    let both = p.wsgen(&["synth", "Ops", "Realtime", "--json", "-q"]);
    let v: serde_json::Value = serde_json::from_str(&both.stdout).unwrap();
    assert_eq!(
        v.as_object().unwrap().keys().collect::<Vec<_>>(),
        vec!["Ops", "Realtime"]
    );
    let unknown = p.wsgen(&["synth", "Nope"]);
    insta::assert_snapshot!("synth-unknown-stack", unknown.snapshot());
    let out = p.wsgen(&["synth", "--out", "elsewhere", "Ops", "-q"]);
    assert_eq!(out.code, 0);
    assert!(
        p.path("elsewhere/Ops.template.json").is_file()
            && p.path("elsewhere/manifest.json").is_file()
    );
}

const INVALID_APP: &str = r#"use wsgen::prelude::*;
fn main() {
    let app = App::new();
    let stack = app.stack("Chat");
    let f = stack.rust_function("OnConnect", "lambdas/onconnect").memory(64).env("AWS_REGION", "x");
    let api = stack.websocket_api("ChatApi").on_connect(&f).route("sendmessage", &f).route("sendmessage", &f);
    let auth = api.lambda_authorizer("Auth", &f);
    let _ = api.add_route("admin").integration(Integration::mock().timeout(Duration::from_secs(30))).authorizer(&auth);
    let _ = api.stage("prod stage");
    let _ = stack.rust_function("Missing", "lambdas/missing");
    app.synth();
}
"#;

#[test]
fn validation_errors_exit_2_and_keep_the_previous_output() {
    let p = Project::new("chat", "invalid");
    assert_eq!(p.wsgen(&["synth", "-q"]).code, 0);
    let (template, manifest) = (
        p.read("wsgen.out/Chat.template.json"),
        p.read("wsgen.out/manifest.json"),
    );
    p.write("infra/src/main.rs", INVALID_APP);
    let run = p.wsgen(&["synth"]);
    insta::assert_snapshot!("synth-validation-errors", run.snapshot());
    assert_eq!(run.code, 2);
    assert_eq!(p.read("wsgen.out/Chat.template.json"), template);
    assert_eq!(p.read("wsgen.out/manifest.json"), manifest);
    let json = p.wsgen(&["synth", "--json", "-q"]);
    assert_eq!(json.code, 2);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["error"], "validation");
    assert_eq!(
        v["problems"].as_array().unwrap().len(),
        7,
        "{}",
        json.stdout
    );
    assert_eq!(v["problems"][0]["rule"], "function-memory");
}

#[test]
fn compiler_errors_are_shown_as_cargo_shows_them() {
    let p = Project::new("chat", "compile");
    let good = p.wsgen(&["synth", "-q"]);
    assert_eq!(good.code, 0, "{}", good.stderr);
    let template = p.read("wsgen.out/Chat.template.json");
    p.write(
        "infra/src/main.rs",
        "fn main() { let x: u32 = \"not a number\"; }\n",
    );
    let run = p.wsgen(&["synth"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("error[E0308]: mismatched types"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("infra/src/main.rs:1:"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("error: the infra crate [PROJECT]/infra did not build"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stdout, "");
    assert_eq!(p.read("wsgen.out/Chat.template.json"), template);
}

#[test]
fn a_panicking_infra_program_is_a_failure() {
    let p = Project::new("chat", "panic");
    p.write("infra/src/main.rs", "fn main() { panic!(\"boom\"); }\n");
    let run = p.wsgen(&["synth"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("boom"));
    assert!(
        run.stderr.contains(
            "error: the infra program [PROJECT]/wsgen.out/.cache/infra failed (exit status: 101)"
        ),
        "{}",
        run.stderr
    );
    assert!(!p.path("wsgen.out/manifest.json").exists());
}

#[test]
fn project_errors() {
    let none = Project::empty().wsgen(&["synth"]);
    insta::assert_snapshot!("synth-no-project", none.snapshot());
    let p = Project::new("chat", "project");
    p.write("wsgen.toml", "infra = \"infra\"\nstacks = 3\n");
    insta::assert_snapshot!("synth-bad-project-file", p.wsgen(&["synth"]).snapshot());
    p.write("wsgen.toml", "infra = \"nowhere\"\n");
    let missing = p.wsgen(&["synth"]);
    assert_eq!(missing.code, 2);
    assert!(
        missing
            .stderr
            .contains("the infra crate [PROJECT]/nowhere has no Cargo.toml"),
        "{}",
        missing.stderr
    );
    // A failure at run time (not of the input) exits 1, its cause said once.
    p.write("wsgen.toml", "infra = \"infra\"\n");
    let unwritable = p.wsgen(&["synth", "--out", "/proc/wsgen.out"]);
    insta::assert_snapshot!("synth-unwritable-out", unwritable.snapshot());
    // `wsgen dev` asked for a stage the app does not have: the user's input (exit 2),
    // refused before anything listens.
    let no_stage = p.wsgen(&["dev", "--stage", "nope", "--port", "0", "--no-watch", "-q"]);
    insta::assert_snapshot!("dev-no-such-stage", no_stage.snapshot());
    let usage = p.wsgen(&["synth", "--bogus"]);
    assert_eq!(usage.code, 2);
    assert!(usage.stderr.contains("unexpected argument '--bogus'"));
    let help = p.wsgen(&["--help"]);
    insta::assert_snapshot!("help", help.snapshot());
}

/// A reader that stops reading (`wsgen ... | head`) ends the command quietly: no
/// panic, the command's own exit code.
#[test]
fn a_closed_stdout_ends_quietly() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wsgen"))
        .args(["completions", "bash"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).as_ref()
        ),
        (Some(0), "")
    );
}

/// `wsgen connect` refuses what it cannot connect to with the problem and the fix.
#[test]
fn connect_refusals() {
    let p = Project::empty();
    for (name, args) in [
        ("no-project", &["connect", "--send", "x"][..]),
        (
            "http-url",
            &["connect", "--url", "http://127.0.0.1:9/dev", "--send", "x"][..],
        ),
        (
            "bad-header",
            &["connect", "--url", "ws://127.0.0.1:9/", "-H", "nocolon"][..],
        ),
    ] {
        let run = p.wsgen(args);
        assert_ne!(run.code, 0, "{name}: {}", run.stderr);
        insta::assert_snapshot!(format!("connect-{name}"), run.snapshot());
    }
    // In a project without a running `wsgen dev`, it says that it looks for the
    // deployed stack before AWS's configuration fails it.
    let p = Project::new("chat", "connect");
    assert_eq!(p.wsgen(&["synth", "-q"]).code, 0);
    let run = p.wsgen_with(&["connect", "--send", "x"], |cmd| {
        for var in ["AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"] {
            cmd.env_remove(var);
        }
        cmd.env("AWS_CONFIG_FILE", "/nonexistent")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent");
    });
    assert_eq!(run.code, 1, "{}", run.stderr);
    insta::assert_snapshot!("connect-no-dev-no-region", run.snapshot());
}

/// `wsgen dev` on a port in use says so at once, before building anything, in one line
/// with the fix.
#[test]
fn dev_on_a_port_in_use_fails_before_building() {
    let p = Project::new("chat", "port");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let mut run = p.wsgen(&["dev", "--port", &port]);
    run.stderr = run.stderr.replace(&port, "[PORT]");
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(!p.path("wsgen.out").exists(), "nothing was built");
    insta::assert_snapshot!("dev-port-in-use", run.snapshot());
}

/// `wsgen completions SHELL` prints a script that knows the commands.
#[test]
fn completions_know_the_commands() {
    let p = Project::empty();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let run = p.wsgen(&["completions", shell]);
        assert_eq!(run.code, 0, "{shell}: {}", run.stderr);
        assert!(
            run.stdout.contains("deploy") && run.stdout.contains("endpoint-url"),
            "{shell}"
        );
    }
    assert_eq!(p.wsgen(&["completions", "tcsh"]).code, 2);
    insta::assert_snapshot!("completions-bash", p.wsgen(&["completions", "bash"]).stdout);
}

/// The command line's conventions, refused in one line each with the fix (exit 2):
/// durations that are zero or overflow, `--profile` where cargo's words are meant, a
/// shell without completions.
#[test]
fn refusals_of_the_command_line() {
    let p = Project::empty();
    for (name, args) in [
        ("zero-duration", &["dev", "--idle-timeout", "0s"][..]),
        (
            "huge-duration",
            &["dev", "--idle-timeout", "99999999999999999999999h"],
        ),
        (
            "long-duration",
            &["dev", "--max-connection-duration", "3000000000000000h"],
        ),
        ("zero-schedule", &["dev", "--schedule-interval", "0s"]),
        ("build-profile", &["bundle", "--profile", "release"]),
        ("no-such-shell", &["completions", "tcsh"]),
    ] {
        let run = p.wsgen(args);
        assert_eq!(run.code, 2, "{name}: {}", run.stderr);
        insta::assert_snapshot!(format!("refused-{name}"), run.snapshot());
    }
}

#[test]
fn every_command_has_help() {
    let p = Project::empty();
    for command in [
        "synth",
        "bundle",
        "bootstrap",
        "deploy",
        "destroy",
        "diff",
        "dev",
        "new",
        "completions",
        "connect",
        "logs",
        "client",
    ] {
        let help = p.wsgen(&[command, "--help"]);
        assert_eq!(help.code, 0, "{}", help.stderr);
        insta::assert_snapshot!(format!("help-{command}"), help.snapshot());
    }
}

/// The entries of a zip: (name, unix mode, contents).
pub fn zip_entries(path: &Path) -> Vec<(String, u32, Vec<u8>)> {
    use std::io::Read;
    let mut archive = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    (0..archive.len())
        .map(|i| {
            let mut e = archive.by_index(i).unwrap();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            (
                e.name().unwrap().to_string(),
                e.unix_mode().unwrap_or(0),
                data,
            )
        })
        .collect()
}

fn manifest(p: &Project) -> serde_json::Value {
    serde_json::from_str(&p.read("wsgen.out/manifest.json")).unwrap()
}

#[test]
fn bundle_packages_every_handler_reproducibly_and_caches() {
    let p = Project::new("chat", "bundle");
    let first = p.wsgen(&["bundle"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(
        first
            .stderr
            .contains("building 4 handler crates for x86_64 (release profile"),
        "{}",
        first.stderr
    );
    let m = manifest(&p);
    let assets = m["assets"].as_object().unwrap();
    assert_eq!(assets.len(), 4, "one zip per function");
    let mut shas = Vec::new();
    for (fp, asset) in assets {
        let bundle = &asset["bundle"];
        let file = p.path(&format!("wsgen.out/{}", bundle["file"].as_str().unwrap()));
        assert_eq!(file, p.path(&format!("wsgen.out/assets/{fp}.zip")));
        let bytes = std::fs::read(&file).unwrap();
        assert_eq!(bundle["size"], bytes.len());
        let sha = sha256_hex(&bytes);
        assert_eq!(bundle["sha256"], sha.as_str());
        let entries = zip_entries(&file);
        assert_eq!(entries.len(), 1, "exactly one entry");
        let (name, mode, data) = &entries[0];
        assert_eq!(name, "bootstrap");
        assert_eq!(mode & 0o777, 0o755, "executable");
        assert_eq!(&data[..4], b"\x7fELF");
        wsgen_cli::check_binary(data, wsgen::Architecture::X86_64).unwrap();
        let mut archive = zip::ZipArchive::new(std::fs::File::open(&file).unwrap()).unwrap();
        assert_eq!(
            archive.by_index(0).unwrap().compression(),
            zip::CompressionMethod::Deflated,
            "deployable zips are deflated"
        );
        shas.push(sha);
    }

    // Nothing changed: no cargo, the same bytes, well under half a second.
    let second = p.wsgen(&["bundle", "--json"]);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert!(!second.stderr.contains("building"), "{}", second.stderr);
    let v: serde_json::Value = serde_json::from_str(&second.stdout).unwrap();
    assert_eq!(v["built"], false);
    assert!(v["assets"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["cached"] == true));
    let again: Vec<String> = manifest(&p)["assets"]
        .as_object()
        .unwrap()
        .values()
        .map(|a| a["bundle"]["sha256"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(again, shas);
    // Read from the hash cache, which holds what the zips hash to.
    let cache: serde_json::Value =
        serde_json::from_str(&p.read("wsgen.out/assets/.sha256.json")).unwrap();
    let mut cached: Vec<&str> = cache
        .as_object()
        .unwrap()
        .values()
        .map(|e| e["sha256"].as_str().unwrap())
        .collect();
    let mut expected: Vec<&str> = shas.iter().map(String::as_str).collect();
    cached.sort();
    expected.sort();
    assert_eq!(cached, expected);

    // A zip that changed is hashed again (its size and time no longer match).
    let first_zip = p.path(&format!(
        "wsgen.out/{}",
        manifest(&p)["assets"]
            .as_object()
            .unwrap()
            .values()
            .next()
            .unwrap()["bundle"]["file"]
            .as_str()
            .unwrap()
    ));
    let original = std::fs::read(&first_zip).unwrap();
    std::fs::write(&first_zip, b"not the zip").unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&p.wsgen(&["bundle", "--json"]).stdout).unwrap();
    assert!(v["assets"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["sha256"] == sha256_hex(b"not the zip").as_str()));
    std::fs::write(&first_zip, original).unwrap();

    // Zips rebuilt from scratch are byte-identical.
    std::fs::remove_dir_all(p.path("wsgen.out/assets")).unwrap();
    assert_eq!(p.wsgen(&["bundle", "-q"]).code, 0);
    let rebuilt: Vec<String> = manifest(&p)["assets"]
        .as_object()
        .unwrap()
        .values()
        .map(|a| a["bundle"]["sha256"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(rebuilt, shas);

    // A synth keeps the records of zips that are still there.
    assert_eq!(p.wsgen(&["synth", "-q"]).code, 0);
    assert!(manifest(&p)["assets"]
        .as_object()
        .unwrap()
        .values()
        .all(|a| a["bundle"]["sha256"].is_string()));
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn bundle_failures_keep_the_previous_zips() {
    let p = Project::new("chat", "bundlefail");
    assert_eq!(p.wsgen(&["bundle", "--debug", "-q"]).code, 0);
    let dev = p.path("wsgen.out/assets/dev-x86_64");
    assert_eq!(dev.read_dir().unwrap().count(), 4, "dev zips live apart");
    assert!(!p.path("wsgen.out/assets").read_dir().unwrap().any(|e| e
        .unwrap()
        .path()
        .extension()
        .is_some_and(|x| x == "zip")));
    assert!(
        manifest(&p)["assets"]
            .as_object()
            .unwrap()
            .values()
            .all(|a| a.get("bundle").is_none()),
        "dev zips are not deployable"
    );
    let before: Vec<_> = dev.read_dir().unwrap().map(|e| e.unwrap().path()).collect();
    // Only wsgen dev runs them: stored, not deflated (deflating a debug binary takes
    // seconds).
    for zip in &before {
        let mut archive = zip::ZipArchive::new(std::fs::File::open(zip).unwrap()).unwrap();
        let entry = archive.by_index(0).unwrap();
        assert_eq!(entry.compression(), zip::CompressionMethod::Stored);
    }

    p.write(
        "lambdas/sendmessage/src/main.rs",
        "fn main() { let x: u8 = 300; }\n",
    );
    let run = p.wsgen(&["bundle", "--debug"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("literal out of range for `u8`"),
        "cargo's own error: {}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("error: cargo could not build the handler crates"),
        "{}",
        run.stderr
    );
    for f in before {
        assert!(f.is_file(), "{} is kept", f.display());
    }

    let cross = p.wsgen(&["bundle", "--arch", "arm64"]);
    assert_eq!(cross.code, 1);
    assert!(
        cross
            .stderr
            .contains("rustup target add aarch64-unknown-linux-gnu")
            || cross.stderr.contains("cargo-zigbuild"),
        "{}",
        cross.stderr
    );
    let bad = p.wsgen(&["bundle", "--arch", "sparc"]);
    assert_eq!(bad.code, 2);
}

/// The chat fixture's four stand-in crates, each with a library entry point that prints
/// its name (and `ondisconnect`'s failing), named in its Cargo.toml.
fn link_the_chat_handlers(p: &Project) {
    for h in ["onconnect", "ondisconnect", "sendmessage", "default"] {
        let manifest = p.read(&format!("lambdas/{h}/Cargo.toml"));
        p.write(
            &format!("lambdas/{h}/Cargo.toml"),
            &format!("{manifest}\n[package.metadata.wsgen]\nentry = \"app::main\"\n"),
        );
        let result = if h == "ondisconnect" {
            "Err(\"it failed\")"
        } else {
            "Ok(())"
        };
        p.write(
            &format!("lambdas/{h}/src/lib.rs"),
            &format!("pub mod app {{\n    pub fn main() -> Result<(), &'static str> {{\n        println!(\"ran {h}\");\n        {result}\n    }}\n}}\n"),
        );
        p.write(
            &format!("lambdas/{h}/src/main.rs"),
            &format!("fn main() -> Result<(), &'static str> {{\n    {h}::app::main()\n}}\n"),
        );
    }
}

#[test]
fn bundle_links_the_handlers_that_name_an_entry_into_one_binary() {
    use std::os::unix::fs::PermissionsExt;
    let p = Project::new("chat", "linked");
    link_the_chat_handlers(&p);
    let debug = |cmd: &mut Command| {
        cmd.env("RUST_LOG", "wsgen_cli::bundle=debug");
    };
    // A first bundle: the four start building beside synth, which plans just them.
    let run = p.wsgen_with(&["bundle", "--json"], debug);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("building the likely linked handlers beside synth"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("stopping the build"), "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "building 4 handler crates for x86_64 (release profile, linked into one binary"
        ),
        "{}",
        run.stderr
    );
    let m = manifest(&p);
    let assets = m["assets"].as_object().unwrap();
    assert_eq!(assets.len(), 1, "one asset for the four functions");
    let (fp, asset) = assets.iter().next().unwrap();
    assert_eq!(asset["package"], "wsgen-linked-handlers");
    assert_eq!(asset["functions"].as_array().unwrap().len(), 4);
    let linked: Vec<&str> = asset["linked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["package"].as_str().unwrap())
        .collect();
    assert_eq!(
        linked,
        ["default", "onconnect", "ondisconnect", "sendmessage"]
    );
    assert_eq!(asset["linked"][0]["entry"], "app::main");
    // Each function runs the one binary as its own handler.
    let template: serde_json::Value =
        serde_json::from_str(&p.read("wsgen.out/Chat.template.json")).unwrap();
    for (id, handler) in [
        ("OnConnect", "onconnect"),
        ("OnDisconnect", "ondisconnect"),
        ("SendMessage", "sendmessage"),
        ("Default", "default"),
    ] {
        let props = &template["Resources"][id]["Properties"];
        assert_eq!(props["Handler"], handler, "{id}");
        assert_eq!(props["Code"]["S3Key"], format!("{fp}.zip"), "{id}");
    }
    let zip = p.path(&format!("wsgen.out/assets/{fp}.zip"));
    let entries = zip_entries(&zip);
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].0, "bootstrap");
    let exe = p.path("bootstrap");
    std::fs::write(&exe, &entries[0].2).unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    let run_as = |handler: &str| {
        Command::new(&exe)
            .env_clear()
            .env("_HANDLER", handler)
            .output()
            .unwrap()
    };
    for h in ["onconnect", "sendmessage", "default"] {
        let out = run_as(h);
        assert!(out.status.success(), "{h}: {out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), format!("ran {h}\n"));
    }
    // An entry point's error is reported as a `main`'s is.
    let out = run_as("ondisconnect");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ran ondisconnect\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("it failed"));
    let out = run_as("bootstrap");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(
            "this binary runs the handlers `default`, `onconnect`, `ondisconnect`, `sendmessage`, not `bootstrap`"
        ),
        "{out:?}"
    );

    // Rebuilt from scratch: the same bytes.
    let sha = asset["bundle"]["sha256"].clone();
    std::fs::remove_dir_all(p.path("wsgen.out/assets")).unwrap();
    assert_eq!(p.wsgen(&["bundle", "-q"]).code, 0);
    assert_eq!(manifest(&p)["assets"][fp]["bundle"]["sha256"], sha);

    // An edit in one crate: a new asset for all four.
    p.write(
        "lambdas/default/src/lib.rs",
        "pub mod app {\n    pub fn main() {\n        println!(\"ran default, edited\");\n    }\n}\n",
    );
    p.write(
        "lambdas/default/src/main.rs",
        "fn main() {\n    default::app::main()\n}\n",
    );
    let run = p.wsgen(&["bundle", "-q"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let m = manifest(&p);
    let (edited, _) = m["assets"].as_object().unwrap().iter().next().unwrap();
    assert_ne!(edited, fp);

    // An entry point that is not one: cargo's error, and what an entry must be.
    p.write(
        "lambdas/default/src/lib.rs",
        "pub mod app {\n    pub fn main(_: u8) {}\n}\n",
    );
    p.write(
        "lambdas/default/src/main.rs",
        "fn main() {\n    default::app::main(1)\n}\n",
    );
    let run = p.wsgen(&["bundle"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("error[E0061]"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("must name a public function of its library that takes no arguments"),
        "{}",
        run.stderr
    );
    assert!(
        p.path(&format!("wsgen.out/assets/{edited}.zip")).is_file(),
        "the previous zip is kept"
    );

    // A crate without the key keeps its own binary; the other three still link.
    let manifest_text = p.read("lambdas/default/Cargo.toml");
    p.write(
        "lambdas/default/Cargo.toml",
        &manifest_text.replace("\n[package.metadata.wsgen]\nentry = \"app::main\"\n", ""),
    );
    p.write("lambdas/default/src/lib.rs", "");
    p.write("lambdas/default/src/main.rs", "fn main() {}\n");
    let run = p.wsgen(&["bundle", "-q"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let m = manifest(&p);
    let mut kinds: Vec<(String, usize)> = m["assets"]
        .as_object()
        .unwrap()
        .values()
        .map(|a| {
            (
                a["package"].as_str().unwrap().to_string(),
                a["linked"].as_array().map_or(0, Vec::len),
            )
        })
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            ("default".to_string(), 0),
            ("wsgen-linked-handlers".to_string(), 3)
        ]
    );
    let template: serde_json::Value =
        serde_json::from_str(&p.read("wsgen.out/Chat.template.json")).unwrap();
    assert_eq!(
        template["Resources"]["Default"]["Properties"]["Handler"],
        "bootstrap"
    );

    // A first bundle whose guess is wrong (a member with an entry point that no
    // function uses): the build started beside synth is stopped, the planned one runs.
    std::fs::create_dir_all(p.path("lambdas/unused/src")).unwrap();
    p.write(
        "lambdas/unused/Cargo.toml",
        "[package]\nname = \"unused\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[package.metadata.wsgen]\nentry = \"main\"\n",
    );
    p.write("lambdas/unused/src/lib.rs", "pub fn main() {}\n");
    p.write(
        "lambdas/unused/src/main.rs",
        "fn main() {\n    unused::main()\n}\n",
    );
    std::fs::remove_dir_all(p.path("wsgen.out")).unwrap();
    let run = p.wsgen_with(&["bundle", "--json"], debug);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("stopping the build started beside synth"),
        "{}",
        run.stderr
    );
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["assets"].as_array().unwrap().len(), 2, "{v}");
}

#[test]
fn the_glibc_and_architecture_checks() {
    // A real binary of this machine: the wsgen command itself.
    let exe = std::fs::read(env!("CARGO_BIN_EXE_wsgen")).unwrap();
    wsgen_cli::check_binary(&exe, wsgen::Architecture::X86_64).unwrap();
    let wrong = wsgen_cli::check_binary(&exe, wsgen::Architecture::Arm64).unwrap_err();
    assert!(wrong.contains("but the function runs on arm64"), "{wrong}");
    // The same binary made to need a newer glibc than provided.al2023 has.
    let needle = b"GLIBC_2.34";
    let at = exe
        .windows(needle.len())
        .position(|w| w == needle)
        .or_else(|| exe.windows(9).position(|w| w == b"GLIBC_2.3"));
    let mut patched = exe.clone();
    let at = at.expect("the binary names a GLIBC_2.3x version");
    patched[at..at + 10].copy_from_slice(b"GLIBC_2.99");
    let e = wsgen_cli::check_binary(&patched, wsgen::Architecture::X86_64).unwrap_err();
    assert!(
        e.contains("needs glibc 2.99, but provided.al2023 has 2.34"),
        "{e}"
    );
    assert!(e.contains("cargo-zigbuild"), "{e}");
    let not_elf =
        wsgen_cli::check_binary(b"#!/bin/sh\necho hi\n", wsgen::Architecture::X86_64).unwrap_err();
    assert!(not_elf.contains("not an executable"), "{not_elf}");
}

#[test]
fn bundle_uses_cargo_zigbuild_to_pin_glibc() {
    let dirs = std::env::var("WSGEN_TEST_ZIGBUILD_PATH").expect(
        "WSGEN_TEST_ZIGBUILD_PATH names the directories of cargo-zigbuild and zig: run the tests with `bash .ci/run`, which installs them",
    );
    let p = Project::new("chat", "zigbuild");
    let run = p.wsgen_with_path(&["bundle"], Some(&dirs));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("for x86_64 (release profile, cargo-zigbuild)"),
        "{}",
        run.stderr
    );
    for asset in manifest(&p)["assets"].as_object().unwrap().values() {
        let zip = p.path(&format!(
            "wsgen.out/{}",
            asset["bundle"]["file"].as_str().unwrap()
        ));
        let entries = zip_entries(&zip);
        assert_eq!(entries[0].0, "bootstrap");
        wsgen_cli::check_binary(&entries[0].2, wsgen::Architecture::X86_64).unwrap();
    }
}
