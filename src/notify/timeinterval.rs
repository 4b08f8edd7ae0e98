//! Named time intervals (`time_intervals`, `mute_time_intervals`): whether a
//! moment falls in one, as Alertmanager's `timeinterval` package decides.

use chrono::{DateTime, Datelike, Local, NaiveDateTime, Timelike, Utc};

use crate::config::alerting::{TimeLocation, TimePeriod};

/// Whether `now` falls in any of `periods`.
pub fn contains(periods: &[TimePeriod], now: DateTime<Utc>) -> bool {
    periods.iter().any(|period| period_contains(period, now))
}

fn period_contains(period: &TimePeriod, now: DateTime<Utc>) -> bool {
    let local: NaiveDateTime = match period.location {
        Some(TimeLocation::Local) => now.with_timezone(&Local).naive_local(),
        Some(TimeLocation::Utc) | None => now.naive_utc(),
    };
    let minute = local.hour() * 60 + local.minute();
    let times = period.times.is_empty()
        || period
            .times
            .iter()
            .any(|t| t.start_minute <= minute && minute < t.end_minute);
    let weekday = local.weekday().num_days_from_sunday();
    let weekdays = in_ranges(&period.weekdays, weekday);
    let month_days = period.days_of_month.is_empty()
        || period
            .days_of_month
            .iter()
            .any(|&(start, end)| day_in_range(start, end, &local));
    let months = in_ranges(&period.months, local.month());
    let years = in_ranges(&period.years, local.year());
    times && weekdays && month_days && months && years
}

fn in_ranges<T: PartialOrd + Copy>(ranges: &[(T, T)], value: T) -> bool {
    ranges.is_empty() || ranges.iter().any(|&(start, end)| start <= value && value <= end)
}

/// Negative days count back from the month's last day (`-1` is the last).
fn day_in_range(start: i32, end: i32, local: &NaiveDateTime) -> bool {
    let days_in_month = days_in_month(local.year(), local.month());
    let resolve = |day: i32| if day < 0 { days_in_month + day + 1 } else { day };
    let (start, end) = (resolve(start).max(1), resolve(end).min(days_in_month));
    let day = local.day() as i32;
    start <= day && day <= end
}

fn days_in_month(year: i32, month: u32) -> i32 {
    let (next_year, next_month) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    chrono::NaiveDate::from_ymd_opt(next_year, next_month, 1)
        .and_then(|first| first.pred_opt())
        .map_or(31, |last| last.day() as i32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::alerting::NamedTimeInterval;

    fn interval(yaml: &str) -> Vec<TimePeriod> {
        let named: NamedTimeInterval = serde_saphyr::from_str(yaml).unwrap();
        named.time_intervals
    }

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn business_hours() {
        let periods = interval(
            "name: office\ntime_intervals:\n  - weekdays: ['monday:friday']\n    times: [{start_time: '09:00', end_time: '17:00'}]\n",
        );
        // 2024-03-01 is a Friday, 2024-03-02 a Saturday.
        assert!(contains(&periods, at("2024-03-01T09:00:00Z")));
        assert!(!contains(&periods, at("2024-03-01T17:00:00Z")));
        assert!(!contains(&periods, at("2024-03-02T10:00:00Z")));
    }

    #[test]
    fn last_days_of_the_month() {
        let periods =
            interval("name: eom\ntime_intervals:\n  - days_of_month: ['-2:-1']\n    months: [february]\n");
        assert!(contains(&periods, at("2024-02-28T00:00:00Z")));
        assert!(contains(&periods, at("2024-02-29T23:59:00Z")));
        assert!(!contains(&periods, at("2024-02-27T12:00:00Z")));
        assert!(!contains(&periods, at("2024-03-31T12:00:00Z")));
    }
}
