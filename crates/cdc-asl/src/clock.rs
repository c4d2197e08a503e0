//! Time as the interpreter sees it. Wait states, retry intervals and
//! timeouts all go through a [`Clock`], so tests and the demo can run on a
//! [`VirtualClock`] that never sleeps.

use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// The interpreter's source of time.
#[async_trait]
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;

    /// Returns once the clock reads `deadline` or later.
    async fn sleep_until(&self, deadline: DateTime<Utc>);

    /// True when sleeping does not take real time. Timeouts are then judged
    /// by how far the clock moved while a task ran, instead of by a timer
    /// racing the task (a timer on such a clock would fire at once).
    fn is_virtual(&self) -> bool {
        false
    }
}

/// The system's wall clock; sleeps are real (tokio timers).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

#[async_trait]
impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    async fn sleep_until(&self, deadline: DateTime<Utc>) {
        if let Ok(duration) = (deadline - Utc::now()).to_std() {
            tokio::time::sleep(duration).await;
        }
    }
}

/// A clock that only moves when told to. `sleep_until` returns at once and
/// moves the time to `max(now, deadline)`, so a Wait of a day takes no time.
///
/// All branches of an execution share the one clock: a sleep in one Map
/// iteration moves time forward for its siblings too. A task handler can
/// make a task "take" time by calling [`VirtualClock::advance`] (or
/// `sleep_until`) on the same clock; that is how a Task timeout is reached.
#[derive(Debug)]
pub struct VirtualClock {
    now: Mutex<DateTime<Utc>>,
}

impl VirtualClock {
    /// A clock that reads `start` until moved.
    pub fn new(start: DateTime<Utc>) -> Self {
        VirtualClock { now: Mutex::new(start) }
    }

    /// Moves the time forward by `duration` (a negative duration is ignored).
    pub fn advance(&self, duration: chrono::TimeDelta) {
        let mut now = self.now.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if duration > chrono::TimeDelta::zero() {
            *now += duration;
        }
    }

    fn move_to(&self, time: DateTime<Utc>) {
        let mut now = self.now.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if time > *now {
            *now = time;
        }
    }
}

#[async_trait]
impl Clock for VirtualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn sleep_until(&self, deadline: DateTime<Utc>) {
        self.move_to(deadline);
        // Let concurrent branches run, as a real sleep would.
        tokio::task::yield_now().await;
    }

    fn is_virtual(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    #[tokio::test]
    async fn virtual_sleep_moves_time_forward_only() {
        // GIVEN a virtual clock at t0
        let t0 = DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z").map(|t| t.with_timezone(&Utc)).expect("valid");
        let clock = VirtualClock::new(t0);
        // WHEN it sleeps a day THEN it reads a day later, at once
        clock.sleep_until(t0 + TimeDelta::days(1)).await;
        assert_eq!(clock.now(), t0 + TimeDelta::days(1));
        // WHEN it sleeps until an earlier time THEN it does not go back
        clock.sleep_until(t0).await;
        assert_eq!(clock.now(), t0 + TimeDelta::days(1));
        clock.advance(TimeDelta::seconds(5));
        assert_eq!(clock.now(), t0 + TimeDelta::days(1) + TimeDelta::seconds(5));
        assert!(clock.is_virtual());
        assert!(!SystemClock.is_virtual());
    }

    #[tokio::test]
    async fn system_clock_sleeps_for_real() {
        // GIVEN the system clock WHEN it sleeps 30 ms THEN about 30 ms pass
        let start = std::time::Instant::now();
        SystemClock.sleep_until(SystemClock.now() + TimeDelta::milliseconds(30)).await;
        assert!(start.elapsed() >= std::time::Duration::from_millis(25));
    }
}
