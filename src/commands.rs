//! The four commands: read the state (I/O), call the pure `decide`, then report and act.

use std::ffi::OsString;
use std::io::{IsTerminal, Write};

use anyhow::Result;
use clap::Parser;

use crate::act::evaluate::{Clock, Evaluation, Inputs, evaluate, load_snapshot, resolve_model};
use crate::act::{launch, wait};
use crate::cli::{
    CheckArgs, Cli, Command, Common, CompletionsArgs, InitArgs, ManArgs, NeedsOpt, RunArgs,
    SnapshotArgs, WaitArgs, WaitOpts,
};
use crate::core::decide::{self, Verdict};
use crate::core::exit_codes::Exit;
use crate::core::fallback;
use crate::core::model::{self, ClaudeArgs};
use crate::core::policy::{OnUnknown, Policy, WaitPolicy};
use crate::report::github::{self, Channel};
use crate::report::shell;
use crate::report::{self, Outcome, print_lines};
use crate::state::claude_files;
use crate::state::sources::{Loaded, SourceConfig};

mod supervise;

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
        Command::Statusline(_) => Ok(statusline()),
    }
}

fn policy_from(
    common: &Common,
    default_unknown: OnUnknown,
    wait: Option<&WaitOpts>,
    needs: Option<std::time::Duration>,
) -> Policy {
    Policy {
        max_age: common.max_age,
        max_utilization: common.max_utilization,
        overage: common.overage,
        on_unknown: common.on_unknown.unwrap_or(default_unknown),
        grace: wait.map_or(Policy::default().grace, |w| w.grace),
        wait: wait.map(|w| WaitPolicy {
            max_wait: w.max_wait,
        }),
        replay: common.now.is_some(),
        needs,
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
    let parsed = model::parse_claude_args(&args.claude_args);
    if let Some(why) = &parsed.no_turn {
        // No model turn: straight through, without reading any state (DESIGN.md).
        if args.common.explain {
            print_lines(&[format!("claude-guard: go — {why}; nothing to check")]);
        }
        return Err(launch::exec(&claude, &args.claude_args).into());
    }
    let config = source_config(&args.common);
    let inputs = Inputs {
        sources: &config,
        refresh: args.common.refresh,
        policy: supervise::preflight_policy(
            policy_from(&args.common, OnUnknown::Allow, wait_opts, args.job.needs),
            &args.supervise,
        ),
        claude_args: parsed,
        explicit_model: None,
        stdout_tty: std::io::stdout().is_terminal(),
        clock: Clock::new(args.common.now),
        forecast: args.common.json,
    };
    let mut eval = evaluate(&inputs);
    print_notes(&eval);
    let mut claude_args = std::borrow::Cow::Borrowed(&args.claude_args);
    if let Some(model) = args.model_fallback.as_deref().filter(|m| !m.is_empty())
        && let Some(snapshot) = &eval.snapshot
        && let Some(switch) = fallback::consider(
            &eval.decision,
            snapshot,
            &inputs.policy,
            eval.now,
            eval.model.family,
            &fallback::Candidate {
                model,
                argv: &args.claude_args,
                family_of_argv: &|argv| {
                    let args = crate::core::model::parse_claude_args(argv);
                    resolve_model(inputs.explicit_model, &args).0.family
                },
            },
        )
    {
        print_lines(&[fallback::message(&switch, &eval.decision, model)]);
        eval.model = switch.model_choice(model);
        eval.decision = switch.decision;
        claude_args = std::borrow::Cow::Owned(switch.argv);
    }
    if args.wait && eval.decision.exit != Exit::Go && eval.decision.waitable {
        // `--explain` shows the refusal being waited on; `--json` stays one object (DESIGN),
        // printed once below for the decision the run ends with.
        if args.common.explain {
            print_lines(&report::explain_lines(&outcome(&eval, &inputs, true)));
        }
        match wait::until_go(eval, &inputs, &wait_options(&args.wait_opts))? {
            wait::Finished::Done(done) => eval = *done,
            wait::Finished::Signalled(exit) => return Ok(exit),
        }
    }
    if args.supervise.supervise
        && eval.decision.exit == Exit::Go
        && crate::act::supervise::supervises(&eval)
    {
        return supervise::run(&claude, &claude_args, eval, &inputs, &args);
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

/// `--max-wait`, `--grace`, `--quiet`, as the wait loop takes them.
fn wait_options(w: &WaitOpts) -> wait::WaitOptions {
    wait::WaitOptions {
        max_wait: w.max_wait,
        grace: w.grace,
        quiet: w.quiet,
    }
}

/// The source options of the shared command line, as the state layer takes them.
fn source_config(common: &Common) -> SourceConfig {
    SourceConfig {
        snapshot: common.snapshot.clone(),
        bridge: common.bridge.clone(),
        source: common.source,
        ttl: common.ttl,
        org: common.org.clone(),
        utilization_scale: common.utilization_scale,
        revalidate: Some(crate::state::refresh::Revalidate {
            max_age: common.max_age,
            max_utilization: common.max_utilization,
        }),
    }
}

fn gate_inputs<'a>(
    common: &Common,
    config: &'a SourceConfig,
    model: Option<&'a str>,
    wait: Option<&WaitOpts>,
    job: NeedsOpt,
) -> Inputs<'a> {
    Inputs {
        sources: config,
        refresh: common.refresh,
        policy: policy_from(common, OnUnknown::Refuse, wait, job.needs),
        claude_args: ClaudeArgs::default(),
        explicit_model: model,
        stdout_tty: true,
        clock: Clock::new(common.now),
        forecast: common.json,
    }
}

/// Prints the evaluation's notes (a usage history that cannot be used) on stderr.
fn print_notes(eval: &Evaluation) {
    let lines: Vec<String> = eval
        .notes
        .iter()
        .map(|n| format!("claude-guard: note: {n}"))
        .collect();
    print_lines(&lines);
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
    let config = source_config(&args.common);
    let inputs = gate_inputs(&args.common, &config, args.model.as_deref(), None, args.job);
    let eval = evaluate(&inputs);
    print_notes(&eval);
    Ok(report_gate(&eval, &inputs, &args.common))
}

fn status(args: CheckArgs) -> Result<Exit> {
    let config = source_config(&args.common);
    let mut inputs = gate_inputs(&args.common, &config, args.model.as_deref(), None, args.job);
    inputs.forecast = true;
    let eval = evaluate(&inputs);
    print_notes(&eval);
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
    let config = source_config(&args.common);
    let inputs = gate_inputs(
        &args.common,
        &config,
        args.model.as_deref(),
        Some(&args.wait_opts),
        args.job,
    );
    let mut eval = evaluate(&inputs);
    print_notes(&eval);
    if eval.decision.exit != Exit::Go && eval.decision.waitable {
        match wait::until_go(eval, &inputs, &wait_options(&args.wait_opts))? {
            wait::Finished::Done(done) => eval = *done,
            wait::Finished::Signalled(exit) => return Ok(exit),
        }
    }
    Ok(report_gate(&eval, &inputs, &args.common))
}

fn init(args: InitArgs) -> Result<Exit> {
    if args.shell == shell::InitShell::Statusline {
        if args.install {
            return install_statusline(args.force);
        }
    } else if args.install {
        anyhow::bail!(
            "--install is for `init statusline`; for a shell, add the line the snippet shows to your shell's rc file"
        );
    }
    write!(
        std::io::stdout(),
        "{}",
        shell::init_snippet(args.shell, &args.cmd)
    )?;
    Ok(Exit::Go)
}

/// `init statusline --install`: merges the block into Claude Code's user settings.json.
fn install_statusline(force: bool) -> Result<Exit> {
    use anyhow::Context;
    let path = claude_files::user_settings()
        .context("HOME is not set, so Claude Code's settings.json cannot be found; set HOME or CLAUDE_CONFIG_DIR")?;
    let shown = path.display();
    let existing = claude_files::read_settings_text(&path)
        .with_context(|| format!("could not read {shown}"))?;
    match shell::merge_statusline(existing.as_deref(), force) {
        Err(why) => anyhow::bail!(
            "{shown} {why}; fix it, or add the block `claude-guard init statusline` prints by hand"
        ),
        Ok(shell::Merge::AlreadyInstalled) => {
            print_lines(&[format!(
                "claude-guard: {shown} already runs `claude-guard statusline`; nothing changed"
            )]);
        }
        Ok(shell::Merge::Conflict(current)) => anyhow::bail!(
            "{shown} already has a different statusLine ({current}); rerun with --force to replace it (a backup is kept)"
        ),
        Ok(shell::Merge::Write(text)) => {
            let backup = claude_files::replace_settings(&path, &text)
                .with_context(|| format!("could not write {shown}"))?;
            let kept = backup.map_or(String::new(), |b| {
                format!(" (the previous file is kept as {})", b.display())
            });
            print_lines(&[format!(
                "claude-guard: added the statusLine to {shown}{kept}; Claude Code shows it from its next start"
            )]);
        }
    }
    Ok(Exit::Go)
}

/// `statusline`: records Claude Code's readings, prints one line; exit 0 whatever happens.
fn statusline() -> Exit {
    let line = crate::act::statusline::run();
    let _ = writeln!(std::io::stdout(), "{line}");
    Exit::Go
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
    let family = resolve_model(args.model.as_deref(), &ClaudeArgs::default())
        .0
        .family;
    // What it prints is meant for elsewhere: a stale copy is fetched, not served stale.
    let config = SourceConfig {
        revalidate: None,
        ..source_config(common)
    };
    let loaded = load_snapshot(&config, now, family, common.refresh);
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
        None => crate::core::snapshot::to_claudemeter(&loaded.snapshot),
    }
}

/// The internal `__refresh` command (not part of [`Cli`]: never in help or completions), when
/// `argv` names it: its exit status.
pub fn internal(argv: &[OsString]) -> Option<Exit> {
    if argv
        .get(1)
        .is_none_or(|a| a != crate::state::refresh::COMMAND)
    {
        return None;
    }
    Some(match crate::cli::RefreshArgs::try_parse_from(&argv[2..]) {
        Ok(a) => crate::state::refresh::run(a.stage, a.source, a.org, |source, org| {
            use crate::state::sources;
            let config = sources::SourceConfig {
                source: sources::SourceChoice::from(source),
                org,
                ..sources::SourceConfig::default()
            };
            let _ = sources::load(&sources::Request {
                config: &config,
                now: chrono::Utc::now(),
                family: crate::core::model::Family::Opus,
                refresh: true,
            });
        }),
        Err(_) => Exit::Usage,
    })
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
