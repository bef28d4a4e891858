//! When rounds happen: a fixed interval on the monotonic clock, or a cron
//! schedule on the UTC wall clock that never fires twice for one step.

use std::time::Duration;

use chrono::{DateTime, Utc};
use croner::parser::{CronParser, Seconds};
use croner::Cron;
use tokio::time::{Interval, MissedTickBehavior};

/// How often rounds happen.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// Every this long, measured on the monotonic clock (a wall-clock jump
    /// changes nothing). The first round starts at once.
    Every(Duration),
    /// On a cron schedule, UTC.
    Cron(CronSchedule),
}

impl Schedule {
    /// The usual time between two rounds: the interval, or the gap between
    /// the schedule's next two fires. Readiness allows two of these.
    pub fn nominal_interval(&self) -> Duration {
        match self {
            Schedule::Every(every) => *every,
            Schedule::Cron(cron) => cron.nominal_interval(now_utc()),
        }
    }

    /// A ticker that waits for the next round.
    pub fn ticker(&self) -> Ticker {
        match self {
            Schedule::Every(every) => {
                let mut interval = tokio::time::interval(*every);
                // A round slower than the interval delays the next; missed
                // ticks are not made up for.
                interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
                Ticker::Every(interval)
            }
            Schedule::Cron(cron) => Ticker::Cron(CronClock::new(cron.clone(), now_utc())),
        }
    }
}

impl std::fmt::Display for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Schedule::Every(every) => write!(f, "every {}", humantime_short(*every)),
            Schedule::Cron(cron) => write!(f, "cron '{}' (UTC)", cron.pattern),
        }
    }
}

fn humantime_short(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        0 => format!("{}ms", d.as_millis()),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// A parsed cron expression: five fields (minute hour day month weekday),
/// or six with leading seconds. Evaluated in UTC.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    cron: Box<Cron>,
    pattern: String,
}

impl CronSchedule {
    /// Parses a cron expression, refusing one that never fires.
    pub fn parse(pattern: &str) -> Result<Self, String> {
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .build()
            .parse(pattern)
            .map_err(|e| {
                format!("'{pattern}' is not a cron schedule ({e}); write e.g. '*/15 * * * *'")
            })?;
        let schedule = Self {
            cron: Box::new(cron),
            pattern: pattern.trim().to_string(),
        };
        if schedule.next_after(now_utc()).is_none() {
            return Err(format!("the cron schedule '{pattern}' never fires"));
        }
        Ok(schedule)
    }

    /// The first fire strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_next_occurrence(&t, false).ok()
    }

    fn nominal_interval(&self, now: DateTime<Utc>) -> Duration {
        let gap = self
            .next_after(now)
            .and_then(|a| Some((a, self.next_after(a)?)))
            .and_then(|(a, b)| (b - a).to_std().ok());
        gap.unwrap_or(Duration::from_secs(3600))
    }
}

/// The longest a cron ticker sleeps before looking at the wall clock again,
/// so a clock that jumps is noticed.
const MAX_NAP: Duration = Duration::from_secs(30);

/// What a [`CronClock`] says to do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Start a round.
    Fire,
    /// Look again after this long.
    Wait(Duration),
}

/// Decides, from the wall clock, when a cron schedule fires.
///
/// It fires when a scheduled time lies between the last time it looked and
/// now, then looks on from now: however far the clock jumps forward (or
/// however long a round took), that is one fire, never a burst of the fires
/// in between. A clock that jumps back starts over from the new time.
#[derive(Debug, Clone)]
pub struct CronClock {
    schedule: CronSchedule,
    last_look: DateTime<Utc>,
}

impl CronClock {
    /// A clock that fires first at the first scheduled time after `now`.
    pub fn new(schedule: CronSchedule, now: DateTime<Utc>) -> Self {
        Self {
            schedule,
            last_look: now,
        }
    }

    /// Fire now, or wait.
    pub fn step(&mut self, now: DateTime<Utc>) -> Step {
        if now < self.last_look {
            // The clock went back: count from the new time.
            self.last_look = now;
        }
        match self.schedule.next_after(self.last_look) {
            Some(next) if next <= now => {
                self.last_look = now;
                Step::Fire
            }
            Some(next) => Step::Wait(
                (next - now)
                    .to_std()
                    .unwrap_or(Duration::ZERO)
                    .clamp(Duration::from_millis(10), MAX_NAP),
            ),
            None => Step::Wait(MAX_NAP),
        }
    }
}

/// Waits for the next round of a [`Schedule`].
#[derive(Debug)]
pub enum Ticker {
    /// A fixed interval on the monotonic clock.
    Every(Interval),
    /// A cron schedule on the wall clock.
    Cron(CronClock),
}

impl Ticker {
    /// Returns when the next round is due.
    pub async fn tick(&mut self) {
        match self {
            Ticker::Every(interval) => {
                interval.tick().await;
            }
            Ticker::Cron(clock) => loop {
                match clock.step(now_utc()) {
                    Step::Fire => return,
                    Step::Wait(d) => tokio::time::sleep(d).await,
                }
            },
        }
    }

    /// After an extra round (a retry once the JobManager came back), counts
    /// the interval from now instead of running another round at once.
    pub fn restart(&mut self) {
        match self {
            Ticker::Every(interval) => interval.reset(),
            Ticker::Cron(clock) => clock.last_look = clock.last_look.max(now_utc()),
        }
    }
}

/// The wall clock, UTC.
pub fn now_utc() -> DateTime<Utc> {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    DateTime::from_timestamp(since_epoch.as_secs() as i64, since_epoch.subsec_nanos())
        .unwrap_or_default()
}

/// Exponential backoff for an unreachable JobManager.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    min: Duration,
    max: Duration,
}

impl Backoff {
    /// Starts at `min`, doubles up to `max`.
    pub fn new(min: Duration, max: Duration) -> Self {
        Self {
            next: min,
            min,
            max: max.max(min),
        }
    }

    /// The wait before the next attempt.
    pub fn next_wait(&mut self) -> Duration {
        let wait = self.next;
        self.next = self.next.saturating_mul(2).min(self.max);
        wait
    }

    /// Back to the shortest wait, after a success.
    pub fn reset(&mut self) {
        self.next = self.min;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, h, m, s).unwrap()
    }

    fn quarter_hours() -> CronSchedule {
        CronSchedule::parse("*/15 * * * *").unwrap()
    }

    #[test]
    fn cron_waits_for_the_next_slot_then_fires_once() {
        let mut clock = CronClock::new(quarter_hours(), at(18, 10, 0));
        assert_eq!(clock.step(at(18, 10, 0)), Step::Wait(MAX_NAP));
        assert_eq!(
            clock.step(at(18, 14, 50)),
            Step::Wait(Duration::from_secs(10))
        );
        assert_eq!(clock.step(at(18, 15, 1)), Step::Fire);
        // Looking again within the same slot does not fire again.
        assert!(matches!(clock.step(at(18, 15, 2)), Step::Wait(_)));
        assert!(matches!(clock.step(at(18, 29, 59)), Step::Wait(_)));
        assert_eq!(clock.step(at(18, 30, 0)), Step::Fire);
    }

    #[test]
    fn a_clock_jumping_forward_fires_once_not_a_burst() {
        let mut clock = CronClock::new(quarter_hours(), at(18, 10, 0));
        // Three hours pass at once (twelve slots): one fire.
        assert_eq!(clock.step(at(21, 10, 0)), Step::Fire);
        assert!(matches!(clock.step(at(21, 10, 1)), Step::Wait(_)));
        assert_eq!(clock.step(at(21, 15, 0)), Step::Fire);
    }

    #[test]
    fn a_clock_jumping_back_does_not_fire_and_counts_from_the_new_time() {
        let mut clock = CronClock::new(quarter_hours(), at(18, 16, 0));
        assert!(matches!(clock.step(at(18, 16, 30)), Step::Wait(_)));
        // Back an hour: 17:16 -> next slot 17:30, not the slots in between.
        assert!(matches!(clock.step(at(17, 16, 30)), Step::Wait(_)));
        assert!(matches!(clock.step(at(17, 29, 0)), Step::Wait(_)));
        assert_eq!(clock.step(at(17, 30, 0)), Step::Fire);
        assert!(matches!(clock.step(at(17, 31, 0)), Step::Wait(_)));
    }

    #[test]
    fn a_slow_round_delays_the_next_fire_by_one_only() {
        let mut clock = CronClock::new(quarter_hours(), at(18, 14, 0));
        assert_eq!(clock.step(at(18, 15, 0)), Step::Fire);
        // The round took 40 minutes: two slots passed, one fire follows.
        assert_eq!(clock.step(at(18, 55, 0)), Step::Fire);
        assert!(matches!(clock.step(at(18, 55, 1)), Step::Wait(_)));
    }

    #[test]
    fn cron_patterns_are_validated() {
        assert!(CronSchedule::parse("*/15 * * * *").is_ok());
        assert!(
            CronSchedule::parse("*/5 * * * * *").is_ok(),
            "seconds allowed"
        );
        let err = CronSchedule::parse("every 15 minutes").unwrap_err();
        assert!(err.contains("*/15 * * * *"), "{err}");
        assert!(CronSchedule::parse("0 0 30 2 *").is_err(), "February 30th");
        assert!(CronSchedule::parse("").is_err());
    }

    #[test]
    fn nominal_intervals() {
        assert_eq!(
            quarter_hours().nominal_interval(at(18, 1, 0)),
            Duration::from_secs(900)
        );
        assert_eq!(
            Schedule::Every(Duration::from_secs(90)).nominal_interval(),
            Duration::from_secs(90)
        );
        assert_eq!(
            Schedule::Cron(quarter_hours()).to_string(),
            "cron '*/15 * * * *' (UTC)"
        );
        assert_eq!(
            Schedule::Every(Duration::from_secs(900)).to_string(),
            "every 15m"
        );
    }

    #[tokio::test]
    async fn huge_durations_do_not_panic() {
        let mut b = Backoff::new(Duration::MAX / 2, Duration::MAX);
        assert_eq!(b.next_wait(), Duration::MAX / 2);
        assert!(b.next_wait() > Duration::MAX / 2);
        assert_eq!(b.next_wait(), Duration::MAX);
        // The first tick is at once; computing the next must not overflow
        // (tokio caps the period itself).
        let mut ticker = Schedule::Every(Duration::MAX).ticker();
        ticker.tick().await;
        ticker.restart();
        let yearly = Schedule::Cron(CronSchedule::parse("0 0 29 2 *").unwrap());
        assert!(yearly.nominal_interval() >= Duration::from_secs(365 * 86400));
        let mut clock = CronClock::new(CronSchedule::parse("0 0 29 2 *").unwrap(), at(18, 0, 0));
        assert_eq!(clock.step(at(18, 0, 1)), Step::Wait(MAX_NAP));
    }

    #[test]
    fn backoff_doubles_up_to_its_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(5));
        let waits: Vec<u64> = (0..5).map(|_| b.next_wait().as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 5, 5]);
        b.reset();
        assert_eq!(b.next_wait(), Duration::from_secs(1));
    }
}
