//! DynamoDB expressions: condition (and filter and key condition), update and
//! projection expressions, parsed with their `#name` and `:value` placeholders
//! resolved, and evaluated against items.

use super::value::{compare, equal, tagged, Item, Num};
use serde_json::{json, Map, Value};
use std::cmp::Ordering;
use std::collections::BTreeSet;

/// One step of a document path.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Attr(String),
    Index(usize),
}

pub type Path = Vec<Step>;

#[derive(Debug, Clone)]
pub enum Operand {
    Path(Path),
    Value(Value),
    Size(Path),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone)]
pub enum Cond {
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    Not(Box<Cond>),
    Compare(Operand, Cmp, Operand),
    Between(Operand, Operand, Operand),
    In(Operand, Vec<Operand>),
    Exists(Path),
    NotExists(Path),
    Type(Path, Operand),
    BeginsWith(Operand, Operand),
    Contains(Operand, Operand),
}

/// The right-hand side of a SET action.
#[derive(Debug, Clone)]
pub enum SetValue {
    Path(Path),
    Value(Value),
    IfNotExists(Path, Box<SetValue>),
    ListAppend(Box<SetValue>, Box<SetValue>),
    Plus(Box<SetValue>, Box<SetValue>),
    Minus(Box<SetValue>, Box<SetValue>),
}

#[derive(Debug, Default, Clone)]
pub struct Update {
    pub set: Vec<(Path, SetValue)>,
    pub remove: Vec<Path>,
    pub add: Vec<(Path, Value)>,
    pub delete: Vec<(Path, Value)>,
}

impl Update {
    /// The top-level attributes the update touches.
    pub fn attributes(&self) -> BTreeSet<String> {
        self.set
            .iter()
            .map(|(p, _)| p)
            .chain(&self.remove)
            .chain(self.add.iter().map(|(p, _)| p))
            .chain(self.delete.iter().map(|(p, _)| p))
            .filter_map(|p| match p.first() {
                Some(Step::Attr(a)) => Some(a.clone()),
                _ => None,
            })
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Name(String),
    Value(String),
    Index(usize),
    Punct(&'static str),
}

fn tokenize(src: &str) -> Result<Vec<Tok>, String> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let word = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && (b[*i].is_ascii_alphanumeric() || b[*i] == b'_') {
            *i += 1;
        }
        src[start..*i].to_string()
    };
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let two = src.get(i..i + 2).unwrap_or("");
        if let Some(p) = ["<>", "<=", ">="].into_iter().find(|p| *p == two) {
            out.push(Tok::Punct(p));
            i += 2;
            continue;
        }
        match c {
            b'#' | b':' => {
                i += 1;
                let w = word(&mut i);
                if w.is_empty() {
                    return Err(format!(
                        "Syntax error; token: \"{}\", near char {i}",
                        c as char
                    ));
                }
                out.push(if c == b'#' {
                    Tok::Name(format!("#{w}"))
                } else {
                    Tok::Value(format!(":{w}"))
                });
            }
            b'[' => {
                i += 1;
                let start = i;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                let n = src[start..i].parse().map_err(|_| {
                    format!("Syntax error; a list index must be a number, near char {start}")
                })?;
                if b.get(i) != Some(&b']') {
                    return Err(format!("Syntax error; `]` expected near char {i}"));
                }
                i += 1;
                out.push(Tok::Index(n));
            }
            b'(' | b')' | b',' | b'.' | b'=' | b'<' | b'>' | b'+' | b'-' => {
                let p = ["(", ")", ",", ".", "=", "<", ">", "+", "-"]
                    .into_iter()
                    .find(|p| p.as_bytes()[0] == c)
                    .expect("listed");
                out.push(Tok::Punct(p));
                i += 1;
            }
            c if c.is_ascii_alphabetic() || c == b'_' => out.push(Tok::Word(word(&mut i))),
            _ => {
                return Err(format!(
                    "Invalid character encountered; character: \"{}\" near char {i}",
                    src[i..].chars().next().unwrap_or('?')
                ))
            }
        }
    }
    Ok(out)
}

/// The placeholders of a request, and which of them the expressions used.
pub struct Placeholders<'a> {
    pub names: Option<&'a Map<String, Value>>,
    pub values: Option<&'a Map<String, Value>>,
    used_names: BTreeSet<String>,
    used_values: BTreeSet<String>,
}

impl<'a> Placeholders<'a> {
    pub fn new(request: &'a Value) -> Placeholders<'a> {
        Placeholders {
            names: request
                .get("ExpressionAttributeNames")
                .and_then(Value::as_object),
            values: request
                .get("ExpressionAttributeValues")
                .and_then(Value::as_object),
            used_names: BTreeSet::new(),
            used_values: BTreeSet::new(),
        }
    }

    /// DynamoDB refuses placeholders that no expression uses.
    pub fn check_all_used(&self) -> Result<(), String> {
        if let Some(unused) = self
            .names
            .into_iter()
            .flat_map(|m| m.keys())
            .find(|k| !self.used_names.contains(*k))
        {
            return Err(format!(
                "Value provided in ExpressionAttributeNames unused in expressions: keys: {{{unused}}}"
            ));
        }
        if let Some(unused) = self
            .values
            .into_iter()
            .flat_map(|m| m.keys())
            .find(|k| !self.used_values.contains(*k))
        {
            return Err(format!(
                "Value provided in ExpressionAttributeValues unused in expressions: keys: {{{unused}}}"
            ));
        }
        Ok(())
    }

    fn name(&mut self, n: &str) -> Result<String, String> {
        let v = self
            .names
            .and_then(|m| m.get(n))
            .and_then(Value::as_str)
            .ok_or_else(|| {
                format!("An expression attribute name used in the document path is not defined; attribute name: {n}")
            })?;
        self.used_names.insert(n.to_string());
        Ok(v.to_string())
    }

    fn value(&mut self, n: &str) -> Result<Value, String> {
        let v = self.values.and_then(|m| m.get(n)).cloned().ok_or_else(|| {
            format!("An expression attribute value used in expression is not defined; attribute value: {n}")
        })?;
        self.used_values.insert(n.to_string());
        Ok(v)
    }
}

struct Parser<'p, 'a> {
    toks: Vec<Tok>,
    pos: usize,
    ph: &'p mut Placeholders<'a>,
}

fn keyword(t: Option<&Tok>, k: &str) -> bool {
    matches!(t, Some(Tok::Word(w)) if w.eq_ignore_ascii_case(k))
}

impl Parser<'_, '_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn at_keyword(&self, k: &str) -> bool {
        keyword(self.peek(), k)
    }

    fn near(&self) -> String {
        match self.peek() {
            None => "Syntax error; token: \"<EOF>\"".into(),
            Some(t) => format!("Syntax error; token: \"{}\"", show(t)),
        }
    }

    fn expect(&mut self, p: &str) -> Result<(), String> {
        match self.next() {
            Some(Tok::Punct(q)) if q == p => Ok(()),
            _ => {
                self.pos -= 1;
                Err(format!("{} (`{p}` expected)", self.near()))
            }
        }
    }

    fn done(&self) -> Result<(), String> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(self.near()),
        }
    }

    fn path(&mut self) -> Result<Path, String> {
        let mut path = vec![self.attr()?];
        loop {
            match self.peek() {
                Some(Tok::Punct(".")) => {
                    self.pos += 1;
                    path.push(self.attr()?);
                }
                Some(Tok::Index(n)) => {
                    path.push(Step::Index(*n));
                    self.pos += 1;
                }
                _ => return Ok(path),
            }
        }
    }

    fn attr(&mut self) -> Result<Step, String> {
        match self.next() {
            Some(Tok::Word(w)) => {
                if is_reserved(&w) {
                    return Err(format!(
                        "Attribute name is a reserved keyword; reserved keyword: {w}"
                    ));
                }
                Ok(Step::Attr(w))
            }
            Some(Tok::Name(n)) => Ok(Step::Attr(self.ph.name(&n)?)),
            _ => {
                self.pos -= 1;
                Err(self.near())
            }
        }
    }

    fn operand(&mut self) -> Result<Operand, String> {
        match self.peek().cloned() {
            Some(Tok::Value(v)) => {
                self.pos += 1;
                Ok(Operand::Value(self.ph.value(&v)?))
            }
            Some(Tok::Word(w))
                if w == "size" && self.toks.get(self.pos + 1) == Some(&Tok::Punct("(")) =>
            {
                self.pos += 2;
                let p = self.path()?;
                self.expect(")")?;
                Ok(Operand::Size(p))
            }
            _ => Ok(Operand::Path(self.path()?)),
        }
    }

    fn condition(&mut self) -> Result<Cond, String> {
        let mut left = self.conjunction()?;
        while self.at_keyword("OR") {
            self.pos += 1;
            left = Cond::Or(Box::new(left), Box::new(self.conjunction()?));
        }
        Ok(left)
    }

    fn conjunction(&mut self) -> Result<Cond, String> {
        let mut left = self.negation()?;
        while self.at_keyword("AND") {
            self.pos += 1;
            left = Cond::And(Box::new(left), Box::new(self.negation()?));
        }
        Ok(left)
    }

    fn negation(&mut self) -> Result<Cond, String> {
        if self.at_keyword("NOT") {
            self.pos += 1;
            return Ok(Cond::Not(Box::new(self.negation()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Cond, String> {
        if self.peek() == Some(&Tok::Punct("(")) {
            self.pos += 1;
            let c = self.condition()?;
            self.expect(")")?;
            return Ok(c);
        }
        if let (Some(Tok::Word(f)), Some(Tok::Punct("("))) =
            (self.peek().cloned(), self.toks.get(self.pos + 1))
        {
            if f != "size" {
                self.pos += 2;
                let c = match f.as_str() {
                    "attribute_exists" => Cond::Exists(self.path()?),
                    "attribute_not_exists" => Cond::NotExists(self.path()?),
                    "attribute_type" => {
                        let p = self.path()?;
                        self.expect(",")?;
                        Cond::Type(p, self.operand()?)
                    }
                    "begins_with" => {
                        let p = self.operand()?;
                        self.expect(",")?;
                        Cond::BeginsWith(p, self.operand()?)
                    }
                    "contains" => {
                        let p = self.operand()?;
                        self.expect(",")?;
                        Cond::Contains(p, self.operand()?)
                    }
                    other => return Err(format!("Invalid function name; function: {other}")),
                };
                self.expect(")")?;
                return Ok(c);
            }
        }
        let left = self.operand()?;
        if self.at_keyword("BETWEEN") {
            self.pos += 1;
            let low = self.operand()?;
            if !self.at_keyword("AND") {
                return Err(self.near());
            }
            self.pos += 1;
            return Ok(Cond::Between(left, low, self.operand()?));
        }
        if self.at_keyword("IN") {
            self.pos += 1;
            self.expect("(")?;
            let mut list = vec![self.operand()?];
            while self.peek() == Some(&Tok::Punct(",")) {
                self.pos += 1;
                list.push(self.operand()?);
            }
            self.expect(")")?;
            return Ok(Cond::In(left, list));
        }
        let op = match self.next() {
            Some(Tok::Punct("=")) => Cmp::Eq,
            Some(Tok::Punct("<>")) => Cmp::Ne,
            Some(Tok::Punct("<")) => Cmp::Lt,
            Some(Tok::Punct("<=")) => Cmp::Le,
            Some(Tok::Punct(">")) => Cmp::Gt,
            Some(Tok::Punct(">=")) => Cmp::Ge,
            _ => {
                self.pos -= 1;
                return Err(self.near());
            }
        };
        Ok(Cond::Compare(left, op, self.operand()?))
    }

    fn set_value(&mut self) -> Result<SetValue, String> {
        let left = self.set_operand()?;
        match self.peek() {
            Some(Tok::Punct("+")) => {
                self.pos += 1;
                Ok(SetValue::Plus(
                    Box::new(left),
                    Box::new(self.set_operand()?),
                ))
            }
            Some(Tok::Punct("-")) => {
                self.pos += 1;
                Ok(SetValue::Minus(
                    Box::new(left),
                    Box::new(self.set_operand()?),
                ))
            }
            _ => Ok(left),
        }
    }

    fn set_operand(&mut self) -> Result<SetValue, String> {
        match (self.peek().cloned(), self.toks.get(self.pos + 1)) {
            (Some(Tok::Value(v)), _) => {
                self.pos += 1;
                Ok(SetValue::Value(self.ph.value(&v)?))
            }
            (Some(Tok::Word(f)), Some(Tok::Punct("("))) => {
                self.pos += 2;
                let v = match f.as_str() {
                    "if_not_exists" => {
                        let p = self.path()?;
                        self.expect(",")?;
                        SetValue::IfNotExists(p, Box::new(self.set_operand()?))
                    }
                    "list_append" => {
                        let a = self.set_operand()?;
                        self.expect(",")?;
                        SetValue::ListAppend(Box::new(a), Box::new(self.set_operand()?))
                    }
                    other => {
                        return Err(format!(
                            "Invalid function name; function: {other} (SET takes if_not_exists and list_append)"
                        ))
                    }
                };
                self.expect(")")?;
                Ok(v)
            }
            _ => Ok(SetValue::Path(self.path()?)),
        }
    }

    fn update(&mut self) -> Result<Update, String> {
        let mut u = Update::default();
        let mut seen = BTreeSet::new();
        while let Some(t) = self.next() {
            let clause = match &t {
                Tok::Word(w) => w.to_ascii_uppercase(),
                _ => String::new(),
            };
            if !["SET", "REMOVE", "ADD", "DELETE"].contains(&clause.as_str()) {
                self.pos -= 1;
                return Err(self.near());
            }
            if !seen.insert(clause.clone()) {
                return Err(format!(
                    "Invalid UpdateExpression: The \"{clause}\" section can only be used once in an update expression"
                ));
            }
            loop {
                let path = self.path()?;
                match clause.as_str() {
                    "SET" => {
                        self.expect("=")?;
                        u.set.push((path, self.set_value()?));
                    }
                    "REMOVE" => u.remove.push(path),
                    _ => {
                        let Some(Tok::Value(v)) = self.next() else {
                            self.pos -= 1;
                            return Err(self.near());
                        };
                        let v = self.ph.value(&v)?;
                        if clause == "ADD" {
                            u.add.push((path, v));
                        } else {
                            u.delete.push((path, v));
                        }
                    }
                }
                if self.peek() == Some(&Tok::Punct(",")) {
                    self.pos += 1;
                } else {
                    break;
                }
            }
        }
        Ok(u)
    }
}

fn show(t: &Tok) -> String {
    match t {
        Tok::Word(w) | Tok::Name(w) | Tok::Value(w) => w.clone(),
        Tok::Index(n) => format!("[{n}]"),
        Tok::Punct(p) => p.to_string(),
    }
}

fn parser<'p, 'a>(src: &str, ph: &'p mut Placeholders<'a>) -> Result<Parser<'p, 'a>, String> {
    let toks = tokenize(src)?;
    if toks.is_empty() {
        return Err("Invalid expression: The expression can not be empty;".into());
    }
    Ok(Parser { toks, pos: 0, ph })
}

pub fn parse_condition(src: &str, ph: &mut Placeholders) -> Result<Cond, String> {
    let mut p = parser(src, ph)?;
    let c = p.condition()?;
    p.done()?;
    Ok(c)
}

pub fn parse_update(src: &str, ph: &mut Placeholders) -> Result<Update, String> {
    let mut p = parser(src, ph)?;
    p.update()
}

pub fn parse_projection(src: &str, ph: &mut Placeholders) -> Result<Vec<Path>, String> {
    let mut p = parser(src, ph)?;
    let mut paths = vec![p.path()?];
    while p.peek() == Some(&Tok::Punct(",")) {
        p.pos += 1;
        paths.push(p.path()?);
    }
    p.done()?;
    Ok(paths)
}

/// The value at `path` in `item`.
pub fn get<'i>(item: &'i Item, path: &[Step]) -> Option<&'i Value> {
    let (Step::Attr(first), rest) = path.split_first()? else {
        return None;
    };
    let mut v = item.get(first)?;
    for step in rest {
        v = match (step, tagged(v)?) {
            (Step::Attr(a), ("M", Value::Object(m))) => m.get(a)?,
            (Step::Index(i), ("L", Value::Array(l))) => l.get(*i)?,
            _ => return None,
        };
    }
    Some(v)
}

fn operand_value(item: &Item, o: &Operand) -> Option<Value> {
    match o {
        Operand::Path(p) => get(item, p).cloned(),
        Operand::Value(v) => Some(v.clone()),
        Operand::Size(p) => {
            let n = match tagged(get(item, p)?)? {
                ("S", Value::String(s)) => s.len(),
                ("B", Value::String(b)) => aws_smithy_types::base64::decode(b).ok()?.len(),
                (_, Value::Array(a)) => a.len(),
                (_, Value::Object(m)) => m.len(),
                _ => return None,
            };
            Some(json!({"N": n.to_string()}))
        }
    }
}

/// Evaluates a condition against an item (an empty item when there is none).
pub fn eval(item: &Item, c: &Cond) -> bool {
    match c {
        Cond::And(a, b) => eval(item, a) && eval(item, b),
        Cond::Or(a, b) => eval(item, a) || eval(item, b),
        Cond::Not(a) => !eval(item, a),
        Cond::Exists(p) => get(item, p).is_some(),
        Cond::NotExists(p) => get(item, p).is_none(),
        Cond::Type(p, t) => match (get(item, p), operand_value(item, t)) {
            (Some(v), Some(t)) => match (tagged(v), t.get("S").and_then(Value::as_str)) {
                (Some((tag, _)), Some(want)) => tag == want,
                _ => false,
            },
            _ => false,
        },
        Cond::Compare(a, op, b) => {
            let (Some(x), Some(y)) = (operand_value(item, a), operand_value(item, b)) else {
                return *op == Cmp::Ne;
            };
            match op {
                Cmp::Eq => equal(&x, &y),
                Cmp::Ne => !equal(&x, &y),
                _ => compare(&x, &y).is_some_and(|o| match op {
                    Cmp::Lt => o == Ordering::Less,
                    Cmp::Le => o != Ordering::Greater,
                    Cmp::Gt => o == Ordering::Greater,
                    _ => o != Ordering::Less,
                }),
            }
        }
        Cond::Between(a, lo, hi) => {
            match (
                operand_value(item, a),
                operand_value(item, lo),
                operand_value(item, hi),
            ) {
                (Some(x), Some(l), Some(h)) => {
                    compare(&x, &l).is_some_and(|o| o != Ordering::Less)
                        && compare(&x, &h).is_some_and(|o| o != Ordering::Greater)
                }
                _ => false,
            }
        }
        Cond::In(a, list) => operand_value(item, a).is_some_and(|x| {
            list.iter()
                .any(|o| operand_value(item, o).is_some_and(|y| equal(&x, &y)))
        }),
        Cond::BeginsWith(a, prefix) => {
            match (operand_value(item, a), operand_value(item, prefix)) {
                (Some(x), Some(p)) => match (tagged(&x), tagged(&p)) {
                    (Some(("S", Value::String(s))), Some(("S", Value::String(p)))) => {
                        s.starts_with(p.as_str())
                    }
                    (Some(("B", Value::String(s))), Some(("B", Value::String(p)))) => {
                        let d = |b: &str| aws_smithy_types::base64::decode(b).unwrap_or_default();
                        d(s).starts_with(&d(p))
                    }
                    _ => false,
                },
                _ => false,
            }
        }
        Cond::Contains(a, needle) => match (operand_value(item, a), operand_value(item, needle)) {
            (Some(x), Some(n)) => match (tagged(&x), tagged(&n)) {
                (Some(("S", Value::String(s))), Some(("S", Value::String(n)))) => {
                    s.contains(n.as_str())
                }
                (Some(("SS", Value::Array(set))), Some(("S", m)))
                | (Some(("BS", Value::Array(set))), Some(("B", m))) => set.contains(m),
                (Some(("NS", Value::Array(set))), Some(("N", _))) => {
                    set.iter().any(|m| equal(&json!({"N": m}), &n))
                }
                (Some(("L", Value::Array(list))), _) => list.iter().any(|m| equal(m, &n)),
                _ => false,
            },
            _ => false,
        },
    }
}

/// Every path a condition reads (for key conditions' checks).
pub fn conjuncts(c: &Cond) -> Vec<&Cond> {
    match c {
        Cond::And(a, b) => {
            let mut v = conjuncts(a);
            v.extend(conjuncts(b));
            v
        }
        other => vec![other],
    }
}

fn set_value(old: &Item, v: &SetValue) -> Result<Value, String> {
    Ok(match v {
        SetValue::Value(v) => v.clone(),
        SetValue::Path(p) => get(old, p).cloned().ok_or_else(|| {
            "The provided expression refers to an attribute that does not exist in the item"
                .to_string()
        })?,
        SetValue::IfNotExists(p, default) => match get(old, p) {
            Some(v) => v.clone(),
            None => set_value(old, default)?,
        },
        SetValue::ListAppend(a, b) => {
            let (a, b) = (set_value(old, a)?, set_value(old, b)?);
            match (tagged(&a), tagged(&b)) {
                (Some(("L", Value::Array(x))), Some(("L", Value::Array(y)))) => {
                    let mut l = x.clone();
                    l.extend(y.iter().cloned());
                    json!({ "L": l })
                }
                _ => return Err("An operand in the update expression has an incorrect data type (list_append takes two lists)".into()),
            }
        }
        SetValue::Plus(a, b) | SetValue::Minus(a, b) => {
            let number = |v: &Value| {
                v.get("N")
                    .and_then(Value::as_str)
                    .and_then(Num::parse)
                    .ok_or_else(|| "An operand in the update expression has an incorrect data type (+ and - take numbers)".to_string())
            };
            let (x, mut y) = (number(&set_value(old, a)?)?, number(&set_value(old, b)?)?);
            if matches!(v, SetValue::Minus(..)) {
                y = y.negate();
            }
            let sum = x
                .add(&y)
                .ok_or("Number overflow. Attempting to store a number with magnitude larger than supported range")?;
            json!({"N": sum.to_string()})
        }
    })
}

/// Writes `v` at `path`; the parent must exist (a list index past the end appends).
fn put(item: &mut Item, path: &[Step], v: Value) -> Result<(), String> {
    let invalid =
        || "The document path provided in the update expression is invalid for update".to_string();
    let (last, parents) = path.split_last().ok_or_else(invalid)?;
    if parents.is_empty() {
        let Step::Attr(a) = last else {
            return Err(invalid());
        };
        item.insert(a.clone(), v);
        return Ok(());
    }
    let parent = get_mut(item, parents).ok_or_else(invalid)?;
    match (last, parent) {
        (Step::Attr(a), Value::Object(o)) => match o.get_mut("M") {
            Some(Value::Object(m)) => {
                m.insert(a.clone(), v);
                Ok(())
            }
            _ => Err(invalid()),
        },
        (Step::Index(i), Value::Object(o)) => match o.get_mut("L") {
            Some(Value::Array(l)) => {
                if *i < l.len() {
                    l[*i] = v;
                } else {
                    l.push(v);
                }
                Ok(())
            }
            _ => Err(invalid()),
        },
        _ => Err(invalid()),
    }
}

fn get_mut<'i>(item: &'i mut Item, path: &[Step]) -> Option<&'i mut Value> {
    let (Step::Attr(first), rest) = path.split_first()? else {
        return None;
    };
    let mut v = item.get_mut(first)?;
    for step in rest {
        let (tag, inner) = v.as_object_mut()?.iter_mut().next()?;
        v = match (step, tag.as_str(), inner) {
            (Step::Attr(a), "M", Value::Object(m)) => m.get_mut(a)?,
            (Step::Index(i), "L", Value::Array(l)) => l.get_mut(*i)?,
            _ => return None,
        };
    }
    Some(v)
}

fn remove(item: &mut Item, path: &[Step]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    if parents.is_empty() {
        if let Step::Attr(a) = last {
            item.remove(a);
        }
        return;
    }
    if let Some(Value::Object(o)) = get_mut(item, parents) {
        match (last, o.values_mut().next()) {
            (Step::Attr(a), Some(Value::Object(m))) => {
                m.remove(a);
            }
            (Step::Index(i), Some(Value::Array(l))) if *i < l.len() => {
                l.remove(*i);
            }
            _ => {}
        }
    }
}

/// Applies an update to `item`; every operand reads the item as it was before.
pub fn apply(item: &mut Item, u: &Update) -> Result<(), String> {
    let old = item.clone();
    for (path, v) in &u.set {
        let value = set_value(&old, v)?;
        put(item, path, value)?;
    }
    // Removing list elements from the end first keeps earlier indexes valid.
    let mut removals: Vec<&Path> = u.remove.iter().collect();
    removals.sort_by(|a, b| match (a.last(), b.last()) {
        (Some(Step::Index(x)), Some(Step::Index(y))) => y.cmp(x),
        _ => Ordering::Equal,
    });
    for path in removals {
        remove(item, path);
    }
    for (path, v) in &u.add {
        let wrong = || {
            "An operand in the update expression has an incorrect data type (ADD takes a number or a set)".to_string()
        };
        let next = match (get(item, path).and_then(tagged), tagged(v)) {
            (None, Some(("N" | "SS" | "NS" | "BS", _))) => v.clone(),
            (Some(("N", Value::String(a))), Some(("N", Value::String(b)))) => {
                let (a, b) = (
                    Num::parse(a).ok_or_else(wrong)?,
                    Num::parse(b).ok_or_else(wrong)?,
                );
                json!({"N": a.add(&b).ok_or_else(wrong)?.to_string()})
            }
            (Some((ta, Value::Array(a))), Some((tb, Value::Array(b))))
                if ta == tb && ta.ends_with('S') =>
            {
                let mut set = a.clone();
                for x in b {
                    if !set.contains(x) {
                        set.push(x.clone());
                    }
                }
                json!({ ta: set })
            }
            _ => return Err(wrong()),
        };
        put(item, path, next)?;
    }
    for (path, v) in &u.delete {
        let wrong = || {
            "An operand in the update expression has an incorrect data type (DELETE takes a set of the attribute's type)".to_string()
        };
        match (get(item, path).and_then(tagged), tagged(v)) {
            (None, Some((t, _))) if t.ends_with('S') && t.len() == 2 => {}
            (Some((ta, Value::Array(a))), Some((tb, Value::Array(b))))
                if ta == tb && ta.ends_with('S') =>
            {
                let rest: Vec<Value> = a.iter().filter(|x| !b.contains(x)).cloned().collect();
                if rest.is_empty() {
                    remove(item, path);
                } else {
                    let tag = ta.to_string();
                    put(item, path, json!({ tag: rest }))?;
                }
            }
            _ => return Err(wrong()),
        }
    }
    Ok(())
}

/// The item with only the projected paths.
pub fn project(item: &Item, paths: &[Path]) -> Item {
    let mut out = Item::new();
    for path in paths {
        if let Some(v) = get(item, path) {
            insert_path(&mut out, path, v);
        }
    }
    out
}

fn container_for(step: &Step) -> Value {
    match step {
        Step::Index(_) => json!({"L": []}),
        Step::Attr(_) => json!({"M": {}}),
    }
}

/// Inserts `v` at `path` (which starts with an attribute) into a map, creating the
/// containers on the way; list elements are appended in the order projected.
fn insert_path(target: &mut Map<String, Value>, path: &[Step], v: &Value) {
    let Some((Step::Attr(a), rest)) = path.split_first() else {
        return;
    };
    match rest.first() {
        None => {
            target.insert(a.clone(), v.clone());
        }
        Some(next) => {
            let child = target
                .entry(a.clone())
                .or_insert_with(|| container_for(next));
            descend(child, rest, v);
        }
    }
}

fn descend(node: &mut Value, path: &[Step], v: &Value) {
    match (path.first(), node.get_mut("M"), path.get(1)) {
        (Some(Step::Attr(_)), Some(Value::Object(m)), _) => insert_path(m, path, v),
        (Some(Step::Index(_)), _, next) => {
            let Some(Value::Array(l)) = node.get_mut("L") else {
                return;
            };
            match next {
                None => l.push(v.clone()),
                Some(step) => {
                    l.push(container_for(step));
                    let last = l.last_mut().expect("pushed");
                    descend(last, &path[1..], v);
                }
            }
        }
        _ => {}
    }
}

fn is_reserved(word: &str) -> bool {
    RESERVED
        .binary_search(&word.to_ascii_uppercase().as_str())
        .is_ok()
}

/// DynamoDB's reserved words: a raw attribute name that is one of these is refused
/// (use an `#name` placeholder). Sorted for binary search.
static RESERVED: &[&str] = &include!("reserved.in");
