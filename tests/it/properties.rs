//! Property test: random valid stacks validate, synthesize deterministically, keep the
//! invariants, and a sample of them passes cfn-lint.

use crate::support::{cfn_lint, check_invariants, fixture, write_templates};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use wsgen::cfn::Template;
use wsgen::prelude::*;

/// A stage: name, auto-deploy, and throttling (rate, burst).
type StageSpec = (String, bool, Option<(u32, u32)>);

#[derive(Debug, Clone)]
struct Spec {
    functions: Vec<(u32, u64, bool, bool)>,
    routes: Vec<(String, usize, bool)>,
    stages: Vec<StageSpec>,
    table: Option<(bool, bool)>,
    authorizer: bool,
}

fn spec() -> impl Strategy<Value = Spec> {
    let function = (128u32..=10240, 1u64..=900, any::<bool>(), any::<bool>());
    let route = ("[a-z][a-zA-Z0-9]{0,11}", 0usize..8, any::<bool>());
    let stage = (
        "[a-z][a-z0-9_-]{0,9}",
        any::<bool>(),
        proptest::option::of((0u32..10_000, 0u32..5_000)),
    );
    (
        proptest::collection::vec(function, 1..5),
        proptest::collection::vec(route, 0..12),
        proptest::collection::vec(stage, 1..4),
        proptest::option::of((any::<bool>(), any::<bool>())),
        any::<bool>(),
    )
        .prop_map(|(functions, mut routes, mut stages, table, authorizer)| {
            // Only valid stacks: no two names with the same letters and digits (their
            // logical IDs would collide), and no custom key named like a reserved one
            // (`connect` and `$connect` both give `ApiConnectRoute`).
            routes.retain(|r| {
                !["connect", "disconnect", "default"].contains(&r.0.to_ascii_lowercase().as_str())
            });
            routes.sort_by_key(|r| r.0.to_ascii_lowercase());
            routes.dedup_by_key(|r| r.0.to_ascii_lowercase());
            stages.sort_by_key(|s| wsgen::logical_id(&[&s.0]));
            stages.dedup_by_key(|s| wsgen::logical_id(&[&s.0]));
            Spec {
                functions,
                routes,
                stages,
                table,
                authorizer,
            }
        })
}

fn build(spec: &Spec) -> App {
    let app = App::at(fixture("chat"));
    let stack = app.stack("Random");
    let crates = [
        "lambdas/onconnect",
        "lambdas/ondisconnect",
        "lambdas/sendmessage",
        "lambdas/default",
    ];
    let functions: Vec<RustFunction> = spec
        .functions
        .iter()
        .enumerate()
        .map(|(i, (memory, timeout, arm, tracing))| {
            stack
                .rust_function(&format!("Fn{i}"), crates[i % crates.len()])
                .memory(*memory)
                .timeout(Duration::from_secs(*timeout))
                .arch(if *arm {
                    Architecture::Arm64
                } else {
                    Architecture::X86_64
                })
                .tracing(*tracing)
        })
        .collect();
    let f = |i: usize| &functions[i % functions.len()];
    let api = stack.websocket_api("Api").on_connect(f(0)).on_default(f(1));
    if spec.authorizer {
        let auth = api
            .lambda_authorizer("Auth", f(2))
            .identity_source(IdentitySource::query("token"));
        let _ = api.route_handle("$connect").unwrap().authorizer(&auth);
    }
    for (key, target, two_way) in &spec.routes {
        let route = api.add_route(key).integration(f(*target));
        if *two_way {
            let _ = route.two_way();
        }
    }
    if let Some((ttl, pitr)) = spec.table {
        let mut table = stack
            .connections_table("Connections")
            .point_in_time_recovery(pitr);
        if ttl {
            table = table.ttl("expiresAt");
        }
        for (i, func) in functions.iter().enumerate() {
            if i % 2 == 0 {
                table.grant_read_write(func);
            } else {
                table.grant_read(func);
            }
            let _ = func.clone().env("TABLE_NAME", table.name());
        }
    }
    for (name, auto, throttle) in &spec.stages {
        let mut stage = api.stage(name).auto_deploy(*auto);
        if let Some((rate, burst)) = throttle {
            stage = stage.throttle(f64::from(*rate), *burst);
        }
        stage.grant_manage_connections(f(0));
        stack.output(&wsgen::logical_id(&[name, "Url"]), stage.url());
    }
    app
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn random_valid_stacks_synthesize_deterministically(spec in spec()) {
        let first = build(&spec).assemble().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let second = build(&spec).assemble().unwrap();
        prop_assert_eq!(first.manifest_json(), second.manifest_json());
        let t = &first.templates["Random"];
        prop_assert_eq!(t.to_json_string(), second.templates["Random"].to_json_string());
        check_invariants("random", t);
    }
}

#[test]
fn a_sample_of_random_stacks_passes_cfn_lint() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut templates: Vec<(String, Template)> = Vec::new();
    for i in 0..12 {
        let spec = spec().new_tree(&mut runner).unwrap().current();
        templates.push((
            format!("random-{i}"),
            build(&spec)
                .assemble()
                .unwrap()
                .templates
                .remove("Random")
                .unwrap(),
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    cfn_lint(&write_templates(dir.path(), &templates));
}
