//! The validated, clap-free settings that [`crate::core::decide::decide`] applies.

use std::time::Duration;

/// What to do when a pinned bucket could be absorbed by extra usage (`--overage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OverageMode {
    /// Go, billed, with a one-line warning.
    Allow,
    /// Refuse with exit 16 rather than bill.
    Refuse,
}

/// What to do when the state is unknown (`--on-unknown`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnUnknown {
    /// Go anyway and warn once (default for `run`).
    Allow,
    /// Exit 20 (default for `check` and `wait`).
    Refuse,
}

/// Sleep-until-reset settings (`--wait`, `--max-wait`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitPolicy {
    /// The longest wait accepted; a later reset refuses at once with exit 19.
    pub max_wait: Duration,
}

/// Everything `decide` needs besides the snapshot, the model family and `now`.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// A go needs a snapshot younger than this (`--max-age`, default 1 h).
    pub max_age: Duration,
    /// Soft threshold in percent, 0–100 (`--max-utilization`, default 100): a go refuses with
    /// 18 when an applicable bucket is at or above it.
    pub max_utilization: f64,
    /// `--overage`.
    pub overage: OverageMode,
    /// `--on-unknown`.
    pub on_unknown: OnUnknown,
    /// Added to a reset time before the state is read again (`--grace`, default 60 s).
    pub grace: Duration,
    /// `Some` when the caller will wait (`run --wait`, `wait`): enables the `--max-wait` rule.
    pub wait: Option<WaitPolicy>,
    /// `true` when `now` is an explicit `--now` (a replay): a snapshot fetched after it counts
    /// as age 0. `false` on the real clock: a `fetched_at` more than
    /// [`crate::core::decide::MAX_CLOCK_SKEW`] ahead makes the state unknown.
    pub replay: bool,
    /// `--needs DUR`: how long the job will run; a go refuses with 21 when an applicable
    /// bucket is projected to reach its limit within it (and before its reset).
    pub needs: Option<Duration>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            max_age: Duration::from_secs(3600),
            max_utilization: 100.0,
            overage: OverageMode::Allow,
            on_unknown: OnUnknown::Refuse,
            grace: Duration::from_secs(60),
            wait: None,
            replay: false,
            needs: None,
        }
    }
}
