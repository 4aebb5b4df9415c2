//! Times: RFC 3339 with a zone, always. A time without a zone names a different instant
//! in Islamabad and in Washington, so it is refused rather than guessed.

use crate::Error;
use serde::{Serialize, Serializer};
use std::fmt;
use time::format_description::well_known::Rfc3339;
use time::{Date, Month, OffsetDateTime, UtcOffset};

/// An instant, read from RFC 3339 text with a zone and written in UTC (`...Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(OffsetDateTime);

impl Time {
    /// The time now.
    pub fn now() -> Self {
        Time(
            OffsetDateTime::now_utc()
                .replace_nanosecond(0)
                .unwrap_or(OffsetDateTime::now_utc()),
        )
    }

    /// From an `OffsetDateTime`, kept in UTC.
    pub fn from_offset(t: OffsetDateTime) -> Self {
        Time(t.to_offset(UtcOffset::UTC))
    }

    /// From seconds since 1970-01-01T00:00:00Z.
    pub fn from_unix(secs: i64) -> Result<Self, Error> {
        OffsetDateTime::from_unix_timestamp(secs)
            .map(Time)
            .map_err(|e| Error::Time {
                value: secs.to_string(),
                problem: e.to_string(),
            })
    }

    /// Seconds since 1970-01-01T00:00:00Z.
    pub fn unix(&self) -> i64 {
        self.0.unix_timestamp()
    }

    /// The underlying `OffsetDateTime` (in UTC).
    pub fn as_offset(&self) -> OffsetDateTime {
        self.0
    }

    /// Parse RFC 3339 text (`2023-08-01T00:00:00Z`, `2023-08-01T05:00:00+05:00`).
    /// A time without a zone is refused.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let err = |problem: &str| Error::Time {
            value: text.to_string(),
            problem: problem.to_string(),
        };
        if text.len() > 64 {
            return Err(err("too long"));
        }
        if text.len() == 10 && Date::parse(text, DATE_ONLY).is_ok() {
            return Err(err(
                "a date alone is not a time here; write an RFC 3339 time with a zone such as 2023-08-01T00:00:00Z",
            ));
        }
        let has_zone = text.ends_with('Z')
            || text.ends_with('z')
            || text
                .get(text.len().saturating_sub(6)..)
                .is_some_and(|tail| tail.starts_with('+') || tail.starts_with('-'));
        if !has_zone {
            return Err(err(
                "no zone; RFC 3339 with a zone (Z or +hh:mm) is required, such as 2023-08-01T00:00:00Z",
            ));
        }
        OffsetDateTime::parse(text, &Rfc3339)
            .map(Time::from_offset)
            .map_err(|e| err(&format!("not an RFC 3339 time ({e})")))
    }

    /// Parse a command-line time: RFC 3339 with a zone, or a bare date `YYYY-MM-DD`
    /// meaning 00:00:00Z that day.
    pub fn parse_time_or_date(text: &str) -> Result<Self, Error> {
        if text.len() == 10 {
            if let Ok(date) = Date::parse(text, DATE_ONLY) {
                return Ok(Time(date.midnight().assume_utc()));
            }
        }
        Time::parse(text)
    }

    /// This time plus whole calendar years (29 February becomes 28 February in a
    /// year that has none).
    pub fn plus_years(&self, years: u32) -> Result<Self, Error> {
        let t = self.0;
        let year = t.year() + i32::try_from(years).unwrap_or(i32::MAX);
        let day =
            if t.month() == Month::February && t.day() == 29 && !time::util::is_leap_year(year) {
                28
            } else {
                t.day()
            };
        Date::from_calendar_date(year, t.month(), day)
            .map(|d| Time(d.with_time(t.time()).assume_utc()))
            .map_err(|e| Error::Time {
                value: format!("{self} + {years} years"),
                problem: e.to_string(),
            })
    }
}

const DATE_ONLY: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.format(&Rfc3339) {
            Ok(s) => f.write_str(&s),
            Err(_) => write!(f, "{}", self.0.unix_timestamp()),
        }
    }
}

impl Serialize for Time {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_required() {
        assert!(Time::parse("2023-08-01T00:00:00").is_err());
        assert!(Time::parse("2023-08-01 00:00:00").is_err());
        assert!(Time::parse("2023-08-01").is_err());
        let t = Time::parse("2023-08-01T05:00:00+05:00").unwrap();
        assert_eq!(t.to_string(), "2023-08-01T00:00:00Z");
        assert_eq!(Time::parse("2023-08-01T00:00:00Z").unwrap(), t);
    }

    #[test]
    fn date_means_midnight_utc_on_the_command_line() {
        let t = Time::parse_time_or_date("2023-08-01").unwrap();
        assert_eq!(t.to_string(), "2023-08-01T00:00:00Z");
        assert!(Time::parse_time_or_date("2023-08-01T00:00:00").is_err());
        assert!(Time::parse_time_or_date("2023-13-01").is_err());
    }

    #[test]
    fn years_are_calendar_years() {
        let t = Time::parse("2005-10-01T00:00:00Z").unwrap();
        assert_eq!(
            t.plus_years(15).unwrap().to_string(),
            "2020-10-01T00:00:00Z"
        );
        let leap = Time::parse("2024-02-29T12:00:00Z").unwrap();
        assert_eq!(
            leap.plus_years(1).unwrap().to_string(),
            "2025-02-28T12:00:00Z"
        );
    }
}
