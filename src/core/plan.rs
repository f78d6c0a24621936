//! Whether plan limits govern a run at all (DESIGN.md "Plan limits don't apply"): Claude Code
//! uses the subscription unless `ANTHROPIC_AUTH_TOKEN`, an `apiKeyHelper` setting, a
//! third-party provider, or `ANTHROPIC_API_KEY` in print mode takes over
//! (research/claude-code-facts.md §1e). Pure: the environment comes in as a lookup function.

use crate::core::model::ClaudeArgs;

/// Third-party provider switches; any truthy one turns plan OAuth off.
const PROVIDER_VARS: [&str; 5] = [
    "CLAUDE_CODE_USE_BEDROCK",
    "CLAUDE_CODE_USE_VERTEX",
    "CLAUDE_CODE_USE_FOUNDRY",
    "CLAUDE_CODE_USE_MANTLE",
    "CLAUDE_CODE_USE_ANTHROPIC_AWS",
];

/// Claude Code's `isEnvTruthy`: `1`, `true`, `yes`, `on` (any case).
pub fn truthy(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "yes" | "on"
    )
}

/// Why plan limits do not apply to this run, or `None` when they do. `env` looks up a
/// variable; `settings` are the parsed settings files with their labels (for `apiKeyHelper`).
pub fn not_applicable(
    env: &dyn Fn(&str) -> Option<String>,
    args: &ClaudeArgs,
    settings: &[(String, serde_json::Value)],
) -> Option<String> {
    let set = |name: &str| env(name).is_some_and(|v| !v.is_empty());
    if let Some(sub) = &args.subcommand {
        return Some(format!("`claude {sub}` runs no model turn"));
    }
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
    if let Some((label, _)) = settings.iter().find(|(_, s)| {
        s.get("apiKeyHelper")
            .is_some_and(|h| h.as_str().is_some_and(|h| !h.trim().is_empty()))
    }) {
        return Some(format!(
            "apiKeyHelper is set in {label}: Claude Code uses an API key, not the plan"
        ));
    }
    if set("ANTHROPIC_API_KEY") && (args.print || args.bare) {
        return Some("ANTHROPIC_API_KEY is set and the run is non-interactive (-p): the API key wins over the plan".into());
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

    #[test]
    fn plan_applies_by_default() {
        assert_eq!(
            not_applicable(&env_of(&[]), &args(&["-p", "hi"]), &[]),
            None
        );
        // an API key in interactive mode is not used without approval
        assert_eq!(
            not_applicable(&env_of(&[("ANTHROPIC_API_KEY", "sk")]), &args(&["hi"]), &[]),
            None
        );
        // CLAUDE_CODE_OAUTH_TOKEN is still the plan
        assert_eq!(
            not_applicable(
                &env_of(&[("CLAUDE_CODE_OAUTH_TOKEN", "x")]),
                &args(&[]),
                &[]
            ),
            None
        );
        assert_eq!(
            not_applicable(
                &env_of(&[("CLAUDE_CODE_USE_BEDROCK", "0")]),
                &args(&[]),
                &[]
            ),
            None
        );
    }

    #[test]
    fn each_way_out_of_the_plan() {
        let none: &[(String, serde_json::Value)] = &[];
        assert!(
            not_applicable(&env_of(&[("ANTHROPIC_AUTH_TOKEN", "t")]), &args(&[]), none).is_some()
        );
        assert!(
            not_applicable(
                &env_of(&[("CLAUDE_CODE_USE_VERTEX", "1")]),
                &args(&[]),
                none
            )
            .is_some()
        );
        assert!(
            not_applicable(
                &env_of(&[("ANTHROPIC_API_KEY", "sk")]),
                &args(&["-p", "x"]),
                none
            )
            .is_some()
        );
        assert!(
            not_applicable(
                &env_of(&[("ANTHROPIC_API_KEY", "sk")]),
                &args(&["--print"]),
                none
            )
            .is_some()
        );
        assert!(not_applicable(&env_of(&[]), &args(&["--bare"]), none).is_some());
        assert!(not_applicable(&env_of(&[]), &args(&["mcp", "list"]), none).is_some());
        let helper = vec![(
            "~/.claude/settings.json".to_owned(),
            serde_json::json!({"apiKeyHelper": "/bin/key"}),
        )];
        let why = not_applicable(&env_of(&[]), &args(&[]), &helper).unwrap();
        assert!(why.contains("settings.json"));
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
                not_applicable(&env_of(&[]), &args(&[]), &settings),
                None,
                "{value}"
            );
        }
    }
}
