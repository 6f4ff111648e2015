//! A typed model of CloudFormation templates: values and intrinsic functions
//! ([`Expr`]), typed resources ([`resources`]) and the template itself ([`Template`]).
//!
//! The model both serializes (synthesis) and deserializes (tools that read a
//! synthesized template, such as the local runtime), and every map is ordered so the
//! output is deterministic.

mod expr;
pub mod resources;
mod template;
pub mod types;

pub use expr::{sub_parts, sub_placeholders, Expr, Pseudo, Resolve, SubPart};
pub use resources::ResourceKind;
pub use template::{
    DanglingReference, Export, Output, Parameter, Policy, Resource, Template, FORMAT_VERSION,
};
