//! Dates of event times as the reference's SQL formats them (`DATE_FORMAT(dateTime,
//! 'yyyy-MM-dd')`, `'HH:mm'`, `HOUR(dateTime)`), in UTC.
//!
//! Results hold the number (a day since the epoch, a minute of the day), which is cheap to
//! compare and hash, and format it only when they are written: no string per record.

use std::fmt;

use spate::checkpoint::StateData;

const MS_PER_DAY: i64 = 86_400_000;

/// A UTC calendar day, as days since 1970-01-01; displays as `yyyy-MM-dd`.
///
/// # Examples
///
/// ```
/// use spate_workloads::nexmark::queries::Day;
/// assert_eq!(Day::of(1_436_918_400_000).to_string(), "2015-07-15");
/// assert_eq!(Day::of(-1).to_string(), "1969-12-31");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Day(pub i64);

impl StateData for Day {
    fn encode(&self, out: &mut Vec<u8>) {
        self.0.encode(out);
    }
    fn decode(input: &mut &[u8]) -> Result<Self, spate::checkpoint::DecodeError> {
        Ok(Day(i64::decode(input)?))
    }
}

impl Day {
    /// The day holding event time `ts` (epoch ms).
    #[inline]
    pub fn of(ts: i64) -> Day {
        Day(ts.div_euclid(MS_PER_DAY))
    }

    /// Year, month (1–12) and day of the month (1–31).
    pub fn ymd(self) -> (i64, u32, u32) {
        civil_from_days(self.0)
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.ymd();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

/// A UTC minute of the day (0–1439); displays as `HH:mm`.
///
/// # Examples
///
/// ```
/// use spate_workloads::nexmark::queries::HourMinute;
/// let t = 1_436_918_400_000 + (13 * 60 + 7) * 60_000 + 59_999;
/// assert_eq!(HourMinute::of(t).to_string(), "13:07");
/// assert_eq!(HourMinute::of(t).hour(), 13);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HourMinute(pub u16);

impl HourMinute {
    /// The minute of the day holding event time `ts` (epoch ms).
    #[inline]
    pub fn of(ts: i64) -> HourMinute {
        HourMinute((ts.rem_euclid(MS_PER_DAY) / 60_000) as u16)
    }

    /// The hour (0–23): the reference's `HOUR(dateTime)`.
    #[inline]
    pub fn hour(self) -> u16 {
        self.0 / 60
    }
}

impl fmt::Display for HourMinute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_minutes_format_like_date_format() {
        assert_eq!(Day(0).to_string(), "1970-01-01");
        assert_eq!(Day::of(951_782_400_000).to_string(), "2000-02-29");
        assert_eq!(Day::of(4_107_542_399_000).to_string(), "2100-02-28");
        assert_eq!(HourMinute::of(0).to_string(), "00:00");
        assert_eq!(HourMinute::of(MS_PER_DAY - 1).to_string(), "23:59");
        assert_eq!(HourMinute::of(-60_000).to_string(), "23:59");
    }
}
