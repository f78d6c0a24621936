//! The four commands: read the state (I/O), call the pure `decide`, then report and act.

use std::ffi::OsString;
use std::io::Write;
use std::time::Instant;

use anyhow::Result;
use chrono::{DateTime, Utc};

use crate::cli::{
    CheckArgs, Cli, Command, Common, CompletionsArgs, InitArgs, ManArgs, RunArgs, SnapshotArgs,
    WaitArgs, WaitOpts,
};
use crate::decide::{self, Decision, Verdict};
use crate::exit_codes::Exit;
use crate::github::{self, Channel};
use crate::model::{self, ClaudeArgs, ModelChoice};
use crate::policy::{OnUnknown, Policy, WaitPolicy};
use crate::report::{self, Outcome};
use crate::snapshot::Snapshot;
use crate::sources::{self, Attempt, Loaded};
use crate::{claude_files, fallback, launch, plan, shell, wait};

/// Runs the parsed command line; returns the exit status (for `run`, only on refusal or failure).
pub fn dispatch(cli: Cli) -> Result<Exit> {
    match cli.command {
        Command::Run(args) => run(args.0),
        Command::Check(args) => check(args.0),
        Command::Status(args) => status(args.0),
        Command::Wait(args) => wait_cmd(args.0),
        Command::Init(args) => init(args),
        Command::Completions(args) => completions(args),
        Command::Man(args) => man(args),
        Command::Snapshot(args) => snapshot_cmd(args.0),
    }
}

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
}

/// The inputs that stay the same across re-evaluations while waiting.
pub struct Inputs<'a> {
    /// Shared options.
    pub common: &'a Common,
    /// The policy.
    pub policy: Policy,
    /// What claude's argv says.
    pub claude_args: ClaudeArgs,
    /// `--model` of check/status/wait.
    pub explicit_model: Option<&'a str>,
    /// Where `--now` started and when, so waiting advances from it in real time.
    pub clock: Clock,
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

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The settings files that can name a model or an `apiKeyHelper`, highest precedence first,
/// with labels for `--explain`.
fn load_settings(args: &ClaudeArgs) -> Vec<(String, serde_json::Value)> {
    let mut out = Vec::new();
    if let Some(flag) = &args.settings
        && let Some(v) = model::read_flag_settings(flag)
    {
        out.push(("--settings".to_owned(), v));
    }
    let cwd = std::env::current_dir().unwrap_or_default();
    let config_dir = claude_files::config_dir();
    for path in model::SettingsPaths::new(&cwd, config_dir.as_deref()).files {
        if let Some(v) = model::read_settings(&path) {
            out.push((path.display().to_string(), v));
        }
    }
    out
}

/// Reads the snapshot through the source chain (`--source`, DESIGN.md "Snapshot sources"):
/// `refresh` skips the cached copies and fetches (recorded back-offs still hold); `family`
/// picks the buckets that set the cache TTL.
pub fn load_snapshot(
    common: &Common,
    now: DateTime<Utc>,
    family: model::Family,
    refresh: bool,
) -> Loaded {
    sources::load(&sources::Request {
        common,
        now,
        family,
        refresh,
    })
}

/// Reads the state and decides, at `inputs.clock.now()` (`--refresh` bypasses the caches).
pub fn evaluate(inputs: &Inputs) -> Evaluation {
    evaluate_with(inputs, inputs.common.refresh)
}

/// [`evaluate`], with `refresh` forcing a fetch past the caches (the wait loop's re-read).
pub fn evaluate_with(inputs: &Inputs, refresh: bool) -> Evaluation {
    let now = inputs.clock.now();
    let settings = load_settings(&inputs.claude_args);
    let model = model::resolve(
        inputs.explicit_model,
        &inputs.claude_args,
        env_var("ANTHROPIC_MODEL").as_deref(),
        &settings,
    );
    if let Some(why) = plan::not_applicable(&env_var, &inputs.claude_args, &settings) {
        return Evaluation {
            decision: Decision::plan_limits_off(why),
            snapshot: None,
            model,
            now,
            attempts: vec![],
        };
    }
    let loaded = load_snapshot(inputs.common, now, model.family, refresh);
    let decision = decide::decide(&loaded.snapshot, &inputs.policy, model.family, now);
    Evaluation {
        decision,
        snapshot: Some(loaded.snapshot),
        model,
        now,
        attempts: loaded.attempts,
    }
}

fn policy_from(common: &Common, default_unknown: OnUnknown, wait: Option<&WaitOpts>) -> Policy {
    Policy {
        max_age: common.max_age,
        max_utilization: common.max_utilization,
        overage: common.overage,
        on_unknown: common.on_unknown.unwrap_or(default_unknown),
        grace: wait.map_or(Policy::default().grace, |w| w.grace),
        wait: wait.map(|w| WaitPolicy {
            max_wait: w.max_wait,
        }),
    }
}

fn outcome<'a>(eval: &'a Evaluation, inputs: &Inputs, waiting: bool) -> Outcome<'a> {
    let families_with_room = match (&eval.snapshot, eval.decision.verdict) {
        (Some(s), Verdict::Refuse) => {
            decide::families_with_room(s, &inputs.policy, eval.now, eval.model.family)
        }
        _ => vec![],
    };
    Outcome {
        decision: &eval.decision,
        snapshot: eval.snapshot.as_ref(),
        model: &eval.model,
        now: eval.now,
        grace: inputs.policy.grace,
        families_with_room,
        waiting,
        attempts: &eval.attempts,
    }
}

fn print_lines(lines: &[String]) {
    let mut err = anstream::stderr().lock();
    for line in lines {
        let _ = writeln!(err, "{line}");
    }
}

/// Prints `--explain` and `--json` (to `json_to_stdout` or stderr).
fn emit_diagnostics(o: &Outcome, common: &Common, json_to_stdout: bool) {
    if common.explain {
        print_lines(&report::explain_lines(o));
    }
    if common.json {
        let text = report::json_object(o).to_string();
        if json_to_stdout {
            let _ = writeln!(std::io::stdout(), "{text}");
        } else {
            let _ = writeln!(std::io::stderr(), "{text}");
        }
    }
}

fn run(args: RunArgs) -> Result<Exit> {
    let claude = launch::find_claude(std::env::var_os("CLAUDE_GUARD_CLAUDE").as_deref())?;
    let wait_opts = args.wait.then_some(&args.wait_opts);
    let inputs = Inputs {
        common: &args.common,
        policy: policy_from(&args.common, OnUnknown::Allow, wait_opts),
        claude_args: model::parse_claude_args(&args.claude_args),
        explicit_model: None,
        clock: Clock::new(args.common.now),
    };
    let mut eval = evaluate(&inputs);
    let mut claude_args = std::borrow::Cow::Borrowed(&args.claude_args);
    if let Some(model) = args.model_fallback.as_deref().filter(|m| !m.is_empty())
        && let Some(snapshot) = &eval.snapshot
        && let Some(switch) = fallback::consider(
            &eval.decision,
            snapshot,
            &inputs.policy,
            eval.now,
            eval.model.family,
            model,
            &args.claude_args,
        )
    {
        print_lines(&[fallback::message(&switch, &eval.decision, model)]);
        eval.model = ModelChoice {
            family: switch.family,
            model: Some(model.to_owned()),
            source: format!("--model-fallback ({} pinned)", switch.pinned),
            note: None,
        };
        eval.decision = switch.decision;
        claude_args = std::borrow::Cow::Owned(switch.argv);
    }
    if args.wait && eval.decision.exit != Exit::Go && eval.decision.waitable {
        // `--explain` shows the refusal being waited on; `--json` stays one object (DESIGN),
        // printed once below for the decision the run ends with.
        if args.common.explain {
            print_lines(&report::explain_lines(&outcome(&eval, &inputs, true)));
        }
        match wait::until_go(eval, &inputs, &args.wait_opts)? {
            wait::Finished::Done(done) => eval = *done,
            wait::Finished::Signalled(exit) => return Ok(exit),
        }
    }
    let o = outcome(&eval, &inputs, args.wait);
    emit_diagnostics(&o, &args.common, false);
    // run's stdout is claude's after exec: the workflow command goes to stderr.
    github::report(&o, Channel::Stderr);
    if eval.decision.exit != Exit::Go {
        print_lines(&report::refusal_lines(&o));
        return Ok(eval.decision.exit);
    }
    if let Some(line) = report::warning_line(&o) {
        print_lines(&[line]);
    }
    Err(launch::exec(&claude, &claude_args).into())
}

fn gate_inputs<'a>(
    common: &'a Common,
    model: Option<&'a str>,
    wait: Option<&WaitOpts>,
) -> Inputs<'a> {
    Inputs {
        common,
        policy: policy_from(common, OnUnknown::Refuse, wait),
        claude_args: ClaudeArgs::default(),
        explicit_model: model,
        clock: Clock::new(common.now),
    }
}

/// A short line for a go in check/wait, so CI logs say why the gate opened.
fn go_line(eval: &Evaluation) -> String {
    let d = &eval.decision;
    let detail = match (&d.plan_limits, &d.hottest) {
        (decide::PlanLimits::NotApplicable(why), _) => format!("plan limits do not apply: {why}"),
        (_, Some(h)) => {
            let pct = d
                .buckets
                .iter()
                .find(|v| &v.bucket.name == h)
                .and_then(|v| v.effective)
                .unwrap_or(0.0);
            format!(
                "hottest {h} at {}% ({} family)",
                decide::fmt_pct(pct),
                eval.model.family
            )
        }
        _ => "no plan window applies".into(),
    };
    format!("claude-guard: go — {detail}")
}

fn report_gate(eval: &Evaluation, inputs: &Inputs, common: &Common) -> Exit {
    let o = outcome(eval, inputs, false);
    emit_diagnostics(&o, common, true);
    github::report(
        &o,
        if common.json {
            Channel::Stderr
        } else {
            Channel::Stdout
        },
    );
    match (eval.decision.exit, eval.decision.verdict) {
        (Exit::Go, Verdict::Go) if !common.json => print_lines(&[go_line(eval)]),
        (Exit::Go, _) => {
            if let Some(line) = report::warning_line(&o) {
                print_lines(&[line]);
            }
        }
        _ => print_lines(&report::refusal_lines(&o)),
    }
    eval.decision.exit
}

fn check(args: CheckArgs) -> Result<Exit> {
    let inputs = gate_inputs(&args.common, args.model.as_deref(), None);
    let eval = evaluate(&inputs);
    Ok(report_gate(&eval, &inputs, &args.common))
}

fn status(args: CheckArgs) -> Result<Exit> {
    let inputs = gate_inputs(&args.common, args.model.as_deref(), None);
    let eval = evaluate(&inputs);
    let o = outcome(&eval, &inputs, false);
    if args.common.explain {
        print_lines(&report::explain_lines(&o));
    }
    if args.common.json {
        let _ = writeln!(std::io::stdout(), "{}", report::json_object(&o));
    } else {
        let _ = write!(anstream::stdout(), "{}", report::status_text(&o));
    }
    Ok(Exit::Go)
}

fn wait_cmd(args: WaitArgs) -> Result<Exit> {
    let inputs = gate_inputs(&args.common, args.model.as_deref(), Some(&args.wait_opts));
    let mut eval = evaluate(&inputs);
    if eval.decision.exit != Exit::Go && eval.decision.waitable {
        match wait::until_go(eval, &inputs, &args.wait_opts)? {
            wait::Finished::Done(done) => eval = *done,
            wait::Finished::Signalled(exit) => return Ok(exit),
        }
    }
    Ok(report_gate(&eval, &inputs, &args.common))
}

fn init(args: InitArgs) -> Result<Exit> {
    write!(
        std::io::stdout(),
        "{}",
        shell::init_snippet(args.shell, &args.cmd)
    )?;
    Ok(Exit::Go)
}

fn completions(args: CompletionsArgs) -> Result<Exit> {
    // Generated into memory first: clap_complete panics on a write error (a closed pipe).
    let mut script = Vec::new();
    clap_complete::generate(
        args.shell,
        &mut crate::cli::command(),
        "claude-guard",
        &mut script,
    );
    std::io::stdout().write_all(&script)?;
    Ok(Exit::Go)
}

fn man(args: ManArgs) -> Result<Exit> {
    use anyhow::Context;
    match args.out_dir {
        Some(dir) => std::fs::create_dir_all(&dir)
            .and_then(|()| clap_mangen::generate_to(crate::cli::command(), &dir))
            .with_context(|| format!("could not write man pages into {}", dir.display()))?,
        None => clap_mangen::Man::new(crate::cli::command()).render(&mut std::io::stdout())?,
    }
    Ok(Exit::Go)
}

/// `snapshot`: runs the chain and prints what it gave as ClaudeMeter JSON (the raw object as
/// fetched or cached when there is one, with the failed sources' reasons added to `errors`).
fn snapshot_cmd(args: SnapshotArgs) -> Result<Exit> {
    let common = &args.common;
    let now = Clock::new(common.now).now();
    let settings = load_settings(&ClaudeArgs::default());
    let family = model::resolve(
        args.model.as_deref(),
        &ClaudeArgs::default(),
        env_var("ANTHROPIC_MODEL").as_deref(),
        &settings,
    )
    .family;
    let loaded = load_snapshot(common, now, family, common.refresh);
    if common.explain {
        print_lines(&report::attempt_lines(&loaded.attempts));
    }
    let out = snapshot_json(&loaded);
    let _ = writeln!(
        std::io::stdout(),
        "{}",
        serde_json::to_string_pretty(&out).unwrap_or_default()
    );
    Ok(if loaded.snapshot.usage.is_some() {
        Exit::Go
    } else {
        Exit::Unknown
    })
}

/// The JSON `snapshot` prints.
fn snapshot_json(loaded: &Loaded) -> serde_json::Value {
    let problems = &loaded.snapshot.problems;
    match &loaded.raw {
        Some(serde_json::Value::Object(obj)) => {
            let mut obj = obj.clone();
            let mut errors: Vec<serde_json::Value> = obj
                .get("errors")
                .and_then(|e| e.as_array())
                .cloned()
                .unwrap_or_default();
            for p in problems {
                let p = serde_json::Value::String(p.clone());
                if !errors.contains(&p)
                    && !p
                        .as_str()
                        .is_some_and(|s| s.starts_with("source reported: "))
                {
                    errors.push(p);
                }
            }
            obj.insert("errors".into(), serde_json::Value::Array(errors));
            serde_json::Value::Object(obj)
        }
        Some(other) => other.clone(),
        None => crate::snapshot::to_claudemeter(&loaded.snapshot),
    }
}

/// argv for a guard invoked under the name `claude`: `claude-guard run -- ARGS`.
pub fn multicall_argv(argv: Vec<OsString>) -> Vec<OsString> {
    let invoked_as = argv
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .map(|n| n.to_os_string());
    if invoked_as.as_deref() == Some(std::ffi::OsStr::new("claude")) {
        let mut out: Vec<OsString> = vec!["claude-guard".into(), "run".into(), "--".into()];
        out.extend(argv.into_iter().skip(1));
        out
    } else {
        argv
    }
}
