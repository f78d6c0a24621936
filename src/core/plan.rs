//! Whether plan limits govern a run at all (DESIGN.md "Plan limits don't apply", "The run's
//! model family"): Claude Code uses the subscription unless `ANTHROPIC_AUTH_TOKEN`, an
//! `apiKeyHelper` setting, a third-party provider switch, `CLAUDE_CODE_SIMPLE` (`--bare`),
//! `CLAUDE_CODE_API_KEY_FILE_DESCRIPTOR`, or `ANTHROPIC_API_KEY` in a non-interactive run takes
//! over (research/claude-code-facts.md §1e). Pure: the environment comes in as a lookup
//! function, and whether claude's stdout is a terminal as a flag.

use crate::core::model::ClaudeArgs;

/// Third-party provider switches; any truthy one turns plan OAuth off.
const PROVIDER_VARS: [&str; 6] = [
    "CLAUDE_CODE_USE_BEDROCK",
    "CLAUDE_CODE_USE_VERTEX",
    "CLAUDE_CODE_USE_FOUNDRY",
    "CLAUDE_CODE_USE_MANTLE",
    "CLAUDE_CODE_USE_ANTHROPIC_AWS",
    "CLAUDE_CODE_USE_ANTHROPIC_GOOGLE_CLOUD",
];

/// Claude Code's `isEnvTruthy`: `1`, `true`, `yes`, `on` (any case).
pub fn truthy(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "yes" | "on"
    )
}

/// Whether claude runs non-interactively, which makes `ANTHROPIC_API_KEY` win over the plan:
/// an exact `-p`/`--print`, `--init-only`, `--sdk-url`, or stdout not a terminal.
pub fn non_interactive(args: &ClaudeArgs, stdout_tty: bool) -> bool {
    args.print || args.init_only || args.sdk_url || !stdout_tty
}

/// Whether an interactive run uses `key`: Claude Code asks once and keeps the answer in the
/// global config's `customApiKeyResponses.approved`, a list of keys' last 20 characters.
pub fn api_key_approved(key: &str, approved: &[String]) -> bool {
    let key = key.trim();
    let tail = key
        .char_indices()
        .rev()
        .nth(19)
        .map_or(key, |(i, _)| &key[i..]);
    approved.iter().any(|a| a == tail)
}

/// Why plan limits do not apply to this run, or `None` when they do. `env` looks up a
/// variable; `settings` are the parsed settings files with their labels (for `apiKeyHelper`);
/// `stdout_tty` says whether claude's stdout (the guard's, which claude inherits) is a terminal;
/// `approved_api_keys` is `customApiKeyResponses.approved` from Claude Code's global config
/// (read only when `ANTHROPIC_API_KEY` is set and the run is interactive).
pub fn not_applicable(
    env: &dyn Fn(&str) -> Option<String>,
    args: &ClaudeArgs,
    settings: &[(String, serde_json::Value)],
    stdout_tty: bool,
    approved_api_keys: &[String],
) -> Option<String> {
    let set = |name: &str| env(name).is_some_and(|v| !v.is_empty());
    if set("ANTHROPIC_AUTH_TOKEN") {
        return Some(
            "ANTHROPIC_AUTH_TOKEN is set: Claude Code authenticates with it, not the plan".into(),
        );
    }
    if let Some(var) = PROVIDER_VARS
        .iter()
        .find(|v| env(v).is_some_and(|x| truthy(&x)))
    {
        return Some(format!(
            "{var} is set: a third-party provider serves the run, not the plan"
        ));
    }
    if env("CLAUDE_CODE_SIMPLE").is_some_and(|v| truthy(&v)) {
        return Some(
            "CLAUDE_CODE_SIMPLE is set: Claude Code never reads the claude.ai login".into(),
        );
    }
    if set("CLAUDE_CODE_API_KEY_FILE_DESCRIPTOR") {
        return Some(
            "CLAUDE_CODE_API_KEY_FILE_DESCRIPTOR is set: Claude Code uses that API key, not the plan"
                .into(),
        );
    }
    if let Some((label, _)) = settings.iter().find(|(_, s)| {
        s.get("apiKeyHelper")
            .is_some_and(|h| h.as_str().is_some_and(|h| !h.trim().is_empty()))
    }) {
        return Some(format!(
            "apiKeyHelper is set in {label}: Claude Code uses an API key, not the plan"
        ));
    }
    if set("ANTHROPIC_API_KEY") && (non_interactive(args, stdout_tty) || args.bare) {
        let how = if args.print {
            "-p"
        } else if args.init_only {
            "--init-only"
        } else if args.sdk_url {
            "--sdk-url"
        } else if args.bare {
            "--bare"
        } else {
            "stdout is not a terminal"
        };
        return Some(format!(
            "ANTHROPIC_API_KEY is set and the run is non-interactive ({how}): the API key wins over the plan"
        ));
    }
    if let Some(key) = env("ANTHROPIC_API_KEY").filter(|k| !k.is_empty())
        && api_key_approved(&key, approved_api_keys)
    {
        return Some(
            "ANTHROPIC_API_KEY is set and approved for interactive use (customApiKeyResponses): the API key wins over the plan"
                .into(),
        );
    }
    if args.bare {
        return Some("--bare never reads the claude.ai login: the run cannot use the plan".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::parse_claude_args;
    use std::ffi::OsString;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    fn args(list: &[&str]) -> ClaudeArgs {
        parse_claude_args(&list.iter().map(OsString::from).collect::<Vec<_>>())
    }

    // The table of cases is tests/fixtures/claude-argv-cases.json (model.rs runs it); these
    // pin the wording that names the reason.
    #[test]
    fn each_reason_names_its_cause() {
        let key = env_of(&[("ANTHROPIC_API_KEY", "sk")]);
        let why = not_applicable(&key, &args(&["x"]), &[], false, &[]).unwrap();
        assert!(why.contains("stdout is not a terminal"), "{why}");
        let why = not_applicable(&key, &args(&["-p", "x"]), &[], true, &[]).unwrap();
        assert!(why.contains("(-p)"), "{why}");
        assert_eq!(
            not_applicable(&key, &args(&["-pc", "x"]), &[], true, &[]),
            None
        );
        let approved = ["sk".to_owned()];
        let why = not_applicable(&key, &args(&["x"]), &[], true, &approved).unwrap();
        assert!(why.contains("approved"), "{why}");
        assert!(api_key_approved(
            " sk-ant-api03-0123456789abcdefghijKLMN ",
            &["456789abcdefghijKLMN".to_owned()]
        ));
        assert!(!api_key_approved(
            "sk-ant-api03-other",
            &["456789abcdefghijKLMN".to_owned()]
        ));
        let helper = vec![(
            "~/.claude/settings.json".to_owned(),
            serde_json::json!({"apiKeyHelper": "/bin/key"}),
        )];
        let why = not_applicable(&env_of(&[]), &args(&[]), &helper, true, &[]).unwrap();
        assert!(why.contains("settings.json"));
        let why = not_applicable(
            &env_of(&[("CLAUDE_CODE_USE_ANTHROPIC_GOOGLE_CLOUD", "1")]),
            &args(&[]),
            &[],
            true,
            &[],
        )
        .unwrap();
        assert!(
            why.contains("CLAUDE_CODE_USE_ANTHROPIC_GOOGLE_CLOUD"),
            "{why}"
        );
    }

    #[test]
    fn only_a_non_empty_api_key_helper_command_turns_plan_checks_off() {
        // README "apiKeyHelper": an empty, blank or non-string value runs no command, so
        // Claude Code still uses the plan and its limits still apply.
        for value in [
            serde_json::json!(""),
            serde_json::json!("   \t"),
            serde_json::json!(null),
            serde_json::json!(false),
            serde_json::json!(["/bin/key"]),
        ] {
            let settings = vec![(
                ".claude/settings.json".to_owned(),
                serde_json::json!({ "apiKeyHelper": value }),
            )];
            assert_eq!(
                not_applicable(&env_of(&[]), &args(&[]), &settings, true, &[]),
                None,
                "{value}"
            );
        }
    }
}
