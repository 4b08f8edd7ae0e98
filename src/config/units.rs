//! Durations and byte sizes as Prometheus writes them in its configuration.
//!
//! Owns parsing and canonical printing of `1h30m`-style durations ([`PromDuration`])
//! and `512MB`-style sizes ([`ByteSize`]); knows nothing about the config layout.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer};

const MS_PER_SECOND: u64 = 1_000;
const MS_PER_MINUTE: u64 = 60 * MS_PER_SECOND;
const MS_PER_HOUR: u64 = 60 * MS_PER_MINUTE;
const MS_PER_DAY: u64 = 24 * MS_PER_HOUR;
const MS_PER_WEEK: u64 = 7 * MS_PER_DAY;
const MS_PER_YEAR: u64 = 365 * MS_PER_DAY;

/// Prometheus keeps durations as Go `time.Duration` (signed 64-bit nanoseconds);
/// anything longer is refused, as Prometheus does.
const MAX_DURATION_MS: u64 = i64::MAX as u64 / 1_000_000;

/// Units in the only order Prometheus accepts them, largest first.
const DURATION_UNITS: [(&str, u64); 7] = [
    ("y", MS_PER_YEAR),
    ("w", MS_PER_WEEK),
    ("d", MS_PER_DAY),
    ("h", MS_PER_HOUR),
    ("m", MS_PER_MINUTE),
    ("s", MS_PER_SECOND),
    ("ms", 1),
];

/// A non-negative duration with millisecond resolution, written like `1h30m`, `15s` or `0`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PromDuration(u64);

impl PromDuration {
    /// The zero duration (`0s`).
    pub const ZERO: PromDuration = PromDuration(0);

    /// A duration of `ms` milliseconds.
    pub const fn from_millis(ms: u64) -> Self {
        PromDuration(ms)
    }

    /// A duration of `secs` seconds.
    pub const fn from_secs(secs: u64) -> Self {
        PromDuration(secs * MS_PER_SECOND)
    }

    /// Length in milliseconds.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// Whether this is `0s`.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }
}

impl From<PromDuration> for std::time::Duration {
    fn from(d: PromDuration) -> Self {
        std::time::Duration::from_millis(d.0)
    }
}

/// Why a duration or size did not parse; the text is the user-facing message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitError(String);

impl fmt::Display for UnitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UnitError {}

impl FromStr for PromDuration {
    type Err = UnitError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || UnitError(format!("not a valid duration string: {s:?}"));
        match s {
            "" => return Err(UnitError("empty duration string".to_string())),
            "0" => return Ok(PromDuration::ZERO),
            _ => {}
        }
        let mut rest = s;
        let mut total: u64 = 0;
        let mut next_unit = 0;
        while !rest.is_empty() {
            let (number, after_number) = split_number(rest).ok_or_else(invalid)?;
            let (index, unit_ms, after_unit) = take_unit(after_number, next_unit).ok_or_else(invalid)?;
            let ms = number.checked_mul(unit_ms).and_then(|ms| total.checked_add(ms));
            total = ms
                .filter(|&t| t <= MAX_DURATION_MS)
                .ok_or_else(|| UnitError("duration out of range".into()))?;
            next_unit = index + 1;
            rest = after_unit;
        }
        Ok(PromDuration(total))
    }
}

/// Splits a leading run of ASCII digits off `s` and parses it.
fn split_number(s: &str) -> Option<(u64, &str)> {
    let end = s.bytes().position(|b| !b.is_ascii_digit()).unwrap_or(s.len());
    let number = s[..end].parse().ok()?;
    Some((number, &s[end..]))
}

/// Takes the unit at the start of `s`, which must not come before `DURATION_UNITS[first]`.
fn take_unit(s: &str, first: usize) -> Option<(usize, u64, &str)> {
    // A unit must be followed by a digit or the end, so `m` never swallows the `m` of `ms`.
    DURATION_UNITS
        .iter()
        .enumerate()
        .skip(first)
        .find_map(|(index, (name, ms))| {
            let rest = s.strip_prefix(name)?;
            let next_is_digit_or_end = rest.bytes().next().is_none_or(|b| b.is_ascii_digit());
            next_is_digit_or_end.then_some((index, *ms, rest))
        })
}

impl fmt::Display for PromDuration {
    /// Prometheus's canonical form: `0s`, `1h30m`, `2w`; years and weeks only when exact.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("0s");
        }
        let mut left = self.0;
        for (name, unit_ms) in DURATION_UNITS {
            let exact_only = unit_ms >= MS_PER_WEEK;
            if exact_only && !left.is_multiple_of(unit_ms) {
                continue;
            }
            let count = left / unit_ms;
            if count > 0 {
                write!(f, "{count}{name}")?;
                left -= count * unit_ms;
            }
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for PromDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Size units, largest first; each also accepted with an `i` (`MiB`), as Prometheus does.
const SIZE_UNITS: [(&str, u32); 7] = [
    ("EB", 60),
    ("PB", 50),
    ("TB", 40),
    ("GB", 30),
    ("MB", 20),
    ("KB", 10),
    ("B", 0),
];

/// A number of bytes, written with base-1024 units like `512MB` or `1GB`, or `0`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(u64);

impl ByteSize {
    /// Zero bytes; for limits this conventionally means "unlimited".
    pub const ZERO: ByteSize = ByteSize(0);

    /// A size of `bytes` bytes.
    pub const fn from_bytes(bytes: u64) -> Self {
        ByteSize(bytes)
    }

    /// A size of `mib` mebibytes.
    pub const fn from_mib(mib: u64) -> Self {
        ByteSize(mib << 20)
    }

    /// The size in bytes.
    pub const fn bytes(self) -> u64 {
        self.0
    }

    /// Whether this is zero.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }
}

impl FromStr for ByteSize {
    type Err = UnitError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || {
            UnitError(format!(
                "not a valid size: {s:?} (use e.g. 512MB; units B KB MB GB TB PB EB)"
            ))
        };
        if s == "0" {
            return Ok(ByteSize::ZERO);
        }
        let (number, unit) = split_number(s).ok_or_else(invalid)?;
        let shift = size_shift(unit).ok_or_else(invalid)?;
        let bytes = number
            .checked_mul(1 << shift)
            .ok_or_else(|| UnitError(format!("size out of range: {s:?}")))?;
        Ok(ByteSize(bytes))
    }
}

/// The power of two that `unit` (`MB` or `MiB`) stands for.
fn size_shift(unit: &str) -> Option<u32> {
    SIZE_UNITS.iter().find_map(|&(name, shift)| {
        let binary = name.len() == 2 && unit.len() == 3 && unit.starts_with(&name[..1]) && &unit[1..] == "iB";
        (unit == name || binary).then_some(shift)
    })
}

impl fmt::Display for ByteSize {
    /// The largest unit that divides the size exactly, e.g. `64MB`; zero prints as `0B`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let exact = SIZE_UNITS
            .iter()
            .find(|&&(_, shift)| self.0 != 0 && self.0.is_multiple_of(1 << shift));
        match exact {
            Some(&(name, shift)) => write!(f, "{}{name}", self.0 >> shift),
            None => write!(f, "{}B", self.0),
        }
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dur(s: &str) -> Result<u64, String> {
        s.parse::<PromDuration>()
            .map(PromDuration::as_millis)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn parses_every_unit() {
        assert_eq!(dur("5ms"), Ok(5));
        assert_eq!(dur("15s"), Ok(15_000));
        assert_eq!(dur("1m"), Ok(60_000));
        assert_eq!(dur("2h"), Ok(7_200_000));
        assert_eq!(dur("1d"), Ok(86_400_000));
        assert_eq!(dur("1w"), Ok(604_800_000));
        assert_eq!(dur("1y"), Ok(31_536_000_000));
    }

    #[test]
    fn parses_combinations_and_zero() {
        assert_eq!(dur("1h30m"), Ok(5_400_000));
        assert_eq!(dur("1m500ms"), Ok(60_500));
        assert_eq!(
            dur("1y2w3d4h5m6s7ms"),
            Ok(31_536_000_000 + 2 * 604_800_000 + 3 * 86_400_000 + 14_706_007)
        );
        assert_eq!(dur("0"), Ok(0));
        assert_eq!(dur("0s"), Ok(0));
        assert_eq!(dur("90s"), Ok(90_000));
    }

    #[test]
    fn rejects_malformed_durations() {
        assert_eq!(dur(""), Err("empty duration string".to_string()));
        for bad in [
            "1", "1.5s", "-1s", "s", "1x", "1m1h", "1s1s", "1 s", " 1s", "1S", "1mss", "1h30", "0x", "1µs",
        ] {
            assert_eq!(
                dur(bad),
                Err(format!("not a valid duration string: {bad:?}")),
                "{bad}"
            );
        }
    }

    #[test]
    fn rejects_overflowing_durations() {
        assert_eq!(dur("293y"), Err("duration out of range".to_string()));
        assert_eq!(
            dur("99999999999999999999s"),
            Err(format!(
                "not a valid duration string: {:?}",
                "99999999999999999999s"
            ))
        );
        assert!(dur("292y").is_ok());
    }

    #[test]
    fn displays_canonical_form() {
        let cases = [
            ("0", "0s"),
            ("0ms", "0s"),
            ("90s", "1m30s"),
            ("1h30m", "1h30m"),
            ("14d", "2w"),
            ("8d", "8d"),
            ("365d", "1y"),
            ("366d", "366d"),
            ("1500ms", "1s500ms"),
            ("1d1ms", "1d1ms"),
        ];
        for (input, shown) in cases {
            assert_eq!(
                input.parse::<PromDuration>().unwrap().to_string(),
                shown,
                "{input}"
            );
        }
    }

    #[test]
    fn display_round_trips() {
        for ms in [
            1,
            999,
            1_000,
            61_000,
            MS_PER_DAY + 1,
            MS_PER_WEEK * 3,
            MS_PER_YEAR * 2 + 5,
            MAX_DURATION_MS,
        ] {
            let d = PromDuration::from_millis(ms);
            assert_eq!(d.to_string().parse::<PromDuration>(), Ok(d), "{d}");
        }
    }

    #[test]
    fn converts_to_std_duration() {
        let d: std::time::Duration = PromDuration::from_secs(90).into();
        assert_eq!(d, std::time::Duration::from_secs(90));
    }

    fn size(s: &str) -> Result<u64, String> {
        s.parse::<ByteSize>()
            .map(ByteSize::bytes)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn parses_sizes_base_1024() {
        assert_eq!(size("0"), Ok(0));
        assert_eq!(size("0B"), Ok(0));
        assert_eq!(size("100B"), Ok(100));
        assert_eq!(size("1KB"), Ok(1024));
        assert_eq!(size("512MB"), Ok(512 << 20));
        assert_eq!(size("1GB"), Ok(1 << 30));
        assert_eq!(size("2TB"), Ok(2 << 40));
        assert_eq!(size("1PB"), Ok(1 << 50));
        assert_eq!(size("3EB"), Ok(3 << 60));
        assert_eq!(size("64MiB"), Ok(64 << 20));
        assert_eq!(size("1KiB"), Ok(1024));
    }

    #[test]
    fn rejects_malformed_sizes() {
        for bad in [
            "", "1", "MB", "1.5GB", "-1MB", "1mb", "1 MB", "1MBB", "1iB", "1XB", "1GB512MB",
        ] {
            assert!(size(bad).unwrap_err().starts_with("not a valid size"), "{bad}");
        }
        assert_eq!(size("16EB"), Err(format!("size out of range: {:?}", "16EB")));
    }

    #[test]
    fn displays_largest_exact_unit() {
        assert_eq!(ByteSize::ZERO.to_string(), "0B");
        assert_eq!(ByteSize::from_bytes(1023).to_string(), "1023B");
        assert_eq!(ByteSize::from_bytes(1536).to_string(), "1536B");
        assert_eq!(ByteSize::from_mib(64).to_string(), "64MB");
        assert_eq!(ByteSize::from_bytes(1 << 30).to_string(), "1GB");
        assert_eq!(ByteSize::from_bytes(3 << 60).to_string(), "3EB");
    }

    #[test]
    fn deserializes_from_yaml_scalars() {
        let d: PromDuration = serde_saphyr::from_str("1h30m").unwrap();
        assert_eq!(d, PromDuration::from_millis(5_400_000));
        let zero: PromDuration = serde_saphyr::from_str("0").unwrap();
        assert!(zero.is_zero());
        let s: ByteSize = serde_saphyr::from_str("512MB").unwrap();
        assert_eq!(s.bytes(), 512 << 20);
    }
}
