//! Claude Code sessions in claude's argv, for `run --supervise` (DESIGN.md "Long jobs:
//! supervised runs"): which session a run writes (`--session-id`, `-r`/`--resume`,
//! `-c`/`--continue`, `--fork-session`), the argv with a `--session-id` the guard adds, and the
//! argv of a resume (`--resume <session_id> -p -- <resume prompt>`, the user's other options
//! kept). Pure: argv in, argv out, parsed the way [`crate::core::model::parse_claude_args`]
//! parses it (commander's rules, research/claude-code-facts.md §6d).

use std::ffi::{OsStr, OsString};

use crate::core::model::{Token, TokenKind, tokens};

/// What claude's argv says about sessions (and whether it runs a model turn at all).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionArgs {
    /// `--session-id ID`.
    pub session_id: Option<String>,
    /// `-r`/`--resume [ID]`: `Some(None)` without an id (claude picks one).
    pub resume: Option<Option<String>>,
    /// `-c`/`--continue`: the newest session of the working directory.
    pub continue_session: bool,
    /// `--fork-session`: a resumed session is copied into a new id.
    pub fork_session: bool,
    /// `--no-session-persistence`: no transcript is written.
    pub no_session_persistence: bool,
}

/// Reads the session options of claude's argv (without `argv[0]`).
pub fn session_args(args: &[OsString]) -> SessionArgs {
    let mut out = SessionArgs::default();
    for token in tokens(args) {
        let TokenKind::Opt { name, value, .. } = token.kind else {
            continue;
        };
        let value = value.map(|v| String::from_utf8_lossy(&v).into_owned());
        match name.as_str() {
            "--session-id" => out.session_id = value,
            "-r" | "--resume" => out.resume = Some(value.filter(|v| !v.is_empty())),
            "-c" | "--continue" => out.continue_session = true,
            "--fork-session" => out.fork_session = true,
            "--no-session-persistence" => out.no_session_persistence = true,
            _ => {}
        }
    }
    out
}

/// Which session a supervised run writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionPlan {
    /// argv names it (`--session-id ID`, `--resume ID`): follow that id.
    Named(String),
    /// The guard adds `--session-id ID` (a new session, or the new fork of `--fork-session`).
    Added(String),
    /// `--continue` or `--resume` without an id: the newest transcript of the working
    /// directory written after the start.
    Newest,
}

/// The session plan for argv with `new_id` (a fresh UUID) available to add.
pub fn plan(s: &SessionArgs, new_id: &str) -> SessionPlan {
    if let Some(id) = &s.session_id {
        return SessionPlan::Named(id.clone());
    }
    let resuming = s.resume.is_some() || s.continue_session;
    if resuming && s.fork_session {
        return SessionPlan::Added(new_id.to_owned());
    }
    match &s.resume {
        Some(Some(id)) => SessionPlan::Named(id.clone()),
        Some(None) => SessionPlan::Newest,
        None if s.continue_session => SessionPlan::Newest,
        None => SessionPlan::Added(new_id.to_owned()),
    }
}

/// argv with `--session-id ID` in front (a required-value option there can never be taken
/// as another option's value, and the first operand stays the first operand).
pub fn with_session_id(argv: &[OsString], id: &str) -> Vec<OsString> {
    let mut out = vec![OsString::from("--session-id"), OsString::from(id)];
    out.extend_from_slice(argv);
    out
}

/// The argv of a resume: the user's options kept (model, permission mode, tools, output
/// format, max turns, ...), the prompt operands, `--` and what follows it, `-p`, and the
/// session options (`--session-id`, `-r`/`--resume`, `-c`/`--continue`, `--fork-session`)
/// dropped; then `--resume ID -p -- PROMPT` appended.
pub fn resume_argv(argv: &[OsString], session_id: &str, prompt: &str) -> Vec<OsString> {
    const DROP: [&str; 8] = [
        "--session-id",
        "-r",
        "--resume",
        "-c",
        "--continue",
        "--fork-session",
        "-p",
        "--print",
    ];
    let toks = tokens(argv);
    let mut out: Vec<OsString> = Vec::new();
    let mut k = 0;
    while k < toks.len() {
        let Token { range, kind } = &toks[k];
        match kind {
            TokenKind::Opt {
                clustered: true, ..
            } => {
                // The parts of one short cluster (`-pcd`, `-pn NAME`) share its argv item:
                // keep the parts that are not dropped, as one cluster, with a value item.
                let start = range.start;
                let mut letters = String::new();
                let mut value_items = None;
                while let Some(Token { range, kind }) =
                    toks.get(k).filter(|t| t.range.start == start)
                {
                    match kind {
                        TokenKind::Opt {
                            name,
                            value,
                            inline,
                            ..
                        } if !DROP.contains(&name.as_str()) => {
                            letters.push_str(&name[1..]);
                            match value {
                                Some(v) if *inline => letters.push_str(&String::from_utf8_lossy(v)),
                                _ if range.len() > 1 => value_items = Some(start + 1..range.end),
                                _ => {}
                            }
                        }
                        TokenKind::Unknown(name) => letters.push_str(&name[1..]),
                        _ => {}
                    }
                    k += 1;
                }
                if !letters.is_empty() {
                    out.push(OsString::from(format!("-{letters}")));
                    if let Some(items) = value_items {
                        out.extend_from_slice(&argv[items]);
                    }
                }
                continue;
            }
            TokenKind::Opt { name, .. } if DROP.contains(&name.as_str()) => {}
            TokenKind::Opt { .. } | TokenKind::Unknown(_) => {
                out.extend_from_slice(&argv[range.clone()]);
            }
            TokenKind::Operand | TokenKind::Rest => {}
        }
        k += 1;
    }
    out.extend(
        ["--resume", session_id, "-p", "--", prompt]
            .iter()
            .map(OsStr::new)
            .map(OsStr::to_os_string),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn a_run_that_names_no_session_gets_one_added() {
        let a = session_args(&v(&["-p", "fix the bug", "--model", "opus"]));
        assert!(crate::core::model::parse_claude_args(&v(&["-p", "fix the bug"])).print);
        assert_eq!(plan(&a, "N"), SessionPlan::Added("N".into()));
        assert_eq!(
            with_session_id(&v(&["-p", "x"]), "N"),
            v(&["--session-id", "N", "-p", "x"])
        );
    }

    #[test]
    fn named_sessions_are_followed() {
        let a = session_args(&v(&["-p", "x", "--session-id", "S"]));
        assert_eq!(plan(&a, "N"), SessionPlan::Named("S".into()));
        let a = session_args(&v(&["-p", "--resume", "S", "go on"]));
        assert_eq!(plan(&a, "N"), SessionPlan::Named("S".into()));
        let a = session_args(&v(&["-p", "--resume=S", "go on"]));
        assert_eq!(plan(&a, "N"), SessionPlan::Named("S".into()));
        // `-pc` continues, but is no exact `-p`: interactive, as claude (and the guard's own
        // argv parser) reads it (DESIGN.md "The run's model family").
        let a = session_args(&v(&["-pc", "go on"]));
        assert!(
            !crate::core::model::parse_claude_args(&v(&["-pc", "go on"])).print
                && a.continue_session
        );
        assert_eq!(plan(&a, "N"), SessionPlan::Newest);
        // `-r` followed by an option takes no id.
        let a = session_args(&v(&["-r", "-p", "go on"]));
        assert_eq!(plan(&a, "N"), SessionPlan::Newest);
    }

    #[test]
    fn a_fork_gets_a_new_id() {
        let a = session_args(&v(&["-p", "--resume", "S", "--fork-session", "x"]));
        assert_eq!(plan(&a, "N"), SessionPlan::Added("N".into()));
        let a = session_args(&v(&["-p", "-c", "--fork-session", "x"]));
        assert_eq!(plan(&a, "N"), SessionPlan::Added("N".into()));
    }

    #[test]
    fn a_resume_keeps_the_options_and_drops_prompt_and_session_flags() {
        let argv = v(&[
            "--session-id",
            "S",
            "-p",
            "do the long task",
            "--model",
            "opus",
            "--allowedTools",
            "Bash",
            "Read",
            "--output-format=json",
            "--max-turns",
            "40",
            "--fork-session",
        ]);
        assert_eq!(
            resume_argv(&argv, "S", "continue"),
            v(&[
                "--model",
                "opus",
                "--allowedTools",
                "Bash",
                "Read",
                "--output-format=json",
                "--max-turns",
                "40",
                "--resume",
                "S",
                "-p",
                "--",
                "continue"
            ])
        );
        // Bundles lose -p/-c only; what follows `--` is the prompt.
        assert_eq!(
            resume_argv(&v(&["-pcd", "--", "-x prompt"]), "S", "go"),
            v(&["-d", "--resume", "S", "-p", "--", "go"])
        );
        // A value-taking flag inside a cluster keeps its value (`-pn NAME`), and a variadic
        // flag's first value is a value even when it looks like an option.
        assert_eq!(
            resume_argv(&v(&["-pn", "job", "task"]), "S", "go"),
            v(&["-n", "job", "--resume", "S", "-p", "--", "go"])
        );
        // (claude reads `task` as a second tool name too: the values run to the next option.)
        assert_eq!(
            resume_argv(&v(&["-p", "--allowedTools", "--resume", "task"]), "S", "go"),
            v(&[
                "--allowedTools",
                "--resume",
                "task",
                "--resume",
                "S",
                "-p",
                "--",
                "go"
            ])
        );
        // A value that looks like the prompt stays with its option.
        assert_eq!(
            resume_argv(
                &v(&["-p", "--append-system-prompt", "be brief", "task"]),
                "S",
                "go"
            ),
            v(&[
                "--append-system-prompt",
                "be brief",
                "--resume",
                "S",
                "-p",
                "--",
                "go"
            ])
        );
    }
}
