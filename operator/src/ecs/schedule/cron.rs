//! EventBridge `cron(minutes hours day-of-month month day-of-week year)` expressions: parsed
//! field by field, matched against a civil time, and searched for the next time they fire in
//! a time zone. The rules are AWS's
//! (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-cron-expressions.html):
//! six fields; `, - * /` everywhere, `?` `L` `W` in day-of-month, `?` `L` `#` in day-of-week
//! (1-7 = SUN-SAT); exactly one of day-of-month and day-of-week is `?`; years 1970-2199.
//! Daylight saving time follows EventBridge Scheduler
//! (https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html#daylist-savings-time):
//! a time that does not exist (spring forward) is skipped, a time that exists twice (fall
//! back) fires once, at its first occurrence.
use jiff::civil::{Date, DateTime};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::Timestamp;

pub const FIRST_YEAR: i16 = 1970;
pub const LAST_YEAR: i16 = 2199;

const MONTHS: [&str; 12] = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// A set of field values: up to the last year, 2199.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Set([u64; 35]);

impl Default for Set {
    fn default() -> Set {
        Set([0; 35])
    }
}

impl Set {
    fn insert(&mut self, n: u32) {
        self.0[n as usize / 64] |= 1 << (n % 64);
    }

    fn contains(&self, n: u32) -> bool {
        self.0.get(n as usize / 64).is_some_and(|word| word & (1 << (n % 64)) != 0)
    }
}

/// One field's allowed values and spelling.
struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MINUTE: Field = Field { name: "minutes", min: 0, max: 59, names: &[] };
const HOUR: Field = Field { name: "hours", min: 0, max: 23, names: &[] };
const DAY_OF_MONTH: Field = Field { name: "day-of-month", min: 1, max: 31, names: &[] };
const MONTH: Field = Field { name: "month", min: 1, max: 12, names: &MONTHS };
const DAY_OF_WEEK: Field = Field { name: "day-of-week", min: 1, max: 7, names: &WEEKDAYS };
const YEAR: Field = Field { name: "year", min: FIRST_YEAR as u32, max: LAST_YEAR as u32, names: &[] };

/// Which days of a month fire: day numbers, `L` (last day), `LW` (last weekday), `nW`
/// (the weekday nearest day n).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct DaysOfMonth {
    days: Set,
    last: bool,
    last_weekday: bool,
    nearest_weekday: Vec<u32>,
}

/// Which days of a week fire: weekdays (1 = SUN), `nL` (the last weekday n of the month),
/// `n#k` (the k-th weekday n of the month).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct DaysOfWeek {
    days: Set,
    last: Vec<u32>,
    nth: Option<(u32, u32)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Days {
    OfMonth(DaysOfMonth),
    OfWeek(DaysOfWeek),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cron {
    minutes: Set,
    hours: Set,
    days: Days,
    months: Set,
    years: Set,
}

impl Cron {
    /// Parses the six fields inside `cron(...)`; the error names the field and why.
    pub fn parse(fields: &str) -> Result<Cron, String> {
        let parts: Vec<&str> = fields.split_whitespace().collect();
        let [minutes, hours, day_of_month, month, day_of_week, year] = parts[..] else {
            return Err(format!("a cron expression has six fields (minutes hours day-of-month month day-of-week year), found {}", parts.len()));
        };
        let days = match (day_of_month, day_of_week) {
            ("?", "?") => return Err("only one of day-of-month and day-of-week may be ?".into()),
            (_, "?") => Days::OfMonth(days_of_month(day_of_month)?),
            ("?", _) => Days::OfWeek(days_of_week(day_of_week)?),
            _ => return Err("day-of-month and day-of-week cannot both be set: one of them must be ?".into()),
        };
        Ok(Cron { minutes: values(&MINUTE, minutes)?, hours: values(&HOUR, hours)?, days, months: values(&MONTH, month)?, years: values(&YEAR, year)? })
    }

    fn year_fires(&self, year: i16) -> bool {
        year >= 0 && self.years.contains(year as u32)
    }

    fn day_fires(&self, date: Date) -> bool {
        let day = date.day() as u32;
        let last = date.days_in_month() as u32;
        match &self.days {
            Days::OfMonth(d) => {
                d.days.contains(day)
                    || (d.last && day == last)
                    || (d.last_weekday && day == nearest_weekday(date, last))
                    || d.nearest_weekday.iter().any(|n| *n <= last && day == nearest_weekday(date, *n))
            }
            Days::OfWeek(d) => {
                let weekday = date.weekday().to_sunday_one_offset() as u32;
                d.days.contains(weekday)
                    || d.last.iter().any(|w| *w == weekday && day + 7 > last)
                    || d.nth.is_some_and(|(w, k)| w == weekday && (day - 1) / 7 + 1 == k)
            }
        }
    }

    /// Does the expression fire at the civil minute `at`?
    pub fn fires_at(&self, at: DateTime) -> bool {
        self.year_fires(at.year())
            && self.months.contains(at.month() as u32)
            && self.day_fires(at.date())
            && self.hours.contains(at.hour() as u32)
            && self.minutes.contains(at.minute() as u32)
    }

    /// The first time after `after` the expression fires in `tz`, if any before 2200.
    pub fn next_after(&self, after: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let local = tz.to_datetime(after);
        let from = local.with().second(0).subsec_nanosecond(0).build().ok()?;
        let mut date = local.date();
        loop {
            if date.year() > LAST_YEAR {
                return None;
            }
            if !self.year_fires(date.year()) {
                let next = (date.year() + 1..=LAST_YEAR).find(|y| self.year_fires(*y))?;
                date = Date::new(next, 1, 1).ok()?;
                continue;
            }
            if !self.months.contains(date.month() as u32) {
                date = date.last_of_month().tomorrow().ok()?;
                continue;
            }
            if self.day_fires(date) {
                for hour in (0..24).filter(|h| self.hours.contains(*h)) {
                    for minute in (0..60).filter(|m| self.minutes.contains(*m)) {
                        let civil = date.at(hour as i8, minute as i8, 0, 0);
                        // Candidates before `after`'s minute are rejected below: civil times map
                        // to increasing instants, so the first one later than `after` is the next.
                        if civil < from {
                            continue;
                        }
                        if let Some(instant) = first_instant(civil, tz).filter(|i| *i > after) {
                            return Some(instant);
                        }
                    }
                }
            }
            date = date.tomorrow().ok()?;
        }
    }
}

/// The instant the civil time `civil` first occurs in `tz`: none in a spring-forward gap,
/// the earlier one in a fall-back fold.
pub fn first_instant(civil: DateTime, tz: &TimeZone) -> Option<Timestamp> {
    let offset = match tz.to_ambiguous_timestamp(civil).offset() {
        AmbiguousOffset::Unambiguous { offset } => offset,
        AmbiguousOffset::Gap { .. } => return None,
        AmbiguousOffset::Fold { before, .. } => before,
    };
    offset.to_timestamp(civil).ok()
}

/// The weekday (Monday-Friday) nearest day `n` of `date`'s month, never crossing into another
/// month: a Saturday moves to Friday (to Monday on the 1st), a Sunday to Monday (to Friday on
/// the month's last day).
fn nearest_weekday(date: Date, n: u32) -> u32 {
    let target = date.first_of_month().checked_add(jiff::Span::new().days(n as i64 - 1)).expect("a day of the month");
    let last = date.days_in_month() as u32;
    match target.weekday().to_sunday_one_offset() {
        7 if n == 1 => 3,
        7 => n - 1,
        1 if n == last => n - 2,
        1 => n + 1,
        _ => n,
    }
}

fn days_of_month(text: &str) -> Result<DaysOfMonth, String> {
    let mut days = DaysOfMonth::default();
    let mut plain = vec![];
    for item in text.split(',') {
        match item {
            "L" => days.last = true,
            "LW" => days.last_weekday = true,
            _ if item.len() > 1 && item.ends_with('W') => days.nearest_weekday.push(number(&DAY_OF_MONTH, &item[..item.len() - 1])?),
            _ => plain.push(item),
        }
    }
    if !plain.is_empty() {
        days.days = values(&DAY_OF_MONTH, &plain.join(","))?;
    }
    Ok(days)
}

fn days_of_week(text: &str) -> Result<DaysOfWeek, String> {
    let mut days = DaysOfWeek::default();
    let mut plain = vec![];
    for item in text.split(',') {
        if let Some((weekday, k)) = item.split_once('#') {
            if days.nth.is_some() || text.contains(',') {
                return Err(format!("day-of-week: with # the field holds one expression only, not {text}"));
            }
            let k = k.parse().ok().filter(|k| (1..=5).contains(k)).ok_or(format!("day-of-week: {item}: the week after # is 1-5"))?;
            days.nth = Some((number(&DAY_OF_WEEK, weekday)?, k));
        } else if item == "L" {
            days.days.insert(7);
        } else if item.len() > 1 && item.ends_with('L') {
            days.last.push(number(&DAY_OF_WEEK, &item[..item.len() - 1])?);
        } else {
            plain.push(item);
        }
    }
    if !plain.is_empty() {
        days.days = values(&DAY_OF_WEEK, &plain.join(","))?;
    }
    Ok(days)
}

/// The values of a list field: `*`, `n`, `a-b` (wrapping past the maximum when a > b), each
/// optionally `/step`, separated by commas.
fn values(field: &Field, text: &str) -> Result<Set, String> {
    let mut set = Set::default();
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => {
                let step: u32 = step.parse().ok().filter(|s| *s > 0).ok_or(format!("{}: {item}: the increment after / is a positive number", field.name))?;
                (range, step)
            }
            None => (item, 1),
        };
        let (first, last) = match range.split_once('-') {
            _ if range == "*" => (field.min, field.max),
            Some((a, b)) => (number(field, a)?, number(field, b)?),
            // `a/n` runs from a to the field's maximum.
            None if step > 1 || item.contains('/') => (number(field, range)?, field.max),
            None => {
                let n = number(field, range)?;
                (n, n)
            }
        };
        let span = field.max - field.min + 1;
        let count = if last >= first { last - first } else { last + span - first };
        for i in (0..=count).step_by(step as usize) {
            set.insert(field.min + (first - field.min + i) % span);
        }
    }
    Ok(set)
}

/// A value of the field, as a number or its name (JAN, MON: any case).
fn number(field: &Field, text: &str) -> Result<u32, String> {
    let named = field.names.iter().position(|n| n.eq_ignore_ascii_case(text)).map(|i| i as u32 + field.min);
    named
        .or_else(|| text.parse().ok())
        .filter(|n| (field.min..=field.max).contains(n))
        .ok_or_else(|| {
            let spelled = if field.names.is_empty() { String::new() } else { format!(" or {}-{}", field.names[0], field.names[field.names.len() - 1]) };
            format!("{}: {text} is not a value ({}-{}{spelled})", field.name, field.min, field.max)
        })
}
