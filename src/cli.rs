//! The command line (DESIGN.md "Command line", normative). Every option also reads a
//! `CLAUDE_GUARD_*` environment variable, because an aliased `claude` takes no guard flags.

use std::ffi::OsString;
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::builder::BoolishValueParser;
use clap::{ArgMatches, Args, FromArgMatches, Parser, Subcommand};

use crate::core::policy::{OnUnknown, OverageMode};
use crate::core::snapshot::UtilizationScale;

const ABOUT: &str = "Plan-limit guard for Claude Code: before `claude` starts, decide whether the \
run will go, bill extra usage, or be refused by a plan limit — then exec claude, refuse with a \
distinct exit code and the reset time, or sleep until the reset. With `run --supervise` it stays \
beside a long job: a limit met mid-run exits with its own code, or is waited out and the session \
resumed (--wait).";

/// The `--help` epilogue: the exit-code table and how to use the guard as `claude` (formatted
/// from the one table in `exit_codes.rs`).
fn after_help() -> String {
    format!(
        "{}\nUse as `claude`: eval \"$(claude-guard init bash)\" in ~/.bashrc (zsh alike; fish: \
             claude-guard init fish | source) makes `claude` a function through the guard; for \
             scripts and cron put a symlink named `claude` (or bin/claude) first on PATH. Options \
             then come from CLAUDE_GUARD_* variables (CLAUDE_GUARD_WAIT=1, CLAUDE_GUARD_MAX_WAIT=2h, \
             CLAUDE_GUARD_SNAPSHOT=PATH, ...).\n\
             CLAUDE_GUARD_CLAUDE=/path names the real claude. NO_COLOR turns colour off.",
        crate::core::exit_codes::Exit::help_table()
    )
}

/// The subcommands whose `--help` ends with the epilogue, besides the top level.
const EPILOGUE_ON: [&str; 3] = ["run", "check", "wait"];

/// The whole command line with the `--help` epilogue, for help, completions and the man page.
///
/// Parsing uses the bare derive ([`Cli::try_parse_from`]) and `main` renders help from this
/// instead: the epilogue is a formatted 1.3 KB text that clap would otherwise copy into every
/// command it builds, on every start, to show it only under `--help`.
pub fn command() -> clap::Command {
    let epilogue = after_help();
    let cmd = <Cli as clap::CommandFactory>::command().after_long_help(epilogue.clone());
    EPILOGUE_ON.iter().fold(cmd, |cmd, name| {
        cmd.mut_subcommand(name, |sub| sub.after_long_help(epilogue.clone()))
    })
}

/// `claude-guard`'s arguments.
#[derive(Debug, Parser)]
#[command(name = "claude-guard", version, about = ABOUT, max_term_width = 100)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Decide, then exec the real claude (go), refuse with a distinct code, or wait (--wait);
    /// --supervise keeps the guard beside claude for the whole job.
    Run(Deferred<RunArgs>),
    /// Decide and exit with the code; never execs. For CI gates.
    Check(Deferred<CheckArgs>),
    /// Show every bucket: percent, bar, reset, which apply, the hottest, overage, subscription.
    Status(Deferred<CheckArgs>),
    /// Block until the decision is go, then exit 0 (no exec).
    Wait(Deferred<WaitArgs>),
    /// Print shell code that makes `claude` a function going through the guard:
    /// `eval "$(claude-guard init bash)"` in ~/.bashrc (zsh alike), or
    /// `claude-guard init fish | source` in config.fish; `init statusline [--install]`: Claude
    /// Code's statusLine setting for `claude-guard statusline`.
    Init(InitArgs),
    /// Print a shell completion script for claude-guard (e.g. `claude-guard completions zsh`).
    Completions(CompletionsArgs),
    /// Print the man page (roff) on stdout, or write one page per command into a directory.
    Man(ManArgs),
    /// Print the snapshot the sources give, as ClaudeMeter JSON {org_uuid, account_email,
    /// fetched_at, usage, overage, subscription, errors} on stdout, for `--snapshot` elsewhere
    /// (exit 0, or 20 when no source gave usage).
    Snapshot(Deferred<SnapshotArgs>),
    /// Claude Code's `statusLine` command: reads the JSON Claude Code writes on stdin, records
    /// its five_hour / seven_day readings in the guard's cache (no request), and prints one
    /// line: the model's own weekly limit, 5h, 7d, pace and the next reset. Set it up with
    /// `claude-guard init statusline --install`. Always exits 0.
    Statusline(StatuslineArgs),
}

/// `statusline` (no options: Claude Code runs it with the JSON on stdin).
#[derive(Debug, Args)]
pub struct StatuslineArgs {}

/// `init SHELL [--cmd NAME]`, `init statusline [--install [--force]]`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The shell to write the snippet for, or `statusline` for Claude Code's statusLine
    /// setting.
    #[arg(value_enum)]
    pub shell: crate::report::shell::InitShell,

    /// With `statusline`: merge the block into Claude Code's settings.json
    /// ($CLAUDE_CONFIG_DIR or ~/.claude) instead of printing it; keeps a backup and every
    /// other key.
    #[arg(long)]
    pub install: bool,

    /// With `statusline --install`: replace a different existing statusLine.
    #[arg(long, requires = "install")]
    pub force: bool,

    /// Name of the function to define (`--cmd cl` keeps `claude` itself unguarded).
    #[arg(long, value_name = "NAME", default_value = "claude", value_parser = crate::report::shell::parse_cmd_name)]
    pub cmd: String,
}

/// `completions SHELL`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to generate completions for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `man [--out-dir DIR]`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write claude-guard.1 and `claude-guard-<command>.1` into this directory instead.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<std::path::PathBuf>,
}

/// A subcommand's arguments, built only when clap enters that subcommand (or renders help,
/// completions or the man page): the guard starts before every `claude`, and building the
/// arguments of all eight subcommands on every start cost more than the decision itself.
#[derive(Debug)]
pub struct Deferred<T>(pub T);

impl<T: Args> Args for Deferred<T> {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        cmd.defer(|cmd| keep_about(cmd, T::augment_args))
    }
    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        cmd.defer(|cmd| keep_about(cmd, T::augment_args_for_update))
    }
    fn group_id() -> Option<clap::Id> {
        T::group_id()
    }
}

/// Runs `augment` but keeps the subcommand's own `about` (from the enum variant's doc comment),
/// which the arguments struct's doc comment would otherwise replace.
fn keep_about(cmd: clap::Command, augment: fn(clap::Command) -> clap::Command) -> clap::Command {
    let about = cmd.get_about().cloned();
    let long_about = cmd.get_long_about().cloned();
    let mut cmd = augment(cmd);
    if let Some(about) = about {
        cmd = cmd.about(about);
    }
    cmd.long_about(
        long_about
            .map(clap::builder::Resettable::Value)
            .unwrap_or(clap::builder::Resettable::Reset),
    )
}

impl<T: FromArgMatches> FromArgMatches for Deferred<T> {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches(matches).map(Deferred)
    }
    fn from_arg_matches_mut(matches: &mut ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches_mut(matches).map(Deferred)
    }
    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches(matches)
    }
    fn update_from_arg_matches_mut(&mut self, matches: &mut ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches_mut(matches)
    }
}

/// Options every command takes.
#[derive(Debug, Args, Clone)]
pub struct Common {
    /// Read the snapshot from a file, or `-` for stdin (ClaudeMeter JSON, a bare
    /// /api/oauth/usage body, or Claude Code's ~/.claude.json).
    #[arg(long, env = "CLAUDE_GUARD_SNAPSHOT", value_name = "PATH|-")]
    pub snapshot: Option<OsString>,

    /// Read the snapshot from a bridge URL with GET (plain http:// only to loopback).
    #[arg(long, env = "CLAUDE_GUARD_BRIDGE", value_name = "URL", value_parser = BridgeUrlParser)]
    pub bridge: Option<reqwest::Url>,

    /// Where the usage state comes from: auto tries, in order, --snapshot, the guard's cache,
    /// Claude Code's cached copy (~/.claude.json), --bridge, the OAuth usage endpoint with
    /// Claude Code's token, claude.ai with CLAUDE_GUARD_SESSION_KEY; or name one source.
    #[arg(long, env = "CLAUDE_GUARD_SOURCE", value_enum, default_value = "auto")]
    pub source: crate::state::sources::SourceChoice,

    /// How long a cached snapshot counts as fresh [default: 5m while every applicable bucket
    /// is under 80%, 60s above; Claude Code's copy never past 1h].
    #[arg(long, env = "CLAUDE_GUARD_TTL", value_name = "DUR", value_parser = parse_duration)]
    pub ttl: Option<Duration>,

    /// Skip the cached copies and fetch now (a recorded 429 back-off still holds).
    #[arg(long, env = "CLAUDE_GUARD_REFRESH", value_parser = BoolishValueParser::new(), default_value = "false", num_args = 0, default_missing_value = "true")]
    pub refresh: bool,

    /// Print the decision as one JSON object (stdout; stderr for `run`, whose stdout is claude's).
    #[arg(long, env = "CLAUDE_GUARD_JSON", value_parser = BoolishValueParser::new(), default_value = "false", num_args = 0, default_missing_value = "true")]
    pub json: bool,

    /// Print the walk through the decision tree on stderr.
    #[arg(long, env = "CLAUDE_GUARD_EXPLAIN", value_parser = BoolishValueParser::new(), default_value = "false", num_args = 0, default_missing_value = "true")]
    pub explain: bool,

    /// Evaluate as of this time (RFC 3339), to replay recorded snapshots.
    #[arg(long, env = "CLAUDE_GUARD_NOW", value_name = "RFC3339", value_parser = parse_rfc3339)]
    pub now: Option<DateTime<Utc>>,

    /// A go needs a snapshot younger than this (humantime: 90s, 30m, 2h 30m).
    #[arg(long, env = "CLAUDE_GUARD_MAX_AGE", value_name = "DUR", default_value = "1h", value_parser = parse_duration)]
    pub max_age: Duration,

    /// Refuse a go (exit 18) when an applicable bucket is at or above this percent (0–100).
    #[arg(long, env = "CLAUDE_GUARD_MAX_UTILIZATION", value_name = "PCT", default_value = "100", value_parser = parse_percent)]
    pub max_utilization: f64,

    /// When a pinned bucket would bill extra usage: go billed (allow) or exit 16 (refuse).
    #[arg(
        long,
        env = "CLAUDE_GUARD_OVERAGE",
        value_enum,
        default_value = "allow"
    )]
    pub overage: OverageMode,

    /// When the state is unknown: go with a warning, or exit 20 [default: allow for run,
    /// refuse for check and wait].
    #[arg(long, env = "CLAUDE_GUARD_ON_UNKNOWN", value_enum)]
    pub on_unknown: Option<OnUnknown>,

    /// Pick the organization (UUID or account email) from a multi-organization snapshot.
    #[arg(long, env = "CLAUDE_GUARD_ORG", value_name = "UUID|EMAIL")]
    pub org: Option<String>,

    /// Scale of `utilization` in the snapshot: percent (every real endpoint) or fraction (0–1).
    #[arg(
        long,
        env = "CLAUDE_GUARD_UTILIZATION_SCALE",
        value_enum,
        default_value = "percent"
    )]
    pub utilization_scale: UtilizationScale,
}

/// Sleep-until-reset options.
#[derive(Debug, Args, Clone)]
pub struct WaitOpts {
    /// Refuse at once (exit 19) when the reset lies beyond this.
    #[arg(long, env = "CLAUDE_GUARD_MAX_WAIT", value_name = "DUR", default_value = "8h", value_parser = parse_duration)]
    pub max_wait: Duration,

    /// Added to the reset time before the state is read again (server lag).
    #[arg(long, env = "CLAUDE_GUARD_GRACE", value_name = "DUR", default_value = "60s", value_parser = parse_duration)]
    pub grace: Duration,

    /// No progress line while waiting.
    #[arg(long, short, env = "CLAUDE_GUARD_QUIET", value_parser = BoolishValueParser::new(), default_value = "false", num_args = 0, default_missing_value = "true")]
    pub quiet: bool,
}

/// `run [OPTIONS] [--] [CLAUDE_ARGS]...`
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub common: Common,

    /// On a refusal that a reset will lift, sleep until the reset and then run.
    #[arg(long, env = "CLAUDE_GUARD_WAIT", value_parser = BoolishValueParser::new(), default_value = "false", num_args = 0, default_missing_value = "true")]
    pub wait: bool,

    #[command(flatten)]
    pub wait_opts: WaitOpts,

    #[command(flatten)]
    pub job: NeedsOpt,

    /// When the run's model has its own weekly limit pinned (seven_day_opus, seven_day_sonnet,
    /// a model-scoped limit) and every limit that applies to MODEL is clear, run claude with
    /// `--model MODEL` instead (also instead of billing extra usage). Never when five_hour,
    /// seven_day or seven_day_oauth_apps is pinned: they count every model. Empty: off.
    #[arg(long, env = "CLAUDE_GUARD_MODEL_FALLBACK", value_name = "MODEL", value_parser = parse_model_fallback)]
    pub model_fallback: Option<String>,

    #[command(flatten)]
    pub supervise: SuperviseOpts,

    /// Arguments for claude, passed byte for byte (put them after `--`).
    #[arg(
        value_name = "CLAUDE_ARGS",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub claude_args: Vec<OsString>,
}

/// Parses the guard's command line (`argv[0]` first). Like `Cli::try_parse_from`, and also:
/// when the user wrote `--` after `run`, everything before it is the guard's, so an argument
/// there that is no guard option (a typo such as `run --wiat -- -p x`) is a usage error naming
/// it, instead of being passed on to claude.
///
/// And `--abort-at`, `--max-resumes` or `--resume-prompt` on the command line of a `run`
/// without `--supervise` (or `CLAUDE_GUARD_SUPERVISE=1`) is a usage error naming the fix, not
/// silently ignored. (From the environment they stay quiet: a profile may set them for every
/// run.)
pub fn parse(argv: &[OsString]) -> Result<Cli, clap::Error> {
    let mut matches = <Cli as clap::CommandFactory>::command().try_get_matches_from(argv)?;
    let unsupervised = matches.subcommand_matches("run").and_then(|m| {
        if m.get_flag("supervise") {
            return None;
        }
        ["abort_at", "max_resumes", "resume_prompt"]
            .into_iter()
            .find(|id| m.value_source(id) == Some(clap::parser::ValueSource::CommandLine))
    });
    if let Some(id) = unsupervised {
        let mut cmd = command();
        cmd.build();
        let run = cmd.find_subcommand_mut("run").expect("the run subcommand");
        return Err(run.error(
            clap::error::ErrorKind::ArgumentConflict,
            format!(
                "--{} works only with --supervise: add --supervise (or set \
                 CLAUDE_GUARD_SUPERVISE=1)",
                id.replace('_', "-")
            ),
        ));
    }
    let cli = <Cli as clap::FromArgMatches>::from_arg_matches_mut(&mut matches)
        .map_err(|e| e.format(&mut command()))?;
    if let Command::Run(run) = &cli.command
        && let Some(k) = argv.iter().position(|a| a == "--")
    {
        let after = argv.len() - k - 1;
        let given = &run.0.claude_args;
        if given.len() > after {
            let stray = given[0].to_string_lossy();
            return Err(command().error(
                clap::error::ErrorKind::UnknownArgument,
                format!(
                    "unexpected argument '{stray}' before `--`: everything before `--` is \
                     claude-guard's (see `claude-guard run --help`); claude's arguments go after it"
                ),
            ));
        }
    }
    Ok(cli)
}

/// `--needs DUR` (`run`, `check`, `status`, `wait`).
#[derive(Debug, Args, Clone, Copy)]
pub struct NeedsOpt {
    /// The job will run this long (humantime: 90m, 3h): refuse (exit 21) when an applicable
    /// bucket is projected, at its pace, to reach 100% (or --max-utilization) before then and
    /// before its reset.
    #[arg(long, env = "CLAUDE_GUARD_NEEDS", value_name = "DUR", value_parser = parse_duration)]
    pub needs: Option<Duration>,
}

/// `run --supervise` options (DESIGN.md "Long jobs: supervised runs").
#[derive(Debug, Args, Clone)]
pub struct SuperviseOpts {
    /// Keep the guard beside claude (a child, not exec): a plan limit met mid-job exits with
    /// its code (10–15) instead of claude's 1, and with --wait is waited out and the session
    /// resumed (print mode). Runs without a model turn are still exec'd.
    #[arg(long, env = "CLAUDE_GUARD_SUPERVISE", value_parser = BoolishValueParser::new(), default_value = "false", num_args = 0, default_missing_value = "true")]
    pub supervise: bool,

    /// With --supervise: resume a stopped job at most N times, then exit with the limit's code.
    #[arg(
        long,
        env = "CLAUDE_GUARD_MAX_RESUMES",
        value_name = "N",
        default_value = "3"
    )]
    pub max_resumes: u32,

    /// With --supervise: the prompt a resumed session gets [default: the limit has reset,
    /// continue from where it stopped, do not redo finished work].
    #[arg(long, env = "CLAUDE_GUARD_RESUME_PROMPT", value_name = "TEXT")]
    pub resume_prompt: Option<String>,

    /// With --supervise: end claude gracefully (SIGINT, SIGTERM 10 s later) when an applicable
    /// bucket reaches PCT mid-run, and treat it as a limit stop on that bucket; the pre-flight
    /// also refuses (18) at or above PCT. State re-read through the shared cache only.
    #[arg(long, env = "CLAUDE_GUARD_ABORT_AT", value_name = "PCT", value_parser = parse_percent)]
    pub abort_at: Option<f64>,
}

/// `check [OPTIONS]` and `status [OPTIONS]`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub common: Common,

    /// The model the job will use (opus, sonnet, haiku, fable, or a full id) [default: as
    /// Claude Code resolves it: ANTHROPIC_MODEL, settings files, else Opus].
    #[arg(long, env = "CLAUDE_GUARD_MODEL", value_name = "NAME")]
    pub model: Option<String>,

    #[command(flatten)]
    pub job: NeedsOpt,
}

/// `wait [OPTIONS]`.
#[derive(Debug, Args)]
pub struct WaitArgs {
    #[command(flatten)]
    pub common: Common,

    #[command(flatten)]
    pub wait_opts: WaitOpts,

    /// The model the job will use (see `check --model`).
    #[arg(long, env = "CLAUDE_GUARD_MODEL", value_name = "NAME")]
    pub model: Option<String>,

    #[command(flatten)]
    pub job: NeedsOpt,
}

/// `snapshot [OPTIONS]`.
#[derive(Debug, Args)]
pub struct SnapshotArgs {
    #[command(flatten)]
    pub common: Common,

    /// The model whose buckets set the cache TTL (see `check --model`).
    #[arg(long, env = "CLAUDE_GUARD_MODEL", value_name = "NAME")]
    pub model: Option<String>,
}

/// `claude-guard __refresh --stage detach|fetch --source oauth|web [--org X]`: the detached
/// background refresh a start deciding on a stale snapshot launches (`state::refresh`).
/// Internal: parsed apart from [`Cli`] (so help, completions and man pages never show it),
/// and no environment variables (only the guard that starts it passes these).
#[derive(Debug, Parser)]
#[command(name = "claude-guard __refresh", no_binary_name = true)]
pub struct RefreshArgs {
    /// Which half of the refresh this process is.
    #[arg(long, value_enum)]
    pub stage: crate::state::refresh::Stage,

    /// The live source to fetch from.
    #[arg(long, value_enum)]
    pub source: crate::state::refresh::LiveSource,

    /// `--org` of the guard that started it.
    #[arg(long)]
    pub org: Option<String>,
}

/// `--bridge URL`: [`crate::state::source::parse_bridge_url`], but a rejected value is shown
/// without its user name, password, query or fragment (clap's own message echoes it verbatim,
/// and a bridge URL may carry `?token=`).
#[derive(Clone)]
struct BridgeUrlParser;

impl clap::builder::TypedValueParser for BridgeUrlParser {
    type Value = reqwest::Url;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<reqwest::Url, clap::Error> {
        let text = value.to_string_lossy();
        crate::state::source::parse_bridge_url(&text).map_err(|why| {
            let arg = arg.map_or_else(|| "--bridge <URL>".to_owned(), ToString::to_string);
            cmd.clone().error(
                clap::error::ErrorKind::ValueValidation,
                format!(
                    "invalid value '{}' for '{arg}': {why}",
                    crate::state::source::redact_url_text(&text)
                ),
            )
        })
    }
}

fn parse_rfc3339(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("{e}; expected RFC 3339 like 2026-07-06T08:00:00Z"))
}

/// The longest duration any option accepts (100 years): longer ones are a typo, and date
/// arithmetic on them would leave chrono's range.
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 31_557_600); // humantime's year: 365.25 d

/// Parses a humantime duration that names its unit (`90s`, `2h 30m`); a bare number is refused,
/// and so is one longer than [`MAX_DURATION`] (a usage error, exit 2).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s)
        .map_err(|e| format!("{e}; use a unit, e.g. 90s, 30m, 2h 30m"))?;
    if d > MAX_DURATION {
        return Err("longer than 100 years; use a shorter duration, e.g. 8h or 30days".into());
    }
    Ok(d)
}

/// A `--model-fallback` value must name a known family, or the guard could not tell which
/// limits apply to it. Empty (`CLAUDE_GUARD_MODEL_FALLBACK=`) means no fallback.
fn parse_model_fallback(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.is_empty() || crate::core::model::family_of(s, false).is_some() {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "{s:?} names no model family claude-guard knows; use sonnet, opus, haiku, fable or a \
             full id such as claude-sonnet-5-5"
        ))
    }
}

fn parse_percent(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .trim_end_matches('%')
        .parse()
        .map_err(|_| format!("{s:?} is not a number; give a percent 0–100, e.g. 90"))?;
    if (0.0..=100.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is outside 0–100"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
        command().debug_assert();
        RefreshArgs::command().debug_assert();
    }

    #[test]
    fn supervise_options_without_supervise_are_a_usage_error() {
        let argv = |a: &[&str]| -> Vec<OsString> {
            std::iter::once("claude-guard")
                .chain(a.iter().copied())
                .map(OsString::from)
                .collect()
        };
        for flags in [
            &["--abort-at", "90"][..],
            &["--max-resumes", "2"],
            &["--resume-prompt=go on"],
        ] {
            let mut a = vec!["run"];
            a.extend_from_slice(flags);
            a.extend(["--", "-p", "x"]);
            let err = parse(&argv(&a)).unwrap_err();
            assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
            let text = err.to_string();
            assert!(text.contains("add --supervise"), "{text}");
            let mut supervised = vec!["run", "--supervise"];
            supervised.extend_from_slice(&a[1..]);
            assert!(parse(&argv(&supervised)).is_ok(), "{supervised:?}");
        }
        // claude's own arguments are claude's.
        assert!(parse(&argv(&["run", "--", "-p", "--max-resumes", "2"])).is_ok());
    }

    #[test]
    fn the_internal_refresh_command_is_apart_from_the_cli() {
        let a = RefreshArgs::try_parse_from(["--stage", "fetch", "--source", "oauth"]).unwrap();
        assert_eq!(a.stage, crate::state::refresh::Stage::Fetch);
        assert!(RefreshArgs::try_parse_from(["--stage", "fetch"]).is_err());
        assert!(Cli::try_parse_from(["g", "__refresh", "--stage", "fetch"]).is_err());
        let help = command().render_long_help().to_string();
        assert!(!help.contains("__refresh"), "{help}");
    }

    #[test]
    fn long_help_carries_the_epilogue_and_parsing_does_not_build_it() {
        let help = |args: &[&str]| {
            let err = command().try_get_matches_from(args).unwrap_err();
            assert_eq!(err.kind(), clap::error::ErrorKind::DisplayHelp);
            err.to_string()
        };
        for sub in EPILOGUE_ON {
            assert!(
                help(&["g", sub, "--help"]).contains("Use as `claude`"),
                "{sub}"
            );
        }
        assert!(help(&["g", "--help"]).contains("Use as `claude`"));
        assert!(!help(&["g", "status", "--help"]).contains("Use as `claude`"));
        assert!(Cli::command().get_after_long_help().is_none());
    }

    #[test]
    fn an_unknown_guard_option_before_an_explicit_separator_is_an_error() {
        let argv = |l: &[&str]| l.iter().map(OsString::from).collect::<Vec<_>>();
        let err = parse(&argv(&["g", "run", "--wiat", "--", "-p", "x"])).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::UnknownArgument);
        assert!(err.to_string().contains("'--wiat'"), "{err}");
        // Without `--`, or with claude's own `--` after the separator, all is claude's.
        for ok in [
            &["g", "run", "--wiat", "-p", "x"][..],
            &["g", "run", "--", "-p", "--", "x"],
            &["g", "run", "--wait", "--", "--wiat"],
        ] {
            assert!(parse(&argv(ok)).is_ok(), "{ok:?}");
        }
    }

    #[test]
    fn run_takes_claude_args_after_guard_options() {
        let cli = Cli::try_parse_from(["g", "run", "--max-age", "5m", "--", "-p", "--model", "x"])
            .unwrap();
        let Command::Run(run) = cli.command else {
            panic!()
        };
        assert_eq!(run.0.common.max_age, Duration::from_secs(300));
        assert_eq!(run.0.claude_args, ["-p", "--model", "x"]);
    }

    #[test]
    fn durations_need_units_and_percent_is_bounded() {
        assert!(Cli::try_parse_from(["g", "check", "--max-age", "90"]).is_err());
        assert!(Cli::try_parse_from(["g", "check", "--max-utilization", "120"]).is_err());
        assert!(Cli::try_parse_from(["g", "check", "--max-utilization", "85%"]).is_ok());
    }

    #[test]
    fn source_ttl_refresh_and_snapshot_command() {
        let cli = Cli::try_parse_from([
            "g",
            "check",
            "--source",
            "claude-code",
            "--ttl",
            "90s",
            "--refresh",
        ])
        .unwrap();
        let Command::Check(Deferred(c)) = cli.command else {
            panic!()
        };
        assert_eq!(
            c.common.source,
            crate::state::sources::SourceChoice::ClaudeCode
        );
        assert_eq!(c.common.ttl, Some(Duration::from_secs(90)));
        assert!(c.common.refresh);
        assert!(Cli::try_parse_from(["g", "check", "--source", "nope"]).is_err());
        assert!(Cli::try_parse_from(["g", "check", "--ttl", "90"]).is_err());
        let cli = Cli::try_parse_from(["g", "snapshot", "--source", "oauth"]).unwrap();
        assert!(matches!(cli.command, Command::Snapshot(_)));
    }
}
