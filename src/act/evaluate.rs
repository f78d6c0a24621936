//! One evaluation: read Claude Code's settings and the usage state, resolve the run's model
//! family, and decide. The guard evaluates once before a start, and again after each wait.

use std::time::Instant;

use chrono::{DateTime, Utc};

use crate::core::decide::{self, Decision};
use crate::core::forecast::BucketForecast;
use crate::core::model::{self, ClaudeArgs, ModelChoice};
use crate::core::plan;
use crate::core::policy::Policy;
use crate::core::snapshot::Snapshot;
use crate::state::sources::{self, Attempt, Loaded, SourceConfig};
use crate::state::{claude_files, history};

/// One evaluation: what was read and what was decided.
pub struct Evaluation {
    /// The decision.
    pub decision: Decision,
    /// The snapshot (`None` when plan limits do not apply and nothing was read).
    pub snapshot: Option<Snapshot>,
    /// The run's model.
    pub model: ModelChoice,
    /// The time it was evaluated at.
    pub now: DateTime<Utc>,
    /// Each source's turn (empty when nothing was read).
    pub attempts: Vec<Attempt>,
    /// Notes for stderr that are not about the decision (a usage history that cannot be
    /// written or read).
    pub notes: Vec<String>,
}

/// The inputs that stay the same across re-evaluations while waiting.
#[derive(Clone)]
pub struct Inputs<'a> {
    /// Which sources to read, and their options.
    pub sources: &'a SourceConfig,
    /// `--refresh`: the first read skips the cached copies.
    pub refresh: bool,
    /// The policy.
    pub policy: Policy,
    /// What claude's argv says.
    pub claude_args: ClaudeArgs,
    /// `--model` of check/status/wait.
    pub explicit_model: Option<&'a str>,
    /// Whether claude's stdout will be a terminal (`run`: the guard's own stdout, which claude
    /// inherits; the gates: `true`, as they name no claude command line). Without one,
    /// `ANTHROPIC_API_KEY` wins over the plan.
    pub stdout_tty: bool,
    /// Where `--now` started and when, so waiting advances from it in real time.
    pub clock: Clock,
    /// Forecast the buckets (read the usage history) even without `--needs`: for `status`
    /// and `--json`.
    pub forecast: bool,
}

/// "Now": the real clock, or `--now` advanced by real elapsed time.
#[derive(Clone, Copy)]
pub struct Clock {
    base: Option<DateTime<Utc>>,
    started: Instant,
}

impl Clock {
    /// A clock starting at `--now` (or the real time when `None`).
    pub fn new(base: Option<DateTime<Utc>>) -> Self {
        Clock {
            base,
            started: Instant::now(),
        }
    }

    /// The current time.
    pub fn now(&self) -> DateTime<Utc> {
        match self.base {
            Some(base) => {
                base + chrono::Duration::from_std(self.started.elapsed()).unwrap_or_default()
            }
            None => Utc::now(),
        }
    }
}

/// An environment variable as text (`None` when unset or not UTF-8).
pub fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Reads the snapshot through the source chain (`--source`, DESIGN.md "Snapshot sources"):
/// `refresh` skips the cached copies and fetches (recorded back-offs still hold); `family`
/// picks the buckets that set the cache TTL.
pub fn load_snapshot(
    config: &SourceConfig,
    now: DateTime<Utc>,
    family: model::Family,
    refresh: bool,
) -> Loaded {
    sources::load(&sources::Request {
        config,
        now,
        family,
        refresh,
    })
}

/// Reads Claude Code's settings and the main-thread agent (as claude's argv and
/// `--setting-sources` say) and resolves the run's model; also returns the settings read,
/// highest precedence first, for the plan-limits check.
pub fn resolve_model(
    explicit: Option<&str>,
    args: &ClaudeArgs,
) -> (ModelChoice, Vec<(String, serde_json::Value)>) {
    let settings = claude_files::load_settings(args);
    let agent = claude_files::load_agent(args, &settings);
    let choice = model::resolve(&model::Inputs {
        explicit,
        args,
        env: &env_var,
        settings: &settings,
        agent: agent.as_ref(),
    });
    (choice, settings)
}

/// `customApiKeyResponses.approved`, read only when it can matter: `ANTHROPIC_API_KEY` is set
/// and the run is interactive (else the key wins, or is absent, whatever the config says).
fn approved_api_keys(args: &ClaudeArgs, stdout_tty: bool) -> Vec<String> {
    if env_var("ANTHROPIC_API_KEY").is_some_and(|k| !k.is_empty())
        && !plan::non_interactive(args, stdout_tty)
    {
        claude_files::approved_api_keys()
    } else {
        vec![]
    }
}

/// Reads the state and decides, at `inputs.clock.now()` (`--refresh` bypasses the caches).
pub fn evaluate(inputs: &Inputs) -> Evaluation {
    evaluate_with(inputs, inputs.refresh)
}

/// [`evaluate`], with `refresh` forcing a fetch past the caches (the wait loop's re-read).
pub fn evaluate_with(inputs: &Inputs, refresh: bool) -> Evaluation {
    let now = inputs.clock.now();
    let (model, settings) = resolve_model(inputs.explicit_model, &inputs.claude_args);
    if let Some(why) = plan::not_applicable(
        &env_var,
        &inputs.claude_args,
        &settings,
        inputs.stdout_tty,
        &approved_api_keys(&inputs.claude_args, inputs.stdout_tty),
    ) {
        return Evaluation {
            decision: Decision::plan_limits_off(why),
            snapshot: None,
            model,
            now,
            attempts: vec![],
            notes: vec![],
        };
    }
    let loaded = load_snapshot(inputs.sources, now, model.family, refresh);
    let mut notes = loaded.notes;
    let mut decision = decide::decide(&loaded.snapshot, &inputs.policy, model.family, now);
    if inputs.forecast || inputs.policy.needs.is_some() {
        let (forecast, note) = forecast(&loaded.snapshot, &decision, &inputs.policy, now);
        notes.extend(note);
        decision = decide::apply_needs(decision, forecast, &inputs.policy, now);
    }
    Evaluation {
        decision,
        snapshot: Some(loaded.snapshot),
        model,
        now,
        attempts: loaded.attempts,
        notes,
    }
}

/// The forecast of each bucket the decision forecasts ([`decide::forecast_targets`]), from
/// the usage history of the snapshot's account, projected to `--max-utilization`; a note
/// when the history cannot be read.
pub fn forecast(
    snapshot: &Snapshot,
    decision: &Decision,
    policy: &Policy,
    now: DateTime<Utc>,
) -> (Vec<BucketForecast>, Option<String>) {
    let targets: Vec<history::Target> = decide::forecast_targets(decision)
        .map(|v| history::Target {
            bucket: &v.bucket.name,
            kind: &v.bucket.kind,
            current: history::current_reading(snapshot, &v.bucket),
        })
        .collect();
    if targets.is_empty() {
        return (Vec::new(), None);
    }
    history::forecasts(
        &history::account_of(snapshot),
        &targets,
        now,
        policy.max_utilization,
    )
}
