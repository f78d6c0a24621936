//! Sleep-until-reset: sleep until the latest blocking `resets_at` plus `--grace`, read the
//! state again, decide again; repeat while still pinned. Sleeps against the wall clock in
//! short slices (a suspended laptop wakes on time) and stops at once on SIGINT/SIGTERM.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};

use crate::act::evaluate::{Evaluation, Inputs, evaluate_with};
use crate::core::exit_codes::Exit;
use crate::report;

/// How a wait ended.
pub enum Finished {
    /// The state was read again and decided: a go, or a refusal that waiting cannot lift.
    Done(Box<Evaluation>),
    /// SIGINT (130) or SIGTERM (143) arrived; claude must not start.
    Signalled(Exit),
}

/// Re-check intervals when a pinned bucket has no `resets_at`: 1, 2, 5, then every 10 min.
const BACKOFF: [Duration; 4] = [
    Duration::from_secs(60),
    Duration::from_secs(120),
    Duration::from_secs(300),
    Duration::from_secs(600),
];

/// Longest single sleep between wall-clock checks.
const SLICE: Duration = Duration::from_millis(200);

/// Off a TTY, a progress line every this often.
const LOG_EVERY: Duration = Duration::from_secs(600);

/// Which signal arrived: 0 none, else its number.
fn install_signal_flag() -> Result<Arc<AtomicUsize>> {
    let flag = Arc::new(AtomicUsize::new(0));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register_usize(sig, Arc::clone(&flag), sig as usize)
            .context("could not install the SIGINT/SIGTERM handler for --wait")?;
    }
    Ok(flag)
}

fn signalled(flag: &AtomicUsize) -> Option<Exit> {
    match flag.load(Ordering::Relaxed) {
        0 => None,
        s if s == signal_hook::consts::SIGTERM as usize => Some(Exit::Terminated),
        _ => Some(Exit::Interrupted),
    }
}

/// How long and how loudly to wait (`--max-wait`, `--grace`, `--quiet`).
#[derive(Debug, Clone, Copy)]
pub struct WaitOptions {
    /// Give up (exit 19) when the reset lies beyond this.
    pub max_wait: Duration,
    /// Added to the reset time before the state is read again.
    pub grace: Duration,
    /// No progress line.
    pub quiet: bool,
}

/// Waits from the refusal in `first` until a decision that waiting cannot change.
pub fn until_go(first: Evaluation, inputs: &Inputs, opts: &WaitOptions) -> Result<Finished> {
    let flag = install_signal_flag()?;
    let started = inputs.clock.now();
    let deadline = crate::core::time::add_saturating(started, opts.max_wait);
    let tty = std::io::stderr().is_terminal() && !opts.quiet;
    let mut eval = first;
    let mut backoff = 0usize;
    loop {
        let d = &eval.decision;
        if d.exit == Exit::Go || !d.waitable {
            return Ok(Finished::Done(Box::new(eval)));
        }
        let now = inputs.clock.now();
        let target = match d.resets_at {
            Some(t) => crate::core::time::add_saturating(t, opts.grace).max(now),
            None => {
                let step = BACKOFF[backoff.min(BACKOFF.len() - 1)];
                backoff += 1;
                crate::core::time::add_saturating(now, step)
            }
        };
        if target > deadline {
            // The unknown-reset back-off has used up --max-wait: give up with the refusal.
            return Ok(Finished::Done(Box::new(eval)));
        }
        let what = d
            .reason
            .as_ref()
            .map(|r| r.key().to_owned())
            .unwrap_or_default();
        let label = match d.resets_at {
            Some(t) => format!(
                "{what} ({}) resets {}",
                report::words(&what, None),
                report::when(t, now)
            ),
            None => format!("{what} pinned with no reset time; re-checking"),
        };
        if let Some(exit) = sleep_until(target, inputs, &label, tty, opts.quiet, &flag) {
            return Ok(Finished::Signalled(exit));
        }
        // Re-read past the caches: the reset has just passed, cached data predates it.
        eval = evaluate_with(inputs, true);
    }
}

/// Sleeps until `target` on the wall clock; `Some(exit)` when a signal arrived. On a TTY one
/// live line (an `indicatif` spinner with a countdown); off a TTY a line now and every 10 min.
fn sleep_until(
    target: DateTime<Utc>,
    inputs: &Inputs,
    label: &str,
    tty: bool,
    quiet: bool,
    flag: &AtomicUsize,
) -> Option<Exit> {
    let mut err = anstream::stderr();
    let live = tty.then(|| {
        let bar =
            indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} claude-guard: waiting {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar
    });
    if !quiet && !tty {
        let _ = writeln!(
            err,
            "claude-guard: waiting: {label}; re-checking at {}",
            report::utc(target)
        );
    }
    let mut last_log = std::time::Instant::now();
    let finish = |live: &Option<indicatif::ProgressBar>| {
        if let Some(bar) = live {
            bar.finish_and_clear();
        }
    };
    loop {
        if let Some(exit) = signalled(flag) {
            finish(&live);
            let _ = writeln!(
                err,
                "claude-guard: interrupted while waiting; claude was not started."
            );
            return Some(exit);
        }
        let now = inputs.clock.now();
        if now >= target {
            finish(&live);
            return None;
        }
        let left = Duration::from_secs((target - now).to_std().unwrap_or_default().as_secs());
        if let Some(bar) = &live {
            bar.set_message(format!("{} — {label}", humantime::format_duration(left)));
            bar.tick();
        } else if !quiet && last_log.elapsed() >= LOG_EVERY {
            last_log = std::time::Instant::now();
            let _ = writeln!(
                err,
                "claude-guard: still waiting, {} left",
                humantime::format_duration(left)
            );
        }
        std::thread::sleep((target - now).to_std().unwrap_or_default().min(SLICE));
    }
}
