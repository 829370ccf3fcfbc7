//! Simulator configuration: every knob that shapes how the fake Meta behaves.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Durations are written as integer milliseconds in JSON (`/_sim/config`).
pub(crate) mod ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis().min(u128::from(u64::MAX)) as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

/// Delays (after the send was accepted) at which each status webhook becomes due.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct StatusDelays {
    #[serde(with = "ms")]
    pub sent: Duration,
    #[serde(with = "ms")]
    pub delivered: Duration,
    #[serde(with = "ms")]
    pub read: Duration,
}

impl Default for StatusDelays {
    fn default() -> Self {
        Self { sent: Duration::ZERO, delivered: Duration::from_millis(50), read: Duration::from_millis(100) }
    }
}

/// How failed webhook POSTs are retried. Meta retries "immediately, then a few more times with
/// decreasing frequency over the next 7 days". Every nominal delay is multiplied by
/// `time_scale` before sleeping, so `time_scale = 0.001` turns the 7-day schedule into ~10 minutes
/// and a 10 s backoff into 10 ms.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct RetryPolicy {
    /// The first retry follows the failure without waiting (as Meta documents).
    pub first_retry_immediate: bool,
    /// Nominal delay before the first non-immediate retry; doubles after each failure.
    #[serde(with = "ms")]
    pub initial_backoff: Duration,
    /// Upper bound of one nominal backoff.
    #[serde(with = "ms")]
    pub max_backoff: Duration,
    /// Nominal age after which an undelivered POST is dropped (Meta: 7 days).
    #[serde(with = "ms")]
    pub max_age: Duration,
    /// Real sleep = nominal delay × `time_scale`.
    pub time_scale: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            first_retry_immediate: true,
            initial_backoff: Duration::from_secs(10),
            max_backoff: Duration::from_secs(6 * 3600),
            max_age: Duration::from_secs(7 * 24 * 3600),
            time_scale: 1.0,
        }
    }
}

impl RetryPolicy {
    /// Nominal delay before retry number `retry` (1-based).
    pub fn nominal_delay(&self, retry: u32) -> Duration {
        let k = if self.first_retry_immediate {
            if retry <= 1 {
                return Duration::ZERO;
            }
            retry - 2
        } else {
            retry.saturating_sub(1)
        };
        let factor = 2u32.saturating_pow(k.min(30));
        self.initial_backoff.saturating_mul(factor).min(self.max_backoff)
    }

    /// The real time to sleep for a nominal delay.
    pub fn scaled(&self, nominal: Duration) -> Duration {
        if self.time_scale <= 0.0 {
            return Duration::ZERO;
        }
        Duration::from_secs_f64((nominal.as_secs_f64() * self.time_scale).min(1e9))
    }
}

/// The outcome a template review gives.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ReviewOutcome {
    /// `APPROVED`, reason `NONE`.
    Approve,
    /// `REJECTED` with the given reason (e.g. `INVALID_FORMAT`, `PROMOTIONAL`).
    Reject { reason: String },
    /// The template stays `PENDING` for ever (no webhook).
    StayPending,
}

/// The rule deciding template reviews when no per-name outcome is set.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum ReviewRule {
    ApproveAll,
    RejectAll {
        reason: String,
    },
    /// Names containing `pattern` are rejected with `reason`; the others are approved.
    RejectNameContains {
        pattern: String,
        reason: String,
    },
    /// Every template stays PENDING.
    NeverReview,
}

impl Default for ReviewRule {
    fn default() -> Self {
        ReviewRule::RejectNameContains { pattern: "reject".into(), reason: "INVALID_FORMAT".into() }
    }
}

impl ReviewRule {
    pub fn decide(&self, name: &str) -> ReviewOutcome {
        match self {
            ReviewRule::ApproveAll => ReviewOutcome::Approve,
            ReviewRule::RejectAll { reason } => ReviewOutcome::Reject { reason: reason.clone() },
            ReviewRule::RejectNameContains { pattern, reason } => {
                if !pattern.is_empty() && name.contains(pattern.as_str()) {
                    ReviewOutcome::Reject { reason: reason.clone() }
                } else {
                    ReviewOutcome::Approve
                }
            }
            ReviewRule::NeverReview => ReviewOutcome::StayPending,
        }
    }
}

/// Everything that shapes the simulator. `SimConfig::default()` models Meta's documented
/// defaults; `SimConfig::fast()` keeps them but shrinks delays for tests.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct SimConfig {
    /// `false` lifts throughput and pair-rate limits (everything else still applies).
    pub limits_enabled: bool,
    /// Per-number messages per second (Meta: 80 by default). A number may override it.
    pub throughput_mps: u32,
    /// Pair rate: one message to the same user every `pair_rate_interval`…
    #[serde(with = "ms")]
    pub pair_rate_interval: Duration,
    /// …with bursts of up to this many messages (borrowed from the future quota).
    pub pair_rate_burst: u32,
    /// Enforce the customer-service window for non-template messages.
    pub enforce_window: bool,
    /// Length of the customer-service window (24 h).
    #[serde(with = "ms")]
    pub customer_service_window: Duration,
    /// Meta accepts a free-form message outside the window (HTTP 200) and reports 131047 in a
    /// `failed` status webhook. `false` rejects it synchronously with HTTP 400 / 131047 instead.
    pub window_failure_async: bool,
    /// When each status becomes due after an accepted send.
    pub status_delays: StatusDelays,
    /// Probability that the `delivered` status is skipped (delivered and read at once).
    pub delivered_skip_probability: f64,
    /// Probability that a delivered message is also read.
    pub read_probability: f64,
    /// Probability that `read` is emitted before `delivered`.
    pub out_of_order_probability: f64,
    /// Probability that one status of a message is emitted twice.
    pub duplicate_probability: f64,
    /// Maximum number of updates (messages/statuses) in one webhook POST (1..=1000).
    pub webhook_batch_max: usize,
    /// How long due updates may wait for more to fill a batch.
    #[serde(with = "ms")]
    pub webhook_batch_linger: Duration,
    /// Retry schedule of failing webhook POSTs.
    pub webhook_retry: RetryPolicy,
    /// Timeout of one webhook POST.
    #[serde(with = "ms")]
    pub webhook_timeout: Duration,
    /// Maximum concurrent webhook POSTs.
    pub webhook_concurrency: usize,
    /// Validity of a media URL returned by `GET /{media-id}` (Meta: 5 minutes).
    #[serde(with = "ms")]
    pub media_url_ttl: Duration,
    /// Include a `url` in inbound media webhooks (newer Meta payloads do).
    pub inbound_media_url: bool,
    /// Delay between template creation and its review.
    #[serde(with = "ms")]
    pub template_review_delay: Duration,
    /// Rule deciding the review outcome.
    pub template_review: ReviewRule,
    /// Mark-as-read of a message id the number never received fails with code 100 (as Meta).
    pub strict_mark_read: bool,
    /// Newest messages kept per number for `sent_messages` (older ones are forgotten).
    pub max_sent_kept_per_number: usize,
    /// Each new WABA gets Meta's stock `hello_world` (en_US, UTILITY, APPROVED) template.
    pub seed_hello_world: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            limits_enabled: true,
            throughput_mps: 80,
            pair_rate_interval: Duration::from_secs(6),
            pair_rate_burst: 45,
            enforce_window: true,
            customer_service_window: Duration::from_secs(24 * 3600),
            window_failure_async: true,
            status_delays: StatusDelays::default(),
            delivered_skip_probability: 0.0,
            read_probability: 1.0,
            out_of_order_probability: 0.0,
            duplicate_probability: 0.0,
            webhook_batch_max: 1,
            webhook_batch_linger: Duration::ZERO,
            webhook_retry: RetryPolicy::default(),
            webhook_timeout: Duration::from_secs(10),
            webhook_concurrency: 256,
            media_url_ttl: Duration::from_secs(300),
            inbound_media_url: true,
            template_review_delay: Duration::from_secs(2),
            template_review: ReviewRule::default(),
            strict_mark_read: true,
            max_sent_kept_per_number: 100_000,
            seed_hello_world: true,
        }
    }
}

impl SimConfig {
    /// Defaults with tiny delays, for tests: statuses after 0/5/10 ms, template review after
    /// 20 ms, retry backoff scaled by 1/1000 (10 s → 10 ms), webhook timeout 2 s.
    pub fn fast() -> Self {
        Self {
            status_delays: StatusDelays {
                sent: Duration::ZERO,
                delivered: Duration::from_millis(5),
                read: Duration::from_millis(10),
            },
            template_review_delay: Duration::from_millis(20),
            webhook_retry: RetryPolicy { time_scale: 0.001, ..RetryPolicy::default() },
            webhook_timeout: Duration::from_secs(2),
            ..Self::default()
        }
    }

    /// Clamp values into their valid ranges.
    pub(crate) fn normalized(mut self) -> Self {
        self.webhook_batch_max = self.webhook_batch_max.clamp(1, 1000);
        self.webhook_concurrency = self.webhook_concurrency.max(1);
        self.throughput_mps = self.throughput_mps.max(1);
        self.pair_rate_burst = self.pair_rate_burst.max(1);
        for p in [
            &mut self.delivered_skip_probability,
            &mut self.read_probability,
            &mut self.out_of_order_probability,
            &mut self.duplicate_probability,
        ] {
            *p = if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) };
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tests shrink the limits to stay fast; the defaults are what a user of the binary and
    /// the sandbox get, so they must stay Meta's documented values.
    #[test]
    fn defaults_are_metas_documented_values() {
        let c = SimConfig::default();
        assert!(c.limits_enabled && c.enforce_window);
        assert_eq!(c.throughput_mps, 80, "80 messages/s per number");
        assert_eq!((c.pair_rate_interval, c.pair_rate_burst), (Duration::from_secs(6), 45), "1 per 6 s, burst 45");
        assert_eq!(c.customer_service_window, Duration::from_secs(24 * 3600));
        assert_eq!(c.media_url_ttl, Duration::from_secs(5 * 60));
        assert_eq!(c.webhook_retry.max_age, Duration::from_secs(7 * 24 * 3600));
        assert_eq!(c.webhook_retry.nominal_delay(1), Duration::ZERO, "the first retry is immediate");
        assert!(c.webhook_retry.nominal_delay(3) > c.webhook_retry.nominal_delay(2), "then backs off");
    }
}
