//! Validation results: every problem found in an app, each naming the construct, the
//! rule it breaks and the fix.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One broken rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// The construct path, e.g. `Chat/ChatApi/routes/sendmessage`.
    pub path: String,
    /// A stable identifier of the rule, e.g. `route-key-duplicate`.
    pub rule: String,
    /// What is wrong, naming the rule.
    pub message: String,
    /// How to fix it.
    pub fix: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} [{}]\n  fix: {}",
            self.path, self.message, self.rule, self.fix
        )
    }
}

/// Every problem found in an app, in the order the constructs were declared.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub struct ValidationErrors {
    pub problems: Vec<Problem>,
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        writeln!(f, "{n} problem{} found:", if n == 1 { "" } else { "s" })?;
        for p in &self.problems {
            writeln!(f, "- {p}")?;
        }
        Ok(())
    }
}

impl ValidationErrors {
    /// Whether any problem breaks `rule`.
    pub fn has(&self, rule: &str) -> bool {
        self.problems.iter().any(|p| p.rule == rule)
    }
}

/// Collects problems during validation.
#[derive(Default)]
pub(crate) struct Problems(pub Vec<Problem>);

impl Problems {
    pub fn add(
        &mut self,
        path: impl Into<String>,
        rule: &str,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.0.push(Problem {
            path: path.into(),
            rule: rule.into(),
            message: message.into(),
            fix: fix.into(),
        });
    }

    /// Checks a name's length against a CloudFormation or service limit.
    pub fn max_len(&mut self, path: &str, what: &str, value: &str, max: usize) {
        if value.chars().count() > max {
            self.add(
                path,
                "name-too-long",
                format!(
                    "{what} `{}` is {} characters; the limit is {max}",
                    short(value),
                    value.chars().count()
                ),
                format!("shorten the {what} to at most {max} characters"),
            );
        }
    }
}

fn short(s: &str) -> String {
    if s.chars().count() > 40 {
        format!("{}...", s.chars().take(37).collect::<String>())
    } else {
        s.to_string()
    }
}

/// Whether `s` matches `[first][rest]*` with a length in `len`.
pub(crate) fn matches(
    s: &str,
    first: fn(char) -> bool,
    rest: fn(char) -> bool,
    len: std::ops::RangeInclusive<usize>,
) -> bool {
    let mut chars = s.chars();
    len.contains(&s.chars().count()) && chars.next().is_some_and(first) && chars.all(rest)
}
