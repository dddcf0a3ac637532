//! EventBridge Scheduler schedule expressions (`scheduleExpression`) and when they fire
//! (https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html):
//! - `cron(fields)`: see [`super::cron`], evaluated in `scheduleExpressionTimezone`;
//! - `rate(value unit)`: every `value` minutes, hours or days from `startDate` (or from when
//!   the schedule was created), the unit singular for 1 and plural above
//!   (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html#eb-rate-expressions);
//!   a day is 24 hours, whatever daylight saving time does to the clock;
//! - `at(yyyy-mm-ddThh:mm:ss)`: once, at that civil time in `scheduleExpressionTimezone`.
//!
//! Times are Unix seconds.
use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::Timestamp;

use super::cron::Cron;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expression {
    /// Boxed: its day and value sets make it large beside the other two.
    Cron(Box<Cron>),
    /// A period in seconds.
    Rate(i64),
    At(DateTime),
}

impl Expression {
    /// Parses a schedule expression; the error says what is wrong, in the expression's terms.
    pub fn parse(expression: &str) -> Result<Expression, String> {
        let inner = |prefix: &str| expression.strip_prefix(prefix).and_then(|rest| rest.strip_suffix(')'));
        if let Some(fields) = inner("cron(") {
            Cron::parse(fields).map(|cron| Expression::Cron(Box::new(cron)))
        } else if let Some(rate) = inner("rate(") {
            parse_rate(rate).map(Expression::Rate)
        } else if let Some(at) = inner("at(") {
            parse_at(at).map(Expression::At)
        } else {
            Err("the expression is at(yyyy-mm-ddThh:mm:ss), rate(value unit) or cron(minutes hours day-of-month month day-of-week year)".into())
        }
    }
}

fn parse_rate(rate: &str) -> Result<i64, String> {
    let (value, unit) = rate.split_once(' ').ok_or("rate(value unit): a value and a unit separated by a space")?;
    let value: i64 = value.parse().ok().filter(|v| *v > 0).ok_or(format!("rate: {value} is not a positive whole number"))?;
    let (singular, seconds) = match unit.trim_end_matches('s') {
        "minute" => ("minute", 60),
        "hour" => ("hour", 3600),
        "day" => ("day", 86_400),
        _ => return Err(format!("rate: the unit {unit} is not minute(s), hour(s) or day(s)")),
    };
    let plural = unit.ends_with('s');
    if (value == 1) == plural {
        let expected = if value == 1 { singular.to_string() } else { format!("{singular}s") };
        return Err(format!("rate: with the value {value} the unit is {expected}, not {unit}"));
    }
    value.checked_mul(seconds).ok_or(format!("rate: {value} {unit} is too long"))
}

fn parse_at(at: &str) -> Result<DateTime, String> {
    let shape = at.len() == 19 && at.as_bytes()[10] == b'T';
    let parsed = shape.then(|| at.parse::<DateTime>().ok()).flatten();
    parsed.ok_or(format!("at: {at} is not a date and time yyyy-mm-ddThh:mm:ss"))
}

/// A schedule's times: its expression read in its time zone, between its start and end
/// dates. `anchor` is when a rate schedule without a start date began (its creation).
#[derive(Clone, Debug)]
pub struct Schedule {
    pub expression: Expression,
    pub time_zone: TimeZone,
    /// Recurring schedules fire at or after `start` and before `end` (one-time schedules
    /// ignore both, as EventBridge Scheduler does).
    pub start: Option<i64>,
    pub end: Option<i64>,
    pub anchor: i64,
}

impl Schedule {
    /// The time zone named `name` (default UTC), from the IANA database.
    pub fn time_zone(name: Option<&str>) -> Result<TimeZone, String> {
        match name.filter(|n| !n.is_empty()) {
            None => Ok(TimeZone::UTC),
            Some(name) => TimeZone::get(name).map_err(|_| format!("{name} is not a time zone of the IANA time zone database")),
        }
    }

    /// The first time the schedule fires after `after`, if it ever does again.
    pub fn next_after(&self, after: i64) -> Option<i64> {
        let next = match &self.expression {
            Expression::At(civil) => return super::cron::first_instant(*civil, &self.time_zone)
                .or_else(|| self.time_zone.to_timestamp(*civil).ok())
                .map(Timestamp::as_second)
                .filter(|t| *t > after),
            Expression::Rate(period) => {
                let first = self.start.unwrap_or(self.anchor);
                if after < first { first } else { first + ((after - first) / period + 1) * period }
            }
            Expression::Cron(cron) => {
                let from = self.start.map_or(after, |start| after.max(start - 1));
                cron.next_after(Timestamp::from_second(from).ok()?, &self.time_zone)?.as_second()
            }
        };
        Some(next).filter(|t| self.end.is_none_or(|end| *t < end))
    }
}

#[cfg(test)]
mod tests;
