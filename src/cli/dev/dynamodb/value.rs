//! DynamoDB attribute values in their JSON wire form (`{"S": "..."}`, `{"N": "1"}`,
//! `{"SS": [...]}`, `{"M": {...}}`, ...): numbers, ordering, equality and sizes.

use serde_json::{Map, Value};
use std::cmp::Ordering;

/// An item: attribute name to attribute value (wire form).
pub type Item = Map<String, Value>;

/// The type tag and payload of an attribute value.
pub fn tagged(v: &Value) -> Option<(&str, &Value)> {
    let m = v.as_object()?;
    if m.len() != 1 {
        return None;
    }
    m.iter().next().map(|(k, v)| (k.as_str(), v))
}

/// A DynamoDB number: up to 38 significant digits, compared exactly.
#[derive(Debug, Clone)]
pub struct Num {
    negative: bool,
    /// Significant digits without leading or trailing zeros; empty for zero.
    digits: String,
    /// The value is `0.digits × 10^exponent`.
    exponent: i64,
}

impl Num {
    pub fn parse(s: &str) -> Option<Num> {
        let t = s.trim();
        let (negative, t) = match t.as_bytes().first()? {
            b'-' => (true, &t[1..]),
            b'+' => (false, &t[1..]),
            _ => (false, t),
        };
        let (mantissa, exp) = match t.find(['e', 'E']) {
            Some(i) => (&t[..i], t[i + 1..].parse::<i64>().ok()?),
            None => (t, 0),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if int.is_empty() && frac.is_empty()
            || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let all = format!("{int}{frac}");
        let lead = all.len() - all.trim_start_matches('0').len();
        let digits = all.trim_matches('0').to_string();
        if digits.is_empty() {
            return Some(Num::zero());
        }
        if digits.len() > 38 {
            return None;
        }
        let exponent = int.len() as i64 - lead as i64 + exp;
        if !(-129..=126).contains(&exponent) {
            return None;
        }
        Some(Num {
            negative,
            digits,
            exponent,
        })
    }

    fn zero() -> Num {
        Num {
            negative: false,
            digits: String::new(),
            exponent: 0,
        }
    }

    fn is_zero(&self) -> bool {
        self.digits.is_empty()
    }

    /// The exact value as `mantissa × 10^-scale`, when it fits in an i128.
    fn fixed(&self) -> Option<(i128, u32)> {
        let scale = (self.digits.len() as i64 - self.exponent).max(0);
        let zeros = (self.exponent - self.digits.len() as i64).max(0);
        if scale > 38 || zeros + self.digits.len() as i64 > 38 {
            return None;
        }
        let mut m: i128 = if self.is_zero() {
            0
        } else {
            self.digits.parse().ok()?
        };
        m = m.checked_mul(10i128.checked_pow(zeros as u32)?)?;
        Some((if self.negative { -m } else { m }, scale as u32))
    }

    /// `self + other` (exact within 38 digits, as DynamoDB).
    pub fn add(&self, other: &Num) -> Option<Num> {
        let ((a, sa), (b, sb)) = (self.fixed()?, other.fixed()?);
        let scale = sa.max(sb);
        let a = a.checked_mul(10i128.checked_pow(scale - sa)?)?;
        let b = b.checked_mul(10i128.checked_pow(scale - sb)?)?;
        let sum = a.checked_add(b)?;
        let text = sum.unsigned_abs().to_string();
        let text = if scale == 0 {
            text
        } else {
            let padded = format!("{text:0>width$}", width = scale as usize + 1);
            let (i, f) = padded.split_at(padded.len() - scale as usize);
            format!("{i}.{f}")
        };
        Num::parse(&format!("{}{text}", if sum < 0 { "-" } else { "" }))
    }

    pub fn negate(&self) -> Num {
        let mut n = self.clone();
        n.negative = !n.negative && !n.is_zero();
        n
    }
}

impl std::fmt::Display for Num {
    /// Plain decimal notation, without redundant zeros (as DynamoDB returns numbers).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_zero() {
            return f.write_str("0");
        }
        if self.negative {
            f.write_str("-")?;
        }
        let len = self.digits.len() as i64;
        if self.exponent <= 0 {
            write!(
                f,
                "0.{}{}",
                "0".repeat((-self.exponent) as usize),
                self.digits
            )
        } else if self.exponent >= len {
            write!(
                f,
                "{}{}",
                self.digits,
                "0".repeat((self.exponent - len) as usize)
            )
        } else {
            let (i, d) = self.digits.split_at(self.exponent as usize);
            write!(f, "{i}.{d}")
        }
    }
}

impl PartialEq for Num {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Num {}
impl PartialOrd for Num {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Num {
    fn cmp(&self, other: &Self) -> Ordering {
        let sign = |n: &Num| {
            if n.is_zero() {
                0
            } else if n.negative {
                -1
            } else {
                1
            }
        };
        let (a, b) = (sign(self), sign(other));
        if a != b || a == 0 {
            return a.cmp(&b);
        }
        // Same sign: compare magnitudes (digits without trailing zeros compare as
        // strings once the exponents agree).
        let magnitude = self
            .exponent
            .cmp(&other.exponent)
            .then_with(|| self.digits.cmp(&other.digits));
        if a < 0 {
            magnitude.reverse()
        } else {
            magnitude
        }
    }
}

/// A key attribute's value: strings by UTF-8 bytes, numbers by value, binary by bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scalar {
    S(String),
    N(Num),
    B(Vec<u8>),
}

impl Scalar {
    pub fn of(v: &Value) -> Option<Scalar> {
        match tagged(v)? {
            ("S", Value::String(s)) => Some(Scalar::S(s.clone())),
            ("N", Value::String(n)) => Num::parse(n).map(Scalar::N),
            ("B", Value::String(b)) => aws_smithy_types::base64::decode(b).ok().map(Scalar::B),
            _ => None,
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Scalar::S(_) => "S",
            Scalar::N(_) => "N",
            Scalar::B(_) => "B",
        }
    }
}

/// Equality as DynamoDB defines it: numbers by value, sets regardless of order.
pub fn equal(a: &Value, b: &Value) -> bool {
    let (Some((ta, va)), Some((tb, vb))) = (tagged(a), tagged(b)) else {
        return false;
    };
    if ta != tb {
        return false;
    }
    match ta {
        "S" | "B" | "BOOL" | "NULL" => va == vb,
        "N" => Scalar::of(a) == Scalar::of(b),
        "SS" | "NS" | "BS" => {
            let members = |v: &Value| -> Vec<Scalar> {
                let scalar = &ta[..1];
                let mut m: Vec<Scalar> = v
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|x| Scalar::of(&serde_json::json!({ scalar: x })))
                    .collect();
                m.sort();
                m.dedup();
                m
            };
            members(va) == members(vb)
        }
        "L" => match (va.as_array(), vb.as_array()) {
            (Some(x), Some(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| equal(p, q)),
            _ => false,
        },
        "M" => match (va.as_object(), vb.as_object()) {
            (Some(x), Some(y)) => {
                x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| equal(v, w)))
            }
            _ => false,
        },
        _ => false,
    }
}

/// Orders two values of the same scalar type (S, N or B); `None` otherwise.
pub fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (Scalar::of(a)?, Scalar::of(b)?) {
        (x @ Scalar::S(_), y @ Scalar::S(_))
        | (x @ Scalar::N(_), y @ Scalar::N(_))
        | (x @ Scalar::B(_), y @ Scalar::B(_)) => Some(x.cmp(&y)),
        _ => None,
    }
}

/// The approximate stored size of a value in bytes (for the 400 KB item limit and the
/// 1 MB page limit).
pub fn size(v: &Value) -> usize {
    match tagged(v) {
        Some(("S", Value::String(s))) => s.len(),
        Some(("N", Value::String(n))) => n.len() / 2 + 2,
        Some(("B", Value::String(b))) => b.len() * 3 / 4,
        Some(("BOOL" | "NULL", _)) => 1,
        Some((_, Value::Array(items))) => {
            3 + items
                .iter()
                .map(|x| match x {
                    Value::String(s) => s.len(),
                    other => size(other) + 1,
                })
                .sum::<usize>()
        }
        Some((_, Value::Object(m))) => 3 + item_size(m),
        _ => 0,
    }
}

pub fn item_size(item: &Item) -> usize {
    item.iter().map(|(k, v)| k.len() + size(v)).sum()
}

/// Checks a value's shape and rewrites numbers to DynamoDB's canonical form; the error
/// names what is wrong.
pub fn normalize(v: &mut Value) -> Result<(), String> {
    let Some(m) = v.as_object_mut() else {
        return Err("an attribute value must be an object like {\"S\": \"text\"}".into());
    };
    if m.len() != 1 {
        return Err("an attribute value must have exactly one type (S, N, B, SS, NS, BS, M, L, NULL or BOOL)".into());
    }
    let (tag, payload) = m.iter_mut().next().expect("one entry");
    let number = |n: &mut Value| -> Result<(), String> {
        let text = n.as_str().ok_or("a number must be a string")?;
        let parsed = Num::parse(text).ok_or_else(|| {
            format!("the parameter cannot be converted to a numeric value: {text}")
        })?;
        *n = Value::String(parsed.to_string());
        Ok(())
    };
    match (tag.as_str(), payload) {
        ("S", Value::String(_)) | ("BOOL", Value::Bool(_)) | ("NULL", Value::Bool(true)) => Ok(()),
        ("B", Value::String(b)) => aws_smithy_types::base64::decode(b.as_str())
            .map(|_| ())
            .map_err(|_| "a binary value must be base64".to_string()),
        ("N", n) => number(n),
        ("SS" | "NS" | "BS", Value::Array(items)) => {
            if items.is_empty() {
                return Err(
                    "one or more parameter values were invalid: an string set  may not be empty"
                        .into(),
                );
            }
            if tag == "NS" {
                for n in items.iter_mut() {
                    number(n)?;
                }
            }
            let mut seen = std::collections::BTreeSet::new();
            for x in items.iter() {
                if !seen.insert(x.to_string()) {
                    return Err(format!(
                        "one or more parameter values were invalid: input collection {tag} contains duplicates"
                    ));
                }
            }
            Ok(())
        }
        ("L", Value::Array(items)) => items.iter_mut().try_for_each(normalize),
        ("M", Value::Object(items)) => items.values_mut().try_for_each(normalize),
        (tag, _) => Err(format!("unsupported attribute value type `{tag}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_compare_and_print_exactly() {
        let n = |s| Num::parse(s).unwrap();
        assert!(n("2") > n("1.999999999999999999999999"));
        assert!(n("-2") < n("-1"));
        assert!(n("0.1") < n("1"));
        assert!(n("1e3") == n("1000"));
        assert!(n("-0") == n("0"));
        assert_eq!(n("001.500").to_string(), "1.5");
        assert_eq!(n("-0.0012").to_string(), "-0.0012");
        assert_eq!(n("12e3").to_string(), "12000");
        assert_eq!(n("0.1").add(&n("0.2")).unwrap().to_string(), "0.3");
        assert_eq!(n("5").add(&n("-7")).unwrap().to_string(), "-2");
        assert_eq!(n("1.5").add(&n("-1.5")).unwrap().to_string(), "0");
        assert!(Num::parse("abc").is_none());
        assert!(Num::parse("1".repeat(39).as_str()).is_none());
    }
}
