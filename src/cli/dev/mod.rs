//! `wsgen dev`: the app running locally. Synthesizes and bundles for the host (dev
//! profile), reads the templates, runs each function's `bootstrap` behind a local
//! Lambda Runtime API, and serves every WebSocket stage on 127.0.0.1 with API Gateway's
//! behaviour and the `@connections` API.

pub mod gateway;
pub mod lambda;
pub mod model;

use super::bundle::{bundle, BuildProfile, BundleOptions};
use super::{CliError, Ui};
use crate::assembly::CloudAssembly;
use gateway::{Gateway, GatewayConfig, Served};
use lambda::{LambdaService, Logs};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The port `wsgen dev` listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 3001;

#[derive(Debug, Clone)]
pub struct DevOptions {
    pub project: Option<PathBuf>,
    /// Default: [`DEFAULT_PORT`]; 0 picks a free one.
    pub port: u16,
    /// Default: dev (fast rebuilds).
    pub profile: BuildProfile,
    /// Serve only this stage. Default: every stage.
    pub stage: Option<String>,
    pub gateway: GatewayConfig,
    /// A DynamoDB-compatible endpoint for the app's tables.
    pub dynamodb_endpoint: Option<String>,
    /// Logs as JSON lines.
    pub json: bool,
}

impl Default for DevOptions {
    fn default() -> Self {
        DevOptions {
            project: None,
            port: DEFAULT_PORT,
            profile: BuildProfile::Dev,
            stage: None,
            gateway: GatewayConfig::default(),
            dynamodb_endpoint: None,
            json: false,
        }
    }
}

/// The host's Lambda architecture.
fn host_arch() -> &'static str {
    if cfg!(target_arch = "aarch64") {
        "arm64"
    } else {
        "x86_64"
    }
}

pub fn dev(opts: &DevOptions, ui: &Ui) -> Result<(), CliError> {
    let bundled = bundle(
        &BundleOptions {
            project: opts.project.clone(),
            profile: opts.profile,
            arch: Some(host_arch().into()),
        },
        ui,
    )?;
    let out = &bundled.out;
    // Each function's executable, from its zip (by fingerprint).
    let bin_dir = out.join("dev").join("bin");
    let mut executables = BTreeMap::new();
    for a in &bundled.assets {
        let exe = bin_dir.join(&a.fingerprint);
        if !exe.is_file() {
            extract_bootstrap(&a.file, &exe)?;
        }
        executables.insert(a.fingerprint.clone(), exe);
    }
    // Not the CLI's usual runtime: Ctrl-C here shuts down gracefully.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Usage(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(serve(opts, ui, &bundled.assembly, &executables))
}

fn extract_bootstrap(zip: &Path, exe: &Path) -> Result<(), CliError> {
    use std::io::Read;
    let file = std::fs::File::open(zip).map_err(CliError::io("cannot read", zip))?;
    let mut archive = zip::ZipArchive::new(file)
        .map_err(|e| CliError::Bundle(format!("{}: {e}", zip.display())))?;
    let mut entry = archive
        .by_name("bootstrap")
        .map_err(|e| CliError::Bundle(format!("{}: {e}", zip.display())))?;
    let mut data = Vec::new();
    entry
        .read_to_end(&mut data)
        .map_err(CliError::io("cannot read", zip))?;
    super::files::write_atomically(exe, &data, Some(0o755))
}

async fn serve(
    opts: &DevOptions,
    ui: &Ui,
    assembly: &CloudAssembly,
    executables: &BTreeMap<String, PathBuf>,
) -> Result<(), CliError> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", opts.port))
        .await
        .map_err(|e| {
            CliError::Usage(format!(
                "cannot listen on 127.0.0.1:{}: {e} (pick another with --port, or 0 for any free port)",
                opts.port
            ))
        })?;
    let addr = listener
        .local_addr()
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let domain = addr.to_string();

    let mut stages: BTreeMap<String, Served> = BTreeMap::new();
    let mut functions = Vec::new();
    let mut tables = Vec::new();
    for (stack, template) in &assembly.templates {
        let template: Value = serde_json::to_value(template).expect("json");
        let app = model::read(stack, &template, &domain);
        for (id, f) in app.functions {
            let key = template
                .pointer(&format!("/Resources/{id}/Properties/Code/S3Key"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            let Some(exe) = executables.get(key.trim_end_matches(".zip")) else {
                return Err(CliError::Bundle(format!(
                    "function {stack}/{id} has no bundled handler (S3Key {key})"
                )));
            };
            functions.push((f, exe.clone()));
        }
        tables.extend(app.tables.into_values());
        for api in app.apis.into_values() {
            for stage in &api.stages {
                if opts.stage.as_ref().is_some_and(|s| s != stage) {
                    continue;
                }
                if let Some(other) = stages.get(stage) {
                    return Err(CliError::Usage(format!(
                        "stage `{stage}` belongs to both {} and {}: serve one with --stage, or rename a stage",
                        other.api.logical_id, api.logical_id
                    )));
                }
                stages.insert(
                    stage.clone(),
                    Served {
                        api: api.clone(),
                        stage: stage.clone(),
                    },
                );
            }
        }
    }
    if stages.is_empty() {
        return Err(CliError::Usage(match &opts.stage {
            Some(s) => format!("the app has no stage `{s}`"),
            None => "the app has no WebSocket API stage to serve".into(),
        }));
    }

    let mut env = vec![
        ("AWS_ACCESS_KEY_ID".to_string(), "local".to_string()),
        ("AWS_SECRET_ACCESS_KEY".to_string(), "local".to_string()),
        (
            "AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI".to_string(),
            format!("http://{domain}"),
        ),
    ];
    if !tables.is_empty() {
        let Some(endpoint) = &opts.dynamodb_endpoint else {
            let names: Vec<&str> = tables.iter().map(|t| t.logical_id.as_str()).collect();
            return Err(CliError::Usage(format!(
                "the app has DynamoDB tables ({}) and this wsgen dev has no embedded DynamoDB yet: pass --dynamodb-endpoint URL (DynamoDB Local, or moto's server)",
                names.join(", ")
            )));
        };
        ensure_tables(endpoint, &tables).await?;
        env.push(("AWS_ENDPOINT_URL_DYNAMODB".into(), endpoint.clone()));
    }

    let logs = Logs { json: opts.json };
    let lambda = Arc::new(LambdaService::new(functions, env, logs.clone()));
    let gw = Gateway::new(
        stages,
        lambda.clone(),
        opts.gateway.clone(),
        domain.clone(),
        logs,
    );
    announce(ui, opts.json, &gw, &domain);

    let router = gw.router();
    let shutdown_gw = gw.clone();
    let server = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        let _ = tokio::signal::ctrl_c().await;
        eprintln!(
            "shutting down: closing {} connection(s)",
            shutdown_gw.open()
        );
        shutdown_gw.shutdown(Duration::from_secs(10)).await;
    });
    server
        .await
        .map_err(|e| CliError::Usage(format!("the local gateway failed: {e}")))?;
    lambda.shutdown();
    ui.done("wsgen dev stopped");
    Ok(())
}

/// Prints what is served (on stderr; with `--json` one `ready` line).
fn announce(ui: &Ui, json: bool, gw: &Gateway, domain: &str) {
    if json {
        let stages: BTreeMap<&String, Value> = gw
            .stages
            .iter()
            .map(|(name, s)| {
                (
                    name,
                    serde_json::json!({
                        "url": format!("ws://{domain}/{name}"),
                        "callbackUrl": format!("http://{domain}/{name}"),
                        "api": s.api.logical_id,
                        "routes": s.api.routes.keys().collect::<Vec<_>>(),
                    }),
                )
            })
            .collect();
        eprintln!(
            "{}",
            serde_json::json!({"type": "ready", "address": domain, "stages": stages})
        );
        return;
    }
    ui.done(&format!("wsgen dev listening on {domain} (loopback only)"));
    for (name, s) in &gw.stages {
        let root = if gw.root.as_deref() == Some(name.as_str()) {
            format!(" (also ws://{domain}/)")
        } else {
            String::new()
        };
        ui.info(&format!(
            "  {} stage {name}: ws://{domain}/{name}{root}",
            s.api.logical_id
        ));
        ui.info(&format!(
            "    @connections: http://{domain}/{name}/@connections/{{connectionId}}"
        ));
        for (key, r) in &s.api.routes {
            let target = r
                .function
                .clone()
                .or_else(|| r.other_integration.clone())
                .unwrap_or_else(|| "(no integration)".into());
            ui.info(&format!(
                "    {key:<16} -> {target}{}",
                if r.two_way { " (two-way)" } else { "" }
            ));
        }
    }
    ui.info("Ctrl-C stops (running $disconnect for every open connection)");
}

/// Creates the app's tables in the DynamoDB endpoint when they are missing.
async fn ensure_tables(endpoint: &str, tables: &[model::DevTable]) -> Result<(), CliError> {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
        Projection, ProjectionType, ScalarAttributeType,
    };
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(model::LOCAL_REGION))
        .endpoint_url(endpoint)
        .credentials_provider(aws_credential_types::Credentials::new(
            "local",
            "local",
            None,
            None,
            "wsgen-dev",
        ))
        .load()
        .await;
    let ddb = aws_sdk_dynamodb::Client::new(&config);
    let existing = ddb.list_tables().send().await.map_err(|e| {
        super::aws::aws_error(endpoint, "list the tables of the DynamoDB endpoint", e)
    })?;
    let keys = |v: Option<&Value>| -> Vec<KeySchemaElement> {
        v.and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|k| {
                KeySchemaElement::builder()
                    .attribute_name(k.get("AttributeName")?.as_str()?)
                    .key_type(KeyType::from(k.get("KeyType")?.as_str()?))
                    .build()
                    .ok()
            })
            .collect()
    };
    for t in tables {
        if existing.table_names().contains(&t.name) {
            continue;
        }
        let p = &t.properties;
        let attributes = p
            .get("AttributeDefinitions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|a| {
                AttributeDefinition::builder()
                    .attribute_name(a.get("AttributeName")?.as_str()?)
                    .attribute_type(ScalarAttributeType::from(a.get("AttributeType")?.as_str()?))
                    .build()
                    .ok()
            })
            .collect();
        let indexes: Vec<GlobalSecondaryIndex> = p
            .get("GlobalSecondaryIndexes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|g| {
                GlobalSecondaryIndex::builder()
                    .index_name(g.get("IndexName")?.as_str()?)
                    .set_key_schema(Some(keys(g.get("KeySchema"))))
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::from(
                                g.pointer("/Projection/ProjectionType")
                                    .and_then(Value::as_str)
                                    .unwrap_or("ALL"),
                            ))
                            .build(),
                    )
                    .build()
                    .ok()
            })
            .collect();
        ddb.create_table()
            .table_name(&t.name)
            .set_attribute_definitions(Some(attributes))
            .set_key_schema(Some(keys(p.get("KeySchema"))))
            .set_global_secondary_indexes((!indexes.is_empty()).then_some(indexes))
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .map_err(|e| super::aws::aws_error(endpoint, &format!("create table {}", t.name), e))?;
    }
    Ok(())
}
