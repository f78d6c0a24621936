//! `run --supervise` (DESIGN.md "Long jobs: supervised runs", normative): claude runs as a
//! child of the guard instead of replacing it, so that a plan limit met mid-job is reported
//! (and, with `--wait`, waited out and resumed) instead of ending the job with a bare exit 1.
//!
//! - The child keeps the terminal and all three streams. Signals reach claude once: a
//!   SIGINT/SIGTERM/SIGHUP sent to the guard by a process outside its process group (`kill`,
//!   a CI runner cancelling a step) is passed on; one from the terminal (sent by the kernel to
//!   the whole foreground group, claude included) or from inside the group is not repeated.
//! - After claude exits: the last assistant entry of the session's transcript says whether a
//!   plan limit stopped it (zero requests, [`crate::state::transcript`]); without a transcript
//!   a non-zero exit costs one fresh read of the usage state.
//! - In print mode with `--wait`: sleep until the reset ([`crate::act::wait`]), then
//!   `claude --resume <session_id> -p -- <resume prompt>`, at most `max_resumes` times; with
//!   a model fallback, a stop on the model's own weekly bucket resumes at once on it.
//! - With `abort_at`: while claude runs, the state is re-read through the shared cache (no
//!   request the cache would not make anyway); at PCT claude gets SIGINT (SIGTERM 10 s later)
//!   and the run counts as stopped on that bucket.

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, getpgid, getpgrp};

use crate::act::evaluate::{Evaluation, Inputs, evaluate_with, resolve_model};
use crate::act::launch;
use crate::act::wait::{self, WaitOptions};
use crate::core::decide::{self, Decision, Reason, Verdict};
use crate::core::exit_codes::Exit;
use crate::core::fallback;
use crate::core::forecast;
use crate::core::model::{Family, ModelChoice, parse_claude_args};
use crate::core::session::{self, SessionPlan};
use crate::core::snapshot::{BucketKind, Origin, Snapshot};
use crate::core::stop::{self, StopBucket};
use crate::state::{claude_files, transcript};

/// Variables removed from claude's environment: under `--supervise` the guard owns waiting,
/// and a `claude` started by claude's own tools must not sleep for hours.
pub const REMOVED_ENV: [&str; 3] = [
    "CLAUDE_CODE_RETRY_WATCHDOG",
    "CLAUDE_GUARD_SUPERVISE",
    "CLAUDE_GUARD_WAIT",
];

/// The resume prompt when none is given.
pub const DEFAULT_RESUME_PROMPT: &str = "The usage limit that stopped you has reset. Continue \
the task from where it stopped; do not redo work that is already finished.";

/// After SIGINT, claude gets this long to end before SIGTERM.
const ABORT_GRACE: Duration = Duration::from_secs(10);
/// With `--abort-at`, how often the guard checks on the child between re-reads (it sleeps in
/// between; without `--abort-at` it blocks in `wait` instead).
const CHILD_POLL: Duration = Duration::from_millis(250);

/// What `--supervise` was asked for.
#[derive(Debug, Clone)]
pub struct Options {
    /// `--wait`: wait for the reset and resume (print mode).
    pub wait: bool,
    /// `--max-wait`, `--grace`, `--quiet`.
    pub wait_opts: WaitOptions,
    /// `--max-resumes`.
    pub max_resumes: u32,
    /// `--resume-prompt`.
    pub resume_prompt: String,
    /// `--abort-at PCT` (percent 0–100).
    pub abort_at: Option<f64>,
    /// `--model-fallback MODEL`.
    pub model_fallback: Option<String>,
    /// How often the state is re-read mid-flight (with `abort_at`), through the cache.
    pub poll: Duration,
    /// `--explain`: print each note on stderr as it happens.
    pub explain: bool,
}

/// What the supervisor did, in words (`--explain`), printed as it happens when asked.
struct Notes {
    explain: bool,
}

impl Notes {
    fn push(&mut self, line: impl Into<String>) {
        if self.explain {
            say(&line.into());
        }
    }
}

/// One run of claude (`supervised.runs[]` in JSON).
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunRecord {
    /// claude's exit status (128 + N when signal N ended it).
    pub exit_status: i32,
    /// The bucket a plan limit stopped it on, or `None`.
    pub stopped_by: Option<String>,
    /// That bucket's reset, RFC 3339 UTC.
    #[serde(serialize_with = "ser_time")]
    pub resets_at: Option<DateTime<Utc>>,
}

/// Serializes a time as [`crate::core::time::rfc3339`] (as every other time in `--json`: the
/// server's fraction kept) or null.
fn ser_time<S: serde::Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&crate::core::time::rfc3339(*t)),
        None => s.serialize_none(),
    }
}

/// How a supervised job ended.
pub enum Ending {
    /// No plan limit stopped the last run: claude's own status.
    Claude(Exit),
    /// A plan limit stopped it and no resume followed: report like a pre-flight refusal
    /// (the evaluation's decision carries the bucket, its code and reset).
    Stopped(Box<Evaluation>),
    /// SIGINT/SIGTERM while waiting for a reset (130/143); claude was not restarted.
    Signalled(Exit),
}

/// The whole job.
pub struct Supervised {
    /// The session followed (`None`: `--continue` found no transcript).
    pub session_id: Option<String>,
    /// Resumes made.
    pub resumes: u32,
    /// Every run, in order.
    pub runs: Vec<RunRecord>,
    /// How it ended.
    pub ending: Ending,
    /// The evaluation of the last run's model (pre-flight, or the last re-read).
    pub last: Box<Evaluation>,
}

/// Whether `run --supervise` supervises a run whose pre-flight is `eval` (plan limits apply),
/// or execs it as `run` does. A run without a model turn never gets here: `run` execs it
/// before reading any state (`ClaudeArgs::no_turn`).
pub fn supervises(eval: &Evaluation) -> bool {
    matches!(eval.decision.plan_limits, decide::PlanLimits::Apply)
}

/// The signal forwarder: a thread that passes SIGINT/SIGTERM/SIGHUP sent to the guard from
/// outside its process group on to the current child. SIGQUIT too: a terminal's Ctrl-\ must
/// not kill the guard and leave claude running without it.
struct Forwarder {
    child: Arc<AtomicI32>,
    /// Signals that arrived while a child ran (any origin), for "the user cancelled".
    received: Arc<AtomicUsize>,
    handle: signal_hook::iterator::Handle,
}

impl Forwarder {
    fn install() -> Result<Forwarder> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
        use signal_hook::iterator::SignalsInfo;
        use signal_hook::iterator::exfiltrator::WithOrigin;
        let mut signals = SignalsInfo::<WithOrigin>::new([SIGINT, SIGTERM, SIGHUP, SIGQUIT])
            .context("could not install the signal handlers for --supervise")?;
        let handle = signals.handle();
        let child = Arc::new(AtomicI32::new(0));
        let received = Arc::new(AtomicUsize::new(0));
        let (c, r) = (Arc::clone(&child), Arc::clone(&received));
        std::thread::spawn(move || {
            let own_group = getpgrp();
            for origin in signals.forever() {
                let pid = c.load(Ordering::SeqCst);
                if pid <= 0 {
                    continue;
                }
                r.fetch_add(1, Ordering::SeqCst);
                // Sent by a process (kill, sigqueue), not by the kernel for the terminal.
                let Some(sender) = origin.process else {
                    continue;
                };
                let inside = getpgid(Some(Pid::from_raw(sender.pid))).is_ok_and(|g| g == own_group);
                if inside {
                    continue;
                }
                if let Ok(sig) = Signal::try_from(origin.signal) {
                    let _ = kill(Pid::from_raw(pid), sig);
                    say(&format!(
                        "claude-guard: passed {} on to claude (pid {pid})",
                        sig.as_str()
                    ));
                }
            }
        });
        Ok(Forwarder {
            child,
            received,
            handle,
        })
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.handle.close();
    }
}

/// How one child run ended.
struct ChildEnd {
    status: i32,
    /// `--abort-at` ended it: the bucket and its reset.
    aborted: Option<(BucketKind, Option<DateTime<Utc>>)>,
    /// A signal reached the guard while it ran.
    signalled: bool,
}

fn status_code(s: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0))
}

/// The applicable bucket at or above `pct` with the highest utilization, if any.
fn over(decision: &Decision, pct: f64) -> Option<(BucketKind, Option<DateTime<Utc>>, f64)> {
    decision
        .buckets
        .iter()
        .filter(|v| v.applies)
        .filter_map(|v| v.effective.map(|e| (v, e)))
        .filter(|(_, e)| *e >= pct)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(v, e)| (v.bucket.kind.clone(), v.bucket.resets_at, e))
}

/// What the guard watches while claude runs, every `poll`, through the shared cache (a
/// request only when the cache would make one).
struct MidFlight<'a> {
    inputs: &'a Inputs<'a>,
    /// `--abort-at PCT`: end claude when an applicable bucket reaches it.
    abort_at: Option<f64>,
    /// When the job is likely to end (start + `--needs`): warn once when a bucket's recent pace
    /// reaches its limit before then (DESIGN.md "Forecast").
    job_end: Option<DateTime<Utc>>,
    poll: Duration,
}

fn run_child(
    claude: &Path,
    argv: &[OsString],
    inherit_stdin: bool,
    fwd: &Forwarder,
    watch: Option<MidFlight>,
    warned: &mut bool,
) -> Result<ChildEnd> {
    let mut cmd = launch::command(claude, argv);
    for v in REMOVED_ENV {
        cmd.env_remove(v);
    }
    if !inherit_stdin {
        cmd.stdin(Stdio::null());
    }
    let received_before = fwd.received.load(Ordering::SeqCst);
    let mut child = cmd
        .spawn()
        .map_err(|e| anyhow::Error::new(launch::LaunchError::start_failed(claude, &e)))?;
    let pid = i32::try_from(child.id()).unwrap_or(0);
    fwd.child.store(pid, Ordering::SeqCst);
    let mut aborted = None;
    let mut sigint_at: Option<Instant> = None;
    let mut next_read = Instant::now();
    let status = loop {
        let Some(m) = &watch else {
            // Nothing to do while claude runs: block until it exits (no wake-ups).
            break child.wait().context("waiting for claude")?;
        };
        if let Some(s) = child.try_wait().context("waiting for claude")? {
            break s;
        }
        {
            if aborted.is_none() && Instant::now() >= next_read {
                next_read = Instant::now() + m.poll;
                // Through the shared cache: a request only when the cache would make one.
                let eval = evaluate_with(m.inputs, false);
                if !*warned
                    && let Some(end) = m.job_end
                    && let Some(f) = forecast::recent_warning(&eval.decision.forecast, end)
                {
                    *warned = true;
                    say(&format!(
                        "claude-guard: warning: {}",
                        crate::report::forecast::recent_warning_line(f, eval.now)
                    ));
                }
                if let Some(pct) = m.abort_at
                    && let Some((kind, resets_at, util)) = over(&eval.decision, pct)
                {
                    say(&format!(
                        "claude-guard: {} reached {}% (--abort-at {}%): ending claude (SIGINT)",
                        stop::name_of(&kind),
                        decide::fmt_pct(util),
                        decide::fmt_pct(pct)
                    ));
                    let _ = kill(Pid::from_raw(pid), Signal::SIGINT);
                    sigint_at = Some(Instant::now());
                    aborted = Some((kind, resets_at));
                }
            }
            if let Some(t) = sigint_at
                && t.elapsed() >= ABORT_GRACE
            {
                let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
                sigint_at = None;
            }
        }
        std::thread::sleep(CHILD_POLL);
    };
    fwd.child.store(0, Ordering::SeqCst);
    Ok(ChildEnd {
        status: status_code(status),
        aborted,
        signalled: fwd.received.load(Ordering::SeqCst) != received_before,
    })
}

/// The evaluation a stop on `kind` (reset `resets_at`) is reported and waited on with: `base`
/// with that bucket pinned, decided again; a refusal with the bucket's own code even when the
/// reset has passed meanwhile (claude did stop on it).
fn stop_eval(
    base: Option<&Snapshot>,
    kind: &BucketKind,
    resets_at: Option<DateTime<Utc>>,
    inputs: &Inputs,
    model: &ModelChoice,
    attempts: Vec<crate::state::sources::Attempt>,
) -> Evaluation {
    let now = inputs.clock.now();
    let empty = Snapshot::unknown(
        Origin {
            kind: "none".into(),
            location: String::new(),
        },
        "no usage state read",
    );
    let pinned = stop::pin(base.unwrap_or(&empty), kind, resets_at);
    let mut decision = decide::decide(&pinned, &inputs.policy, model.family, now);
    let name = pinned
        .usage
        .as_ref()
        .and_then(|u| {
            u.buckets
                .iter()
                .find(|b| stop::name_of(&b.kind) == stop::name_of(kind))
        })
        .map_or_else(|| stop::name_of(kind), |b| b.name.clone());
    // A refusal on a pinned bucket (this one, or one with a later reset) or beyond --max-wait
    // stands as decided; anything else (a reset that has passed meanwhile, extra usage that
    // claude was not allowed to use) becomes the stop itself.
    let refused_on_bucket = decision.verdict == Verdict::Refuse
        && matches!(
            decision.reason,
            Some(Reason::Bucket(_) | Reason::MaxWait(_))
        );
    if !refused_on_bucket {
        decision.verdict = Verdict::Refuse;
        decision.exit = decide::exit_for(kind);
        decision.reason = Some(Reason::Bucket(name.clone()));
        decision.resets_at = resets_at;
        decision.waitable = true;
        if !decision.pinned.contains(&name) {
            decision.pinned.push(name.clone());
        }
    }
    decision.trace.push(format!(
        "claude stopped on {name}: its plan limit was reached mid-run"
    ));
    Evaluation {
        decision,
        snapshot: Some(pinned),
        model: model.clone(),
        now,
        attempts,
        notes: vec![],
    }
}

/// The family whose own weekly bucket `kind` is.
fn own_weekly(kind: &BucketKind, family: Family) -> bool {
    kind.is_model_weekly() && decide::applies_kind(kind, family)
}

/// Supervises claude from the pre-flight go `first` until the job ends. `inputs` are the
/// pre-flight's (the policy, sources, clock); `argv` is claude's argv as the user gave it.
pub fn supervise(
    claude: &Path,
    argv: &[OsString],
    first: Evaluation,
    inputs: &Inputs,
    opts: &Options,
) -> Result<Supervised> {
    let fwd = Forwarder::install()?;
    let config_dir = claude_files::config_dir();
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let sargs = session::session_args(argv);
    let new_id = uuid::Uuid::new_v4().to_string();
    let mut notes = Notes {
        explain: opts.explain,
    };
    notes.push(format!(
        "--supervise: claude runs as a child; removed from its environment: {}",
        REMOVED_ENV.join(", ")
    ));
    let plan = session::plan(&sargs, &new_id);
    let mut run_argv = match &plan {
        SessionPlan::Added(id) => {
            notes.push(format!("--supervise: added --session-id {id}"));
            session::with_session_id(argv, id)
        }
        SessionPlan::Named(id) => {
            notes.push(format!("--supervise: following session {id}"));
            argv.to_vec()
        }
        SessionPlan::Newest => {
            notes.push("--supervise: following the newest session written by this run");
            argv.to_vec()
        }
    };
    let mut session_id = match plan {
        SessionPlan::Added(id) | SessionPlan::Named(id) => Some(id),
        SessionPlan::Newest => None,
    };
    let mut base_argv = argv.to_vec();
    let mut model = first.model.clone();
    let mut last = first;
    let mut runs = Vec::new();
    let mut resumes = 0u32;
    let stdin_tty = std::io::stdin().is_terminal();
    // With --needs, the job's likely end: a recent pace that reaches a limit before it is
    // worth one warning mid-run (the pre-flight already refused what it could foresee).
    let job_end = inputs
        .policy
        .needs
        .map(|n| crate::core::time::add_saturating(inputs.clock.now(), n));
    let mut warned = false;
    let supervise_inputs = |argv: &[OsString]| Inputs {
        refresh: false,
        claude_args: parse_claude_args(argv),
        ..inputs.clone()
    };
    loop {
        let started = SystemTime::now() - Duration::from_secs(1);
        let run_inputs = supervise_inputs(&run_argv);
        let watch = (opts.abort_at.is_some() || job_end.is_some()).then_some(MidFlight {
            inputs: &run_inputs,
            abort_at: opts.abort_at,
            job_end,
            poll: opts.poll,
        });
        let end = run_child(
            claude,
            &run_argv,
            resumes == 0 || stdin_tty,
            &fwd,
            watch,
            &mut warned,
        )?;
        if session_id.is_none()
            && let Some(dir) = &config_dir
        {
            session_id = transcript::newest_since(dir, &cwd, started).map(|(id, _)| id);
        }
        // Why it stopped: --abort-at, else the transcript (zero requests), else one fresh read.
        let mut fresh: Option<Evaluation> = None;
        let cause: Option<(BucketKind, Option<DateTime<Utc>>)> = if let Some(a) = end.aborted {
            Some(a)
        } else if end.signalled {
            None // a cancel (terminal or CI) is not a plan limit
        } else {
            let path = config_dir
                .as_deref()
                .zip(session_id.as_deref())
                .and_then(|(d, id)| transcript::find(d, id))
                // A transcript this run did not write says nothing about it (`--resume` of an
                // old session that failed before its first turn).
                .filter(|p| {
                    std::fs::metadata(p)
                        .and_then(|m| m.modified())
                        .is_ok_and(|m| m >= started)
                });
            let turn = path.as_deref().and_then(transcript::last_turn);
            let from_read = |fresh: &mut Option<Evaluation>| {
                let e = evaluate_with(&run_inputs, true);
                let found = pinned_cause(&e);
                *fresh = Some(e);
                found
            };
            match turn {
                Some(transcript::LastTurn::UsageLimit {
                    rate_limit_type,
                    resets_at,
                }) => match rate_limit_type.as_deref().and_then(stop::bucket_of) {
                    Some(StopBucket::Bucket(kind)) => Some((kind, resets_at)),
                    // `overage` or a type the guard does not know: the window a fresh read
                    // shows pinned.
                    _ => from_read(&mut fresh),
                },
                Some(transcript::LastTurn::Other) => None,
                None if end.status != 0 => {
                    notes.push("--supervise: no transcript; one fresh read of the usage state");
                    from_read(&mut fresh)
                }
                None => None,
            }
        };
        runs.push(RunRecord {
            exit_status: end.status,
            stopped_by: cause.as_ref().map(|(k, _)| stop::name_of(k)),
            resets_at: cause.as_ref().and_then(|(_, r)| *r),
        });
        let finish = |ending, last, runs, resumes, session_id| {
            Ok(Supervised {
                session_id,
                resumes,
                runs,
                ending,
                last: Box::new(last),
            })
        };
        let Some((kind, resets_at)) = cause else {
            let code = u8::try_from(end.status).unwrap_or(1);
            let ending = Ending::Claude(Exit::Claude(code));
            return finish(ending, last, runs, resumes, session_id);
        };
        let attempts = fresh
            .as_ref()
            .map(|f| f.attempts.clone())
            .unwrap_or_default();
        let base = fresh
            .as_ref()
            .and_then(|f| f.snapshot.as_ref())
            .or(last.snapshot.as_ref());
        let stopped = stop_eval(base, &kind, resets_at, &run_inputs, &model, attempts);
        // A session that was not saved (`--no-session-persistence`) cannot be resumed.
        let resumable =
            inputs.claude_args.print && session_id.is_some() && !sargs.no_session_persistence;
        if resumable && resumes >= opts.max_resumes && (opts.wait || opts.model_fallback.is_some())
        {
            notes.push(format!(
                "--supervise: --max-resumes {} reached",
                opts.max_resumes
            ));
        }
        if !resumable || resumes >= opts.max_resumes {
            let ending = Ending::Stopped(Box::new(stopped));
            return finish(ending, last, runs, resumes, session_id);
        }
        let sid = session_id.clone().unwrap_or_default();
        // --model-fallback: a stop on the model's own weekly bucket resumes at once on the
        // fallback when every bucket that applies to it is clear.
        if let Some(fb) = opts.model_fallback.as_deref()
            && own_weekly(&kind, model.family)
            && let Some(snapshot) = &stopped.snapshot
            && let Some(switch) = fallback::consider(
                &stopped.decision,
                snapshot,
                &run_inputs.policy,
                stopped.now,
                model.family,
                &fallback::Candidate {
                    model: fb,
                    argv: &session::resume_argv(&base_argv, &sid, &opts.resume_prompt),
                    family_of_argv: &|argv| {
                        resolve_model(run_inputs.explicit_model, &parse_claude_args(argv))
                            .0
                            .family
                    },
                },
            )
        {
            say(&fallback::message(&switch, &stopped.decision, fb));
            model = switch.model_choice(fb);
            base_argv = fallback::rewrite(&base_argv, fb).unwrap_or(base_argv);
            run_argv = switch.argv;
            resumes += 1;
            notes.push(format!(
                "--supervise: resume {resumes} of at most {} on {fb}: claude --resume {sid} -p",
                opts.max_resumes
            ));
            last = stopped;
            continue;
        }
        if !opts.wait {
            let ending = Ending::Stopped(Box::new(stopped));
            return finish(ending, last, runs, resumes, session_id);
        }
        // --wait: one fresh read (the reset a refusal names can be wrong by hours), the stop's
        // bucket pinned on it, then the pre-flight's wait machinery.
        let re = match fresh {
            Some(f) => f,
            None => evaluate_with(&run_inputs, true),
        };
        let mut waiting = stop_eval(
            re.snapshot.as_ref().or(stopped.snapshot.as_ref()),
            &kind,
            resets_at,
            &run_inputs,
            &model,
            re.attempts,
        );
        if waiting.decision.exit == Exit::MaxWait {
            let ending = Ending::Stopped(Box::new(waiting));
            return finish(ending, last, runs, resumes, session_id);
        }
        if let Some(pinned) = &waiting.snapshot {
            // Decided without forcing the stop: a reset that has passed lets the resume go now.
            let d = decide::decide(
                pinned,
                &run_inputs.policy,
                model.family,
                run_inputs.clock.now(),
            );
            if d.exit == Exit::Go {
                waiting.decision = d;
            }
        }
        let ready = if waiting.decision.exit == Exit::Go {
            waiting
        } else {
            match wait::until_go(waiting, &run_inputs, &opts.wait_opts)? {
                wait::Finished::Done(e) => *e,
                wait::Finished::Signalled(exit) => {
                    return finish(Ending::Signalled(exit), last, runs, resumes, session_id);
                }
            }
        };
        if ready.decision.exit != Exit::Go {
            let ending = Ending::Stopped(Box::new(ready));
            return finish(ending, last, runs, resumes, session_id);
        }
        resumes += 1;
        notes.push(format!(
            "--supervise: resume {resumes} of at most {}: claude --resume {sid} -p",
            opts.max_resumes
        ));
        say(&format!(
            "claude-guard: {} has reset; resuming session {sid} ({resumes}/{})",
            stop::name_of(&kind),
            opts.max_resumes
        ));
        run_argv = session::resume_argv(&base_argv, &sid, &opts.resume_prompt);
        last = ready;
    }
}

/// One line on stderr.
fn say(line: &str) {
    crate::report::print_lines(&[line.to_owned()]);
}

/// The applicable pinned bucket a fresh evaluation refuses on (kind and reset).
fn pinned_cause(e: &Evaluation) -> Option<(BucketKind, Option<DateTime<Utc>>)> {
    let d = &e.decision;
    if !matches!(d.verdict, Verdict::Refuse) {
        return None;
    }
    let name = match &d.reason {
        Some(Reason::Bucket(n)) => n,
        Some(Reason::MaxWait(inner)) => match inner.as_ref() {
            Reason::Bucket(n) => n,
            _ => return None,
        },
        _ => return None,
    };
    d.buckets
        .iter()
        .find(|v| &v.bucket.name == name && v.applies && v.pinned)
        .map(|v| (v.bucket.kind.clone(), v.bucket.resets_at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_own_weekly_bucket_of_a_family() {
        assert!(own_weekly(&BucketKind::SevenDayOpus, Family::Opus));
        assert!(!own_weekly(&BucketKind::SevenDayOpus, Family::Sonnet));
        assert!(!own_weekly(&BucketKind::FiveHour, Family::Opus));
        assert!(own_weekly(
            &BucketKind::WeeklyScoped("Fable".into()),
            Family::Fable
        ));
    }
}
