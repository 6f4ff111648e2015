//! Library synthesis speed: `cargo bench --bench synth`.
//!
//! - `synth/chat`: the chat stack (table, four functions, four routes, a stage),
//!   including fingerprinting its four handler crates and serializing the template;
//! - `synth/300-routes`: a 300-route API, validated, built and serialized.
//!
//! The end-to-end command (`wsgen synth`, warm) beside `cdk synth` is
//! `bench/synth-vs-cdk.sh`; see BENCHMARKS.md.

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;

#[path = "../../../tests/it/apps.rs"]
#[allow(dead_code)]
mod apps;
#[path = "../../../tests/it/support.rs"]
#[allow(dead_code)]
mod support;

fn synth(app: &wsgen::App) -> usize {
    let assembly = app.assemble().expect("valid");
    assembly
        .templates
        .values()
        .map(|t| t.to_json_string().len())
        .sum::<usize>()
        + assembly.manifest_json().len()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("synth");
    g.bench_function("chat", |b| b.iter(|| black_box(synth(&apps::chat()))));
    g.bench_function("300-routes", |b| {
        b.iter(|| black_box(synth(&apps::three_hundred_routes())))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
