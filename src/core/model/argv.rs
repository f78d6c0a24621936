//! Claude Code's argv, parsed the way Claude Code 2.1.329/2.1.332 parses it
//! (research/claude-code-facts.md §6d): its option table (value-taking, variadic, optional-value
//! and boolean flags), print mode (an exact `-p` / `--print` before `--`), the options that
//! matter to the model and to plan limits, and whether the run makes a model turn at all.
//! Pure: the arguments come in as `OsString`s.

use std::ffi::{OsStr, OsString};
use std::fmt;

/// Why a claude command line makes no model turn (so plan limits cannot matter to it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoTurn {
    /// `--version`, `-v` or `-V` alone.
    Version,
    /// `-h` / `--help` anywhere among the options.
    Help,
    /// `--update` / `--upgrade` alone.
    Update,
    /// `-p /usage`: the usage report, answered without a model.
    Usage,
    /// A subcommand that runs no model turn (`mcp`, `doctor`, `stop ID`, ...).
    Subcommand(String),
}

impl fmt::Display for NoTurn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoTurn::Version => f.write_str("`claude --version` runs no model turn"),
            NoTurn::Help => f.write_str("`claude --help` runs no model turn"),
            NoTurn::Update => f.write_str("`claude --update` runs no model turn"),
            NoTurn::Usage => f.write_str("`claude -p /usage` runs no model turn"),
            NoTurn::Subcommand(s) => write!(f, "`claude {s}` runs no model turn"),
        }
    }
}

/// What the guard reads from claude's argv.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClaudeArgs {
    /// `--model X` / `--model=X` (the last one wins, as in commander).
    pub model: Option<String>,
    /// `--settings X`: inline JSON or a file path.
    pub settings: Option<String>,
    /// `--agent NAME`: the main-thread agent.
    pub agent: Option<String>,
    /// `--agents JSON`: agent definitions `{name: {model, ...}}`.
    pub agents: Option<String>,
    /// `--setting-sources user,project,local`.
    pub setting_sources: Option<String>,
    /// `--permission-mode X`.
    pub permission_mode: Option<String>,
    /// Print mode: an exact `-p` / `--print` token before `--` (not `-pc`, not a value).
    pub print: bool,
    /// `--bare` (Anthropic auth is API key or apiKeyHelper only).
    pub bare: bool,
    /// `--init-only` (non-interactive).
    pub init_only: bool,
    /// `--sdk-url X` (non-interactive).
    pub sdk_url: bool,
    /// Set when the command line makes no model turn at all.
    pub no_turn: Option<NoTurn>,
    /// Options the guard does not know (taken as booleans; the run is still checked).
    pub unknown_options: Vec<String>,
    /// Index in argv of the `--model` value (or of the `--model=X` item), for a model fallback.
    pub model_index: Option<(usize, bool)>,
    /// Index in argv of the `--` that ends claude's options (not one consumed as a value).
    pub terminator: Option<usize>,
}

impl ClaudeArgs {
    /// `--permission-mode plan` on the command line: `Some(true)`; another mode: `Some(false)`;
    /// none: `None` (then settings decide).
    pub fn plan_mode_flag(&self) -> Option<bool> {
        self.permission_mode.as_deref().map(|m| m == "plan")
    }
}

/// Options of the `claude` root command that take a required value (`--opt X`, `--opt=X`).
const REQUIRED_VALUE: &[&str] = &[
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
const VARIADIC: &[&str] = &[
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
const OPTIONAL_VALUE: &[&str] = &[
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

/// Short boolean options of the root command that may be bundled (`-pc`).
const SHORT_BOOLEAN: &[&str] = &["-p", "-c", "-h", "-v"];

/// Subcommands that start no model turn, so plan limits do not matter to them. The background
/// verbs among them count only where [`BACKGROUND_VERBS`] says.
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

/// Verbs on background sessions: subcommands only as the first argument, or after root options
/// when an 8-hex-digit session id follows; otherwise the prompt of a model turn.
const BACKGROUND_VERBS: &[&str] = &["attach", "logs", "stop", "kill", "respawn", "rm"];

/// `plugin` subcommands that run agent sessions (model turns).
const PLUGIN_MODEL_VERBS: &[&str] = &["eval", "test"];

/// Commander's "looks like an option": longer than one character and starting with `-`.
fn is_option(arg: &[u8]) -> bool {
    arg.len() > 1 && arg[0] == b'-'
}

fn bytes(arg: &OsStr) -> &[u8] {
    use std::os::unix::ffi::OsStrExt;
    arg.as_bytes()
}

fn text(arg: &[u8]) -> String {
    String::from_utf8_lossy(arg).into_owned()
}

/// An 8-hex-digit background session id (`1a2b3c4d`).
fn is_session_id(arg: &[u8]) -> bool {
    arg.len() == 8
        && arg
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
}

/// How an option takes a value.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Arity {
    Required,
    Optional,
    Variadic,
    /// A known boolean, or an unknown option (taken as a boolean).
    None,
}

fn arity(name: &str) -> Arity {
    if REQUIRED_VALUE.contains(&name) {
        Arity::Required
    } else if OPTIONAL_VALUE.contains(&name) {
        Arity::Optional
    } else if VARIADIC.contains(&name) {
        Arity::Variadic
    } else {
        Arity::None
    }
}

/// One item of claude's argv as Claude Code's commander parser reads it ([`tokens`]), with the
/// range of argv it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    /// The argv indexes it covers: an option and the items it consumed as values; for the
    /// parts of a short cluster (`-pc`, `-pn NAME`) the cluster's item, and the value's item.
    pub(crate) range: std::ops::Range<usize>,
    /// What it is.
    pub(crate) kind: TokenKind,
}

/// What a [`Token`] is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenKind {
    /// An option (`--model`, `-p`, a part of a cluster). `value`: the value it was given, when
    /// it takes one and got one (variadic options keep none); `inline`: `--x=v` / `-xv`;
    /// `clustered`: a part of a short cluster such as `-pc` (which is not print mode).
    Opt {
        name: String,
        value: Option<Vec<u8>>,
        inline: bool,
        clustered: bool,
    },
    /// A short item that is no known option nor cluster (`-zq`): an unknown option, whole.
    Unknown(String),
    /// An operand: the prompt, or a subcommand word.
    Operand,
    /// `--` and every item after it (operands).
    Rest,
}

/// Splits claude's argv (without `argv[0]`) as Claude Code's commander parser does: `--` ends
/// options; required-value options always consume the next item; optional-value options only
/// a non-option item; variadic ones consume their first value unconditionally, then until the
/// next option; `--opt=value` and `-nVALUE`; bundled short flags (`-pc`, and `-pn NAME`, where
/// `-n` takes the next item). The one walk of claude's argv: [`parse_claude_args`] and the
/// supervisor's session handling both read it.
pub(crate) fn tokens(args: &[OsString]) -> Vec<Token> {
    let mut out = Vec::new();
    let mut i = 0;
    // The rest of a short-option cluster still to read (`-pn` → `-n`), at argv index `i`.
    let mut pending: Option<Vec<u8>> = None;
    let opt = |name: String, value: Option<&[u8]>, inline: bool, clustered: bool| TokenKind::Opt {
        name,
        value: value.map(<[u8]>::to_vec),
        inline,
        clustered,
    };
    while i < args.len() {
        let (arg, clustered): (Vec<u8>, bool) = match pending.take() {
            Some(rest) => (rest, true),
            None => (bytes(&args[i]).to_vec(), false),
        };
        let mut push = |range: std::ops::Range<usize>, kind| out.push(Token { range, kind });
        if !clustered && arg == b"--" {
            push(i..args.len(), TokenKind::Rest);
            break;
        }
        if !is_option(&arg) {
            push(i..i + 1, TokenKind::Operand);
            i += 1;
            continue;
        }
        let long = arg.starts_with(b"--");
        // `--opt=value`
        if long && let Some(eq) = arg.iter().position(|&b| b == b'=') {
            push(
                i..i + 1,
                opt(text(&arg[..eq]), Some(&arg[eq + 1..]), true, false),
            );
            i += 1;
            continue;
        }
        let name = text(&arg);
        if !long && arg.len() > 2 && arity(&name) == Arity::None && name != "-d2e" {
            // A cluster: `-nVALUE` for a value-taking short option; a known boolean then the
            // rest as its own option (`-pc`, `-pn NAME`); else one unknown option.
            let short = text(&arg[..2]);
            match arity(&short) {
                Arity::Required | Arity::Optional => {
                    push(i..i + 1, opt(short, Some(&arg[2..]), true, clustered));
                    i += 1;
                }
                _ if SHORT_BOOLEAN.contains(&short.as_str()) => {
                    push(i..i + 1, opt(short, None, false, true));
                    let mut rest = vec![b'-'];
                    rest.extend_from_slice(&arg[2..]);
                    pending = Some(rest);
                }
                _ => {
                    push(i..i + 1, TokenKind::Unknown(name));
                    i += 1;
                }
            }
            continue;
        }
        let start = i;
        match arity(&name) {
            Arity::Required => {
                let value = args.get(i + 1).map(|v| bytes(v));
                i += 2;
                push(start..i.min(args.len()), opt(name, value, false, clustered));
            }
            Arity::Optional => {
                i += 1;
                let value = args.get(i).map(|v| bytes(v)).filter(|v| !is_option(v));
                if value.is_some() {
                    i += 1;
                }
                push(start..i, opt(name, value, false, clustered));
            }
            Arity::Variadic => {
                // The first value is taken whatever it looks like (`--allowedTools --model`).
                i += 2;
                while args.get(i).is_some_and(|v| !is_option(bytes(v))) {
                    i += 1;
                }
                push(start..i.min(args.len()), opt(name, None, false, clustered));
            }
            Arity::None => {
                push(i..i + 1, opt(name, None, false, clustered));
                i += 1;
            }
        }
    }
    out
}

/// Parses claude's argv (without `argv[0]`) into what matters to the guard, from [`tokens`]. A
/// prompt that contains `--model` is a prompt. Never fails: unknown options are taken as
/// booleans and listed in `unknown_options`.
pub fn parse_claude_args(args: &[OsString]) -> ClaudeArgs {
    let mut out = ClaudeArgs::default();
    // argv indexes of the operands: the prompt and subcommand words.
    let mut operands: Vec<usize> = Vec::new();
    let mut help = false;
    for Token { range, kind } in tokens(args) {
        match kind {
            TokenKind::Rest => {
                out.terminator = Some(range.start);
                operands.extend(range.start + 1..range.end);
            }
            TokenKind::Operand => operands.push(range.start),
            TokenKind::Unknown(name) => out.unknown_options.push(name),
            TokenKind::Opt {
                name,
                value,
                inline,
                clustered,
            } => match (arity(&name), inline) {
                (Arity::None, true) => {
                    out.unknown_options.push(name.clone());
                    record(&mut out, &name, value.as_deref(), range.start, true);
                }
                (Arity::None, false) => record_flag(&mut out, &name, clustered, &mut help),
                (_, true) => record(&mut out, &name, value.as_deref(), range.start, true),
                (Arity::Required, false) => {
                    record(&mut out, &name, value.as_deref(), range.start + 1, false)
                }
                (Arity::Optional | Arity::Variadic, false) => {}
            },
        }
    }
    out.no_turn = no_turn(args, &out, &operands, help);
    out
}

/// Records a boolean (or unknown) option. `clustered`: it came from a bundle such as `-pc`,
/// which does not make print mode.
fn record_flag(out: &mut ClaudeArgs, name: &str, clustered: bool, help: &mut bool) {
    match name {
        "-p" | "--print" if !clustered => out.print = true,
        "-p" | "--print" => {}
        "--bare" => out.bare = true,
        "--init-only" => out.init_only = true,
        "-h" | "--help" if !clustered => *help = true,
        "-c" | "-h" | "-v" | "-d2e" => {}
        _ if KNOWN_BOOLEAN.contains(&name) => {}
        _ => out.unknown_options.push(name.to_owned()),
    }
}

fn record(out: &mut ClaudeArgs, name: &str, value: Option<&[u8]>, index: usize, inline: bool) {
    let Some(v) = value else { return };
    match name {
        "--model" => {
            out.model = Some(text(v));
            out.model_index = Some((index, inline));
        }
        "--settings" => out.settings = Some(text(v)),
        "--agent" => out.agent = Some(text(v)),
        "--agents" => out.agents = Some(text(v)),
        "--setting-sources" => out.setting_sources = Some(text(v)),
        "--permission-mode" => out.permission_mode = Some(text(v)),
        "--sdk-url" => out.sdk_url = true,
        _ => {}
    }
}

/// Whether the command line makes no model turn, and why.
fn no_turn(args: &[OsString], out: &ClaudeArgs, operands: &[usize], help: bool) -> Option<NoTurn> {
    let only =
        |names: &[&str]| args.len() == 1 && names.iter().any(|n| bytes(&args[0]) == n.as_bytes());
    if only(&["--version", "-v", "-V"]) {
        return Some(NoTurn::Version);
    }
    if only(&["--update", "--upgrade"]) {
        return Some(NoTurn::Update);
    }
    if help {
        return Some(NoTurn::Help);
    }
    let first = *operands.first()?;
    let word = bytes(&args[first]);
    if out.print {
        // In print mode claude registers no subcommands: the first operand is the prompt.
        return (word == b"/usage").then_some(NoTurn::Usage);
    }
    // Outside print mode, an operand after `--` can still be a subcommand (`claude -- doctor`
    // runs doctor): commander dispatches on the first operand wherever it came from.
    let name = text(word);
    if !NO_MODEL_SUBCOMMANDS.contains(&name.as_str()) {
        return None;
    }
    if BACKGROUND_VERBS.contains(&name.as_str())
        && first != 0
        && !args.get(first + 1).is_some_and(|a| is_session_id(bytes(a)))
    {
        return None;
    }
    if (name == "plugin" || name == "plugins")
        && args[first + 1..]
            .iter()
            .any(|a| PLUGIN_MODEL_VERBS.iter().any(|v| bytes(a) == v.as_bytes()))
    {
        return None;
    }
    Some(NoTurn::Subcommand(name))
}

/// Boolean options of the root command (research/claude-code-facts.md §6d).
const KNOWN_BOOLEAN: &[&str] = &[
    "--verbose",
    "--bare",
    "--safe-mode",
    "--init",
    "--init-only",
    "--maintenance",
    "--include-hook-events",
    "--include-partial-messages",
    "--forward-subagent-text",
    "--session-mirror",
    "--await-claim",
    "--await-initialize",
    "--dangerously-skip-permissions",
    "--allow-dangerously-skip-permissions",
    "--replay-user-messages",
    "--enable-auth-status",
    "--restricted",
    "--exclude-dynamic-system-prompt-sections",
    "--continue",
    "--fork-session",
    "--deep-link-origin",
    "--no-session-persistence",
    "--reply-on-resume",
    "--include-unsupported-models",
    "--allow-other-models",
    "--managed-settings-in-initialize",
    "--host-auth-is-org-sign-in",
    "--ide",
    "--desktop",
    "--strict-mcp-config",
    "--disable-slash-commands",
    "--chrome",
    "--no-chrome",
    "--tmux",
    "--enable-auto-mode",
    "--agents-view-if-allowed",
    "--bg",
    "--background",
    "--brief",
    "--ax-screen-reader",
    "--plan-mode-required",
    "--hold-repository-while-parked",
    "--debug-to-stderr",
    "--version",
    "--update",
    "--upgrade",
    "-V",
];
