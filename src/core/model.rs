//! The run's **model family**, resolved the way Claude Code 2.1.329 resolves its model
//! (research/claude-code-facts.md §6): `--model` in claude's argv > `ANTHROPIC_MODEL` >
//! `model` in `--settings` > `.claude/settings.local.json` > `.claude/settings.json` >
//! `$CLAUDE_CONFIG_DIR/settings.json` or `~/.claude/settings.json` > the account default (Opus).
//!
//! Also what else claude's argv says that matters to the guard: print mode (`-p`), `--bare`,
//! `--permission-mode plan`, and a subcommand (`claude mcp ...`) that runs no model turn.

use std::ffi::{OsStr, OsString};
use std::fmt;

/// A model family: which weekly buckets apply to a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// `opus`, `best`, `opusplan`, `claude-opus-*`; also the subscriber default.
    Opus,
    /// `sonnet`, `claude-sonnet-*` (and `haiku` in plan mode).
    Sonnet,
    /// `haiku*`, `claude-haiku-*`.
    Haiku,
    /// `fable*`, `claude-fable-*`: gated by `limits[]` `weekly_scoped` "Fable".
    Fable,
}

impl Family {
    /// The family's name as in `scope.model.display_name` ("Opus", "Fable").
    pub fn display(self) -> &'static str {
        match self {
            Family::Opus => "Opus",
            Family::Sonnet => "Sonnet",
            Family::Haiku => "Haiku",
            Family::Fable => "Fable",
        }
    }

    /// Whether a `limits[]` `weekly_scoped` entry's `display_name` (e.g. "Fable", "Fable 5.1")
    /// names this family, case-insensitively.
    pub fn matches_display_name(self, display_name: &str) -> bool {
        let name = display_name.trim().to_ascii_lowercase();
        let family = self.display().to_ascii_lowercase();
        name == family || name.starts_with(&format!("{family} "))
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display().to_ascii_lowercase())
    }
}

/// The resolved model and where it came from (for `--explain` and JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelChoice {
    /// The family whose buckets apply.
    pub family: Family,
    /// The model name as given (`opus`, `claude-sonnet-5-5`); `None` for the account default.
    pub model: Option<String>,
    /// Where it came from: `--model`, `ANTHROPIC_MODEL`, a settings file path, or `default`.
    pub source: String,
    /// Set when the name was not recognized and the default family was assumed.
    pub note: Option<String>,
}

/// Maps a model name to its family (DESIGN.md "The run's model family"). `plan_mode` applies
/// Claude Code's plan-mode upgrade of `haiku` to Sonnet. `None`: unrecognized.
pub fn family_of(model: &str, plan_mode: bool) -> Option<Family> {
    let m = model.trim().to_ascii_lowercase();
    let m = m.strip_suffix("[1m]").unwrap_or(&m);
    if m == "opus" || m == "best" || m == "opusplan" || m.starts_with("claude-opus-") {
        return Some(Family::Opus);
    }
    if m == "sonnet"
        || m.starts_with("claude-sonnet-")
        || (m.starts_with("claude-3") && m.contains("sonnet"))
    {
        return Some(Family::Sonnet);
    }
    if m.starts_with("haiku")
        || m.starts_with("claude-haiku-")
        || (m.starts_with("claude-3") && m.contains("haiku"))
    {
        return Some(if plan_mode && m == "haiku" {
            Family::Sonnet
        } else {
            Family::Haiku
        });
    }
    if m.starts_with("fable") || m.starts_with("claude-fable-") {
        return Some(Family::Fable);
    }
    None
}

/// What the guard reads from claude's argv.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClaudeArgs {
    /// `--model X` / `--model=X` (the last one wins, as in commander).
    pub model: Option<String>,
    /// `--settings X`: inline JSON or a file path.
    pub settings: Option<String>,
    /// `-p` / `--print`.
    pub print: bool,
    /// `--bare` (Anthropic auth is API key or apiKeyHelper only).
    pub bare: bool,
    /// `--permission-mode plan`.
    pub plan_mode: bool,
    /// The first operand when it is a subcommand that runs no model turn (`mcp`, `auth`, ...).
    pub subcommand: Option<String>,
    /// Index in argv of the `--model` value (or of the `--model=X` item), for a model fallback.
    pub model_index: Option<(usize, bool)>,
    /// Index in argv of the `--` that ends claude's options (not one consumed as a value).
    pub terminator: Option<usize>,
}

/// Options of the `claude` root command that take a required value (`--opt X`, `--opt=X`).
pub(crate) const REQUIRED_VALUE: &[&str] = &[
    "--debug-file",
    "--output-format",
    "--json-schema",
    "--input-format",
    "--thinking",
    "--thinking-display",
    "--max-thinking-tokens",
    "--max-turns",
    "--max-budget-usd",
    "--task-budget",
    "--permission-prompt-tool",
    "--permission-prompts",
    "--system-prompt",
    "--system-prompt-file",
    "--append-system-prompt",
    "--append-system-prompt-file",
    "--system-prompt-snapshot",
    "--append-subagent-system-prompt",
    "--append-subagent-system-prompt-file",
    "--plan-mode-instructions",
    "--permission-mode",
    "--inherit-permission-mode",
    "--watch-artifact",
    "--watch-artifact-no-autoreact",
    "--prefill",
    "--prefill-b64",
    "--deep-link-repo",
    "--deep-link-last-fetch",
    "--deep-link-cwd-b64",
    "--resume-session-at",
    "--resume-drops-turn",
    "--rewind-files",
    "--model",
    "--effort",
    "--fast-mode",
    "--agent",
    "--fallback-model",
    "--workload",
    "--settings",
    "--client-data-url",
    "--managed-settings",
    "--project-config-root",
    "--session-id",
    "-n",
    "--name",
    "--agents",
    "--setting-sources",
    "--plugin-dir",
    "--plugin-dir-no-mcp",
    "--plugin-url",
    "--advisor",
    "--autocompact",
    "--proactivity",
    "--messaging-socket-path",
    "--agent-id",
    "--agent-name",
    "--team-name",
    "--agent-color",
    "--parent-session-id",
    "--lead-verify-key",
    "--teammate-mode",
    "--agent-type",
    "--sdk-url",
    "--runner-declares",
    "--session-began-as-copy",
    "--initialize-fields",
    "--forward-home-settings",
    "--attach-serve",
    "--environment",
    "--pool",
    "--correlation-id",
    "--metadata",
    "--ref",
    "--on-branch",
    "--remote-control-session-name-prefix",
];

/// Options that consume values until the next item starting with `-`.
pub(crate) const VARIADIC: &[&str] = &[
    "--allowedTools",
    "--allowed-tools",
    "--disallowedTools",
    "--disallowed-tools",
    "--tools",
    "--mcp-config",
    "--betas",
    "--add-dir",
    "--file",
    "--channels",
    "--dangerously-load-development-channels",
];

/// Options with an optional value: they consume the next item when it does not start with `-`.
pub(crate) const OPTIONAL_VALUE: &[&str] = &[
    "-d",
    "--debug",
    "--prompt-suggestions",
    "-r",
    "--resume",
    "--from-pr",
    "-w",
    "--worktree",
    "--teleport",
    "--cloud",
    "--remote",
    "--remote-control",
    "--rc",
];

/// Subcommands that start no model turn, so plan limits do not matter to them.
const NO_MODEL_SUBCOMMANDS: &[&str] = &[
    "auth",
    "doctor",
    "install",
    "mcp",
    "plugin",
    "plugins",
    "setup-token",
    "update",
    "upgrade",
    "logs",
    "purge",
    "rm",
    "stop",
    "kill",
];

/// Commander's "looks like an option": longer than one character and starting with `-`.
pub(crate) fn is_option(arg: &[u8]) -> bool {
    arg.len() > 1 && arg[0] == b'-'
}

fn bytes(arg: &OsStr) -> &[u8] {
    use std::os::unix::ffi::OsStrExt;
    arg.as_bytes()
}

fn text(arg: &[u8]) -> String {
    String::from_utf8_lossy(arg).into_owned()
}

/// Parses claude's argv (without argv[0]) as Claude Code's commander parser does: `--` ends
/// options; required-value options always consume the next item; optional-value options only
/// a non-option item; variadic ones consume until the next option; `--opt=value` and
/// `-nVALUE`; bundled boolean short flags (`-pc`). A prompt that contains `--model` is a
/// prompt. Never fails: unknown options are taken as booleans.
pub fn parse_claude_args(args: &[OsString]) -> ClaudeArgs {
    let mut out = ClaudeArgs::default();
    let mut operands = 0usize;
    let mut i = 0;
    while i < args.len() {
        let arg = bytes(&args[i]);
        if arg == b"--" {
            out.terminator = Some(i);
            if operands == 0 && i + 1 < args.len() {
                subcommand_check(&mut out, bytes(&args[i + 1]));
            }
            break;
        }
        if !is_option(arg) {
            if operands == 0 {
                subcommand_check(&mut out, arg);
            }
            operands += 1;
            i += 1;
            continue;
        }
        let long = arg.starts_with(b"--");
        // `--opt=value`
        if long && let Some(eq) = arg.iter().position(|&b| b == b'=') {
            let (name, value) = (text(&arg[..eq]), &arg[eq + 1..]);
            record(&mut out, &name, Some(value), i, true);
            i += 1;
            continue;
        }
        let name = text(arg);
        if !long && arg.len() > 2 {
            // `-nVALUE` for a value-taking short option, else bundled booleans (`-pc`).
            let short = text(&arg[..2]);
            if REQUIRED_VALUE.contains(&short.as_str()) || OPTIONAL_VALUE.contains(&short.as_str())
            {
                record(&mut out, &short, Some(&arg[2..]), i, true);
            } else {
                for &c in &arg[1..] {
                    let flag = format!("-{}", c as char);
                    record(&mut out, &flag, None, i, false);
                }
            }
            i += 1;
            continue;
        }
        if REQUIRED_VALUE.contains(&name.as_str()) {
            let value = args.get(i + 1).map(|v| bytes(v));
            record(&mut out, &name, value, i + 1, false);
            i += 2;
        } else if OPTIONAL_VALUE.contains(&name.as_str()) {
            i += 1;
            if args.get(i).is_some_and(|v| !is_option(bytes(v))) {
                i += 1;
            }
        } else if VARIADIC.contains(&name.as_str()) {
            i += 1;
            while args.get(i).is_some_and(|v| !is_option(bytes(v))) {
                i += 1;
            }
        } else {
            record(&mut out, &name, None, i, false);
            i += 1;
        }
    }
    out
}

fn subcommand_check(out: &mut ClaudeArgs, arg: &[u8]) {
    let name = text(arg);
    if NO_MODEL_SUBCOMMANDS.contains(&name.as_str()) {
        out.subcommand = Some(name);
    }
}

fn record(out: &mut ClaudeArgs, name: &str, value: Option<&[u8]>, index: usize, inline: bool) {
    match (name, value) {
        ("--model", Some(v)) => {
            out.model = Some(text(v));
            out.model_index = Some((index, inline));
        }
        ("--settings", Some(v)) => out.settings = Some(text(v)),
        ("--permission-mode", Some(v)) => out.plan_mode = v == b"plan",
        ("-p" | "--print", _) => out.print = true,
        ("--bare", _) => out.bare = true,
        _ => {}
    }
}

/// Resolves the model family for a run. `explicit` is `check --model NAME` (it wins);
/// `env_model` is `ANTHROPIC_MODEL`; `flag_settings` and `settings` are the parsed settings
/// in precedence order (highest first), each with a label for `--explain`.
pub fn resolve(
    explicit: Option<&str>,
    args: &ClaudeArgs,
    env_model: Option<&str>,
    settings: &[(String, serde_json::Value)],
) -> ModelChoice {
    let from_settings = settings.iter().find_map(|(label, value)| {
        value
            .get("model")
            .and_then(serde_json::Value::as_str)
            .filter(|m| !m.is_empty())
            .map(|m| (m.to_owned(), label.clone()))
    });
    let picked = explicit
        .map(|m| (m.to_owned(), "--model".to_owned()))
        .or_else(|| args.model.clone().map(|m| (m, "claude --model".to_owned())))
        .or_else(|| {
            env_model
                .filter(|m| !m.is_empty())
                .map(|m| (m.to_owned(), "ANTHROPIC_MODEL".to_owned()))
        })
        .or(from_settings);
    match picked {
        Some((model, _)) if model == "default" => {
            default_choice(Some(model), "the account default (--model default)")
        }
        Some((model, source)) => match family_of(&model, args.plan_mode) {
            Some(family) => ModelChoice {
                family,
                model: Some(model),
                source,
                note: None,
            },
            None => ModelChoice {
                family: Family::Opus,
                note: Some(format!(
                    "model {model:?} is not a known family; assuming the default family, Opus"
                )),
                model: Some(model),
                source,
            },
        },
        None => default_choice(None, "default"),
    }
}

fn default_choice(model: Option<String>, source: &str) -> ModelChoice {
    ModelChoice {
        family: Family::Opus,
        model,
        source: source.into(),
        note: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStringExt;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn families_from_names() {
        for (name, fam) in [
            ("opus", Family::Opus),
            ("best", Family::Opus),
            ("opusplan", Family::Opus),
            ("claude-opus-5-5", Family::Opus),
            ("opus[1m]", Family::Opus),
            ("sonnet", Family::Sonnet),
            ("claude-sonnet-5-5-20261101", Family::Sonnet),
            ("claude-3-7-sonnet-latest", Family::Sonnet),
            ("haiku", Family::Haiku),
            ("claude-haiku-5-5", Family::Haiku),
            ("fable", Family::Fable),
            ("claude-fable-5-2", Family::Fable),
        ] {
            assert_eq!(family_of(name, false), Some(fam), "{name}");
        }
        assert_eq!(family_of("haiku", true), Some(Family::Sonnet));
        assert_eq!(family_of("claude-mythos-5", false), None);
    }

    #[test]
    fn model_flag_forms() {
        assert_eq!(
            parse_claude_args(&args(&["--model", "sonnet", "hi"]))
                .model
                .as_deref(),
            Some("sonnet")
        );
        assert_eq!(
            parse_claude_args(&args(&["--model=haiku"]))
                .model
                .as_deref(),
            Some("haiku")
        );
        assert_eq!(
            parse_claude_args(&args(&["-p", "--model", "opus", "--model", "fable"]))
                .model
                .as_deref(),
            Some("fable")
        );
    }

    #[test]
    fn prompt_containing_model_is_a_prompt() {
        let a = parse_claude_args(&args(&["-p", "explain --model sonnet"]));
        assert_eq!(a.model, None);
        assert!(a.print);
        let a = parse_claude_args(&args(&["--", "--model", "sonnet"]));
        assert_eq!(a.model, None);
    }

    #[test]
    fn value_options_consume_their_values() {
        // --system-prompt always consumes its value, even one that looks like an option.
        let a = parse_claude_args(&args(&["--system-prompt", "--model", "sonnet"]));
        assert_eq!(a.model, None);
        // variadic --allowedTools eats operands until the next option.
        let a = parse_claude_args(&args(&[
            "--allowedTools",
            "Bash",
            "Edit",
            "--model",
            "sonnet",
        ]));
        assert_eq!(a.model.as_deref(), Some("sonnet"));
        // optional -r consumes a non-option
        let a = parse_claude_args(&args(&["-r", "mcp", "--model", "haiku"]));
        assert_eq!(a.model.as_deref(), Some("haiku"));
        assert_eq!(
            a.subcommand, None,
            "mcp was the resume term, not a subcommand"
        );
    }

    #[test]
    fn bundled_short_flags_and_plan_mode() {
        let a = parse_claude_args(&args(&[
            "-pc",
            "--permission-mode",
            "plan",
            "--model",
            "haiku",
        ]));
        assert!(a.print && a.plan_mode);
        let choice = resolve(None, &a, None, &[]);
        assert_eq!(choice.family, Family::Sonnet);
    }

    #[test]
    fn subcommands_and_non_utf8() {
        assert_eq!(
            parse_claude_args(&args(&["mcp", "list"]))
                .subcommand
                .as_deref(),
            Some("mcp")
        );
        assert_eq!(parse_claude_args(&args(&["fix the mcp"])).subcommand, None);
        let weird = vec![
            OsString::from_vec(vec![0xff, 0xfe]),
            OsString::from("--model=sonnet"),
        ];
        assert_eq!(parse_claude_args(&weird).model.as_deref(), Some("sonnet"));
    }

    #[test]
    fn precedence() {
        let settings = vec![
            (
                "settings.local.json".to_owned(),
                serde_json::json!({"model": "haiku"}),
            ),
            (
                "settings.json".to_owned(),
                serde_json::json!({"model": "sonnet"}),
            ),
        ];
        let none = ClaudeArgs::default();
        assert_eq!(resolve(None, &none, None, &settings).family, Family::Haiku);
        assert_eq!(
            resolve(None, &none, Some("fable"), &settings).family,
            Family::Fable
        );
        let with_flag = parse_claude_args(&args(&["--model", "sonnet"]));
        assert_eq!(
            resolve(None, &with_flag, Some("fable"), &settings).family,
            Family::Sonnet
        );
        assert_eq!(
            resolve(Some("opus"), &with_flag, None, &settings).family,
            Family::Opus
        );
        let d = resolve(None, &none, None, &[]);
        assert_eq!((d.family, d.source.as_str()), (Family::Opus, "default"));
        let odd = resolve(Some("mythos"), &none, None, &[]);
        assert_eq!(odd.family, Family::Opus);
        assert!(odd.note.is_some());
    }

    #[test]
    fn fable_display_names() {
        assert!(Family::Fable.matches_display_name("Fable"));
        assert!(Family::Fable.matches_display_name("fable 5.1"));
        assert!(!Family::Fable.matches_display_name("Fableish"));
        assert!(!Family::Opus.matches_display_name("Fable"));
    }
}
