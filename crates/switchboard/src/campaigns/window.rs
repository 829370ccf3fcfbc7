//! A campaign's daily send window: messages are created only between `start` and `end` on the
//! workspace's clock (its time zone setting); outside it the campaign waits, running, for the next
//! opening. `end` before `start` spans midnight (`22:00`–`06:00`).

use chrono::{DateTime, Duration, NaiveTime, TimeZone as _, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::TimeZone;

/// `HH:MM`, 24-hour clock, the workspace's time zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendWindow {
    pub start: String,
    pub end: String,
}

fn time(s: &str) -> Option<NaiveTime> {
    let t = NaiveTime::parse_from_str(s.trim(), "%H:%M").ok()?;
    (s.trim().len() == 5).then_some(t)
}

impl SendWindow {
    /// A campaign's window, as stored (`campaigns.send_window`).
    pub fn of(c: &crate::entities::campaigns::Model) -> Option<Self> {
        c.send_window.clone().and_then(|w| serde_json::from_value(w).ok())
    }

    /// Checks the times: `HH:MM` each, not equal.
    pub fn parse(start: &str, end: &str) -> Result<Self, String> {
        let (Some(a), Some(b)) = (time(start), time(end)) else {
            return Err("start and end are times like 09:00 and 20:00".into());
        };
        if a == b {
            return Err("start and end must differ (leave the window out to send at any time)".into());
        }
        Ok(Self { start: a.format("%H:%M").to_string(), end: b.format("%H:%M").to_string() })
    }

    fn bounds(&self) -> (NaiveTime, NaiveTime) {
        (time(&self.start).unwrap_or(NaiveTime::MIN), time(&self.end).unwrap_or(NaiveTime::MIN))
    }

    /// Whether `at` is inside the window on `tz`'s clock.
    pub fn contains(&self, tz: TimeZone, at: DateTime<Utc>) -> bool {
        let local = at.with_timezone(&tz.0).time();
        let (a, b) = self.bounds();
        if a < b { local >= a && local < b } else { local >= a || local < b }
    }

    /// When the window next opens after `at` (`at` itself when inside it). A start that does not
    /// exist that day (skipped by a daylight-saving change) opens at the first minute after it.
    pub fn next_open(&self, tz: TimeZone, at: DateTime<Utc>) -> DateTime<Utc> {
        if self.contains(tz, at) {
            return at;
        }
        let (a, _) = self.bounds();
        let today = at.with_timezone(&tz.0).date_naive();
        for day in 0..3 {
            let date = today + Duration::days(day);
            let mut t = date.and_time(a);
            for _ in 0..180 {
                if let Some(open) = tz.0.from_local_datetime(&t).earliest() {
                    let open = open.with_timezone(&Utc);
                    if open > at {
                        return open;
                    }
                    break;
                }
                t += Duration::minutes(1);
            }
        }
        at + Duration::hours(24)
    }

    pub fn describe(&self, tz: TimeZone) -> String {
        format!("{}–{} ({})", self.start, self.end, tz.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn windows_open_and_close_on_the_workspace_clock() {
        let berlin = TimeZone::parse("Europe/Berlin").unwrap();
        let w = SendWindow::parse("09:00", "20:00").unwrap();
        // 07:30 UTC is 08:30 in Berlin in winter: closed, opens at 08:00 UTC.
        assert!(!w.contains(berlin, utc("2026-12-04T07:30:00Z")));
        assert_eq!(w.next_open(berlin, utc("2026-12-04T07:30:00Z")), utc("2026-12-04T08:00:00Z"));
        assert!(w.contains(berlin, utc("2026-12-04T08:00:00Z")));
        assert!(w.contains(berlin, utc("2026-12-04T18:59:00Z")));
        // 20:00 local is closed; the next opening is tomorrow 09:00.
        assert!(!w.contains(berlin, utc("2026-12-04T19:00:00Z")));
        assert_eq!(w.next_open(berlin, utc("2026-12-04T19:00:00Z")), utc("2026-12-05T08:00:00Z"));
        // Summer time: 09:00 in Berlin is 07:00 UTC.
        assert_eq!(w.next_open(berlin, utc("2026-07-01T05:00:00Z")), utc("2026-07-01T07:00:00Z"));
        // Inside: now.
        let now = utc("2026-12-04T12:00:00Z");
        assert_eq!(w.next_open(berlin, now), now);
    }

    #[test]
    fn a_window_may_span_midnight_and_skipped_times_open_after_the_gap() {
        let utc_zone = TimeZone::parse("UTC").unwrap();
        let night = SendWindow::parse("22:00", "06:00").unwrap();
        assert!(night.contains(utc_zone, utc("2026-12-04T23:30:00Z")));
        assert!(night.contains(utc_zone, utc("2026-12-04T05:59:00Z")));
        assert!(!night.contains(utc_zone, utc("2026-12-04T06:00:00Z")));
        assert_eq!(night.next_open(utc_zone, utc("2026-12-04T12:00:00Z")), utc("2026-12-04T22:00:00Z"));
        // Berlin skips 02:00–03:00 on 2026-03-29: a 02:30 start opens at 03:00 local (01:00 UTC).
        let berlin = TimeZone::parse("Europe/Berlin").unwrap();
        let w = SendWindow::parse("02:30", "05:00").unwrap();
        assert_eq!(w.next_open(berlin, utc("2026-03-28T23:00:00Z")), utc("2026-03-29T01:00:00Z"));
    }

    #[test]
    fn bad_windows_are_refused() {
        for (a, b) in [("9:00", "20:00"), ("09:00", "24:00"), ("09:00", "09:00"), ("x", "20:00"), ("09:00:00", "20:00")]
        {
            assert!(SendWindow::parse(a, b).is_err(), "{a}-{b}");
        }
    }
}
