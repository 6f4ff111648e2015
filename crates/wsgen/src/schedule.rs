//! EventBridge schedule expressions, parsed once for synthesis (which checks them, where
//! CloudFormation would only refuse one at deploy time) and for `wsgen dev` (which runs
//! scheduled functions on them): `rate(N unit)` and `cron(Minutes Hours Day-of-month
//! Month Day-of-week Year)`, in UTC.
//!
//! The cron fields take what EventBridge takes:
//!
//! | field        | values                 | wildcards          |
//! |--------------|------------------------|--------------------|
//! | Minutes      | 0-59                   | `, - * /`          |
//! | Hours        | 0-23                   | `, - * /`          |
//! | Day-of-month | 1-31                   | `, - * ? / L W`    |
//! | Month        | 1-12 or JAN-DEC        | `, - * /`          |
//! | Day-of-week  | 1-7 or SUN-SAT (1=SUN) | `, - * ? L #`      |
//! | Year         | 1970-2199              | `, - * /`          |
//!
//! One of day-of-month and day-of-week must be `?` (the other decides). `L` is the last
//! day of the month (alone in day-of-week, every Saturday); `5L` the month's last
//! Thursday; `15W` the weekday nearest the 15th within its month, `LW` the last weekday;
//! `3#2` the month's second Tuesday.

/// A parsed schedule expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expression {
    /// `rate(N minute|minutes|hour|hours|day|days)`: singular for 1, plural otherwise.
    Rate(std::time::Duration),
    /// `cron(...)`.
    Cron(Cron),
}

impl Expression {
    /// A `rate(...)`'s period.
    pub fn rate(&self) -> Option<std::time::Duration> {
        match self {
            Expression::Rate(period) => Some(*period),
            Expression::Cron(_) => None,
        }
    }

    /// Parses `rate(...)` or `cron(...)`; the error says what is wrong with it.
    pub fn parse(e: &str) -> Result<Expression, String> {
        if let Some(inner) = e.strip_prefix("rate(").and_then(|s| s.strip_suffix(')')) {
            let mut it = inner.split_whitespace();
            let (Some(n), Some(unit), None) = (it.next(), it.next(), it.next()) else {
                return Err(format!("`{e}` is not `rate(N unit)`"));
            };
            let Ok(n) = n.parse::<u64>() else {
                return Err(format!("`{e}`: `{n}` is not a whole number"));
            };
            let (ok, unit_secs) = match unit {
                "minute" => (n == 1, 60),
                "hour" => (n == 1, 3600),
                "day" => (n == 1, 86_400),
                "minutes" => (n > 1, 60),
                "hours" => (n > 1, 3600),
                "days" => (n > 1, 86_400),
                _ => (false, 0),
            };
            match n.checked_mul(unit_secs) {
                Some(total) if ok && n > 0 => {
                    Ok(Expression::Rate(std::time::Duration::from_secs(total)))
                }
                _ => Err(format!(
                    "`{e}` is not a valid rate: use a positive whole number of minute(s), hour(s) or day(s), singular for 1"
                )),
            }
        } else if let Some(fields) = e.strip_prefix("cron(").and_then(|s| s.strip_suffix(')')) {
            Cron::parse(fields)
                .map(Expression::Cron)
                .map_err(|problem| format!("`{e}`: {problem}"))
        } else {
            Err(format!("`{e}` is neither `rate(...)` nor `cron(...)`"))
        }
    }
}

/// A parsed cron expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cron {
    minutes: u64,
    hours: u64,
    day_of_month: DayOfMonth,
    months: u64,
    day_of_week: DayOfWeek,
    /// Bit `y - 1970` for each year.
    years: [u64; 4],
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum DayOfMonth {
    /// `?`: the day of the week decides.
    Any,
    /// Bit `d` for each day `d`.
    Days(u64),
    /// `L`
    Last,
    /// `LW`
    LastWeekday,
    /// `15W`
    NearestWeekday(u32),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum DayOfWeek {
    /// `?`: the day of the month decides.
    Any,
    /// Bit `w` for each weekday `w` (1 = Sunday).
    Days(u64),
    /// `5L`: the month's last such weekday.
    Last(u32),
    /// `3#2`: the month's n-th such weekday.
    Nth(u32, u32),
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
const FIRST_YEAR: u32 = 1970;
const LAST_YEAR: u32 = 2199;

impl Cron {
    /// Parses the six fields inside `cron(...)`; the error names the field and the
    /// problem.
    pub fn parse(fields: &str) -> Result<Cron, String> {
        let parts: Vec<&str> = fields.split_whitespace().collect();
        let [minutes, hours, dom, month, dow, year] = parts[..] else {
            return Err(format!(
                "it has {} fields; EventBridge cron expressions have 6 (minutes hours day-of-month month day-of-week year)",
                parts.len()
            ));
        };
        let day_of_month = parse_day_of_month(dom)?;
        let day_of_week = parse_day_of_week(dow)?;
        match (&day_of_month, &day_of_week) {
            (DayOfMonth::Any, DayOfWeek::Any) => {
                return Err("both day-of-month and day-of-week are `?`: set one of them".into())
            }
            (DayOfMonth::Any, _) | (_, DayOfWeek::Any) => {}
            _ => {
                return Err(format!(
                    "day-of-month `{dom}` and day-of-week `{dow}` are both set: one of them must be `?`"
                ))
            }
        }
        let years = field("year", year, FIRST_YEAR, LAST_YEAR, &[])?;
        let mut year_bits = [0u64; 4];
        for y in FIRST_YEAR..=LAST_YEAR {
            if years.contains(&y) {
                let i = (y - FIRST_YEAR) as usize;
                year_bits[i / 64] |= 1 << (i % 64);
            }
        }
        Ok(Cron {
            minutes: bits(&field("minutes", minutes, 0, 59, &[])?),
            hours: bits(&field("hours", hours, 0, 23, &[])?),
            day_of_month,
            months: bits(&field("month", month, 1, 12, &MONTHS)?),
            day_of_week,
            years: year_bits,
        })
    }

    /// The first time (Unix seconds, on a minute) strictly after `after` that the
    /// expression matches; `None` when it never will again (its years are past).
    pub fn next_after(&self, after: i64) -> Option<i64> {
        let start = after.div_euclid(60) * 60 + 60;
        let (mut day, start_minute) = (start.div_euclid(86_400), start.rem_euclid(86_400) / 60);
        let mut from_minute = start_minute;
        loop {
            let (year, month, dom) = civil_from_days(day);
            if year > i64::from(LAST_YEAR) {
                return None;
            }
            if self.matches_day(day, year, month, dom) {
                for minute_of_day in from_minute..1440 {
                    if self.hours & (1 << (minute_of_day / 60)) != 0
                        && self.minutes & (1 << (minute_of_day % 60)) != 0
                    {
                        return Some(day * 86_400 + minute_of_day * 60);
                    }
                }
            }
            day += 1;
            from_minute = 0;
        }
    }

    fn matches_day(&self, day: i64, year: i64, month: u32, dom: u32) -> bool {
        let Some(i) = year.checked_sub(i64::from(FIRST_YEAR)).filter(|i| *i >= 0) else {
            return false;
        };
        let i = i as usize;
        if self.years[i / 64] & (1 << (i % 64)) == 0 || self.months & (1 << month) == 0 {
            return false;
        }
        let last = days_in_month(year, month);
        // 1 = Sunday, as EventBridge counts.
        let weekday = |d: i64| (d + 4).rem_euclid(7) as u32 + 1;
        let dom_ok = match self.day_of_month {
            DayOfMonth::Any => true,
            DayOfMonth::Days(b) => b & (1 << dom) != 0,
            DayOfMonth::Last => dom == last,
            DayOfMonth::LastWeekday => {
                let last_day = day + i64::from(last - dom);
                dom == match weekday(last_day) {
                    1 => last - 2,
                    7 => last - 1,
                    _ => last,
                }
            }
            // Like a plain day, it does not fire in months without that day.
            DayOfMonth::NearestWeekday(n) if n > last => false,
            DayOfMonth::NearestWeekday(target) => {
                let target_day = day + i64::from(target) - i64::from(dom);
                dom == match weekday(target_day) {
                    7 if target == 1 => 3,
                    7 => target - 1,
                    1 if target == last => target - 2,
                    1 => target + 1,
                    _ => target,
                }
            }
        };
        let dow_ok = match self.day_of_week {
            DayOfWeek::Any => true,
            DayOfWeek::Days(b) => b & (1 << weekday(day)) != 0,
            DayOfWeek::Last(w) => weekday(day) == w && dom + 7 > last,
            DayOfWeek::Nth(w, n) => weekday(day) == w && (dom - 1) / 7 + 1 == n,
        };
        dom_ok && dow_ok
    }
}

fn bits(values: &[u32]) -> u64 {
    values.iter().fold(0, |b, v| b | 1 << v)
}

/// The values of a list field (`1,5-10,*/15`), each within `min..=max` (or a name).
fn field(name: &str, text: &str, min: u32, max: u32, names: &[&str]) -> Result<Vec<u32>, String> {
    let value = |s: &str| -> Result<u32, String> {
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
            return Ok(i as u32 + 1);
        }
        let v: u32 = s.parse().map_err(|_| {
            format!(
                "{name} `{text}`: `{s}` is not a number{}",
                if names.is_empty() {
                    String::new()
                } else {
                    format!(" or one of {}", names.join(","))
                }
            )
        })?;
        if v < min || v > max {
            return Err(format!("{name} `{text}`: {v} is outside {min}-{max}"));
        }
        Ok(v)
    };
    let mut out = Vec::new();
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s.parse().ok().filter(|s| *s > 0).ok_or_else(|| {
                    format!("{name} `{text}`: step `{s}` is not a positive number")
                })?;
                (r, Some(step))
            }
            None => (item, None),
        };
        let (from, to) = match range {
            "*" => (min, max),
            "?" | "L" | "W" | "#" => {
                return Err(format!(
                    "{name} `{text}`: `{range}` is not allowed in this field"
                ))
            }
            r => match r.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (value(a)?, value(b)?);
                    if a > b {
                        return Err(format!("{name} `{text}`: the range {r} runs backwards"));
                    }
                    (a, b)
                }
                // `10/5`: from 10 to the end, every 5.
                None if step.is_some() => (value(r)?, max),
                None => {
                    let v = value(r)?;
                    (v, v)
                }
            },
        };
        out.extend((from..=to).step_by(step.unwrap_or(1) as usize));
    }
    Ok(out)
}

fn parse_day_of_month(text: &str) -> Result<DayOfMonth, String> {
    Ok(match text {
        "?" => DayOfMonth::Any,
        "L" => DayOfMonth::Last,
        "LW" => DayOfMonth::LastWeekday,
        t if t.ends_with('W') => {
            let n = &t[..t.len() - 1];
            match n.parse::<u32>() {
                Ok(n @ 1..=31) => DayOfMonth::NearestWeekday(n),
                _ => {
                    return Err(format!(
                        "day-of-month `{t}`: W follows a day 1-31 (as in 15W)"
                    ))
                }
            }
        }
        t => DayOfMonth::Days(bits(&field("day-of-month", t, 1, 31, &[])?)),
    })
}

fn parse_day_of_week(text: &str) -> Result<DayOfWeek, String> {
    let weekday = |s: &str| field("day-of-week", s, 1, 7, &WEEKDAYS).map(|v| v[0]);
    Ok(match text {
        "?" => DayOfWeek::Any,
        // Alone, the last day of every week.
        "L" => DayOfWeek::Days(1 << 7),
        t if t.len() > 1 && t.ends_with('L') => DayOfWeek::Last(weekday(&t[..t.len() - 1])?),
        t if t.contains('#') => {
            let (w, n) = t.split_once('#').unwrap_or_default();
            match n.parse::<u32>() {
                Ok(n @ 1..=5) => DayOfWeek::Nth(weekday(w)?, n),
                _ => {
                    return Err(format!(
                    "day-of-week `{t}`: # is followed by 1-5 (3#2 is the month's second Tuesday)"
                ))
                }
            }
        }
        t => DayOfWeek::Days(bits(&field("day-of-week", t, 1, 7, &WEEKDAYS)?)),
    })
}

/// (year, month 1-12, day 1-31) of a day counted from 1970-01-01 (Howard Hinnant's
/// algorithm).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unix seconds of a UTC time.
    fn at(y: i64, mo: u32, d: u32, h: i64, mi: i64) -> i64 {
        // Days from civil (the inverse of civil_from_days), by search from a nearby day.
        let mut day = (y - 1970) * 365 + (y - 1969) / 4 - 1;
        while civil_from_days(day) != (y, mo, d) {
            day += 1;
        }
        day * 86_400 + h * 3600 + mi * 60
    }

    fn next(expr: &str, after: i64) -> i64 {
        Cron::parse(expr).unwrap().next_after(after).unwrap()
    }

    #[test]
    fn rate_expressions() {
        use std::time::Duration;
        let rate = |e: &str| Expression::parse(e).ok().and_then(|e| e.rate());
        assert_eq!(rate("rate(1 minute)"), Some(Duration::from_secs(60)));
        assert_eq!(rate("rate(5 minutes)"), Some(Duration::from_secs(300)));
        assert_eq!(rate("rate(2 hours)"), Some(Duration::from_secs(7200)));
        assert_eq!(rate("rate(1 day)"), Some(Duration::from_secs(86_400)));
        for bad in [
            "rate(0 minutes)",
            "rate(1 minutes)",
            "rate(2 minute)",
            "rate(5 weeks)",
            "rate(99999999999999999999 days)",
            "rate(5)",
            "every 5 minutes",
        ] {
            assert!(Expression::parse(bad).is_err(), "{bad}");
        }
        assert!(matches!(
            Expression::parse("cron(0 12 * * ? *)"),
            Ok(Expression::Cron(_))
        ));
        assert!(Expression::parse("cron(0 12 * * * *)").is_err());
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_415), (2025, 11, 23));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn fixed_times_steps_and_ranges() {
        let now = at(2026, 11, 23, 10, 30); // a Monday
        assert_eq!(next("0 12 * * ? *", now), at(2026, 11, 23, 12, 0));
        assert_eq!(next("0 9 * * ? *", now), at(2026, 11, 24, 9, 0));
        assert_eq!(next("*/15 * * * ? *", now), at(2026, 11, 23, 10, 45));
        assert_eq!(
            next("0/20 * * * ? *", at(2026, 11, 23, 10, 40)),
            at(2026, 11, 23, 11, 0)
        );
        assert_eq!(next("5,35 8-10 * * ? *", now), at(2026, 11, 23, 10, 35));
        // Strictly after: a matching minute is not its own next.
        assert_eq!(next("30 10 * * ? *", now), at(2026, 11, 24, 10, 30));
        assert_eq!(next("0 0 1 JAN ? *", now), at(2027, 1, 1, 0, 0));
        assert_eq!(next("0 0 29 2 ? *", now), at(2028, 2, 29, 0, 0));
        assert_eq!(next("0 0 * * ? 2030", now), at(2030, 1, 1, 0, 0));
        assert_eq!(Cron::parse("0 0 * * ? 2020").unwrap().next_after(now), None);
    }

    #[test]
    fn days_of_the_week() {
        let now = at(2026, 11, 23, 10, 30); // Monday
        assert_eq!(next("0 8 ? * MON-FRI *", now), at(2026, 11, 24, 8, 0));
        assert_eq!(next("0 8 ? * SAT,SUN *", now), at(2026, 11, 28, 8, 0));
        assert_eq!(next("0 8 ? * 1 *", now), at(2026, 11, 29, 8, 0));
        // The last Friday of November 2026 is the 27th; the second Tuesday of December the 8th.
        assert_eq!(next("0 8 ? * 6L *", now), at(2026, 11, 27, 8, 0));
        assert_eq!(next("0 8 ? * 3#2 *", now), at(2026, 12, 8, 8, 0));
        assert_eq!(next("0 8 ? * L *", now), at(2026, 11, 28, 8, 0));
    }

    #[test]
    fn last_days_and_nearest_weekdays() {
        let now = at(2026, 11, 23, 10, 30);
        assert_eq!(next("0 0 L * ? *", now), at(2026, 11, 30, 0, 0));
        // 2027-01-31 is a Sunday: the last weekday of January is Friday the 29th.
        assert_eq!(
            next("0 0 LW * ? *", at(2027, 1, 1, 0, 0)),
            at(2027, 1, 29, 0, 0)
        );
        // 2026-11-15 is a Sunday: the nearest weekday is Monday the 16th.
        assert_eq!(
            next("0 0 15W * ? *", at(2026, 11, 1, 0, 0)),
            at(2026, 11, 16, 0, 0)
        );
        // 2026-08-01 is a Saturday: 1W does not leave the month, so Monday the 3rd.
        assert_eq!(
            next("0 0 1W * ? *", at(2026, 7, 2, 0, 0)),
            at(2026, 8, 3, 0, 0)
        );
    }

    #[test]
    fn bad_expressions_name_the_field() {
        for (expr, problem) in [
            ("0 12 * * *", "it has 5 fields"),
            (
                "0 12 * * * *",
                "day-of-month `*` and day-of-week `*` are both set",
            ),
            ("0 12 ? * ? *", "both day-of-month and day-of-week are `?`"),
            ("60 12 * * ? *", "minutes `60`: 60 is outside 0-59"),
            ("0 24 * * ? *", "hours `24`: 24 is outside 0-23"),
            (
                "0 12 * FOO ? *",
                "month `FOO`: `FOO` is not a number or one of JAN",
            ),
            (
                "0 12 ? * MON#6 *",
                "day-of-week `MON#6`: # is followed by 1-5",
            ),
            ("0 12 * * ? 1969", "year `1969`: 1969 is outside 1970-2199"),
            (
                "0 10-8 * * ? *",
                "hours `10-8`: the range 10-8 runs backwards",
            ),
            (
                "*/0 12 * * ? *",
                "minutes `*/0`: step `0` is not a positive number",
            ),
            ("0 12 32W * ? *", "day-of-month `32W`: W follows a day 1-31"),
            (
                "? 12 * * ? *",
                "minutes `?`: `?` is not allowed in this field",
            ),
        ] {
            let e = Cron::parse(expr).unwrap_err();
            assert!(e.starts_with(problem), "{expr}: {e}");
        }
    }
}
