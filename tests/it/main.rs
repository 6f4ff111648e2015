//! The integration tests: one binary (so it links once) with a module per area.

mod apps;
mod asyncapi;
mod cli;
mod client;
mod deploy;
mod deployed;
mod dev;
mod dynamodb;
mod engine;
mod layers;
mod new;
mod properties;
mod runtime;
mod support;
mod templates;
mod validation;
