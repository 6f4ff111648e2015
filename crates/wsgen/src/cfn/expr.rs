//! CloudFormation values and intrinsic functions.
//!
//! [`Expr`] is any value a template property can hold: a literal, a list, a map, or an
//! intrinsic function (`Ref`, `Fn::GetAtt`, `Fn::Sub`, `Fn::Join`, `Fn::Select`,
//! `Fn::Split`, `Fn::If`, the condition functions and `Fn::ImportValue`). It serializes
//! to the JSON form CloudFormation reads, and parses back from it, so the same type
//! serves synthesis and the tools that read a synthesized template.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A CloudFormation value: a literal or an intrinsic function.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Str(String),
    Int(i64),
    /// A number that is not an integer (a throttling rate, say).
    Float(f64),
    Bool(bool),
    List(Vec<Expr>),
    Map(BTreeMap<String, Expr>),
    /// `{"Ref": "LogicalId"}`: a resource, a parameter or a pseudo parameter.
    Ref(String),
    /// `{"Fn::GetAtt": ["LogicalId", "Attribute"]}`.
    GetAtt(String, String),
    /// `{"Fn::Sub": "..."}` or `{"Fn::Sub": ["...", {vars}]}`.
    Sub(String, BTreeMap<String, Expr>),
    /// `{"Fn::Join": [delimiter, [values]]}`.
    Join(String, Vec<Expr>),
    /// `{"Fn::Select": [index, list]}`.
    Select(u32, Box<Expr>),
    /// `{"Fn::Split": [delimiter, source]}`.
    Split(String, Box<Expr>),
    /// `{"Fn::If": [condition, then, else]}`.
    If(String, Box<Expr>, Box<Expr>),
    /// `{"Fn::Equals": [a, b]}` (in `Conditions`).
    Equals(Box<Expr>, Box<Expr>),
    /// `{"Fn::Not": [condition]}`.
    Not(Box<Expr>),
    /// `{"Fn::And": [conditions]}`.
    And(Vec<Expr>),
    /// `{"Fn::Or": [conditions]}`.
    Or(Vec<Expr>),
    /// `{"Condition": "Name"}` inside a condition function.
    Condition(String),
    /// `{"Fn::ImportValue": name}`.
    ImportValue(Box<Expr>),
}

/// Pseudo parameters CloudFormation resolves at deploy time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pseudo {
    AccountId,
    Region,
    Partition,
    UrlSuffix,
    StackName,
    StackId,
    NoValue,
}

impl Pseudo {
    /// Every pseudo parameter.
    pub const ALL: [Pseudo; 7] = [
        Pseudo::AccountId,
        Pseudo::Region,
        Pseudo::Partition,
        Pseudo::UrlSuffix,
        Pseudo::StackName,
        Pseudo::StackId,
        Pseudo::NoValue,
    ];

    /// The pseudo parameter called `name` (`AWS::Region`), if it is one.
    pub fn from_name(name: &str) -> Option<Pseudo> {
        Pseudo::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The parameter's name, e.g. `AWS::Region`.
    pub fn name(self) -> &'static str {
        match self {
            Pseudo::AccountId => "AWS::AccountId",
            Pseudo::Region => "AWS::Region",
            Pseudo::Partition => "AWS::Partition",
            Pseudo::UrlSuffix => "AWS::URLSuffix",
            Pseudo::StackName => "AWS::StackName",
            Pseudo::StackId => "AWS::StackId",
            Pseudo::NoValue => "AWS::NoValue",
        }
    }
}

impl From<Pseudo> for Expr {
    fn from(p: Pseudo) -> Self {
        Expr::Ref(p.name().to_string())
    }
}

impl Expr {
    /// `{"Ref": id}`.
    pub fn ref_(id: impl Into<String>) -> Expr {
        Expr::Ref(id.into())
    }

    /// `{"Fn::GetAtt": [id, attribute]}`.
    pub fn get_att(id: impl Into<String>, attribute: impl Into<String>) -> Expr {
        Expr::GetAtt(id.into(), attribute.into())
    }

    /// `{"Fn::Sub": template}` with no extra variables.
    pub fn sub(template: impl Into<String>) -> Expr {
        Expr::Sub(template.into(), BTreeMap::new())
    }

    /// `{"Fn::Join": ["", parts]}`, with adjacent literal strings merged.
    pub fn concat(parts: impl IntoIterator<Item = Expr>) -> Expr {
        let mut out: Vec<Expr> = Vec::new();
        for part in parts {
            match (out.last_mut(), part) {
                (Some(Expr::Str(prev)), Expr::Str(s)) => prev.push_str(&s),
                (_, p) => out.push(p),
            }
        }
        match out.as_slice() {
            [] => Expr::Str(String::new()),
            [Expr::Str(s)] => Expr::Str(s.clone()),
            _ => Expr::Join(String::new(), out),
        }
    }

    /// `{"Fn::Equals": [a, b]}`.
    pub fn equals(a: impl Into<Expr>, b: impl Into<Expr>) -> Expr {
        Expr::Equals(Box::new(a.into()), Box::new(b.into()))
    }

    /// `{"Fn::If": [condition, then, else]}`.
    pub fn if_(
        condition: impl Into<String>,
        then: impl Into<Expr>,
        otherwise: impl Into<Expr>,
    ) -> Expr {
        Expr::If(
            condition.into(),
            Box::new(then.into()),
            Box::new(otherwise.into()),
        )
    }

    /// A literal string value, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Expr::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Every logical ID this value refers to (through `Ref`, `Fn::GetAtt` or a `${Name}`
    /// placeholder of `Fn::Sub`), pseudo parameters excluded, in order of appearance.
    pub fn references(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.collect_references(&mut out);
        out
    }

    fn collect_references(&self, out: &mut Vec<String>) {
        match self {
            Expr::Str(_) | Expr::Int(_) | Expr::Float(_) | Expr::Bool(_) | Expr::Condition(_) => {}
            Expr::List(items) | Expr::Join(_, items) | Expr::And(items) | Expr::Or(items) => {
                items.iter().for_each(|i| i.collect_references(out))
            }
            Expr::Map(map) => map.values().for_each(|v| v.collect_references(out)),
            Expr::Ref(id) => {
                if !id.starts_with("AWS::") {
                    out.push(id.clone())
                }
            }
            Expr::GetAtt(id, _) => out.push(id.clone()),
            Expr::Sub(template, vars) => {
                for name in sub_placeholders(template) {
                    let id = name.split('.').next().unwrap_or(name);
                    if !id.starts_with("AWS::") && !vars.contains_key(id) {
                        out.push(id.to_string());
                    }
                }
                vars.values().for_each(|v| v.collect_references(out));
            }
            Expr::Select(_, e) | Expr::Split(_, e) | Expr::Not(e) | Expr::ImportValue(e) => {
                e.collect_references(out)
            }
            Expr::If(_, a, b) | Expr::Equals(a, b) => {
                a.collect_references(out);
                b.collect_references(out);
            }
        }
    }

    /// The literal export names this value imports (`Fn::ImportValue` of a string).
    pub fn imports(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.walk(&mut |e| {
            if let Expr::ImportValue(name) = e {
                if let Expr::Str(name) = name.as_ref() {
                    out.push(name.clone());
                }
            }
        });
        out
    }

    /// Every condition name this value uses (`Fn::If` and `{"Condition": ..}`).
    pub fn conditions(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.walk(&mut |e| match e {
            Expr::If(c, _, _) | Expr::Condition(c) => out.push(c.clone()),
            _ => {}
        });
        out
    }

    fn walk(&self, f: &mut dyn FnMut(&Expr)) {
        f(self);
        match self {
            Expr::List(items) | Expr::Join(_, items) | Expr::And(items) | Expr::Or(items) => {
                items.iter().for_each(|i| i.walk(f))
            }
            Expr::Map(map) => map.values().for_each(|v| v.walk(f)),
            Expr::Sub(_, vars) => vars.values().for_each(|v| v.walk(f)),
            Expr::Select(_, e) | Expr::Split(_, e) | Expr::Not(e) | Expr::ImportValue(e) => {
                e.walk(f)
            }
            Expr::If(_, a, b) | Expr::Equals(a, b) => {
                a.walk(f);
                b.walk(f);
            }
            _ => {}
        }
    }

    /// Converts to the JSON CloudFormation reads.
    pub fn to_json(&self) -> Value {
        fn list(items: &[Expr]) -> Value {
            Value::Array(items.iter().map(Expr::to_json).collect())
        }
        fn func(name: &str, arg: Value) -> Value {
            let mut m = Map::new();
            m.insert(name.to_string(), arg);
            Value::Object(m)
        }
        match self {
            Expr::Str(s) => Value::String(s.clone()),
            Expr::Int(i) => Value::from(*i),
            Expr::Float(f) => Value::from(*f),
            Expr::Bool(b) => Value::Bool(*b),
            Expr::List(items) => list(items),
            Expr::Map(map) => {
                Value::Object(map.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
            }
            Expr::Ref(id) => func("Ref", Value::String(id.clone())),
            Expr::GetAtt(id, att) => func(
                "Fn::GetAtt",
                Value::Array(vec![id.as_str().into(), att.as_str().into()]),
            ),
            Expr::Sub(t, vars) if vars.is_empty() => func("Fn::Sub", Value::String(t.clone())),
            Expr::Sub(t, vars) => func(
                "Fn::Sub",
                Value::Array(vec![
                    Value::String(t.clone()),
                    Value::Object(vars.iter().map(|(k, v)| (k.clone(), v.to_json())).collect()),
                ]),
            ),
            Expr::Join(d, items) => func(
                "Fn::Join",
                Value::Array(vec![d.as_str().into(), list(items)]),
            ),
            Expr::Select(i, e) => func(
                "Fn::Select",
                Value::Array(vec![Value::from(*i), e.to_json()]),
            ),
            Expr::Split(d, e) => func(
                "Fn::Split",
                Value::Array(vec![d.as_str().into(), e.to_json()]),
            ),
            Expr::If(c, a, b) => func(
                "Fn::If",
                Value::Array(vec![c.as_str().into(), a.to_json(), b.to_json()]),
            ),
            Expr::Equals(a, b) => func("Fn::Equals", Value::Array(vec![a.to_json(), b.to_json()])),
            Expr::Not(e) => func("Fn::Not", Value::Array(vec![e.to_json()])),
            Expr::And(items) => func("Fn::And", list(items)),
            Expr::Or(items) => func("Fn::Or", list(items)),
            Expr::Condition(c) => func("Condition", Value::String(c.clone())),
            Expr::ImportValue(e) => func("Fn::ImportValue", e.to_json()),
        }
    }

    /// Parses the JSON form of a value. Unknown `Fn::*` functions are an error; other
    /// objects are maps.
    pub fn from_json(value: &Value) -> Result<Expr, String> {
        fn list(v: &Value) -> Result<Vec<Expr>, String> {
            v.as_array()
                .ok_or_else(|| format!("expected a list, found {v}"))?
                .iter()
                .map(Expr::from_json)
                .collect()
        }
        fn string(v: &Value) -> Result<String, String> {
            v.as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("expected a string, found {v}"))
        }
        fn args<const N: usize>(name: &str, v: &Value) -> Result<[Value; N], String> {
            let a = v.as_array().ok_or_else(|| format!("{name} takes a list"))?;
            <[Value; N]>::try_from(a.clone()).map_err(|_| format!("{name} takes {N} arguments"))
        }
        Ok(match value {
            Value::Null => return Err("null is not a CloudFormation value".into()),
            Value::Bool(b) => Expr::Bool(*b),
            Value::Number(n) => match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => Expr::Int(i),
                (None, Some(f)) => Expr::Float(f),
                (None, None) => return Err(format!("unsupported number {n}")),
            },
            Value::String(s) => Expr::Str(s.clone()),
            Value::Array(_) => Expr::List(list(value)?),
            Value::Object(m) if m.len() == 1 => {
                let (k, v) = m.iter().next().expect("one entry");
                match k.as_str() {
                    "Ref" => Expr::Ref(string(v)?),
                    "Condition" => Expr::Condition(string(v)?),
                    "Fn::GetAtt" => match v {
                        Value::String(s) => {
                            let (id, att) =
                                s.split_once('.').ok_or("Fn::GetAtt needs Id.Attribute")?;
                            Expr::GetAtt(id.into(), att.into())
                        }
                        _ => {
                            let [id, att] = args::<2>(k, v)?;
                            Expr::GetAtt(string(&id)?, string(&att)?)
                        }
                    },
                    "Fn::Sub" => match v {
                        Value::String(s) => Expr::sub(s.clone()),
                        _ => {
                            let [t, vars] = args::<2>(k, v)?;
                            let vars = vars
                                .as_object()
                                .ok_or("Fn::Sub variables must be a map")?
                                .iter()
                                .map(|(k, v)| Ok((k.clone(), Expr::from_json(v)?)))
                                .collect::<Result<_, String>>()?;
                            Expr::Sub(string(&t)?, vars)
                        }
                    },
                    "Fn::Join" => {
                        let [d, items] = args::<2>(k, v)?;
                        Expr::Join(string(&d)?, list(&items)?)
                    }
                    "Fn::Select" => {
                        let [i, e] = args::<2>(k, v)?;
                        let i = match &i {
                            Value::Number(n) => n.as_u64(),
                            Value::String(s) => s.parse().ok(),
                            _ => None,
                        }
                        .ok_or("Fn::Select needs a non-negative index")?;
                        Expr::Select(i as u32, Box::new(Expr::from_json(&e)?))
                    }
                    "Fn::Split" => {
                        let [d, e] = args::<2>(k, v)?;
                        Expr::Split(string(&d)?, Box::new(Expr::from_json(&e)?))
                    }
                    "Fn::If" => {
                        let [c, a, b] = args::<3>(k, v)?;
                        Expr::If(
                            string(&c)?,
                            Box::new(Expr::from_json(&a)?),
                            Box::new(Expr::from_json(&b)?),
                        )
                    }
                    "Fn::Equals" => {
                        let [a, b] = args::<2>(k, v)?;
                        Expr::Equals(
                            Box::new(Expr::from_json(&a)?),
                            Box::new(Expr::from_json(&b)?),
                        )
                    }
                    "Fn::Not" => {
                        let [e] = args::<1>(k, v)?;
                        Expr::Not(Box::new(Expr::from_json(&e)?))
                    }
                    "Fn::And" => Expr::And(list(v)?),
                    "Fn::Or" => Expr::Or(list(v)?),
                    "Fn::ImportValue" => Expr::ImportValue(Box::new(Expr::from_json(v)?)),
                    other if other.starts_with("Fn::") => {
                        return Err(format!("unsupported intrinsic function {other}"))
                    }
                    _ => Expr::Map(BTreeMap::from([(k.clone(), Expr::from_json(v)?)])),
                }
            }
            Value::Object(m) => Expr::Map(
                m.iter()
                    .map(|(k, v)| Ok((k.clone(), Expr::from_json(v)?)))
                    .collect::<Result<_, String>>()?,
            ),
        })
    }
}

/// A piece of an `Fn::Sub` template.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubPart<'a> {
    /// Text as written.
    Text(&'a str),
    /// `${Name}` or `${Logical.Attribute}`: a variable, a reference or an attribute.
    Var(&'a str),
    /// `${!Literal}`: the text `${Literal}`.
    Literal(&'a str),
}

/// Splits an `Fn::Sub` template into its parts: the one `${...}` scanner, used by
/// synthesis (to check references) and by everything that resolves a template. An
/// unclosed `${` is text.
pub fn sub_parts(template: &str) -> Vec<SubPart<'_>> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        if start > 0 {
            out.push(SubPart::Text(&rest[..start]));
        }
        let name = &after[..end];
        out.push(match name.strip_prefix('!') {
            Some(literal) => SubPart::Literal(literal),
            None => SubPart::Var(name.trim()),
        });
        rest = &after[end + 1..];
    }
    if !rest.is_empty() {
        out.push(SubPart::Text(rest));
    }
    out
}

/// The `${...}` placeholders of an `Fn::Sub` template, skipping `${!Literal}` escapes.
pub fn sub_placeholders(template: &str) -> Vec<&str> {
    sub_parts(template)
        .into_iter()
        .filter_map(|p| match p {
            SubPart::Var(name) => Some(name),
            _ => None,
        })
        .collect()
}

/// How an [`Expr`] evaluates to a string ([`Expr::evaluate`]): what its references
/// and attributes are.
pub trait Resolve {
    /// `Ref` (and `${Name}`): a resource, a parameter or a pseudo parameter.
    fn reference(&self, name: &str) -> String;
    /// `Fn::GetAtt` (and `${Logical.Attribute}`).
    fn attribute(&self, logical_id: &str, attribute: &str) -> String;
    /// `${!Literal}` in an `Fn::Sub` template: `${Literal}` by default.
    fn escape(&self, literal: &str) -> String {
        format!("${{{literal}}}")
    }
    /// A value with no string form here (a map, a condition function): its JSON by
    /// default.
    fn other(&self, value: &Expr) -> String {
        value.to_json().to_string()
    }
    /// An `Fn::Sub` template before its placeholders are resolved (as written by
    /// default).
    fn sub_template<'a>(&self, template: &'a str) -> std::borrow::Cow<'a, str> {
        std::borrow::Cow::Borrowed(template)
    }
}

impl Expr {
    /// The value as a string, with `r` resolving references: literals as written,
    /// `Ref`, `Fn::GetAtt`, `Fn::Sub` (with its variables), `Fn::Join`, `Fn::Select` and
    /// `Fn::Split`; anything else as [`Resolve::other`] renders it.
    pub fn evaluate(&self, r: &dyn Resolve) -> String {
        match self {
            Expr::Str(s) => s.clone(),
            Expr::Int(n) => n.to_string(),
            Expr::Float(f) => f.to_string(),
            Expr::Bool(b) => b.to_string(),
            Expr::Ref(name) => r.reference(name),
            Expr::GetAtt(id, attribute) => r.attribute(id, attribute),
            Expr::Sub(template, vars) => {
                let template = r.sub_template(template);
                sub_parts(&template)
                    .into_iter()
                    .map(|part| match part {
                        SubPart::Text(text) => text.to_string(),
                        SubPart::Literal(literal) => r.escape(literal),
                        SubPart::Var(name) => match vars.get(name) {
                            Some(v) => v.evaluate(r),
                            None => match name.split_once('.') {
                                Some((id, attribute)) => r.attribute(id, attribute),
                                None => r.reference(name),
                            },
                        },
                    })
                    .collect()
            }
            Expr::Join(delimiter, parts) => parts
                .iter()
                .map(|p| p.evaluate(r))
                .collect::<Vec<_>>()
                .join(delimiter),
            Expr::Select(i, list) => match list.as_ref() {
                Expr::List(items) => items
                    .get(*i as usize)
                    .map(|e| e.evaluate(r))
                    .unwrap_or_default(),
                Expr::Split(delimiter, source) => source
                    .evaluate(r)
                    .split(delimiter.as_str())
                    .nth(*i as usize)
                    .unwrap_or_default()
                    .to_string(),
                _ => r.other(self),
            },
            _ => r.other(self),
        }
    }
}

impl Serialize for Expr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Expr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Expr::from_json(&v).map_err(D::Error::custom)
    }
}

impl From<&str> for Expr {
    fn from(s: &str) -> Self {
        Expr::Str(s.to_string())
    }
}
impl From<String> for Expr {
    fn from(s: String) -> Self {
        Expr::Str(s)
    }
}
impl From<&String> for Expr {
    fn from(s: &String) -> Self {
        Expr::Str(s.clone())
    }
}
impl From<bool> for Expr {
    fn from(b: bool) -> Self {
        Expr::Bool(b)
    }
}
impl From<i64> for Expr {
    fn from(i: i64) -> Self {
        Expr::Int(i)
    }
}
impl From<u32> for Expr {
    fn from(i: u32) -> Self {
        Expr::Int(i64::from(i))
    }
}
impl From<&Expr> for Expr {
    fn from(e: &Expr) -> Self {
        e.clone()
    }
}
impl<T: Into<Expr>> From<Vec<T>> for Expr {
    fn from(v: Vec<T>) -> Self {
        Expr::List(v.into_iter().map(Into::into).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_every_intrinsic() {
        let v = json!({
            "a": {"Ref": "X"},
            "b": {"Fn::GetAtt": ["F", "Arn"]},
            "c": {"Fn::Sub": "${AWS::Region}-${X}"},
            "d": {"Fn::Sub": ["${A}", {"A": {"Ref": "Y"}}]},
            "e": {"Fn::Join": ["", ["a", {"Ref": "Z"}]]},
            "f": {"Fn::Select": [1, {"Fn::Split": [",", "a,b"]}]},
            "g": {"Fn::If": ["IsProd", 1, {"Ref": "AWS::NoValue"}]},
            "h": {"Fn::And": [{"Fn::Equals": ["a", "b"]}, {"Fn::Not": [{"Condition": "C"}]}]},
            "i": {"Fn::Or": [{"Condition": "C"}, {"Condition": "D"}]},
            "j": {"Fn::ImportValue": "Shared-Out"},
            "k": [true, "x", 3]
        });
        let e = Expr::from_json(&v).unwrap();
        assert_eq!(e.to_json(), v);
        assert_eq!(e.references(), vec!["X", "F", "X", "Y", "Z"]);
        assert_eq!(e.conditions(), vec!["IsProd", "C", "C", "D"]);
    }

    #[test]
    fn getatt_short_form_and_unknown_function() {
        assert_eq!(
            Expr::from_json(&json!({"Fn::GetAtt": "T.Arn"})).unwrap(),
            Expr::get_att("T", "Arn")
        );
        assert!(Expr::from_json(&json!({"Fn::Base64": "x"}))
            .unwrap_err()
            .contains("Fn::Base64"));
    }

    #[test]
    fn concat_merges_literals() {
        let e = Expr::concat(["a".into(), "b".into(), Expr::ref_("X"), "c".into()]);
        assert_eq!(
            e,
            Expr::Join(
                String::new(),
                vec!["ab".into(), Expr::ref_("X"), "c".into()]
            )
        );
        assert_eq!(Expr::concat(["a".into(), "b".into()]), Expr::from("ab"));
    }

    #[test]
    fn sub_parts_and_evaluation_share_one_scanner() {
        assert_eq!(
            sub_parts("a${X}b${!Y}${Z.Arn}${open"),
            vec![
                SubPart::Text("a"),
                SubPart::Var("X"),
                SubPart::Text("b"),
                SubPart::Literal("Y"),
                SubPart::Var("Z.Arn"),
                SubPart::Text("${open"),
            ]
        );
        struct Names;
        impl Resolve for Names {
            fn reference(&self, name: &str) -> String {
                format!("<{name}>")
            }
            fn attribute(&self, id: &str, attribute: &str) -> String {
                format!("<{id}|{attribute}>")
            }
        }
        let sub = Expr::Sub(
            "${Api}/${!Literal}/${Fn.Arn}/${Var}".into(),
            BTreeMap::from([("Var".to_string(), Expr::ref_("Table"))]),
        );
        assert_eq!(sub.evaluate(&Names), "<Api>/${Literal}/<Fn|Arn>/<Table>");
        let join = Expr::concat([Expr::from("a:"), Expr::get_att("T", "Arn")]);
        assert_eq!(join.evaluate(&Names), "a:<T|Arn>");
        let split = Expr::Select(
            1,
            Box::new(Expr::Split("/".into(), Box::new(Expr::from("x/y/z")))),
        );
        assert_eq!(split.evaluate(&Names), "y");
        let cond = Expr::equals("a", "b");
        assert_eq!(cond.evaluate(&Names), cond.to_json().to_string());
    }

    #[test]
    fn sub_placeholders_skip_escapes_and_attributes_reference_resource() {
        assert_eq!(sub_placeholders("${A}/${!B}/${C.Arn}"), vec!["A", "C.Arn"]);
        assert_eq!(Expr::sub("${C.Arn} ${AWS::Region}").references(), vec!["C"]);
    }
}
