//! The run's **model family**, resolved the way Claude Code 2.1.329/2.1.332 resolves its model
//! (DESIGN.md "The run's model family", research/claude-code-facts.md §6): `--model` in claude's
//! argv > the main-thread agent's `model:` (unless `inherit`) > `ANTHROPIC_MODEL` > `model` in
//! the settings (`--settings` > `.claude/settings.local.json` > `.claude/settings.json` >
//! `$CLAUDE_CONFIG_DIR/settings.json` or `~/.claude/settings.json`, as `--setting-sources`
//! allows) > the account default (`ANTHROPIC_DEFAULT_MODEL`, else Opus for subscribers). Aliases follow
//! `ANTHROPIC_DEFAULT_{OPUS,SONNET,HAIKU,FABLE}_MODEL`; plan mode turns `opusplan` into Opus
//! (else Sonnet) and `haiku` into Sonnet.
//!
//! Also what else claude's argv says that matters to the guard: print mode (an exact `-p` /
//! `--print` token), `--bare`, `--init-only`, `--sdk-url`, and whether the run makes a model
//! turn at all (`--version`, `--help`, subcommands such as `claude mcp list`).
//!
//! Pure: no I/O. Settings files and agent definitions come in as parsed values and text, read by
//! the state layer (`claude_files`).

use std::fmt;

mod argv;
pub use argv::*;

/// A model family: which weekly buckets apply to a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// `opus`, `best`, `opusplan` in plan mode, `claude-opus-*`; also the subscriber default.
    Opus,
    /// `sonnet`, `claude-sonnet-*`, `opusplan` outside plan mode, `haiku` in plan mode.
    Sonnet,
    /// `haiku*`, `claude-haiku-*`.
    Haiku,
    /// `fable*`, `claude-fable-*`: gated by `limits[]` `weekly_scoped` "Fable".
    Fable,
    /// `mythos*`, `claude-mythos-*`: no per-model weekly bucket applies unless a
    /// `limits[]` `weekly_scoped` entry names "Mythos".
    Mythos,
}

impl Family {
    /// The family's name as in `scope.model.display_name` ("Opus", "Fable").
    pub fn display(self) -> &'static str {
        match self {
            Family::Opus => "Opus",
            Family::Sonnet => "Sonnet",
            Family::Haiku => "Haiku",
            Family::Fable => "Fable",
            Family::Mythos => "Mythos",
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
    /// Set when the name was not recognized and the default family was assumed, or when an
    /// alias was remapped or changed by plan mode (says how).
    pub note: Option<String>,
}

/// Maps a model id (not an alias) to its family by Claude Code's string matching. `None`:
/// unrecognized.
fn family_of_id(m: &str) -> Option<Family> {
    if m == "opus" || m.starts_with("claude-opus-") {
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
        return Some(Family::Haiku);
    }
    if m.starts_with("fable") || m.starts_with("claude-fable-") {
        return Some(Family::Fable);
    }
    if m.starts_with("mythos") || m.starts_with("claude-mythos-") {
        return Some(Family::Mythos);
    }
    None
}

/// Environment lookups (a variable's value, `None` when unset).
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

fn no_env(_: &str) -> Option<String> {
    None
}

/// The model an alias stands for: `opus`/`best` → `ANTHROPIC_DEFAULT_OPUS_MODEL` or `opus`;
/// `opusplan` → the Opus target in plan mode, else the Sonnet target; `haiku` → the Sonnet
/// target in plan mode, else `ANTHROPIC_DEFAULT_HAIKU_MODEL` or `haiku`; `sonnet`, `fable`
/// likewise. Anything else is returned as given (lower-cased, without `[1m]`).
pub fn resolve_alias(model: &str, plan_mode: bool, env: Env) -> String {
    let lower = model.trim().to_ascii_lowercase();
    let base = lower.strip_suffix("[1m]").unwrap_or(&lower);
    let target = |var: &str, alias: &str| {
        env(var)
            .filter(|v| !v.trim().is_empty())
            .map(|v| {
                let v = v.trim().to_ascii_lowercase();
                v.strip_suffix("[1m]").map(str::to_owned).unwrap_or(v)
            })
            .unwrap_or_else(|| alias.to_owned())
    };
    let opus = || target("ANTHROPIC_DEFAULT_OPUS_MODEL", "opus");
    let sonnet = || target("ANTHROPIC_DEFAULT_SONNET_MODEL", "sonnet");
    match base {
        "opus" | "best" => opus(),
        "opusplan" if plan_mode => opus(),
        "opusplan" => sonnet(),
        "sonnet" => sonnet(),
        // Claude Code's "haiku plan upgrade" applies to the bare alias only.
        "haiku" if plan_mode && lower == "haiku" => sonnet(),
        "haiku" => target("ANTHROPIC_DEFAULT_HAIKU_MODEL", "haiku"),
        "fable" => target("ANTHROPIC_DEFAULT_FABLE_MODEL", "fable"),
        _ => base.to_owned(),
    }
}

/// Maps a model name (alias or id) to its family (DESIGN.md "The run's model family"), in or
/// out of plan mode, with no alias remapping from the environment. `None`: unrecognized.
pub fn family_of(model: &str, plan_mode: bool) -> Option<Family> {
    family_of_id(&resolve_alias(model, plan_mode, &no_env))
}

/// [`family_of`] with the `ANTHROPIC_DEFAULT_*_MODEL` remapping read through `env`.
pub fn family_in(model: &str, plan_mode: bool, env: Env) -> Option<Family> {
    family_of_id(&resolve_alias(model, plan_mode, env))
}

/// Where a settings file comes from; `--setting-sources` names the first three.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingSource {
    /// `$CLAUDE_CONFIG_DIR/settings.json` or `~/.claude/settings.json`.
    User,
    /// `.claude/settings.json`.
    Project,
    /// `.claude/settings.local.json`.
    Local,
}

/// Whether claude reads this source's files (settings and agents) for this run: all of them
/// unless `--setting-sources` lists some (comma-separated). `--settings` is always read.
pub fn source_enabled(args: &ClaudeArgs, source: SettingSource) -> bool {
    let name = match source {
        SettingSource::User => "user",
        SettingSource::Project => "project",
        SettingSource::Local => "local",
    };
    match &args.setting_sources {
        None => true,
        Some(list) => list.split(',').any(|n| n.trim() == name),
    }
}

/// `--settings` given inline (JSON text starting with `{`); `None` for a path or bad JSON.
pub fn inline_settings(value: &str) -> Option<serde_json::Value> {
    if value.trim_start().starts_with('{') {
        serde_json::from_str(value).ok()
    } else {
        None
    }
}

/// Settings files as read for a run: `(label, parsed JSON)`, highest precedence first
/// (`--settings`, local, project, user), only those `--setting-sources` allows.
pub type Settings = [(String, serde_json::Value)];

/// The first (highest-precedence) string value that `get` finds in the settings, with its label.
fn setting<'a>(
    settings: &'a Settings,
    get: impl Fn(&'a serde_json::Value) -> Option<&'a serde_json::Value>,
) -> Option<(&'a str, &'a str)> {
    settings.iter().find_map(|(label, v)| {
        get(v)
            .and_then(serde_json::Value::as_str)
            .filter(|s| !s.is_empty())
            .map(|s| (s, label.as_str()))
    })
}

/// Plan mode: `--permission-mode plan`, else `permissions.defaultMode: "plan"` in the settings.
pub fn plan_mode(args: &ClaudeArgs, settings: &Settings) -> bool {
    args.plan_mode_flag().unwrap_or_else(|| {
        setting(settings, |v| v.get("permissions")?.get("defaultMode"))
            .is_some_and(|(m, _)| m == "plan")
    })
}

/// The main-thread agent's name: `--agent NAME`, else the `agent` setting.
pub fn agent_name(args: &ClaudeArgs, settings: &Settings) -> Option<String> {
    args.agent
        .clone()
        .filter(|a| !a.is_empty())
        .or_else(|| setting(settings, |v| v.get("agent")).map(|(a, _)| a.to_owned()))
}

/// An agent definition, as far as the model goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentDef {
    /// The agent's name (frontmatter `name:` or the `--agents` key).
    pub name: String,
    /// Its `model:` (`inherit` or absent: the main model applies).
    pub model: Option<String>,
    /// Where it was defined (`--agents`, a file path).
    pub source: String,
}

/// The `name:` and `model:` of a Markdown agent file's YAML frontmatter (`---` lines around
/// `key: value` lines; quotes stripped). `None` when the text has no frontmatter.
pub fn agent_frontmatter(text: &str) -> Option<(Option<String>, Option<String>)> {
    let mut lines = text.lines();
    if lines.next()?.trim_end() != "---" {
        return None;
    }
    let (mut name, mut model) = (None, None);
    for line in lines {
        if line.trim_end() == "---" {
            return Some((name, model));
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim().trim_matches(|c| c == '"' || c == '\'').trim();
        let value = (!value.is_empty()).then(|| value.to_owned());
        match key.trim() {
            "name" => name = value,
            "model" => model = value,
            _ => {}
        }
    }
    None
}

/// Finds agent `name` among its definitions, highest precedence first: `--agents` JSON
/// (`{"NAME": {"model": ...}}`), then project agent files, then user agent files (each given
/// as `(path label, file name stem, text)`; a file matches by frontmatter `name:`, or by its
/// stem when the frontmatter has none).
pub fn find_agent(
    name: &str,
    agents_json: Option<&str>,
    project: &[(String, String, String)],
    user: &[(String, String, String)],
) -> Option<AgentDef> {
    if let Some(def) = agents_json
        .and_then(|j| serde_json::from_str::<serde_json::Value>(j).ok())
        .and_then(|v| v.get(name).cloned())
    {
        return Some(AgentDef {
            name: name.to_owned(),
            model: def
                .get("model")
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned),
            source: "--agents".into(),
        });
    }
    project.iter().chain(user).find_map(|(label, stem, text)| {
        let (fm_name, model) = agent_frontmatter(text)?;
        (fm_name.as_deref().unwrap_or(stem) == name).then(|| AgentDef {
            name: name.to_owned(),
            model,
            source: label.clone(),
        })
    })
}

/// What resolution reads: everything comes in from the state layer.
pub struct Inputs<'a> {
    /// `check --model NAME` (it wins).
    pub explicit: Option<&'a str>,
    /// claude's parsed argv.
    pub args: &'a ClaudeArgs,
    /// The environment (`ANTHROPIC_MODEL`, `ANTHROPIC_DEFAULT_*_MODEL`).
    pub env: Env<'a>,
    /// Settings files, highest first, as `--setting-sources` allows.
    pub settings: &'a Settings,
    /// The main-thread agent's definition, when `--agent`/the `agent` setting names one found.
    pub agent: Option<&'a AgentDef>,
}

/// Resolves the run's model family (see the module doc for the precedence).
pub fn resolve(i: &Inputs) -> ModelChoice {
    let env = i.env;
    let plan = plan_mode(i.args, i.settings);
    let nonempty = |m: &str| !m.trim().is_empty();
    let picked: Option<(String, String)> = i
        .explicit
        .filter(|m| nonempty(m))
        .map(|m| (m.to_owned(), "--model".to_owned()))
        .or_else(|| {
            i.args
                .model
                .clone()
                .filter(|m| nonempty(m))
                .map(|m| (m, "claude --model".to_owned()))
        })
        .or_else(|| {
            let agent = i.agent?;
            let model = agent
                .model
                .clone()
                .filter(|m| nonempty(m) && m != "inherit")?;
            Some((model, format!("agent {} ({})", agent.name, agent.source)))
        })
        .or_else(|| {
            env("ANTHROPIC_MODEL")
                .filter(|m| nonempty(m))
                .map(|m| (m, "ANTHROPIC_MODEL".to_owned()))
        })
        .or_else(|| {
            setting(i.settings, |v| v.get("model")).map(|(m, l)| (m.to_owned(), l.to_owned()))
        });
    // The account default: `ANTHROPIC_DEFAULT_MODEL`, else the subscriber default, Opus (as
    // `ANTHROPIC_DEFAULT_OPUS_MODEL` remaps it).
    let default_model = env("ANTHROPIC_DEFAULT_MODEL").filter(|m| nonempty(m));
    let default_family = default_model
        .as_deref()
        .and_then(|m| family_in(m, plan, env))
        .or_else(|| family_in("opus", false, env))
        .unwrap_or(Family::Opus);
    let default_source = if default_model.is_some() {
        "ANTHROPIC_DEFAULT_MODEL"
    } else {
        "default"
    };
    match picked {
        Some((model, source)) if model.trim() == "default" => ModelChoice {
            family: default_family,
            model: Some(model),
            source: format!("the account default ({source} default, {default_source})"),
            note: None,
        },
        Some((model, source)) => {
            let resolved = resolve_alias(&model, plan, env);
            match family_of_id(&resolved) {
                Some(family) => {
                    let given = model.trim().to_ascii_lowercase();
                    let note =
                        (resolved != given.strip_suffix("[1m]").unwrap_or(&given)).then(|| {
                            format!(
                                "{model} runs {resolved}{}",
                                if plan { " (plan mode)" } else { "" }
                            )
                        });
                    ModelChoice {
                        family,
                        model: Some(model),
                        source,
                        note,
                    }
                }
                None => ModelChoice {
                    family: default_family,
                    note: Some(format!(
                        "model {model:?} is not a known family; assuming the default family, \
                         {default_family}"
                    )),
                    model: Some(model),
                    source,
                },
            }
        }
        None => ModelChoice {
            family: default_family,
            model: default_model,
            source: default_source.into(),
            note: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    /// One row of tests/fixtures/claude-argv-cases.json.
    #[derive(serde::Deserialize)]
    struct Case {
        name: String,
        argv: Vec<String>,
        #[serde(default)]
        env: BTreeMap<String, String>,
        #[serde(default)]
        files: Files,
        tty: Option<bool>,
        #[serde(default)]
        approved_api_keys: Vec<String>,
        expect: String,
    }

    #[derive(serde::Deserialize, Default)]
    struct Files {
        user_settings: Option<serde_json::Value>,
        project_settings: Option<serde_json::Value>,
        local_settings: Option<serde_json::Value>,
        #[serde(default)]
        project_agents: BTreeMap<String, String>,
        #[serde(default)]
        user_agents: BTreeMap<String, String>,
    }

    /// What the guard makes of a case, with the files given as text (the state layer's part
    /// is done here by hand): `no-turn`, `plan-off`, or the family.
    fn verdict(case: &Case) -> String {
        let a = parse_claude_args(&args(
            &case.argv.iter().map(String::as_str).collect::<Vec<_>>(),
        ));
        if a.no_turn.is_some() {
            return "no-turn".into();
        }
        let env = |k: &str| case.env.get(k).cloned();
        let f = &case.files;
        let mut settings: Vec<(String, serde_json::Value)> = Vec::new();
        if let Some(v) = a.settings.as_deref().and_then(inline_settings) {
            settings.push(("--settings".into(), v));
        }
        for (source, label, file) in [
            (SettingSource::Local, "local", &f.local_settings),
            (SettingSource::Project, "project", &f.project_settings),
            (SettingSource::User, "user", &f.user_settings),
        ] {
            if let Some(v) = file
                && source_enabled(&a, source)
            {
                settings.push((label.into(), v.clone()));
            }
        }
        let listing = |files: &BTreeMap<String, String>, source| -> Vec<(String, String, String)> {
            if !source_enabled(&a, source) {
                return vec![];
            }
            files
                .iter()
                .map(|(file, text)| {
                    let stem = file.trim_end_matches(".md").to_owned();
                    (file.clone(), stem, text.clone())
                })
                .collect()
        };
        let agent = agent_name(&a, &settings).and_then(|name| {
            find_agent(
                &name,
                a.agents.as_deref(),
                &listing(&f.project_agents, SettingSource::Project),
                &listing(&f.user_agents, SettingSource::User),
            )
        });
        if crate::core::plan::not_applicable(
            &env,
            &a,
            &settings,
            case.tty.unwrap_or(true),
            &case.approved_api_keys,
        )
        .is_some()
        {
            return "plan-off".into();
        }
        resolve(&Inputs {
            explicit: None,
            args: &a,
            env: &env,
            settings: &settings,
            agent: agent.as_ref(),
        })
        .family
        .to_string()
    }

    #[test]
    fn the_table_of_claude_command_lines() {
        #[derive(serde::Deserialize)]
        struct Table {
            cases: Vec<Case>,
        }
        let table: Table = serde_json::from_str(include_str!(
            "../../../tests/fixtures/claude-argv-cases.json"
        ))
        .expect("the case table parses");
        assert!(table.cases.len() > 50);
        let wrong: Vec<String> = table
            .cases
            .iter()
            .filter_map(|c| {
                let got = verdict(c);
                (got != c.expect)
                    .then(|| format!("{}: {:?} gave {got}, want {}", c.name, c.argv, c.expect))
            })
            .collect();
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn families_from_names() {
        for (name, fam) in [
            ("opus", Family::Opus),
            ("best", Family::Opus),
            ("opusplan", Family::Sonnet),
            ("claude-opus-5-5", Family::Opus),
            ("opus[1m]", Family::Opus),
            ("sonnet", Family::Sonnet),
            ("claude-sonnet-5-5-20261101", Family::Sonnet),
            ("claude-3-7-sonnet-latest", Family::Sonnet),
            ("haiku", Family::Haiku),
            ("claude-haiku-5-5", Family::Haiku),
            ("fable", Family::Fable),
            ("claude-fable-5-2", Family::Fable),
            ("mythos", Family::Mythos),
            ("claude-mythos-5", Family::Mythos),
        ] {
            assert_eq!(family_of(name, false), Some(fam), "{name}");
        }
        assert_eq!(family_of("haiku", true), Some(Family::Sonnet));
        assert_eq!(family_of("haiku[1m]", true), Some(Family::Haiku));
        assert_eq!(family_of("opusplan", true), Some(Family::Opus));
        assert_eq!(family_of("gizmo", false), None);
        assert_eq!(
            serde_json::to_value(Family::Mythos).unwrap(),
            serde_json::json!("mythos")
        );
    }

    #[test]
    fn positions_for_a_model_fallback() {
        let a = parse_claude_args(&args(&["-p", "--model", "opus", "hi"]));
        assert_eq!(a.model_index, Some((2, false)));
        let a = parse_claude_args(&args(&["--model=opus", "hi"]));
        assert_eq!(a.model_index, Some((0, true)));
        let a = parse_claude_args(&args(&["--system-prompt", "--", "-p", "--", "x"]));
        assert_eq!(a.terminator, Some(3));
        assert!(a.print);
    }

    #[test]
    fn unknown_options_are_listed_and_non_utf8_is_fine() {
        let a = parse_claude_args(&args(&["--brand-new", "-pz", "hi"]));
        assert_eq!(a.unknown_options, ["--brand-new", "-z"]);
        assert!(a.no_turn.is_none());
        let weird = vec![
            OsString::from_vec(vec![0xff, 0xfe]),
            OsString::from("--model=sonnet"),
        ];
        assert_eq!(parse_claude_args(&weird).model.as_deref(), Some("sonnet"));
    }

    #[test]
    fn agent_frontmatter_forms() {
        assert_eq!(
            agent_frontmatter("---\nname: \"rev\"\nmodel: 'haiku'\n---\nbody"),
            Some((Some("rev".into()), Some("haiku".into())))
        );
        assert_eq!(agent_frontmatter("no frontmatter"), None);
        assert_eq!(agent_frontmatter("---\nname: rev\n"), None, "unterminated");
        let json = r#"{"rev":{"model":"sonnet"}}"#;
        let files = [(
            "a.md".to_owned(),
            "rev".to_owned(),
            "---\nname: rev\nmodel: haiku\n---\n".to_owned(),
        )];
        assert_eq!(
            find_agent("rev", Some(json), &files, &[])
                .unwrap()
                .model
                .as_deref(),
            Some("sonnet"),
            "--agents wins over files"
        );
        assert_eq!(find_agent("rev", None, &files, &[]).unwrap().source, "a.md");
    }

    #[test]
    fn fable_display_names() {
        assert!(Family::Fable.matches_display_name("Fable"));
        assert!(Family::Fable.matches_display_name("fable 5.1"));
        assert!(!Family::Fable.matches_display_name("Fableish"));
        assert!(!Family::Opus.matches_display_name("Fable"));
        assert!(Family::Mythos.matches_display_name("Mythos"));
    }
}
