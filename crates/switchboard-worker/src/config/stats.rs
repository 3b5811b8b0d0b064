//! `[stats]`: queue statistics and call history (see [`crate::stats`], whose
//! `StatsOptions::from_config` reads this section: configuration imports nothing from the
//! statistics, which depend on the flow, which reads the configuration).

use std::time::Duration;

use serde::Deserialize;
use time::UtcOffset;

use switchboard_core::ConfigError;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
/// `[stats]`: service level, "today", how long finished calls are kept, and where the
/// statistics are served.
pub struct StatsConfig {
    /// A call answered within this many seconds counts toward the service level.
    pub service_level_secs: u64,
    /// Where "today" starts: `UTC` or a fixed offset such as `+01:00` / `-05:00` (no
    /// daylight-saving rules: set the offset in force).
    pub time_zone: String,
    /// Days a finished call's record (the call history, and the statistics' source) is kept.
    pub history_days: u64,
    /// Serve `GET /api/stats` on the worker's status port (`worker.metrics_port`, never the
    /// public ingress port) and refresh the `switchboard_stats_*` gauges there.
    pub api: bool,
    /// Also answer `/api/stats` for clients that are not on this machine. Off by default:
    /// the status port listens on every interface (health probes and Prometheus scrape it
    /// from outside the container), and the statistics name agents.
    pub api_remote: bool,
    /// How often a worker refreshes the statistics gauges.
    pub refresh_secs: u64,
    /// Also serve the live wallboard (`/` and `/api/stats/stream`) on the worker's status
    /// port, under the same loopback rule as `/api/stats` (needs `api`).
    pub wallboard: bool,
}

impl Default for StatsConfig {
    fn default() -> Self {
        Self {
            service_level_secs: 20,
            time_zone: "UTC".into(),
            history_days: 30,
            api: true,
            api_remote: false,
            refresh_secs: 15,
            wallboard: false,
        }
    }
}

impl StatsConfig {
    /// Checks every key (the error names it).
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.offset()?;
        if self.history_days == 0 || self.history_days > 400 {
            return Err(ConfigError::new(
                "stats.history_days",
                "must be between 1 and 400 (the store keeps records at most 400 days)",
            ));
        }
        if self.service_level_secs == 0 || self.service_level_secs > 3600 {
            return Err(ConfigError::new(
                "stats.service_level_secs",
                "must be between 1 and 3600",
            ));
        }
        if self.wallboard && !self.api {
            return Err(ConfigError::new(
                "stats.wallboard",
                "the wallboard is the statistics API's page: it needs stats.api = true",
            ));
        }
        if self.refresh_secs == 0 || self.refresh_secs > 3600 {
            return Err(ConfigError::new(
                "stats.refresh_secs",
                "must be between 1 and 3600",
            ));
        }
        Ok(())
    }

    /// `stats.service_level_secs` as a duration.
    pub fn service_level(&self) -> Duration {
        Duration::from_secs(self.service_level_secs)
    }

    /// `stats.time_zone` as an offset from UTC.
    pub fn offset(&self) -> Result<UtcOffset, ConfigError> {
        parse_offset(&self.time_zone).ok_or_else(|| {
            ConfigError::new(
                "stats.time_zone",
                format!(
                    "{:?} is not `UTC` or an offset like `+01:00` / `-05:30`",
                    self.time_zone
                ),
            )
        })
    }

    /// How long archived call records are kept.
    pub fn history_ttl(&self) -> Duration {
        Duration::from_secs(self.history_days.clamp(1, 400) * 24 * 3600)
    }
}

/// `UTC`, `Z` or `±HH:MM`.
pub fn parse_offset(s: &str) -> Option<UtcOffset> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("utc") || s == "Z" {
        return Some(UtcOffset::UTC);
    }
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1i8, &s[1..]),
        b'-' => (-1i8, &s[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (i8, i8) = (h.parse().ok()?, m.parse().ok()?);
    if !(0..=23).contains(&h) || !(0..=59).contains(&m) {
        return None;
    }
    UtcOffset::from_hms(sign * h, sign * m, 0).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_parse_and_bad_ones_name_the_key() {
        assert_eq!(parse_offset("UTC"), Some(UtcOffset::UTC));
        assert_eq!(
            parse_offset("+01:00"),
            Some(UtcOffset::from_hms(1, 0, 0).unwrap())
        );
        assert_eq!(
            parse_offset("-05:30"),
            Some(UtcOffset::from_hms(-5, -30, 0).unwrap())
        );
        for bad in ["Europe/Paris", "+1", "+24:00", "01:00", ""] {
            assert_eq!(parse_offset(bad), None, "{bad}");
        }
        let c = StatsConfig {
            time_zone: "Mars/Olympus".into(),
            ..StatsConfig::default()
        };
        assert_eq!(c.validate().unwrap_err().key, "stats.time_zone");
        let c = StatsConfig {
            history_days: 0,
            ..StatsConfig::default()
        };
        assert_eq!(c.validate().unwrap_err().key, "stats.history_days");
    }
}
