//! `wsgen bootstrap`, `deploy`, `diff` and `destroy`: the real binary against moto's
//! server on loopback (tests/it/engine.rs), and the states moto does not model
//! (rollbacks, stacks in progress, empty change sets, throttling) against recorded AWS
//! responses through the SDK's replay client.

use crate::cli::{Project, Run};
use crate::engine::{aws_env, moto, sdk_config};
use serde_json::Value;

/// A copy of the chat fixture whose handlers build in their own target directory (the
/// update below edits one, and cargo would otherwise share it with other copies).
fn chat_project(tag: &str) -> Project {
    let mut p = Project::new("chat", tag);
    p.target = p.target.with_file_name("fixtures-deploy");
    p
}

fn wsgen(p: &Project, region: &str, args: &[&str]) -> Run {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--region", region, "--endpoint-url", &moto().endpoint]);
    p.wsgen_with(&all, aws_env)
}

/// `wsgen` on a terminal (util-linux `script` gives it a pseudo-terminal), with
/// `answer` typed in; the run's output is the terminal's (stdout and stderr together,
/// with the answer echoed where the terminal echoed it).
fn wsgen_tty(p: &Project, region: &str, args: &[&str], answer: &str) -> Run {
    use std::io::Write;
    let quoted: Vec<String> = [env!("CARGO_BIN_EXE_wsgen")]
        .iter()
        .chain(args)
        .chain(&["--region", region, "--endpoint-url", &moto().endpoint])
        .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
        .collect();
    let mut cmd = std::process::Command::new("script");
    cmd.args(["-qec", &quoted.join(" "), "/dev/null"])
        .current_dir(&p.dir)
        .env("WSGEN_DATA_DIR", crate::cli::data_dir())
        .env("CARGO_TARGET_DIR", &p.target)
        .env("CARGO_TERM_QUIET", "true")
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    aws_env(&mut cmd);
    let mut child = cmd.spawn().expect("util-linux `script`");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(answer.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n"),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn json(run: &Run) -> Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}\n{}", run.stdout, run.stderr))
}

#[test]
fn deploy_lifecycle_against_moto() {
    let region = "eu-west-1";
    let p = chat_project("deploy");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let config = rt.block_on(sdk_config(region));
    let ddb = aws_sdk_dynamodb::Client::new(&config);
    let lambda = aws_sdk_lambda::Client::new(&config);

    // Not bootstrapped: a clear error, nothing created.
    let run = wsgen(&p, region, &["deploy", "--require-approval", "never"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("error: account 123456789012 in eu-west-1 is not bootstrapped: the toolkit stack WsgenToolkit does not exist"), "{}", run.stderr);
    assert!(
        run.stderr.contains("help: run `wsgen bootstrap`"),
        "{}",
        run.stderr
    );

    let run = wsgen(&p, region, &["bootstrap", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(json(&run)["bucket"], "wsgen-assets-123456789012-eu-west-1");
    assert_eq!(json(&run)["outcome"], "created");
    let again = wsgen(&p, region, &["bootstrap", "--json"]);
    assert_eq!(json(&again)["outcome"], "unchanged", "{}", again.stderr);
    assert!(json(&again).get("api_gateway_logging_role").is_none());

    // The stage logs its requests by default, which needs the account's API Gateway
    // CloudWatch role: moto answers GET /account with none set, so the deploy stops
    // before it uploads or changes anything.
    let run = wsgen(&p, region, &["deploy", "--require-approval", "never"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("error: stage Chat/ChatApiLiveStage logs to CloudWatch Logs, which needs the API Gateway CloudWatch role of account 123456789012 in eu-west-1, and it has none"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("help: run `wsgen bootstrap --api-gateway-logging` once"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("assets:"), "{}", run.stderr);
    // Setting it is an account-wide IAM change: said, listed, and confirmed.
    let run = wsgen(&p, region, &["bootstrap", "--api-gateway-logging"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("warning: --api-gateway-logging sets the API Gateway CloudWatch role of account 123456789012 in eu-west-1, one setting for the whole account in this region that every REST and WebSocket API there logs through: none is set now"), "{}", run.stderr);
    assert!(run.stderr.contains("+ ApiGatewayCloudWatchRole (AWS::IAM::Role): added: Allow logs:CreateLogGroup, logs:CreateLogStream, logs:DescribeLogGroups, logs:DescribeLogStreams, logs:PutLogEvents on arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:*"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("error: the changes to WsgenToolkit need approval (they widen access)"),
        "{}",
        run.stderr
    );
    let run = wsgen(
        &p,
        region,
        &[
            "bootstrap",
            "--api-gateway-logging",
            "--require-approval",
            "never",
            "--json",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(json(&run)["outcome"], "updated", "{}", run.stderr);
    let role = json(&run)["api_gateway_logging_role"].clone();
    assert!(
        role.as_str()
            .unwrap()
            .starts_with("arn:aws:iam::123456789012:role/"),
        "{role}"
    );
    // A later bootstrap keeps it.
    let again = wsgen(&p, region, &["bootstrap", "--json"]);
    assert_eq!(json(&again)["outcome"], "unchanged", "{}", again.stderr);
    assert_eq!(json(&again)["api_gateway_logging_role"], role);

    // A first deploy creates IAM roles and permissions: without a terminal it needs
    // --require-approval never, and a refused deploy leaves no stack behind.
    let run = wsgen(&p, region, &["deploy"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("assets: uploaded 4 to s3://wsgen-assets-123456789012-eu-west-1"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("IAM and permission changes"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("+ SendMessageRolePolicy (AWS::IAM::Policy): added: Allow execute-api:ManageConnections on arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${ChatApi}/live/POST/@connections/*"), "{}", run.stderr);
    assert!(run.stderr.contains("error: the changes to Chat need approval (they widen access), and this is not an interactive terminal"), "{}", run.stderr);
    let run = wsgen(&p, region, &["diff", "--json"]);
    assert_eq!(run.code, 1);
    assert_eq!(
        json(&run)["stacks"]["Chat"]["deployed"],
        false,
        "{}",
        run.stdout
    );

    let outputs_file = p.path("outputs/chat.json");
    let run = wsgen(
        &p,
        region,
        &[
            "deploy",
            "--require-approval",
            "never",
            "--outputs-file",
            outputs_file.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("assets: all in the bucket already"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("+ Add     Connections                          AWS::DynamoDB::Table"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("| CREATE_COMPLETE              | AWS::CloudFormation::Stack Chat"),
        "{}",
        run.stderr
    );
    let outputs: Value =
        serde_json::from_str(&std::fs::read_to_string(&outputs_file).unwrap()).unwrap();
    let chat = &outputs["Chat"];
    let table = chat["TableName"].as_str().unwrap().to_string();
    assert!(table.starts_with("Chat-Connections-"), "{outputs}");
    // moto skips AWS::ApiGatewayV2 resources, so the API id stays unresolved in the URLs,
    // and deploy says so.
    assert_eq!(
        chat["WebSocketUrl"],
        "wss://${ChatApi}.execute-api.eu-west-1.amazonaws.com/live"
    );
    assert!(run.stderr.contains(&format!("warning: Chat: the deployed stack does not report outputs CallbackUrl, WebSocketUrl that the template declares: the engine at {} did not create or resolve what they refer to", moto().endpoint)), "{}", run.stderr);
    assert_eq!(
        chat["CallbackUrl"],
        "https://${ChatApi}.execute-api.eu-west-1.amazonaws.com/live"
    );
    assert!(
        run.stdout.contains(&format!("Chat.TableName = {table}\n")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("Chat.WebSocketUrl = wss://"),
        "{}",
        run.stdout
    );

    // The stack's table and functions exist; put an item to check it survives destroy.
    let functions = rt.block_on(chat_functions(&lambda));
    assert_eq!(functions.len(), 4, "{functions:?}");
    rt.block_on(
        ddb.put_item()
            .table_name(&table)
            .item(
                "connectionId",
                aws_sdk_dynamodb::types::AttributeValue::S("abc".into()),
            )
            .send(),
    )
    .unwrap();

    // A second deploy uploads nothing and executes nothing.
    let run = wsgen(&p, region, &["deploy", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let result = json(&run);
    assert_eq!(result["uploaded"], serde_json::json!([]));
    assert_eq!(result["stacks"]["Chat"]["outcome"], "unchanged");
    assert_eq!(
        result["stacks"]["Chat"]["missing_outputs"],
        serde_json::json!(["CallbackUrl", "WebSocketUrl"])
    );
    assert!(
        run.stderr.contains("assets: all in the bucket already"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("Chat: no changes"), "{}", run.stderr);
    let run = wsgen(&p, region, &["diff"]);
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, "Stack Chat\n  no differences\n"),
        "{}",
        run.stderr
    );
    // -v logs wsgen's steps; -vv the AWS SDK's operations too; RUST_LOG chooses alone.
    let v = wsgen(&p, region, &["-v", "diff"]);
    assert!(v.stderr.contains("infra unchanged"), "{}", v.stderr);
    assert!(!v.stderr.contains("describe_stacks"), "{}", v.stderr);
    let vv = wsgen(&p, region, &["-vv", "diff"]);
    assert!(vv.stderr.contains("describe_stacks"), "{}", vv.stderr);
    let all: Vec<&str> = vec![
        "diff",
        "--region",
        region,
        "--endpoint-url",
        &moto().endpoint,
    ];
    let env = p.wsgen_with(&all, |c| {
        aws_env(c);
        c.env("RUST_LOG", "aws_smithy_runtime=debug");
    });
    assert!(
        env.stderr.contains("aws_smithy_runtime") && !env.stderr.contains("infra unchanged"),
        "{}",
        env.stderr
    );

    // An update: more memory for SendMessage and a new grant for Default.
    let app = p.read("blueprint/lib.rs");
    p.write(
        "blueprint/lib.rs",
        &app.replace(".memory(256)", ".memory(512)").replace(
            "table.grant_read_write(&send);",
            "table.grant_read_write(&send);\n    table.grant_read(&default);",
        ),
    );
    let run = wsgen(&p, region, &["diff"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stdout.contains("IAM and permission changes (1 broadening):\n    + DefaultRolePolicy (AWS::IAM::Policy): added: Allow dynamodb:BatchGetItem, dynamodb:ConditionCheckItem, dynamodb:DescribeTable, dynamodb:GetItem, dynamodb:Query, dynamodb:Scan on ${Connections.Arn}\n"), "{}", run.stdout);
    assert!(run.stdout.contains("    [~] AWS::Lambda::Function SendMessage\n        Properties.MemorySize: 256 -> 512\n"), "{}", run.stdout);
    let run = wsgen(&p, region, &["diff", "--exit-zero"]);
    assert_eq!(run.code, 0);
    // Broadening needs approval; `never` deploys it.
    let run = wsgen(&p, region, &["deploy"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("need approval (they widen access)"),
        "{}",
        run.stderr
    );
    // On a terminal wsgen asks: no leaves the stack as it is, yes deploys.
    let run = wsgen_tty(&p, region, &["deploy"], "n\n");
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout
            .contains("? 1 change above widens access. Deploy Chat? [y/N] "),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("error: not deployed: Chat is unchanged"),
        "{}",
        run.stdout
    );
    let run = wsgen_tty(&p, region, &["deploy"], "y\n");
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stdout.contains("assets: all in the bucket already"),
        "no handler changed: {}",
        run.stdout
    );
    assert!(
        run.stdout.contains("Chat: UPDATE_COMPLETE"),
        "{}",
        run.stdout
    );
    let send = functions
        .iter()
        .find(|f| f.contains("SendMessage"))
        .unwrap();
    let config = rt
        .block_on(
            lambda
                .get_function_configuration()
                .function_name(send)
                .send(),
        )
        .unwrap();
    assert_eq!(config.memory_size(), Some(512));
    let run = wsgen(&p, region, &["diff"]);
    assert_eq!(run.code, 0, "{}", run.stdout);

    // The same sources built elsewhere (another checkout, another machine's toolchain)
    // make other bytes under the same key: the bucket keeps the first upload, which the
    // functions run, so nothing is redeployed or reported as drifted.
    let zips: Vec<std::path::PathBuf> = std::fs::read_dir(p.path("wsgen.out/assets"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|f| f.extension().is_some_and(|x| x == "zip"))
        .collect();
    assert!(!zips.is_empty());
    let built: Vec<Vec<u8>> = zips.iter().map(|z| std::fs::read(z).unwrap()).collect();
    for (zip, bytes) in zips.iter().zip(&built) {
        let mut other = bytes.clone();
        other.extend_from_slice(b"built elsewhere");
        std::fs::write(zip, other).unwrap();
    }
    let run = wsgen(&p, region, &["deploy", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let result = json(&run);
    assert_eq!(
        (
            &result["stacks"]["Chat"]["outcome"],
            &result["stacks"]["Chat"]["restored"],
            &result["uploaded"]
        ),
        (
            &Value::from("unchanged"),
            &serde_json::json!([]),
            &serde_json::json!([])
        ),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("does not name"), "{}", run.stderr);
    for (zip, bytes) in zips.iter().zip(&built) {
        std::fs::write(zip, bytes).unwrap();
    }

    // Hotswap: only the Default handler's code changed.
    p.write(
        "lambdas/default/src/main.rs",
        "fn main() { println!(\"v2\"); }\n",
    );
    let run = wsgen(&p, region, &["deploy", "--hotswap", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let result = json(&run);
    assert_eq!(
        result["stacks"]["Chat"]["outcome"], "hotswapped",
        "{}",
        run.stderr
    );
    assert_eq!(result["uploaded"].as_array().unwrap().len(), 1);
    assert!(
        run.stderr
            .contains("warning: hotswap updates Chat's functions directly"),
        "{}",
        run.stderr
    );
    let key = result["uploaded"][0].as_str().unwrap();
    let zip = std::fs::read(p.path(&format!("wsgen.out/assets/{key}"))).unwrap();
    let default = functions.iter().find(|f| f.contains("Default")).unwrap();
    let config = rt
        .block_on(
            lambda
                .get_function_configuration()
                .function_name(default)
                .send(),
        )
        .unwrap();
    assert_eq!(config.code_sha256(), Some(base64_sha256(&zip).as_str()));
    // The template now lags behind the code: diff says so, and a full deploy settles it.
    let run = wsgen(&p, region, &["diff"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout.contains("Properties.Code.S3Key"),
        "{}",
        run.stdout
    );
    // Anything beyond code falls back to a full deploy.
    let app = p.read("blueprint/lib.rs");
    p.write(
        "blueprint/lib.rs",
        &app.replace(".memory(512)", ".memory(384)"),
    );
    let run = wsgen(
        &p,
        region,
        &[
            "deploy",
            "--hotswap",
            "--require-approval",
            "never",
            "--json",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(json(&run)["stacks"]["Chat"]["outcome"], "updated");
    assert!(
        run.stderr
            .contains("hotswap: more than functions' code changed"),
        "{}",
        run.stderr
    );

    // Destroy: confirmation needed without a terminal; then everything goes but the
    // retained table, whose item is still there.
    let run = wsgen(&p, region, &["destroy"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("destroying Chat in account 123456789012 in eu-west-1 needs confirmation, and this is not an interactive terminal: pass --yes"), "{}", run.stderr);
    assert_eq!(rt.block_on(chat_functions(&lambda)).len(), 4);
    let run = wsgen_tty(&p, region, &["destroy"], "\n");
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout.contains(
            "? Delete stack Chat in account 123456789012 in eu-west-1? [y/N] error: not destroyed: Chat"
        ),
        "{}",
        run.stdout
    );
    assert_eq!(rt.block_on(chat_functions(&lambda)).len(), 4);
    let run = wsgen(&p, region, &["destroy", "--yes", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let result = json(&run);
    assert_eq!(result["stacks"]["Chat"]["outcome"], "deleted");
    assert_eq!(
        result["stacks"]["Chat"]["retained"],
        serde_json::json!([{"logical_id": "Connections", "type": "AWS::DynamoDB::Table", "physical_id": table}])
    );
    assert!(
        run.stderr.contains(&format!(
            "note: Chat: kept AWS::DynamoDB::Table Connections ({table}) with its data"
        )),
        "{}",
        run.stderr
    );
    assert!(rt.block_on(chat_functions(&lambda)).is_empty());
    let item = rt
        .block_on(
            ddb.get_item()
                .table_name(&table)
                .key(
                    "connectionId",
                    aws_sdk_dynamodb::types::AttributeValue::S("abc".into()),
                )
                .send(),
        )
        .unwrap();
    assert!(item.item().is_some(), "the retained table keeps its items");

    let run = wsgen(&p, region, &["destroy", "--yes"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "Chat: no such stack in account 123456789012 in eu-west-1, nothing to destroy"
        ),
        "{}",
        run.stderr
    );
}

async fn chat_functions(lambda: &aws_sdk_lambda::Client) -> Vec<String> {
    let out = lambda.list_functions().send().await.unwrap();
    let mut names: Vec<String> = out
        .functions()
        .iter()
        .filter_map(|f| f.function_name())
        .filter(|n| n.starts_with("Chat-"))
        .map(str::to_string)
        .collect();
    names.sort();
    names
}

fn base64_sha256(data: &[u8]) -> String {
    use sha2::Digest;
    aws_smithy_types::base64::encode(sha2::Sha256::digest(data))
}

/// Deploying a stack that imports another's export deploys that one too, first. (moto
/// cannot show the rest: stacks it creates through change sets register no exports, so
/// an importing stack fails there whatever the order; the order itself is unit-tested
/// in crates/wsgen-cli/src/deploy.rs, on select.rs.)
#[test]
fn deploying_an_importer_deploys_its_exporter_unless_exclusively() {
    let p = Project::new("exports", "order");
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let endpoint = format!("http://{closed}");
    let args = [
        "deploy",
        "Audit",
        "--region",
        "us-east-1",
        "--endpoint-url",
        &endpoint,
    ];
    let run = p.wsgen_with(&args, aws_env);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.starts_with("also deploying Store (the stacks named import their exports; --exclusively deploys only the stacks named)\n"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("error: cannot reach"), "{}", run.stderr);
    let run = p.wsgen_with(&[&args[..], &["--exclusively"]].concat(), aws_env);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(!run.stderr.contains("also deploying"), "{}", run.stderr);
}

#[test]
fn stacks_wsgen_did_not_create_are_left_alone() {
    let region = "ap-south-1";
    let rt = tokio::runtime::Runtime::new().unwrap();
    let config = rt.block_on(sdk_config(region));
    let cfn = aws_sdk_cloudformation::Client::new(&config);
    let template = r#"{"Resources": {"Queue": {"Type": "AWS::SQS::Queue"}}}"#;
    rt.block_on(
        cfn.create_stack()
            .stack_name("Chat")
            .template_body(template)
            .send(),
    )
    .unwrap();
    let p = chat_project("foreign");
    let run = wsgen(&p, region, &["destroy", "Chat", "--yes"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "error: stack Chat was not created by wsgen (it has no `wsgen:managed-by=wsgen` tag)"
        ),
        "{}",
        run.stderr
    );
    // The chat stage logs: the account's logging role first.
    let run = wsgen(
        &p,
        region,
        &[
            "bootstrap",
            "--api-gateway-logging",
            "--require-approval",
            "never",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = wsgen(
        &p,
        region,
        &["deploy", "--bootstrap", "--require-approval", "never"],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("was not created by wsgen"),
        "{}",
        run.stderr
    );
    let stacks = rt
        .block_on(cfn.describe_stacks().stack_name("Chat").send())
        .unwrap();
    assert_eq!(
        stacks.stacks()[0].stack_status().map(|s| s.as_str()),
        Some("CREATE_COMPLETE"),
        "the foreign stack is untouched"
    );
}

#[test]
fn templates_over_51200_bytes_go_through_the_asset_bucket() {
    use wsgen_cli::cloud::stacks::{
        deploy_stack, template_source, Approval, Outcome, StackDeploy, TemplateSource,
    };
    let region = "sa-east-1";
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let config = sdk_config(region).await;
        let mut aws = wsgen_cli::Aws::new(&config, "123456789012".into());
        aws.poll = std::time::Duration::from_millis(50);
        let ui = wsgen_cli::Ui::new(true);
        wsgen_cli::bootstrap::run(&aws, &ui, false, wsgen_cli::Approval::Never)
            .await
            .unwrap();
        let template = serde_json::json!({
            "Resources": {"Logs": {"Type": "AWS::Logs::LogGroup", "Metadata": {"Padding": "x".repeat(60_000)}}},
            "Outputs": {"LogGroup": {"Value": {"Ref": "Logs"}}}
        });
        let body = template.to_string();
        assert!(body.len() > 51_200);
        let source = template_source(&aws, body).await.unwrap();
        let TemplateSource::Url(url) = &source else { panic!("a large template is passed by URL") };
        assert!(url.starts_with("https://s3.sa-east-1.amazonaws.com/wsgen-assets-123456789012-sa-east-1/templates/"), "{url}");
        let (outcome, stack) = deploy_stack(
            &aws,
            &ui,
            &StackDeploy { name: "Large", template: &template, source, tags: Default::default(), approval: Approval::Broadening },
        )
        .await
        .unwrap();
        assert_eq!(outcome, Outcome::Created);
        assert!(stack.outputs.contains_key("LogGroup"), "{:?}", stack.outputs);
    });
}

#[test]
fn configuration_errors_are_one_clear_line() {
    let p = chat_project("config");
    let no_region = p.wsgen_with(&["bootstrap"], aws_env);
    assert_eq!(no_region.code, 1);
    assert!(
        no_region
            .stderr
            .starts_with("error: no AWS region is configured\n  help: pass `--region`"),
        "{}",
        no_region.stderr
    );

    let no_credentials = p.wsgen_with(&["bootstrap", "--region", "us-east-1"], |cmd| {
        aws_env(cmd);
        cmd.env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY");
    });
    assert_eq!(no_credentials.code, 1);
    insta::assert_snapshot!("bootstrap-no-credentials", no_credentials.snapshot());
    assert!(
        no_credentials
            .stderr
            .starts_with("error: no AWS credentials: none were found in the environment"),
        "{}",
        no_credentials.stderr
    );
    // One line and its fix, not the SDK's list of providers and debug dump.
    assert_eq!(
        no_credentials.stderr.lines().count(),
        2,
        "{}",
        no_credentials.stderr
    );
    assert!(
        no_credentials
            .stderr
            .contains("help: set AWS_ACCESS_KEY_ID"),
        "{}",
        no_credentials.stderr
    );

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let unreachable = p.wsgen_with(
        &[
            "diff",
            "--region",
            "us-east-1",
            "--endpoint-url",
            &endpoint,
            "--json",
        ],
        aws_env,
    );
    // diff's errors exit 2, as diff(1)'s do (1 means differences).
    assert_eq!(unreachable.code, 2);
    assert!(
        unreachable.stderr.contains(&format!(
            "error: cannot reach {endpoint}: Connection refused (os error 111)\n"
        )),
        "{}",
        unreachable.stderr
    );
    assert!(
        unreachable.stderr.contains("nothing was changed"),
        "{}",
        unreachable.stderr
    );
    assert!(json(&unreachable)["error"]
        .as_str()
        .unwrap()
        .starts_with("cannot reach"));

    // Something that is not AWS at the endpoint: its HTTP status, and what to check.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let web = format!("http://{}", listener.local_addr().unwrap());
    {
        let _guard = rt.enter();
        wsgen_handler::testing::serve_http(listener, |_| async { (404, vec![], vec![]) });
    }
    let not_aws = p.wsgen_with(
        &["bootstrap", "--region", "us-east-1", "--endpoint-url", &web],
        aws_env,
    );
    assert_eq!(not_aws.code, 1);
    assert_eq!(
        not_aws.stderr,
        format!("error: could not ask STS who the credentials belong to: HTTP 404: {web} answered without an AWS error code: is it an AWS endpoint (or an AWS-compatible engine)?\n")
    );

    let unknown = p.wsgen_with(&["deploy", "Nope", "--region", "us-east-1"], aws_env);
    assert_eq!(unknown.code, 2);
    assert!(
        unknown
            .stderr
            .contains("error: no stack named `Nope` (stacks: Chat)"),
        "{}",
        unknown.stderr
    );
}

/// The recorded-response tests: AWS's Query-protocol XML (shapes from the CloudFormation
/// API reference) replayed to the SDK, for the states moto does not model.
mod recorded {
    use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
    use aws_smithy_types::body::SdkBody;
    use serde_json::json;
    use std::time::Duration;
    use wsgen_cli::cloud::stacks::{deploy_stack, Approval, Outcome, StackDeploy, TemplateSource};
    use wsgen_cli::cloud::CloudError;
    use wsgen_cli::{Aws, Ui};

    const NS: &str = "http://cloudformation.amazonaws.com/doc/2010-05-15/";
    const STACK_ID: &str = "arn:aws:cloudformation:us-east-1:123456789012:stack/Chat/4f0c2d40-0000-11f0-9000-0a1b2c3d4e5f";
    const CHANGE_SET_ID: &str = "arn:aws:cloudformation:us-east-1:123456789012:changeSet/wsgen-1/7d1e5a90-0000-11f0-9000-0a1b2c3d4e5f";

    fn ok(action: &str, result: &str) -> (u16, String) {
        (
            200,
            format!(
                "<{action}Response xmlns=\"{NS}\"><{action}Result>{result}</{action}Result><ResponseMetadata><RequestId>b9b4e1f0-1111-2222-3333-444455556666</RequestId></ResponseMetadata></{action}Response>"
            ),
        )
    }

    fn empty(action: &str) -> (u16, String) {
        (
            200,
            format!("<{action}Response xmlns=\"{NS}\"><{action}Result/><ResponseMetadata><RequestId>b9b4e1f0-1111-2222-3333-444455556666</RequestId></ResponseMetadata></{action}Response>"),
        )
    }

    fn error(status: u16, code: &str, message: &str) -> (u16, String) {
        (
            status,
            format!("<ErrorResponse xmlns=\"{NS}\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>c0ffee00-1111-2222-3333-444455556666</RequestId></ErrorResponse>"),
        )
    }

    fn stack(status: &str, outputs: &str) -> (u16, String) {
        ok(
            "DescribeStacks",
            &format!(
                "<Stacks><member><StackId>{STACK_ID}</StackId><StackName>Chat</StackName><CreationTime>2026-11-23T04:00:00.000Z</CreationTime><StackStatus>{status}</StackStatus><Tags><member><Key>wsgen:managed-by</Key><Value>wsgen</Value></member></Tags><Outputs>{outputs}</Outputs></member></Stacks>"
            ),
        )
    }

    fn no_stack() -> (u16, String) {
        error(400, "ValidationError", "Stack with id Chat does not exist")
    }

    fn event(id: &str, logical: &str, ty: &str, status: &str, reason: &str) -> String {
        format!(
            "<member><StackId>{STACK_ID}</StackId><EventId>{id}</EventId><StackName>Chat</StackName><LogicalResourceId>{logical}</LogicalResourceId><PhysicalResourceId></PhysicalResourceId><ResourceType>{ty}</ResourceType><Timestamp>2026-11-23T04:01:0{}.000Z</Timestamp><ResourceStatus>{status}</ResourceStatus><ResourceStatusReason>{reason}</ResourceStatusReason></member>",
            id.len() % 10
        )
    }

    /// Events, newest first (as DescribeStackEvents returns them).
    fn events(members: &[String]) -> (u16, String) {
        ok(
            "DescribeStackEvents",
            &format!("<StackEvents>{}</StackEvents>", members.concat()),
        )
    }

    fn change_set(status: &str, reason: &str, changes: &str) -> (u16, String) {
        ok(
            "DescribeChangeSet",
            &format!(
                "<ChangeSetName>wsgen-1</ChangeSetName><ChangeSetId>{CHANGE_SET_ID}</ChangeSetId><StackId>{STACK_ID}</StackId><StackName>Chat</StackName><ExecutionStatus>AVAILABLE</ExecutionStatus><Status>{status}</Status><StatusReason>{reason}</StatusReason><Changes>{changes}</Changes>"
            ),
        )
    }

    fn change(action: &str, logical: &str, ty: &str) -> String {
        replacing(action, logical, ty, "", "False")
    }

    /// A change of the resource `physical` with CloudFormation's `replacement` verdict.
    fn replacing(
        action: &str,
        logical: &str,
        ty: &str,
        physical: &str,
        replacement: &str,
    ) -> String {
        format!("<member><Type>Resource</Type><ResourceChange><Action>{action}</Action><LogicalResourceId>{logical}</LogicalResourceId><PhysicalResourceId>{physical}</PhysicalResourceId><ResourceType>{ty}</ResourceType><Replacement>{replacement}</Replacement></ResourceChange></member>")
    }

    fn created_change_set() -> (u16, String) {
        ok(
            "CreateChangeSet",
            &format!("<Id>{CHANGE_SET_ID}</Id><StackId>{STACK_ID}</StackId>"),
        )
    }

    /// The responses of an update of Chat from `old`, with the change set's `changes`,
    /// up to and including its execution.
    fn update_executed(old: &serde_json::Value, changes: &str) -> Vec<(u16, String)> {
        vec![
            stack("UPDATE_COMPLETE", ""),
            get_template(old),
            created_change_set(),
            change_set("CREATE_COMPLETE", "", changes),
            change_set("CREATE_COMPLETE", "", changes),
            events(&[event(
                "e0",
                "Chat",
                "AWS::CloudFormation::Stack",
                "UPDATE_COMPLETE",
                "",
            )]),
            empty("ExecuteChangeSet"),
        ]
    }

    fn template() -> serde_json::Value {
        json!({
            "AWSTemplateFormatVersion": "2010-09-09",
            "Resources": {"Connections": {"Type": "AWS::DynamoDB::Table", "DeletionPolicy": "Retain", "Properties": {
                "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [{"AttributeName": "connectionId", "AttributeType": "S"}],
                "KeySchema": [{"AttributeName": "connectionId", "KeyType": "HASH"}]
            }}},
            "Outputs": {"TableName": {"Value": {"Ref": "Connections"}}}
        })
    }

    fn get_template(t: &serde_json::Value) -> (u16, String) {
        let body = t
            .to_string()
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        ok("GetTemplate", &format!("<TemplateBody>{body}</TemplateBody><StagesAvailable><member>Original</member><member>Processed</member></StagesAvailable>"))
    }

    /// Runs deploy_stack for `template` against `responses`; returns its result and the
    /// actions of the requests made.
    fn run(
        responses: Vec<(u16, String)>,
        template: &serde_json::Value,
    ) -> (
        Result<(Outcome, wsgen_cli::cloud::stacks::StackInfo), CloudError>,
        Vec<String>,
    ) {
        replay(responses, |aws| async move {
            deploy_stack(
                &aws,
                &Ui::new(true),
                &StackDeploy {
                    name: "Chat",
                    template,
                    source: TemplateSource::Body(template.to_string()),
                    tags: Default::default(),
                    approval: Approval::Broadening,
                },
            )
            .await
        })
    }

    /// Runs `operation` with clients that get `responses` in turn (a JSON body for the
    /// JSON protocols, XML for the Query ones); returns its result and the actions (or
    /// JSON targets) of the requests made.
    fn replay<'a, T, F, Fut>(responses: Vec<(u16, String)>, operation: F) -> (T, Vec<String>)
    where
        F: FnOnce(Aws) -> Fut,
        Fut: std::future::Future<Output = T> + 'a,
    {
        let events = responses
            .into_iter()
            .map(|(status, body)| {
                let content_type = if body.starts_with('{') {
                    "application/x-amz-json-1.0"
                } else {
                    "text/xml"
                };
                ReplayEvent::new(
                    http::Request::builder()
                        .uri("https://cloudformation.us-east-1.amazonaws.com/")
                        .body(SdkBody::empty())
                        .unwrap(),
                    http::Response::builder()
                        .status(status)
                        .header("content-type", content_type)
                        .body(SdkBody::from(body))
                        .unwrap(),
                )
            })
            .collect();
        let client = StaticReplayClient::new(events);
        let rt = tokio::runtime::Runtime::new().unwrap();
        let result = rt.block_on(async {
            let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new("us-east-1"))
                .credentials_provider(aws_credential_types::Credentials::new(
                    "AKID", "SECRET", None, None, "test",
                ))
                .http_client(client.clone())
                .retry_config(
                    aws_config::retry::RetryConfig::standard()
                        .with_max_attempts(3)
                        .with_initial_backoff(Duration::from_millis(1)),
                )
                .load()
                .await;
            let mut aws = Aws::new(&config, "123456789012".into());
            aws.poll = Duration::from_millis(1);
            operation(aws).await
        });
        let actions = client
            .actual_requests()
            .map(|r| {
                if let Some(target) = r.headers().get("x-amz-target") {
                    return target.rsplit('.').next().unwrap_or(target).to_string();
                }
                let body =
                    String::from_utf8_lossy(r.body().bytes().unwrap_or_default()).into_owned();
                body.split('&')
                    .find_map(|kv| kv.strip_prefix("Action="))
                    .unwrap_or("?")
                    .to_string()
            })
            .collect();
        (result, actions)
    }

    #[test]
    fn a_stack_in_progress_is_waited_for_throttling_is_retried_and_an_empty_change_set_is_no_change(
    ) {
        let t = template();
        let (result, actions) = run(
            vec![
                error(400, "Throttling", "Rate exceeded"),
                stack("UPDATE_IN_PROGRESS", ""),
                stack("UPDATE_COMPLETE", ""),
                get_template(&t),
                created_change_set(),
                change_set("FAILED", "The submitted information didn't contain changes. Submit different information to create a change set.", ""),
                empty("DeleteChangeSet"),
                stack("UPDATE_COMPLETE", "<member><OutputKey>TableName</OutputKey><OutputValue>Chat-Connections-1ABC</OutputValue></member>"),
            ],
            &t,
        );
        let (outcome, stack) = result.unwrap();
        assert_eq!(outcome, Outcome::Unchanged);
        assert_eq!(stack.outputs["TableName"], "Chat-Connections-1ABC");
        assert_eq!(
            actions,
            [
                "DescribeStacks",
                "DescribeStacks",
                "DescribeStacks",
                "GetTemplate",
                "CreateChangeSet",
                "DescribeChangeSet",
                "DeleteChangeSet",
                "DescribeStacks"
            ]
        );
    }

    #[test]
    fn a_failed_creation_reports_the_first_failed_resource() {
        let t = template();
        let (result, actions) = run(
            vec![
                no_stack(),
                created_change_set(),
                change_set("CREATE_COMPLETE", "", &change("Add", "Connections", "AWS::DynamoDB::Table")),
                change_set("CREATE_COMPLETE", "", &change("Add", "Connections", "AWS::DynamoDB::Table")),
                events(&[event("e0", "Chat", "AWS::CloudFormation::Stack", "REVIEW_IN_PROGRESS", "User Initiated")]),
                empty("ExecuteChangeSet"),
                stack("ROLLBACK_COMPLETE", ""),
                events(&[
                    event("e4", "Chat", "AWS::CloudFormation::Stack", "ROLLBACK_COMPLETE", ""),
                    event("e3", "Connections", "AWS::DynamoDB::Table", "DELETE_COMPLETE", ""),
                    event("e2", "Chat", "AWS::CloudFormation::Stack", "ROLLBACK_IN_PROGRESS", "The following resource(s) failed to create: [Connections]. Rollback requested by user."),
                    event("e1", "Connections", "AWS::DynamoDB::Table", "CREATE_FAILED", "Resource handler returned message: &quot;Table already exists: chat-connections&quot;"),
                    event("e0", "Chat", "AWS::CloudFormation::Stack", "REVIEW_IN_PROGRESS", "User Initiated"),
                ]),
            ],
            &t,
        );
        let e = result.unwrap_err();
        assert_eq!(
            e.to_string(),
            "stack Chat is ROLLBACK_COMPLETE: Connections (AWS::DynamoDB::Table): Resource handler returned message: \"Table already exists: chat-connections\""
        );
        assert!(e.help().unwrap().contains("the creation was rolled back"));
        assert_eq!(actions.last().unwrap(), "DescribeStackEvents");
        assert!(actions.contains(&"ExecuteChangeSet".to_string()));
    }

    #[test]
    fn a_rolled_back_creation_must_be_deleted_before_the_next_deploy() {
        let t = template();
        let (result, actions) = run(
            vec![
                stack("ROLLBACK_COMPLETE", ""),
                events(&[
                    event(
                        "e2",
                        "Chat",
                        "AWS::CloudFormation::Stack",
                        "ROLLBACK_COMPLETE",
                        "",
                    ),
                    event(
                        "e1",
                        "Connections",
                        "AWS::DynamoDB::Table",
                        "CREATE_FAILED",
                        "Limit exceeded",
                    ),
                ]),
            ],
            &t,
        );
        let e = result.unwrap_err();
        assert_eq!(
            e.to_string(),
            "stack Chat is ROLLBACK_COMPLETE: Connections (AWS::DynamoDB::Table): Limit exceeded"
        );
        assert_eq!(
            e.help().unwrap(),
            "a failed creation must be deleted before the next deploy: run `wsgen destroy Chat`, then deploy again"
        );
        assert_eq!(
            actions,
            ["DescribeStacks", "DescribeStackEvents"],
            "nothing was changed"
        );
    }

    #[test]
    fn a_failed_update_rolls_back_and_says_why() {
        let old = template();
        let mut new = template();
        new["Resources"]["Connections"]["Properties"]["BillingMode"] = json!("PROVISIONED");
        let mut responses = update_executed(
            &old,
            &change("Modify", "Connections", "AWS::DynamoDB::Table"),
        );
        responses.extend([
            stack("UPDATE_ROLLBACK_COMPLETE", ""),
            events(&[
                event(
                    "e3",
                    "Chat",
                    "AWS::CloudFormation::Stack",
                    "UPDATE_ROLLBACK_COMPLETE",
                    "",
                ),
                event(
                    "e2",
                    "Connections",
                    "AWS::DynamoDB::Table",
                    "UPDATE_FAILED",
                    "ProvisionedThroughput must be specified",
                ),
                event(
                    "e1",
                    "Chat",
                    "AWS::CloudFormation::Stack",
                    "UPDATE_IN_PROGRESS",
                    "User Initiated",
                ),
            ]),
        ]);
        let (result, _) = run(responses, &new);
        let e = result.unwrap_err();
        assert_eq!(
            e.to_string(),
            "stack Chat is UPDATE_ROLLBACK_COMPLETE: Connections (AWS::DynamoDB::Table): ProvisionedThroughput must be specified"
        );
        assert!(e
            .help()
            .unwrap()
            .starts_with("the update was rolled back: Chat is as it was before"));
    }

    #[test]
    fn a_failed_rollback_says_how_to_continue_it() {
        let old = template();
        let mut new = template();
        new["Resources"]["Connections"]["Properties"]["BillingMode"] = json!("PROVISIONED");
        let changed = change("Modify", "Connections", "AWS::DynamoDB::Table");
        let mut responses = update_executed(&old, &changed);
        responses.extend([
            stack("UPDATE_ROLLBACK_FAILED", ""),
            events(&[
                event(
                    "e4",
                    "Chat",
                    "AWS::CloudFormation::Stack",
                    "UPDATE_ROLLBACK_FAILED",
                    "",
                ),
                event(
                    "e3",
                    "Connections",
                    "AWS::DynamoDB::Table",
                    "UPDATE_FAILED",
                    "Resource handler returned message: &quot;Table is being deleted&quot;",
                ),
                event(
                    "e2",
                    "Chat",
                    "AWS::CloudFormation::Stack",
                    "UPDATE_ROLLBACK_IN_PROGRESS",
                    "",
                ),
                event(
                    "e1",
                    "Connections",
                    "AWS::DynamoDB::Table",
                    "UPDATE_FAILED",
                    "ProvisionedThroughput must be specified",
                ),
            ]),
        ]);
        let (result, actions) = run(responses, &new);
        let e = result.unwrap_err();
        assert_eq!(
            e.to_string(),
            "stack Chat is UPDATE_ROLLBACK_FAILED: Connections (AWS::DynamoDB::Table): ProvisionedThroughput must be specified"
        );
        assert_eq!(
            e.help().unwrap(),
            "the rollback failed too: `aws cloudformation continue-update-rollback --stack-name Chat`, then deploy again"
        );
        assert_eq!(actions.last().unwrap(), "DescribeStackEvents");

        // The next deploy finds it so, and changes nothing.
        let (result, actions) = run(vec![stack("UPDATE_ROLLBACK_FAILED", "")], &new);
        let e = result.unwrap_err();
        assert!(
            e.to_string()
                .starts_with("stack Chat is UPDATE_ROLLBACK_FAILED"),
            "{e}"
        );
        assert!(e
            .help()
            .unwrap()
            .contains("continue-update-rollback --stack-name Chat"));
        assert_eq!(actions, ["DescribeStacks"]);
    }

    #[test]
    fn a_failed_deletion_names_what_blocks_it() {
        use wsgen_cli::cloud::stacks::{delete_stack, describe};
        let (result, actions) = replay(
            vec![
                stack("UPDATE_COMPLETE", ""),
                events(&[event(
                    "e0",
                    "Chat",
                    "AWS::CloudFormation::Stack",
                    "UPDATE_COMPLETE",
                    "",
                )]),
                empty("DeleteStack"),
                stack("DELETE_FAILED", ""),
                events(&[
                    event(
                        "e3",
                        "Chat",
                        "AWS::CloudFormation::Stack",
                        "DELETE_FAILED",
                        "The following resource(s) failed to delete: [Uploads].",
                    ),
                    event(
                        "e2",
                        "Uploads",
                        "AWS::S3::Bucket",
                        "DELETE_FAILED",
                        "The bucket you tried to delete is not empty",
                    ),
                    event(
                        "e1",
                        "Chat",
                        "AWS::CloudFormation::Stack",
                        "DELETE_IN_PROGRESS",
                        "User Initiated",
                    ),
                ]),
            ],
            |aws| async move {
                let s = describe(&aws, "Chat").await?.expect("the stack");
                delete_stack(&aws, &Ui::new(true), &s, 2).await.map(|_| ())
            },
        );
        let e = result.unwrap_err();
        assert_eq!(
            e.to_string(),
            "stack Chat is DELETE_FAILED: Uploads (AWS::S3::Bucket): The bucket you tried to delete is not empty"
        );
        assert_eq!(
            e.help().unwrap(),
            "remove what blocks the deletion (see the reason), then run `wsgen destroy Chat` again"
        );
        assert_eq!(
            actions,
            [
                "DescribeStacks",
                "DescribeStackEvents",
                "DeleteStack",
                "DescribeStacks",
                "DescribeStackEvents"
            ]
        );

        // A deploy to a stack left DELETE_FAILED changes nothing and says what to do.
        let (result, actions) = run(vec![stack("DELETE_FAILED", "")], &template());
        let e = result.unwrap_err();
        assert!(
            e.to_string().starts_with("stack Chat is DELETE_FAILED"),
            "{e}"
        );
        assert_eq!(
            e.help().unwrap(),
            "delete what blocks it (see the stack's events), then run `wsgen destroy Chat` again"
        );
        assert_eq!(actions, ["DescribeStacks"]);
    }

    /// A table whose key schema changes is replaced: the new one starts empty. Under the
    /// default approval, that needs a yes like a widening of access; without a terminal
    /// the deploy stops, deletes its change set and changes nothing.
    #[test]
    fn replacing_a_table_needs_approval_and_names_what_is_lost() {
        let old = template();
        let mut new = template();
        new["Resources"]["Connections"]["Properties"]["KeySchema"][0]["AttributeName"] =
            json!("id");
        new["Resources"]["Connections"]["Properties"]["AttributeDefinitions"][0]["AttributeName"] =
            json!("id");
        let replaced = replacing(
            "Modify",
            "Connections",
            "AWS::DynamoDB::Table",
            "Chat-Connections-1ABC",
            "True",
        );
        let (result, actions) = run(
            vec![
                stack("UPDATE_COMPLETE", ""),
                get_template(&old),
                created_change_set(),
                change_set("CREATE_COMPLETE", "", &replaced),
                change_set("CREATE_COMPLETE", "", &replaced),
                (200, r#"{"Table":{"TableName":"Chat-Connections-1ABC","ItemCount":42,"TableStatus":"ACTIVE"}}"#.into()),
                empty("DeleteChangeSet"),
            ],
            &new,
        );
        let e = result.unwrap_err();
        assert_eq!(
            e.to_string(),
            "the changes to Chat need approval (they destroy or orphan data), and this is not an interactive terminal"
        );
        assert_eq!(
            actions,
            [
                "DescribeStacks",
                "GetTemplate",
                "CreateChangeSet",
                "DescribeChangeSet",
                "DescribeChangeSet",
                "DescribeTable",
                "DeleteChangeSet"
            ]
        );
    }

    #[test]
    fn rejected_credentials_are_named() {
        let (result, _) = run(
            vec![error(
                403,
                "ExpiredToken",
                "The security token included in the request is expired",
            )],
            &template(),
        );
        let e = result.unwrap_err();
        assert_eq!(
            e.to_string(),
            "the AWS credentials were rejected (ExpiredToken): The security token included in the request is expired"
        );
        assert!(e.help().unwrap().contains("aws sso login"));
    }

    /// STS's answer: the credentials are of account 123456789012.
    fn caller_identity() -> (u16, String) {
        (200, "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/dev</Arn><UserId>AIDAEXAMPLE</UserId><Account>123456789012</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>01234567-89ab-cdef-0123-456789abcdef</RequestId></ResponseMetadata></GetCallerIdentityResponse>".to_string())
    }

    /// A request to the recorded endpoint: its Query-protocol action (or `HEAD /path`
    /// for S3's HeadBucket) and its parameters.
    struct Recorded {
        action: String,
        params: String,
    }

    impl Recorded {
        fn param(&self, name: &str) -> &str {
            self.params
                .split('&')
                .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
                .unwrap_or("")
        }
    }

    /// Serves `answer`'s recorded responses on loopback (inside `rt`); the endpoint.
    fn serve_recorded(
        rt: &tokio::runtime::Runtime,
        answer: impl Fn(&Recorded) -> (u16, String) + Send + Sync + 'static,
    ) -> String {
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let _guard = rt.enter();
        wsgen_handler::testing::serve_http(listener, move |r| {
            let params = String::from_utf8_lossy(&r.body).into_owned();
            let mut request = Recorded {
                action: String::new(),
                params,
            };
            request.action = if r.method == "HEAD" {
                format!("HEAD {}", r.path)
            } else {
                request.param("Action").to_string()
            };
            let (status, xml) = answer(&request);
            async move {
                (
                    status,
                    vec![("content-type".to_string(), "text/xml".to_string())],
                    xml.into_bytes(),
                )
            }
        });
        endpoint
    }

    /// Runs the real `wsgen` with `args` against `endpoint` (in `project`'s directory,
    /// when given), waits until `ready` says so, and sends it SIGINT: its exit code and
    /// stderr.
    fn interrupt(
        args: &[&str],
        endpoint: &str,
        project: Option<&crate::cli::Project>,
        ready: impl Fn() -> bool,
    ) -> (Option<i32>, String) {
        use std::io::Read;
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_wsgen"));
        cmd.env("WSGEN_DATA_DIR", crate::cli::data_dir());
        cmd.args(args)
            .args(["--region", "us-east-1", "--endpoint-url", endpoint])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        if let Some(p) = project {
            cmd.current_dir(&p.dir)
                .env("CARGO_TARGET_DIR", &p.target)
                .env("CARGO_TERM_QUIET", "true");
        }
        crate::engine::aws_env(&mut cmd);
        let mut child = cmd.spawn().unwrap();
        let mut stderr = String::new();
        let start = std::time::Instant::now();
        while !ready() {
            assert!(
                start.elapsed() < Duration::from_secs(300),
                "wsgen never got there"
            );
            if let Some(status) = child.try_wait().unwrap() {
                child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut stderr)
                    .unwrap();
                panic!("wsgen ended ({status}) before it got there: {stderr}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let sent = std::process::Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let status = child.wait().unwrap();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        (status.code(), stderr)
    }

    /// The real binary answers the STS check and then follows a deletion that never
    /// ends: Ctrl-C stops watching and says that the deletion goes on in CloudFormation.
    #[test]
    fn ctrl_c_while_watching_says_the_operation_goes_on() {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
        use std::sync::Arc;
        let rt = tokio::runtime::Runtime::new().unwrap();
        let deleting = Arc::new(AtomicBool::new(false));
        let polls = Arc::new(AtomicUsize::new(0));
        let endpoint = {
            let (deleting, polls) = (deleting.clone(), polls.clone());
            serve_recorded(&rt, move |r| {
                match r.action.as_str() {
                "GetCallerIdentity" => caller_identity(),
                "DescribeStacks" if deleting.load(SeqCst) => {
                    polls.fetch_add(1, SeqCst);
                    stack("DELETE_IN_PROGRESS", "")
                }
                "DescribeStacks" => stack("CREATE_COMPLETE", ""),
                "ListStackResources" => ok("ListStackResources", "<StackResourceSummaries><member><LogicalResourceId>Connections</LogicalResourceId><PhysicalResourceId>Chat-Connections-1ABC</PhysicalResourceId><ResourceType>AWS::DynamoDB::Table</ResourceType><LastUpdatedTimestamp>2026-11-23T04:00:00.000Z</LastUpdatedTimestamp><ResourceStatus>CREATE_COMPLETE</ResourceStatus></member></StackResourceSummaries>"),
                "GetTemplate" => get_template(&template()),
                "DescribeStackEvents" if deleting.load(SeqCst) => events(&[
                    event("e2", "Chat", "AWS::CloudFormation::Stack", "DELETE_IN_PROGRESS", "User Initiated"),
                    event("e1", "Chat", "AWS::CloudFormation::Stack", "CREATE_COMPLETE", ""),
                ]),
                "DescribeStackEvents" => events(&[event("e1", "Chat", "AWS::CloudFormation::Stack", "CREATE_COMPLETE", "")]),
                "DeleteStack" => {
                    deleting.store(true, SeqCst);
                    empty("DeleteStack")
                }
                other => error(400, "InvalidAction", &format!("not recorded: {other}")),
            }
            })
        };
        // The second poll comes after the first events are shown.
        let (code, stderr) = interrupt(&["destroy", "Chat", "--yes"], &endpoint, None, || {
            polls.load(SeqCst) >= 2
        });
        assert_eq!(code, Some(130), "{stderr}");
        assert!(
            stderr.contains("interrupted: stopped watching Chat: its deletion goes on in CloudFormation. Run the same wsgen command again to wait for it"),
            "{stderr}"
        );
        assert!(
            stderr.contains("DELETE_IN_PROGRESS"),
            "the watch showed the events: {stderr}"
        );
    }

    /// Ctrl-C while the change set of a first deploy is being prepared: the change set
    /// and the empty stack holding it are deleted before wsgen exits, and it says that
    /// nothing was deployed (the real binary, on the exports fixture).
    #[test]
    fn ctrl_c_before_the_change_set_runs_deletes_it_and_the_empty_stack() {
        use std::sync::{Arc, Mutex};
        let p = crate::cli::Project::new("exports", "interrupt");
        let rt = tokio::runtime::Runtime::new().unwrap();
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        const STORE_ID: &str = "arn:aws:cloudformation:us-east-1:123456789012:stack/Store/4f0c2d40-0000-11f0-9000-0a1b2c3d4e5f";
        let endpoint = {
            let seen = seen.clone();
            serve_recorded(&rt, move |r| {
                let stack_name = r.param("StackName");
                let mut seen = seen.lock().unwrap();
                seen.push(match stack_name {
                    "" => r.action.clone(),
                    arn if arn.starts_with("arn") => format!("{} Store(id)", r.action),
                    name => format!("{} {name}", r.action),
                });
                let deleted_change_set = seen.iter().any(|a| a == "DeleteChangeSet");
                match r.action.as_str() {
                    "GetCallerIdentity" => caller_identity(),
                    "DescribeStacks" if stack_name == "WsgenToolkit" => ok("DescribeStacks", "<Stacks><member><StackId>arn:aws:cloudformation:us-east-1:123456789012:stack/WsgenToolkit/1</StackId><StackName>WsgenToolkit</StackName><CreationTime>2026-11-23T04:00:00.000Z</CreationTime><StackStatus>CREATE_COMPLETE</StackStatus><Outputs><member><OutputKey>BootstrapVersion</OutputKey><OutputValue>1</OutputValue></member><member><OutputKey>BucketName</OutputKey><OutputValue>wsgen-assets-123456789012-us-east-1</OutputValue></member></Outputs></member></Stacks>"),
                    "DescribeStacks" if stack_name == "Store" => error(400, "ValidationError", "Stack with id Store does not exist"),
                    "DescribeStacks" if deleted_change_set => ok("DescribeStacks", &format!("<Stacks><member><StackId>{STORE_ID}</StackId><StackName>Store</StackName><CreationTime>2026-11-23T04:00:00.000Z</CreationTime><StackStatus>REVIEW_IN_PROGRESS</StackStatus></member></Stacks>")),
                    head if head.starts_with("HEAD /wsgen-assets-123456789012-us-east-1") => (200, String::new()),
                    "CreateChangeSet" => ok("CreateChangeSet", &format!("<Id>{CHANGE_SET_ID}</Id><StackId>{STORE_ID}</StackId>")),
                    // Never ready: the user gives up waiting.
                    "DescribeChangeSet" => ok("DescribeChangeSet", &format!("<ChangeSetName>wsgen-1</ChangeSetName><ChangeSetId>{CHANGE_SET_ID}</ChangeSetId><StackId>{STORE_ID}</StackId><StackName>Store</StackName><ExecutionStatus>UNAVAILABLE</ExecutionStatus><Status>CREATE_PENDING</Status>")),
                    "DeleteChangeSet" => empty("DeleteChangeSet"),
                    "DeleteStack" => empty("DeleteStack"),
                    other => error(400, "InvalidAction", &format!("not recorded: {other}")),
                }
            })
        };
        let polled = || {
            seen.lock()
                .unwrap()
                .iter()
                .filter(|a| a.starts_with("DescribeChangeSet"))
                .count()
                >= 2
        };
        let (code, stderr) = interrupt(&["deploy", "Store"], &endpoint, Some(&p), polled);
        assert_eq!(code, Some(130), "{stderr}");
        assert!(
            stderr.contains("interrupted: nothing was deployed: Store is not created (the change set and its empty stack are deleted)"),
            "{stderr}"
        );
        let seen = seen.lock().unwrap().clone();
        let after: Vec<&str> = seen
            .iter()
            .skip_while(|a| !a.starts_with("DescribeChangeSet"))
            .filter(|a| !a.starts_with("DescribeChangeSet"))
            .map(String::as_str)
            .collect();
        assert_eq!(
            after,
            [
                "DeleteChangeSet",
                "DescribeStacks Store(id)",
                "DeleteStack Store(id)"
            ],
            "{seen:?}"
        );
    }
}
