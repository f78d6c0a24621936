//! GitHub Actions integration, active when `GITHUB_ACTIONS=true` (set by the runner):
//!
//! - `$GITHUB_OUTPUT` gets `decision`, `reason`, `exit_code`, `resets_at`, `wait_seconds` as
//!   `key=value` lines (the same values as `--json`; null is empty), for `if:` expressions;
//! - `$GITHUB_STEP_SUMMARY` gets a short markdown table of the buckets (JSON key, percent,
//!   reset);
//! - one workflow command: `::error::` for a refusal, `::warning::` for a billed run, an unknown
//!   state or the soft threshold; nothing for a plain go.
//!
//! The files are appended to and a failure to write them never changes the outcome: it is one
//! warning line on stderr. Every value and message is forced onto one line.
//!
//! Where the workflow command goes: `check`/`wait` print it on stdout, the documented channel
//! (stderr when `--json` owns stdout). `run` prints it on **stderr**, because its stdout belongs
//! to claude after exec; the runner honours workflow commands on stderr too (actions/runner's
//! `ScriptHandler` feeds the step's stderr through the same command-parsing `OutputManager` as
//! its stdout).

use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

use serde_json::Value;

use crate::core::decide::{Reason, Verdict, fmt_pct};
use crate::report::{self, Outcome};

/// The keys written to `$GITHUB_OUTPUT`, in order (also `--json` keys).
pub const OUTPUT_KEYS: [&str; 5] = [
    "decision",
    "reason",
    "exit_code",
    "resets_at",
    "wait_seconds",
];

/// Where the workflow command (annotation) is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// stdout (`check`, `wait`).
    Stdout,
    /// stderr (`run`, and `--json` runs whose stdout is the JSON object).
    Stderr,
}

/// Whether the process runs as a GitHub Actions step (`GITHUB_ACTIONS=true`).
pub fn active() -> bool {
    std::env::var_os("GITHUB_ACTIONS").is_some_and(|v| v == "true")
}

/// Any text as one line: control characters (newlines included) become spaces.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The `$GITHUB_OUTPUT` text: one `key=value` line per [`OUTPUT_KEYS`] entry, values taken from
/// the `--json` object (strings bare, numbers as digits, null empty).
pub fn output_lines(o: &Outcome) -> String {
    let json = report::json_object(o);
    let mut out = String::new();
    for key in OUTPUT_KEYS {
        let value = match &json[key] {
            Value::Null => String::new(),
            Value::String(s) => one_line(s),
            other => one_line(&other.to_string()),
        };
        let _ = writeln!(out, "{key}={value}");
    }
    out
}

/// A markdown table cell: one line, `|` escaped, no backticks (names are set in code spans).
fn cell(s: &str) -> String {
    one_line(s).replace('`', "'").replace('|', "\\|")
}

/// The `$GITHUB_STEP_SUMMARY` text: a heading with the decision, one line of why when there
/// is no bucket to show it, and a table of every bucket (named by its JSON key).
pub fn summary(o: &Outcome) -> String {
    let d = o.decision;
    let verdict = match d.verdict {
        Verdict::Go => "go",
        Verdict::GoBilled => "go, billed",
        Verdict::Refuse => "refuse",
        Verdict::Unknown => "unknown",
    };
    let reason = d
        .reason
        .as_ref()
        .map_or(String::new(), |r| format!("`{}`, ", cell(r.key())));
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### claude-guard: {verdict} ({reason}exit {})\n",
        d.exit.code()
    );
    let mut facts = vec![format!("Model family: {}", o.model.family)];
    if let Some(t) = d.resets_at {
        facts.push(format!(
            "resets {} ({})",
            report::utc(t),
            report::relative(t, o.now)
        ));
    }
    let _ = writeln!(out, "{}.\n", facts.join("; "));
    if let crate::core::decide::PlanLimits::NotApplicable(why) = &d.plan_limits {
        let _ = writeln!(out, "Plan limits do not apply: {}.\n", cell(why));
    }
    if d.verdict == Verdict::Unknown {
        let _ = writeln!(
            out,
            "State unknown: {}.\n",
            cell(&d.unknown_because.join("; "))
        );
    }
    if !d.buckets.is_empty() {
        let _ = writeln!(out, "| bucket | used | resets | applies |");
        let _ = writeln!(out, "|---|--:|---|---|");
        for v in &d.buckets {
            let used = v
                .bucket
                .utilization
                .map_or("?".to_owned(), |u| format!("{}%", fmt_pct(u)));
            let reset = match (v.has_reset, v.bucket.resets_at) {
                (true, Some(t)) => format!("{} (has reset: 0%)", report::utc(t)),
                (false, Some(t)) => {
                    format!("{} ({})", report::utc(t), report::relative(t, o.now))
                }
                (_, None) => "—".to_owned(),
            };
            let applies = match (v.pinned, v.applies) {
                (true, _) => "**pinned**",
                (false, true) => "yes",
                (false, false) => "no",
            };
            let _ = writeln!(
                out,
                "| `{}` | {used} | {reset} | {applies} |",
                cell(&v.bucket.name)
            );
        }
        let _ = writeln!(out);
    }
    out
}

/// Escapes a workflow-command message as the Actions toolkit does (`%`, CR, LF).
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// The one workflow command for this outcome: `::error::` for a refusal, `::warning::` for a
/// billed go, an unknown state (let through or refused) and the soft threshold; `None` for a
/// plain go. The message is the first line people see on stderr, without colour.
pub fn annotation(o: &Outcome) -> Option<String> {
    let d = o.decision;
    let (level, text) = match (d.verdict, &d.reason) {
        (Verdict::Go, _) => return None,
        (Verdict::GoBilled, _) => ("warning", report::warning_line(o)?),
        (Verdict::Unknown, _) if d.exit == crate::core::exit_codes::Exit::Go => {
            ("warning", report::warning_line(o)?)
        }
        (Verdict::Unknown, _) | (Verdict::Refuse, Some(Reason::Threshold(_))) => {
            ("warning", report::refusal_lines(o).into_iter().next()?)
        }
        (Verdict::Refuse, _) => ("error", report::refusal_lines(o).into_iter().next()?),
    };
    let plain = anstream::adapter::strip_str(&text).to_string();
    // `::warning::` already says it is a warning.
    let plain = plain.replacen("claude-guard: warning: ", "claude-guard: ", 1);
    Some(format!("::{level}::{}", escape_data(&one_line(&plain))))
}

fn append(var: &str, text: &str) {
    let Some(path) = std::env::var_os(var).filter(|p| !p.is_empty()) else {
        return;
    };
    let path = Path::new(&path);
    let result = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()));
    if let Err(e) = result {
        let _ = writeln!(
            anstream::stderr(),
            "claude-guard: warning: could not append to {var} ({}): {e}; the decision stands.",
            path.display()
        );
    }
}

/// When running under GitHub Actions: appends the outputs and the summary, and prints the
/// annotation on `channel`. Does nothing elsewhere. Never fails.
pub fn report(o: &Outcome, channel: Channel) {
    if !active() {
        return;
    }
    append("GITHUB_OUTPUT", &output_lines(o));
    append("GITHUB_STEP_SUMMARY", &summary(o));
    if let Some(line) = annotation(o) {
        let _ = match channel {
            Channel::Stdout => writeln!(std::io::stdout(), "{line}"),
            Channel::Stderr => writeln!(std::io::stderr(), "{line}"),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_command_escaping_and_single_lines() {
        assert_eq!(escape_data("100% a\r\nb"), "100%25 a%0D%0Ab");
        assert_eq!(one_line("a\nb\tc"), "a b c");
        assert_eq!(cell("x|`y`\n"), "x\\|'y' ");
    }
}
