//! The AWS side: the SDK clients and their errors (`aws`), CloudFormation stack
//! operations and change sets (`stacks`), template differences (`changes`), the
//! toolkit stack (`toolkit`) and the account's API Gateway logging role (`account`).
//! The verbs (bootstrap, deploy, diff, destroy) drive them; what they show and ask
//! goes through [`Console`], which the command line implements.

pub mod account;
pub mod aws;
pub mod changes;
mod error;
pub mod stacks;
pub mod toolkit;

pub use error::CloudError;

/// What the stack operations tell the user and ask them.
pub trait Console {
    fn info(&self, msg: &str);
    fn warn(&self, msg: &str);
    /// `s` emphasised (when the output is coloured).
    fn bold(&self, s: &str) -> String;
    /// A yes/no question; `None` when no one can answer (no terminal).
    fn confirm(&self, question: &str) -> Option<bool>;
    /// A count of `total` steps of `what` done, with lines above it.
    fn progress(&self, total: u64, what: &str) -> Box<dyn Steps>;
}

/// Steps done (see [`Console::progress`]).
pub trait Steps {
    fn set(&self, done: u64);
    /// A line shown above the count.
    fn line(&self, msg: &str);
    fn finish(&self);
}
