//! `run --supervise`: the wiring between the command line, the supervisor
//! ([`crate::act::supervise`]) and the reports. A stop is reported exactly like a pre-flight
//! refusal (stderr lines, GitHub outputs, `--json`), with `supervised` added to the JSON.

use std::ffi::OsString;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::Result;

use super::{outcome, wait_options};
use crate::act::evaluate::{Evaluation, Inputs};
use crate::act::supervise::{self, Ending, Options};
use crate::cli::{RunArgs, SuperviseOpts};
use crate::core::exit_codes::Exit;
use crate::core::policy::Policy;
use crate::report;
use crate::report::github::{self, Channel};
use crate::report::print_lines;

/// Longest pause between mid-flight re-reads (`--abort-at`); `--ttl` shortens it. New data
/// reaches the shared cache at most once a TTL (60 s or more by default), so reading it more
/// often than this only costs CPU.
const POLL: Duration = Duration::from_secs(30);

/// The pre-flight policy under `--supervise --abort-at PCT`: a bucket already at or above
/// PCT refuses (18), as `--max-utilization PCT` would.
pub(super) fn preflight_policy(mut policy: Policy, opts: &SuperviseOpts) -> Policy {
    if opts.supervise
        && let Some(pct) = opts.abort_at
    {
        policy.max_utilization = policy.max_utilization.min(pct);
    }
    policy
}

/// Runs claude under supervision after the pre-flight go `eval`; returns the job's exit.
pub(super) fn run(
    claude: &Path,
    claude_args: &[OsString],
    eval: Evaluation,
    inputs: &Inputs,
    args: &RunArgs,
) -> Result<Exit> {
    {
        let o = outcome(&eval, inputs, args.wait);
        if args.common.explain {
            print_lines(&report::explain_lines(&o));
        }
        if let Some(line) = report::warning_line(&o) {
            print_lines(&[line]);
        }
    }
    let opts = Options {
        wait: args.wait,
        wait_opts: wait_options(&args.wait_opts),
        max_resumes: args.supervise.max_resumes,
        resume_prompt: args
            .supervise
            .resume_prompt
            .clone()
            .filter(|p| !p.trim().is_empty())
            .unwrap_or_else(|| supervise::DEFAULT_RESUME_PROMPT.to_owned()),
        abort_at: args.supervise.abort_at,
        model_fallback: args.model_fallback.clone().filter(|m| !m.is_empty()),
        poll: args
            .common
            .ttl
            .map_or(POLL, |t| t.clamp(Duration::from_secs(1), POLL)),
        explain: args.common.explain,
    };
    let job = supervise::supervise(claude, claude_args, eval, inputs, &opts)?;
    let (exit, mut json) = match &job.ending {
        Ending::Claude(exit) | Ending::Signalled(exit) => {
            // As plain `run` does before its exec: the pre-flight's outputs (a go).
            let o = outcome(&job.last, inputs, args.wait);
            github::report(&o, Channel::Stderr);
            (*exit, report::json_object(&o))
        }
        Ending::Stopped(stopped) => {
            let o = outcome(stopped, inputs, args.wait);
            github::report(&o, Channel::Stderr);
            print_lines(&report::refusal_lines(&o));
            (stopped.decision.exit, report::json_object(&o))
        }
    };
    if args.common.json {
        json["exit_code"] = exit.code().into();
        json["supervised"] = serde_json::json!({
            "session_id": job.session_id,
            "resumes": job.resumes,
            "runs": job.runs,
        });
        let _ = writeln!(std::io::stderr(), "{json}");
    }
    Ok(exit)
}
