use jiff::Timestamp;
use proptest::prelude::*;

use super::*;

fn at(time: &str) -> i64 {
    time.parse::<Timestamp>().unwrap_or_else(|e| panic!("{time}: {e}")).as_second()
}

fn shown(time: i64) -> String {
    Timestamp::from_second(time).unwrap().to_string()
}

fn schedule(expression: &str, zone: &str) -> Schedule {
    Schedule {
        expression: Expression::parse(expression).unwrap_or_else(|e| panic!("{expression}: {e}")),
        time_zone: Schedule::time_zone(Some(zone)).unwrap(),
        start: None,
        end: None,
        anchor: at("2024-01-01T00:00:00Z"),
    }
}

/// The first `n` times `expression` fires in `zone` after `from`.
fn times(expression: &str, zone: &str, from: &str, n: usize) -> Vec<String> {
    let schedule = schedule(expression, zone);
    std::iter::successors(schedule.next_after(at(from)), |t| schedule.next_after(*t)).take(n).map(shown).collect()
}

// The examples of https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-cron-expressions.html
// (2024-01-01 is a Monday).
#[test]
fn aws_cron_examples() {
    // "Run at 10:00 am (UTC+0) every day"
    assert_eq!(times("cron(0 10 * * ? *)", "UTC", "2024-01-01T10:00:00Z", 2), ["2024-01-02T10:00:00Z", "2024-01-03T10:00:00Z"]);
    // "Run at 12:15 pm (UTC+0) every day"
    assert_eq!(times("cron(15 12 * * ? *)", "UTC", "2024-01-01T00:00:00Z", 1), ["2024-01-01T12:15:00Z"]);
    // "Run at 6:00 pm (UTC+0) every Monday through Friday"
    assert_eq!(times("cron(0 18 ? * MON-FRI *)", "UTC", "2024-01-05T19:00:00Z", 1), ["2024-01-08T18:00:00Z"]);
    // "Run at 8:00 am (UTC+0) every first day of the month"
    assert_eq!(times("cron(0 8 1 * ? *)", "UTC", "2024-01-01T09:00:00Z", 2), ["2024-02-01T08:00:00Z", "2024-03-01T08:00:00Z"]);
    // "Run every 15 minutes"
    assert_eq!(times("cron(0/15 * * * ? *)", "UTC", "2024-01-01T00:50:00Z", 2), ["2024-01-01T01:00:00Z", "2024-01-01T01:15:00Z"]);
    // "Run every 10 minutes Monday through Friday": Friday's last, then Monday's first
    assert_eq!(times("cron(0/10 * ? * MON-FRI *)", "UTC", "2024-01-05T23:50:00Z", 1), ["2024-01-08T00:00:00Z"]);
    // "Run every 5 minutes Monday through Friday between 8:00 am and 5:55 pm (UTC+0)"
    assert_eq!(times("cron(0/5 8-17 ? * MON-FRI *)", "UTC", "2024-01-01T17:54:00Z", 2), ["2024-01-01T17:55:00Z", "2024-01-02T08:00:00Z"]);
    // "Run at 9 a.m. (UTC) the first Monday of each month"
    assert_eq!(times("cron(0 9 ? * 2#1 *)", "UTC", "2024-01-02T00:00:00Z", 2), ["2024-02-05T09:00:00Z", "2024-03-04T09:00:00Z"]);
}

#[test]
fn the_special_day_wildcards() {
    // `3#2`: the second Tuesday (the page's own example of #).
    assert_eq!(times("cron(0 0 ? * 3#2 *)", "UTC", "2024-01-01T00:00:00Z", 1), ["2024-01-09T00:00:00Z"]);
    // `L` in day-of-month: the last day; in day-of-week alone: Saturday, the week's last day.
    assert_eq!(times("cron(0 0 L * ? *)", "UTC", "2024-02-01T00:00:00Z", 2), ["2024-02-29T00:00:00Z", "2024-03-31T00:00:00Z"]);
    assert_eq!(times("cron(0 0 ? * L *)", "UTC", "2024-01-01T00:00:00Z", 1), ["2024-01-06T00:00:00Z"]);
    // `6L`: the last Friday of the month.
    assert_eq!(times("cron(0 0 ? * 6L *)", "UTC", "2024-01-01T00:00:00Z", 2), ["2024-01-26T00:00:00Z", "2024-02-23T00:00:00Z"]);
    // `3W`: the weekday nearest the 3rd. 2024-02-03 is a Saturday -> Friday the 2nd;
    // 2024-03-03 a Sunday -> Monday the 4th; 2024-06-01 a Saturday: `1W` stays in June, Monday the 3rd.
    assert_eq!(times("cron(0 0 3W * ? *)", "UTC", "2024-01-10T00:00:00Z", 2), ["2024-02-02T00:00:00Z", "2024-03-04T00:00:00Z"]);
    assert_eq!(times("cron(0 0 1W 6 ? *)", "UTC", "2024-01-01T00:00:00Z", 1), ["2024-06-03T00:00:00Z"]);
    // `LW`: the last weekday; 2024-03-31 is a Sunday -> Friday the 29th.
    assert_eq!(times("cron(0 0 LW 3 ? *)", "UTC", "2024-01-01T00:00:00Z", 1), ["2024-03-29T00:00:00Z"]);
    // Names in any case, ranges that wrap past the end, years.
    assert_eq!(times("cron(0 22-1 ? * sat *)", "UTC", "2024-01-06T21:00:00Z", 4),
        ["2024-01-06T22:00:00Z", "2024-01-06T23:00:00Z", "2024-01-13T00:00:00Z", "2024-01-13T01:00:00Z"]);
    assert_eq!(times("cron(0 0 1 JAN ? 2030-2031)", "UTC", "2024-01-01T00:00:00Z", 3), ["2030-01-01T00:00:00Z", "2031-01-01T00:00:00Z"]);
}

#[test]
fn invalid_expressions_say_what_is_wrong() {
    let cases = [
        ("cron(0 10 * * * *)", "one of them must be ?"),
        ("cron(0 10 ? * ? *)", "only one of day-of-month and day-of-week may be ?"),
        ("cron(0 10 * * ?)", "six fields"),
        ("cron(60 10 * * ? *)", "minutes: 60 is not a value (0-59)"),
        ("cron(0 24 * * ? *)", "hours: 24"),
        ("cron(0 0 32 * ? *)", "day-of-month: 32"),
        ("cron(0 0 ? * 8 *)", "day-of-week: 8 is not a value (1-7 or SUN-SAT)"),
        ("cron(0 0 ? FOO * *)", "month: FOO"),
        ("cron(0 0 1 * ? 2200)", "year: 2200"),
        // "you can only define one expression in the day-of-week field" with #
        ("cron(0 0 ? * 3#1,6#3 *)", "one expression only"),
        ("cron(0/0 * * * ? *)", "positive number"),
        ("rate(1 minutes)", "the unit is minute, not minutes"),
        ("rate(5 minute)", "the unit is minutes, not minute"),
        ("rate(0 minutes)", "not a positive whole number"),
        ("rate(2 weeks)", "not minute(s), hour(s) or day(s)"),
        ("at(2024-13-01T00:00:00)", "not a date and time"),
        ("at(2024-01-01 00:00:00)", "not a date and time"),
        ("every(5 minutes)", "at(yyyy-mm-ddThh:mm:ss)"),
    ];
    for (expression, expected) in cases {
        let error = Expression::parse(expression).expect_err(expression);
        assert!(error.contains(expected), "{expression}: {error:?} does not say {expected:?}");
    }
    assert!(Schedule::time_zone(Some("Mars/Olympus")).unwrap_err().contains("Mars/Olympus"));
}

#[test]
fn rate_units_and_anchor() {
    for (expression, seconds) in [("rate(1 minute)", 60), ("rate(5 minutes)", 300), ("rate(1 hour)", 3600), ("rate(2 hours)", 7200), ("rate(1 day)", 86_400), ("rate(7 days)", 604_800)] {
        assert_eq!(Expression::parse(expression), Ok(Expression::Rate(seconds)), "{expression}");
    }
    // Without a start date the first run is at once (at the anchor), then every period.
    let mut rate = schedule("rate(15 minutes)", "UTC");
    rate.anchor = at("2024-01-01T10:07:30Z");
    assert_eq!(rate.next_after(at("2024-01-01T10:00:00Z")).map(shown).unwrap(), "2024-01-01T10:07:30Z");
    assert_eq!(rate.next_after(at("2024-01-01T10:07:30Z")).map(shown).unwrap(), "2024-01-01T10:22:30Z");
    // A start date is the first occurrence; an end date is exclusive.
    rate.start = Some(at("2024-01-02T00:00:00Z"));
    rate.end = Some(at("2024-01-02T00:30:00Z"));
    let next: Vec<String> = std::iter::successors(rate.next_after(0), |t| rate.next_after(*t)).map(shown).collect();
    assert_eq!(next, ["2024-01-02T00:00:00Z", "2024-01-02T00:15:00Z"]);
}

// https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html#time-zones and
// #daylist-savings-time; https://repost.aws/knowledge-center/eventbridge-scheduler-adjust-dst:
// "When the time shifts forward in Spring, your schedule invocation gets skipped if the cron
// expression falls on a non-existent date and time. When the time shifts back in the Fall,
// your schedule runs only once and doesn't repeat its invocation." A rate in days is 24 hours.
#[test]
fn time_zones_and_daylight_saving_time() {
    // 9:00 in New York is 14:00 UTC in winter (EST) and 13:00 in summer (EDT).
    assert_eq!(times("cron(0 9 * * ? *)", "America/New_York", "2024-03-09T15:00:00Z", 2), ["2024-03-10T13:00:00Z", "2024-03-11T13:00:00Z"]);
    // 2024-03-10 02:30 does not exist in New York: that day is skipped.
    assert_eq!(times("cron(30 2 * * ? *)", "America/New_York", "2024-03-09T00:00:00Z", 2), ["2024-03-09T07:30:00Z", "2024-03-11T06:30:00Z"]);
    // 2024-11-03 01:30 happens twice: it runs once, at the first (EDT).
    assert_eq!(times("cron(30 1 * * ? *)", "America/New_York", "2024-11-02T12:00:00Z", 2), ["2024-11-03T05:30:00Z", "2024-11-04T06:30:00Z"]);
    // Every minute across the fall-back hour: after 01:59 EDT comes 02:00 EST, an hour and a minute later.
    assert_eq!(times("cron(* * * * ? *)", "America/New_York", "2024-11-03T05:58:00Z", 2), ["2024-11-03T05:59:00Z", "2024-11-03T07:00:00Z"]);
    // Half-hour offsets (India) and a half-hour DST shift (Lord Howe Island, 2024-10-06 02:00 -> 02:30).
    assert_eq!(times("cron(0 9 * * ? *)", "Asia/Kolkata", "2024-01-01T00:00:00Z", 1), ["2024-01-01T03:30:00Z"]);
    assert_eq!(times("cron(15 2 * * ? *)", "Australia/Lord_Howe", "2024-10-04T00:00:00Z", 2), ["2024-10-04T15:45:00Z", "2024-10-06T15:15:00Z"]);
    // A rate of one day stays 24 hours apart across the change; the civil hour moves.
    let mut daily = schedule("rate(1 day)", "America/New_York");
    daily.anchor = at("2024-03-09T14:00:00Z");
    assert_eq!(daily.next_after(at("2024-03-09T14:00:00Z")).map(shown).unwrap(), "2024-03-10T14:00:00Z");
    // at() is read in the schedule's time zone.
    assert_eq!(times("at(2024-07-01T09:00:00)", "Europe/Paris", "2024-01-01T00:00:00Z", 2), ["2024-07-01T07:00:00Z"]);
}

#[test]
fn start_and_end_dates_bound_cron_but_not_at() {
    let mut hourly = schedule("cron(0 * * * ? *)", "UTC");
    hourly.start = Some(at("2024-01-01T05:00:00Z"));
    hourly.end = Some(at("2024-01-01T07:00:00Z"));
    let all: Vec<String> = std::iter::successors(hourly.next_after(0), |t| hourly.next_after(*t)).map(shown).collect();
    assert_eq!(all, ["2024-01-01T05:00:00Z", "2024-01-01T06:00:00Z"]);
    let mut once = schedule("at(2025-01-01T00:00:00)", "UTC");
    once.end = Some(at("2024-01-01T00:00:00Z"));
    assert_eq!(once.next_after(0).map(shown).unwrap(), "2025-01-01T00:00:00Z");
    assert_eq!(once.next_after(at("2025-01-01T00:00:00Z")), None);
}

const ZONES: [&str; 6] = ["UTC", "America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kolkata", "America/Sao_Paulo"];

/// Expressions that fire often enough to be seen in a few days' scan.
fn frequent_cron() -> impl Strategy<Value = String> {
    let minutes = prop_oneof![Just("*".to_string()), (0..60u32).prop_map(|m| m.to_string()), (0..15u32, 1..20u32).prop_map(|(a, s)| format!("{a}/{s}")), (0..30u32, 30..60u32).prop_map(|(a, b)| format!("{a}-{b}"))];
    let hours = prop_oneof![Just("*".to_string()), (0..24u32).prop_map(|h| h.to_string()), (0..24u32, 0..24u32).prop_map(|(a, b)| format!("{a}-{b}")), (0..24u32, 0..24u32).prop_map(|(a, b)| format!("{a},{b}"))];
    let days = prop_oneof![
        Just("* ?".to_string()),
        Just("? *".to_string()),
        (1..8u32, 1..8u32).prop_map(|(a, b)| format!("? {a}-{b}")),
        (1..8u32).prop_map(|w| format!("? {w}L")),
        (1..8u32, 1..5u32).prop_map(|(w, k)| format!("? {w}#{k}")),
        (1..29u32).prop_map(|d| format!("{d}W ?")),
        Just("L ?".to_string()),
        Just("LW ?".to_string()),
        (1..32u32, 1..10u32).prop_map(|(d, s)| format!("{d}/{s} ?")),
    ];
    (minutes, hours, days).prop_map(|(m, h, d)| {
        let (dom, dow) = d.split_once(' ').unwrap();
        format!("cron({m} {h} {dom} * {dow} *)")
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// The next times are strictly increasing and are exactly the minutes a brute-force scan
    /// finds: each minute whose civil time in the zone matches, at that civil time's first
    /// occurrence.
    #[test]
    fn next_times_match_a_minute_scan(expression in frequent_cron(), zone in prop::sample::select(&ZONES[..]), start_minute in 0i64..(3 * 366 * 24 * 60)) {
        let schedule = schedule(&expression, zone);
        let Expression::Cron(cron) = &schedule.expression else { unreachable!() };
        let from = at("2024-01-01T00:00:00Z") + start_minute * 60 + 17;
        let window = 40 * 24 * 60;
        let scanned: Vec<i64> = (1..=window).map(|m| (from / 60 + m) * 60).filter(|t| {
            let civil = schedule.time_zone.to_datetime(Timestamp::from_second(*t).unwrap());
            cron.fires_at(civil) && super::super::cron::first_instant(civil, &schedule.time_zone) == Timestamp::from_second(*t).ok()
        }).take(20).collect();
        let next: Vec<i64> = std::iter::successors(schedule.next_after(from), |t| schedule.next_after(*t))
            .take_while(|t| *t <= (from / 60 + window) * 60).take(20).collect();
        prop_assert!(next.windows(2).all(|w| w[0] < w[1]));
        prop_assert_eq!(next, scanned, "{} in {}", expression, zone);
    }

    /// What the parser reads, the CRD's pattern admits at apply time, so no schedule that
    /// would run is refused by `kubectl apply`.
    #[test]
    fn the_crd_pattern_admits_what_the_parser_reads(expression in prop_oneof![
        frequent_cron(),
        (1u32..500, prop::sample::select(vec!["minute", "hour", "day"])).prop_map(|(v, u)| if v == 1 { format!("rate(1 {u})") } else { format!("rate({v} {u}s)") }),
        (1970i32..2199, 1u32..13, 1u32..29, 0u32..24, 0u32..60).prop_map(|(y, mo, d, h, mi)| format!("at({y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:00)")),
    ]) {
        prop_assert!(Expression::parse(&expression).is_ok(), "{}", expression);
        let pattern = regex::Regex::new(&crate::api::schedule_expression_pattern()).unwrap();
        prop_assert!(pattern.is_match(&expression), "{}", expression);
    }

    /// A rate schedule fires every period from its anchor, never twice for one time.
    #[test]
    fn rate_times_are_the_anchor_plus_whole_periods(minutes in 1i64..10_000, anchor in 0i64..2_000_000_000, after in 0i64..2_000_000_000) {
        let rate = Schedule { expression: Expression::Rate(minutes * 60), time_zone: TimeZone::UTC, start: None, end: None, anchor };
        let next = rate.next_after(after).unwrap();
        prop_assert!(next > after && next >= anchor && (next - anchor) % (minutes * 60) == 0);
        prop_assert!(next - minutes * 60 <= after || next == anchor);
    }
}
