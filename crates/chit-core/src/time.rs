//! Ledger time: nanoseconds since the Unix epoch, as TigerBeetle counts it. Reading the clock is
//! I/O and lives outside this crate; this is only the value, and the calendar text forms people
//! read and type (UTC; [`show_utc`], [`iso8601`], [`parse_time`]).

use std::fmt;

/// A point in time, nanoseconds since 1970-01-01 UTC. Fits an `i64` until the year 2262.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Timestamp(u64);

/// Largest timestamp storable in an `i64` column.
pub const TIMESTAMP_MAX: u64 = i64::MAX as u64;

impl Timestamp {
    pub const fn from_nanos(nanos: u64) -> Self {
        Self(nanos)
    }

    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    pub fn from_secs(secs: u64) -> Self {
        Self(secs.saturating_mul(1_000_000_000))
    }

    /// This time plus `nanos`, or `None` past [`TIMESTAMP_MAX`].
    pub fn checked_add_nanos(self, nanos: u64) -> Option<Self> {
        self.0
            .checked_add(nanos)
            .filter(|t| *t <= TIMESTAMP_MAX)
            .map(Self)
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({})", self.0)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Days since 1970-01-01 → (year, month, day) (Howard Hinnant's civil calendar algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// (year, month, day) → days since 1970-01-01.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn fields(ms: u64) -> (i64, i64, i64, u64, u64, u64) {
    let secs = ms / 1000;
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    (y, m, d, rest / 3600, rest % 3600 / 60, rest % 60)
}

/// `2026-11-23 12:30:05 UTC`, for people.
pub fn show_utc(ms: u64) -> String {
    let (y, m, d, h, min, s) = fields(ms);
    format!("{y:04}-{m:02}-{d:02} {h:02}:{min:02}:{s:02} UTC")
}

/// `2026-11-23T12:30:05+00:00`: ISO 8601 with its offset, for files (CSV, JSON exports).
pub fn iso8601(ms: u64) -> String {
    let (y, m, d, h, min, s) = fields(ms);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}+00:00")
}

/// Why a time did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad time {0:?}: use a date (2026-12-01) or a time with its offset (2026-12-01T09:00Z, 2026-12-01T10:00+01:00)")]
pub struct TimeError(pub String);

/// Milliseconds since the epoch from `YYYY-MM-DD` (midnight UTC) or
/// `YYYY-MM-DDTHH:MM[:SS]` followed by `Z` or an offset `±HH:MM` (a space may stand for `T`).
/// A time without an offset is refused: it would mean a different moment on every machine.
pub fn parse_time(text: &str) -> Result<u64, TimeError> {
    let bad = || TimeError(text.to_owned());
    let number = |s: &str| -> Result<i64, TimeError> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        s.parse().map_err(|_| bad())
    };
    let (date, time) = match text.split_once(['T', ' ']) {
        Some((date, time)) => (date, Some(time)),
        None => (text, None),
    };
    let d: Vec<&str> = date.split('-').collect();
    let [y, m, day] = d.as_slice() else {
        return Err(bad());
    };
    let (y, m, day) = (number(y)?, number(m)?, number(day)?);
    let month_days = [
        31,
        28 + i64::from(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)),
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1970..=9999).contains(&y)
        || !(1..=12).contains(&m)
        || day < 1
        || day > month_days[(m - 1) as usize]
    {
        return Err(bad());
    }
    let mut secs = days_from_civil(y, m, day) * 86_400;
    if let Some(time) = time {
        let (clock, offset_secs) = if let Some(clock) = time.strip_suffix('Z') {
            (clock, 0)
        } else {
            let at = time.rfind(['+', '-']).ok_or_else(bad)?;
            let (clock, offset) = time.split_at(at);
            let sign = if offset.starts_with('-') { -1 } else { 1 };
            let (oh, om) = offset[1..].split_once(':').ok_or_else(bad)?;
            let (oh, om) = (number(oh)?, number(om)?);
            if oh > 23 || om > 59 {
                return Err(bad());
            }
            (clock, sign * (oh * 3600 + om * 60))
        };
        let hms: Vec<&str> = clock.split(':').collect();
        let (h, min, s) = match hms.as_slice() {
            [h, min] => (number(h)?, number(min)?, 0),
            [h, min, s] => (number(h)?, number(min)?, number(s)?),
            _ => return Err(bad()),
        };
        if h > 23 || min > 59 || s > 59 {
            return Err(bad());
        }
        secs += h * 3600 + min * 60 + s - offset_secs;
    }
    u64::try_from(secs).map(|s| s * 1000).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_and_parse_in_utc() {
        assert_eq!(show_utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(show_utc(1_767_225_600_000), "2026-01-01 00:00:00 UTC");
        assert_eq!(show_utc(951_827_696_000), "2000-02-29 12:34:56 UTC");
        assert_eq!(iso8601(951_827_696_000), "2000-02-29T12:34:56+00:00");
        assert_eq!(parse_time("2026-01-01T00:00Z"), Ok(1_767_225_600_000));
        assert_eq!(parse_time("2026-01-01"), Ok(1_767_225_600_000));
        assert_eq!(parse_time("2000-02-29T12:34:56Z"), Ok(951_827_696_000));
        assert_eq!(parse_time("2000-02-29 13:34:56+01:00"), Ok(951_827_696_000));
        assert_eq!(parse_time("2000-02-29T07:04:56-05:30"), Ok(951_827_696_000));
        assert_eq!(parse_time(&iso8601(951_827_696_000)), Ok(951_827_696_000));
        for bad in [
            "tomorrow",
            "2026-13-01T00:00Z",
            "2026-02-30",
            "2025-02-29",
            "2026-01-01T24:00Z",
            "2026-01-01T00:00",
            "2026-01-01T00:00+25:00",
            "",
            "2026-1-x",
        ] {
            assert!(parse_time(bad).is_err(), "{bad:?}");
        }
    }
}
