//! `wsgen client`: the modules it generates, checked by TypeScript's own compiler
//! (tests/node, pinned): every catalogue app's, in both languages, and a program using
//! the chat app's client that must compile, with the mistakes it must refuse.

use crate::apps;
use crate::support::repo;
use std::path::{Path, PathBuf};
use std::process::Command;
use wsgen_cli::client::{generate, Lang};

fn tsc() -> PathBuf {
    let tsc = repo().join("tests/node/node_modules/typescript/bin/tsc");
    assert!(
        tsc.is_file(),
        "TypeScript is not installed: run `bash .ci/run` once, or `npm ci --prefix tests/node`"
    );
    tsc
}

/// Type-checks `files` strictly (JavaScript too, with its JSDoc types); the compiler's
/// findings on failure.
fn check(dir: &Path, files: &[&str]) -> Result<(), String> {
    let out = Command::new("node")
        .arg(tsc())
        .args([
            "--noEmit",
            "--strict",
            "--target",
            "es2022",
            "--module",
            "esnext",
            "--moduleResolution",
            "bundler",
            "--lib",
            "es2022,dom",
            "--allowJs",
            "--checkJs",
            "--allowImportingTsExtensions",
            "--pretty",
            "false",
        ])
        .args(files)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run node ({e}): install Node.js 18 or later"));
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Each program `program` makes of a case's code fails to type-check, the compiler's
/// findings naming the case's word.
fn refused(dir: &Path, program: impl Fn(&str) -> String, cases: &[(&str, &str)]) {
    for (bad, why) in cases {
        std::fs::write(dir.join("bad.ts"), program(bad)).unwrap();
        let found = check(dir, &["bad.ts"]).expect_err(bad);
        assert!(found.contains(why), "{bad}: {found}");
    }
}

#[test]
fn every_catalogue_client_compiles_in_both_languages() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (name, app) in apps::catalogue() {
        let assembly = app.assemble().unwrap_or_else(|e| panic!("{name}: {e}"));
        for (stack, template) in &assembly.templates {
            let ts = generate(template, Lang::TypeScript);
            if !ts.contains("Client {") {
                continue;
            }
            let js = generate(template, Lang::JavaScript);
            if name == "chat" || name == "typed-messages" {
                insta::assert_snapshot!(format!("{name}-{stack}-client-ts"), ts);
                insta::assert_snapshot!(format!("{name}-{stack}-client-js"), js);
            }
            for (ext, text) in [("ts", ts), ("js", js)] {
                let file = format!("{name}-{stack}.{ext}");
                std::fs::write(dir.path().join(&file), text).unwrap();
                files.push(file);
            }
        }
    }
    let files: Vec<&str> = files.iter().map(String::as_str).collect();
    check(dir.path(), &files).unwrap_or_else(|e| panic!("{e}"));
}

/// A program on the chat app's client: typed sends compile, and a message without
/// `data`, a route key set by hand or a route the app does not have do not.
#[test]
fn the_chat_client_types_its_messages() {
    let dir = tempfile::tempdir().unwrap();
    let template = &apps::chat().assemble().unwrap().templates["Chat"];
    std::fs::write(
        dir.path().join("chat.ts"),
        generate(template, Lang::TypeScript),
    )
    .unwrap();
    let program = |body: &str| {
        format!(
            "import {{ ChatApiClient, type GatewayError }} from \"./chat.ts\";\n\
             const refused: GatewayError[] = [];\n\
             const client = new ChatApiClient(\"ws://127.0.0.1:3001/live\", {{\n\
               message: (data) => console.log(data),\n\
               gatewayError: (e) => refused.push(e),\n\
               close: (code, reason) => console.log(code, reason),\n\
             }});\n{body}\n"
        )
    };
    let good = program(
        "client.sendmessage({ data: \"hello\" });\n\
         client.sendmessage({ data: { any: [\"json\"] } });\n\
         client.send(\"raw\");\n\
         client.close();",
    );
    std::fs::write(dir.path().join("good.ts"), good).unwrap();
    check(dir.path(), &["good.ts"]).unwrap_or_else(|e| panic!("{e}"));
    refused(
        dir.path(),
        program,
        &[
            ("client.sendmessage({});", "data"),
            (
                "client.sendmessage({ data: \"x\", action: \"other\" });",
                "action",
            ),
            ("client.dance({});", "dance"),
            (
                "new ChatApiClient(\"ws://x\", { message: (n: number) => n });",
                "number",
            ),
        ],
    );
}

/// A program on the typed-messages app's client: what the app pushes and its routes'
/// replies have typed handlers (`onUpdate` narrows the tagged enum by its `type`), and
/// a handler of the wrong type, or for a type the app does not send, does not compile.
#[test]
fn the_app_s_messages_have_typed_handlers() {
    let dir = tempfile::tempdir().unwrap();
    let template = &apps::typed_messages().assemble().unwrap().templates["Typed"];
    std::fs::write(
        dir.path().join("typed.ts"),
        generate(template, Lang::TypeScript),
    )
    .unwrap();
    let program = |handlers: &str| {
        format!(
            "import {{ TypedApiClient }} from \"./typed.ts\";\n\
             const client = new TypedApiClient(\"ws://127.0.0.1:3001/live\", {{\n{handlers}\n}});\n\
             client.subscribe({{ topic: \"amzn\", kind: \"Prices\" }});\n"
        )
    };
    let good = program(
        "onUpdate: (u) => console.log(u.type === \"Price\" ? u.price.toFixed(2) : u.text.length),\n\
         onSubscription: (s) => console.log(s.topic, s.subscribed === true),\n\
         message: (data) => console.log(data),",
    );
    std::fs::write(dir.path().join("good.ts"), good).unwrap();
    check(dir.path(), &["good.ts"]).unwrap_or_else(|e| panic!("{e}"));
    refused(
        dir.path(),
        program,
        &[
            ("onUpdate: (u) => u.price,", "price"),
            ("onSubscription: (s: string) => s,", "string"),
            ("onPrice: (p: unknown) => p,", "onPrice"),
        ],
    );
}

/// The chat blueprint's page uses the generated client: `web/chat-client.js` is what
/// `wsgen client --lang js` writes for the chat app (`WSGEN_BLESS=1` rewrites it), and
/// it type-checks together with the page's own module.
#[test]
fn the_chat_page_carries_the_generated_client() {
    let template = &apps::chat().assemble().unwrap().templates["Chat"];
    let generated = generate(template, Lang::JavaScript);
    let path = repo().join("blueprints/chat/web/chat-client.js");
    if std::env::var_os("WSGEN_BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    assert_eq!(
        std::fs::read_to_string(&path).unwrap_or_default(),
        generated,
        "blueprints/chat/web/chat-client.js is not the generated client: run this test with WSGEN_BLESS=1"
    );
    let page = std::fs::read_to_string(repo().join("blueprints/chat/web/index.html")).unwrap();
    assert!(
        page.contains(r#"from "./chat-client.js""#),
        "the page imports the client"
    );
    // The page's script, type-checked against the client.
    let script = page
        .split_once(r#"<script type="module">"#)
        .and_then(|(_, rest)| rest.split_once("</script>"))
        .map(|(script, _)| script)
        .expect("the page has a module script");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("chat-client.js"), &generated).unwrap();
    std::fs::write(
        dir.path().join("page.js"),
        format!("// @ts-check\n{script}"),
    )
    .unwrap();
    check(dir.path(), &["page.js"]).unwrap_or_else(|e| panic!("{e}"));
}
