//! Rate limits and concurrency caps: what a key, a JWT subject or a tool may be asked
//! of upstreams, as configured ([`RateLimit`]) and as counted ([`Limits`]), and the
//! [`Slot`] a request holds among the requests in flight while it runs.

use std::{
    num::NonZeroU32,
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use serde::{Deserialize, Serialize};

use crate::model::FieldError;

/// How much a caller may ask of upstreams: every request that goes to one (tool calls,
/// prompts, resource reads, completions, subscriptions) counts; lists and pings, which
/// the gateway answers itself, do not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// The steady rate (a token bucket refilled at this many per minute).
    #[serde(default)]
    pub requests_per_minute: Option<u32>,
    /// How many may come at once above the steady rate [default: a second's worth, at
    /// least 1].
    #[serde(default)]
    pub burst: Option<u32>,
    /// Requests in flight at once.
    #[serde(default)]
    pub max_concurrent: Option<u32>,
}

/// The state of a [`RateLimit`]: a GCRA bucket and the requests in flight.
#[derive(Debug, Default)]
pub struct Limits {
    bucket: Option<governor::DefaultDirectRateLimiter>,
    max_concurrent: Option<u32>,
    in_flight: AtomicU32,
}

impl Limits {
    /// The state of `limit` (none: no limit), or the field that is wrong
    /// (`rate_limit.<name>`).
    pub fn new(limit: Option<&RateLimit>) -> Result<Self, FieldError> {
        let Some(limit) = limit else {
            return Ok(Self::default());
        };
        let positive = |name: &str, value: Option<u32>| match value {
            Some(0) => Err(FieldError::invalid(
                format!("rate_limit.{name}"),
                "must be at least 1 (leave it out for no limit)",
            )),
            other => Ok(other.and_then(NonZeroU32::new)),
        };
        let per_minute = positive("requests_per_minute", limit.requests_per_minute)?;
        let burst = positive("burst", limit.burst)?;
        let max_concurrent = positive("max_concurrent", limit.max_concurrent)?;
        if burst.is_some() && per_minute.is_none() {
            return Err(FieldError::invalid(
                "rate_limit.burst",
                "needs rate_limit.requests_per_minute",
            ));
        }
        let bucket = per_minute.map(|rate| {
            let second = NonZeroU32::new(rate.get().div_ceil(60)).unwrap_or(rate);
            let quota = governor::Quota::per_minute(rate).allow_burst(burst.unwrap_or(second));
            governor::RateLimiter::direct(quota)
        });
        Ok(Self {
            bucket,
            max_concurrent: max_concurrent.map(|n| n.get()),
            in_flight: AtomicU32::new(0),
        })
    }

    /// Lets one request through, or says when to retry.
    pub fn admit(self: &Arc<Self>) -> Result<Slot, Limited> {
        if let Some(cap) = self.max_concurrent {
            let before = self.in_flight.fetch_add(1, Ordering::Relaxed);
            if before >= cap {
                self.in_flight.fetch_sub(1, Ordering::Relaxed);
                return Err(Limited {
                    retry_after: Duration::from_secs(1),
                    limit: "max_concurrent",
                    whose: "caller",
                });
            }
        } else {
            self.in_flight.fetch_add(1, Ordering::Relaxed);
        }
        let slot = Slot(self.clone());
        if let Some(bucket) = &self.bucket
            && let Err(not_until) = bucket.check()
        {
            use governor::clock::{Clock, DefaultClock};
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            return Err(Limited {
                retry_after: wait.max(Duration::from_millis(1)),
                limit: "requests_per_minute",
                whose: "caller",
            });
        }
        Ok(slot)
    }
}

/// A request's place among the requests in flight of one [`Limits`], until dropped.
#[must_use = "the request counts as in flight while this is held"]
#[derive(Debug)]
pub struct Slot(Arc<Limits>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A request refused by its caller's limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limited {
    /// When a retry may succeed.
    pub retry_after: Duration,
    /// What was exceeded: `requests_per_minute` or `max_concurrent`.
    pub limit: &'static str,
    /// Whose limit: the `caller`'s (its key or JWT subject) or the `tool`'s.
    pub whose: &'static str,
}

impl std::fmt::Display for Limited {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "rate limited: the {}'s {} is reached; retry in {:.1} s",
            self.whose,
            self.limit,
            self.retry_after.as_secs_f64()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(rate_limit: serde_json::Value) -> Result<Arc<Limits>, FieldError> {
        let limit: RateLimit = serde_json::from_value(rate_limit).unwrap();
        Limits::new(Some(&limit)).map(Arc::new)
    }

    #[test]
    fn a_bucket_lets_its_burst_through_then_says_when() {
        let limits = limits(serde_json::json!({"requests_per_minute": 60, "burst": 3})).unwrap();
        for _ in 0..3 {
            drop(limits.admit().expect("within the burst"));
        }
        let refused = limits.admit().unwrap_err();
        assert_eq!(refused.limit, "requests_per_minute");
        assert!(
            refused.retry_after > Duration::ZERO && refused.retry_after <= Duration::from_secs(1),
            "{refused:?}"
        );
    }

    #[test]
    fn the_concurrency_cap_counts_requests_in_flight() {
        let limits = limits(serde_json::json!({"max_concurrent": 2})).unwrap();
        let first = limits.admit().unwrap();
        let second = limits.admit().unwrap();
        assert_eq!(limits.admit().unwrap_err().limit, "max_concurrent");
        drop(first);
        let third = limits.admit().expect("a place was freed");
        drop((second, third));
        assert!(limits.admit().is_ok());
    }

    #[test]
    fn limits_are_checked() {
        let field = |limit| limits(limit).expect_err("refused").field;
        assert_eq!(
            field(serde_json::json!({"requests_per_minute": 0})),
            "rate_limit.requests_per_minute"
        );
        assert_eq!(field(serde_json::json!({"burst": 5})), "rate_limit.burst");
        assert_eq!(
            field(serde_json::json!({"max_concurrent": 0})),
            "rate_limit.max_concurrent"
        );
        assert!(serde_json::from_value::<RateLimit>(serde_json::json!({"per_hour": 5})).is_err());
    }
}
