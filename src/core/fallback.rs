//! `run --model-fallback MODEL`: when the run's own model family has its weekly bucket pinned
//! (`seven_day_opus`, `seven_day_sonnet`, a `limits[]` `weekly_scoped` entry) and every bucket
//! that applies to MODEL is clear, run claude on MODEL instead. Pure: the decision for MODEL
//! comes from [`crate::core::decide::decide`] on the same snapshot, and claude's argv is rewritten
//! as a new `Vec<OsString>`, byte for byte except the model.
//!
//! - Never when `five_hour`, `seven_day` or `seven_day_oauth_apps` is pinned: those count every
//!   model, so another model does not help.
//! - A free run on MODEL is preferred to a billed run (extra usage) on the pinned model; MODEL
//!   must be a plain go (not billed, not unknown, under `--max-utilization`).
//! - Not when MODEL is of the run's own family, or of no known family.
//! - argv: `--model X` → `--model MODEL`; `--model=X` → `--model=MODEL`; a model from
//!   `ANTHROPIC_MODEL`, settings or the account default → `--model MODEL` added at the end of
//!   claude's options (before a `--` that ends them). The result is parsed again and used only
//!   when claude would read MODEL from it.

use std::ffi::OsString;

use chrono::{DateTime, Utc};

use crate::core::decide::{Decision, Verdict, decide};
use crate::core::model::{Family, ModelChoice, family_of, parse_claude_args};
use crate::core::policy::Policy;
use crate::core::snapshot::Snapshot;

/// A model switch the guard will make.
#[derive(Debug, Clone, PartialEq)]
pub struct Switch {
    /// claude's argv (without `argv[0]`) with the model switched.
    pub argv: Vec<OsString>,
    /// The fallback's family.
    pub family: Family,
    /// The pinned model-scoped bucket that caused the switch (`seven_day_opus`).
    pub pinned: String,
    /// The decision for the fallback's family: a plain go.
    pub decision: Decision,
}

impl Switch {
    /// The run's model after the switch to `fallback` (`--model-fallback MODEL`), for
    /// `--explain` and JSON.
    pub fn model_choice(&self, fallback: &str) -> ModelChoice {
        ModelChoice {
            family: self.family,
            model: Some(fallback.to_owned()),
            source: format!("--model-fallback ({} pinned)", self.pinned),
            note: None,
        }
    }
}

/// The fallback a run asks for.
pub struct Candidate<'a> {
    /// `--model-fallback MODEL`, as given.
    pub model: &'a str,
    /// claude's argv (without `argv[0]`) as it would run on the current model.
    pub argv: &'a [OsString],
    /// The family claude would run for a rewritten argv, resolved the way the run's own model
    /// is (settings' plan mode, `ANTHROPIC_DEFAULT_*_MODEL` remaps, an agent's `model:`). The
    /// caller supplies it, since those come from files and the environment.
    pub family_of_argv: &'a dyn Fn(&[OsString]) -> Family,
}

/// Decides whether to run on the `candidate` model instead of the run's model (`current`
/// family, whose decision is `primary`), and rewrites claude's argv when so: only when the
/// family claude would then run differs from `current` and is a plain go. `None`: run as
/// decided.
pub fn consider(
    primary: &Decision,
    snapshot: &Snapshot,
    policy: &Policy,
    now: DateTime<Utc>,
    current: Family,
    candidate: &Candidate,
) -> Option<Switch> {
    if !matches!(primary.verdict, Verdict::Refuse | Verdict::GoBilled) {
        return None;
    }
    let pinned: Vec<_> = primary.buckets.iter().filter(|v| v.pinned).collect();
    if pinned.iter().any(|v| v.bucket.kind.is_shared()) {
        return None;
    }
    let model_bucket = pinned.iter().find(|v| v.bucket.kind.is_model_weekly())?;
    // A model of no known family: the guard could not tell which buckets apply to it.
    family_of(candidate.model, false)?;
    let argv = rewrite(candidate.argv, candidate.model)?;
    let family = (candidate.family_of_argv)(&argv);
    if family == current {
        return None;
    }
    let decision = decide(snapshot, policy, family, now);
    if decision.verdict != Verdict::Go || decision.exit != crate::core::exit_codes::Exit::Go {
        return None;
    }
    Some(Switch {
        argv,
        family,
        pinned: model_bucket.bucket.name.clone(),
        decision,
    })
}

/// claude's argv with its model set to `model`: the last `--model X` / `--model=X` replaced,
/// else `--model MODEL` added at the end of the options (before a terminating `--`), else, if
/// that position would be swallowed as another option's value, at the front. `None` when no
/// form parses back to `model`.
pub fn rewrite(argv: &[OsString], model: &str) -> Option<Vec<OsString>> {
    let parsed = parse_claude_args(argv);
    let flag = || [OsString::from("--model"), OsString::from(model)];
    let mut candidates = Vec::new();
    match parsed.model_index {
        Some((i, inline)) if i < argv.len() => {
            let mut out = argv.to_vec();
            out[i] = if inline {
                OsString::from(format!("--model={model}"))
            } else {
                OsString::from(model)
            };
            candidates.push(out);
        }
        _ => {
            let at = parsed.terminator.unwrap_or(argv.len());
            let mut out = argv[..at].to_vec();
            out.extend(flag());
            out.extend_from_slice(&argv[at..]);
            candidates.push(out);
            let mut front = flag().to_vec();
            front.extend_from_slice(argv);
            candidates.push(front);
        }
    }
    candidates
        .into_iter()
        .find(|c| parse_claude_args(c).model.as_deref() == Some(model))
}

/// The one line on stderr announcing the switch.
pub fn message(switch: &Switch, primary: &Decision, fallback: &str) -> String {
    let instead = if primary.verdict == Verdict::GoBilled {
        "instead of billing extra usage"
    } else {
        "instead"
    };
    format!(
        "claude-guard: {} is pinned; running with --model {fallback} {instead} (--model-fallback).",
        switch.pinned
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::snapshot::{Origin, ParseContext, UtilizationScale, parse_value};
    use chrono::TimeZone;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap()
    }

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    fn strs(v: &[OsString]) -> Vec<&str> {
        v.iter().map(|s| s.to_str().unwrap()).collect()
    }

    /// A bare usage body with these utilizations (percent), fetched a minute before `now`.
    fn snap(five: f64, week: f64, oauth: f64, opus: f64, sonnet: f64, extra: bool) -> Snapshot {
        let w = |u: f64| json!({"utilization": u, "resets_at": "2026-11-22T16:00:00Z"});
        let body = json!({
            "five_hour": w(five), "seven_day": w(week), "seven_day_oauth_apps": w(oauth),
            "seven_day_opus": w(opus), "seven_day_sonnet": w(sonnet),
            "extra_usage": {"is_enabled": extra, "monthly_limit": 5000, "used_credits": 100,
                            "utilization": 2.0, "currency": "USD"},
        });
        parse_value(
            &body,
            Origin {
                kind: "test".into(),
                location: "-".into(),
            },
            &ParseContext {
                scale: UtilizationScale::Percent,
                org: None,
                logged_in_org: None,
                default_fetched_at: Some(now() - chrono::Duration::minutes(1)),
            },
        )
    }

    fn try_switch(s: &Snapshot, current: Family, fallback: &str, argv: &[&str]) -> Option<Switch> {
        let policy = Policy::default();
        let primary = decide(s, &policy, current, now());
        consider(
            &primary,
            s,
            &policy,
            now(),
            current,
            &Candidate {
                model: fallback,
                argv: &args(argv),
                family_of_argv: &flags_only,
            },
        )
    }

    /// The family from claude's argv alone (`--model`, `--permission-mode plan`), as if no
    /// settings, agent or remap applied; Opus when no model is named.
    fn flags_only(argv: &[OsString]) -> Family {
        let p = parse_claude_args(argv);
        p.model
            .as_deref()
            .and_then(|m| family_of(m, p.plan_mode_flag().unwrap_or(false)))
            .unwrap_or(Family::Opus)
    }

    #[test]
    fn the_fallbacks_family_is_the_one_claude_would_resolve() {
        let opus = snap(10.0, 50.0, 0.0, 100.0, 5.0, false);
        let policy = Policy::default();
        let primary = decide(&opus, &policy, Family::Opus, now());
        let switch = |model: &str, argv: &[&str], resolve: &dyn Fn(&[OsString]) -> Family| {
            let argv = args(argv);
            let candidate = Candidate {
                model,
                argv: &argv,
                family_of_argv: resolve,
            };
            consider(&primary, &opus, &policy, now(), Family::Opus, &candidate)
        };
        // Outside plan mode `opusplan` runs Sonnet: a switch.
        let sw = switch("opusplan", &["-p", "hi"], &flags_only).unwrap();
        assert_eq!(sw.family, Family::Sonnet);
        // Plan mode from settings (`permissions.defaultMode`): `opusplan` is Opus again, so no
        // switch, although the argv has no --permission-mode.
        let in_plan_mode = |a: &[OsString]| {
            let p = parse_claude_args(a);
            family_of(p.model.as_deref().unwrap_or("opus"), true).unwrap()
        };
        assert_eq!(switch("opusplan", &["-p", "hi"], &in_plan_mode), None);
        // An agent whose `model:` beats --model keeps the run on Opus: no switch.
        let agent_opus = |_: &[OsString]| Family::Opus;
        let agent = ["-p", "--agent", "rev", "hi"];
        assert_eq!(switch("sonnet", &agent, &agent_opus), None);
    }

    #[test]
    fn replaces_a_separate_model_value() {
        let s = snap(10.0, 50.0, 0.0, 100.0, 5.0, false);
        let sw = try_switch(&s, Family::Opus, "sonnet", &["-p", "--model", "opus", "hi"]).unwrap();
        assert_eq!(strs(&sw.argv), ["-p", "--model", "sonnet", "hi"]);
        assert_eq!(sw.pinned, "seven_day_opus");
        assert_eq!(sw.family, Family::Sonnet);
        assert_eq!(sw.decision.verdict, Verdict::Go);
    }

    #[test]
    fn replaces_an_inline_model() {
        let s = snap(10.0, 50.0, 0.0, 100.0, 5.0, false);
        let sw = try_switch(&s, Family::Opus, "sonnet", &["--model=opus", "-p", "hi"]).unwrap();
        assert_eq!(strs(&sw.argv), ["--model=sonnet", "-p", "hi"]);
    }

    #[test]
    fn only_the_last_model_flag_counts() {
        let s = snap(10.0, 50.0, 0.0, 100.0, 5.0, false);
        let sw = try_switch(
            &s,
            Family::Opus,
            "sonnet",
            &["--model", "haiku", "-p", "--model=opus", "hi"],
        )
        .unwrap();
        assert_eq!(
            strs(&sw.argv),
            ["--model", "haiku", "-p", "--model=sonnet", "hi"]
        );
    }

    #[test]
    fn adds_a_model_when_it_came_from_env_settings_or_default() {
        let s = snap(10.0, 50.0, 0.0, 100.0, 5.0, false);
        let sw = try_switch(&s, Family::Opus, "sonnet", &["-p", "hi"]).unwrap();
        assert_eq!(strs(&sw.argv), ["-p", "hi", "--model", "sonnet"]);
        let sw = try_switch(&s, Family::Opus, "sonnet", &[]).unwrap();
        assert_eq!(strs(&sw.argv), ["--model", "sonnet"]);
    }

    #[test]
    fn adds_before_the_options_terminator() {
        let s = snap(10.0, 50.0, 0.0, 100.0, 5.0, false);
        let sw = try_switch(&s, Family::Opus, "sonnet", &["-p", "--", "--model opus?"]).unwrap();
        assert_eq!(
            strs(&sw.argv),
            ["-p", "--model", "sonnet", "--", "--model opus?"]
        );
        // A `--` consumed as --system-prompt's value is not the terminator.
        let sw = try_switch(
            &s,
            Family::Opus,
            "sonnet",
            &["--system-prompt", "--", "-p", "--", "x"],
        )
        .unwrap();
        assert_eq!(
            strs(&sw.argv),
            [
                "--system-prompt",
                "--",
                "-p",
                "--model",
                "sonnet",
                "--",
                "x"
            ]
        );
    }

    #[test]
    fn goes_to_the_front_when_the_end_would_be_swallowed() {
        // A trailing value option without its value would take `--model` as its value.
        let out = rewrite(&args(&["-p", "--append-system-prompt"]), "sonnet").unwrap();
        assert_eq!(
            strs(&out),
            ["--model", "sonnet", "-p", "--append-system-prompt"]
        );
    }

    #[test]
    fn other_arguments_stay_byte_exact() {
        use std::os::unix::ffi::{OsStrExt, OsStringExt};
        let odd = OsString::from_vec(vec![0xff, b'-', 0xfe]);
        let argv = vec![
            OsString::from("-p"),
            odd.clone(),
            OsString::from("--model"),
            OsString::from("opus"),
        ];
        let out = rewrite(&argv, "sonnet").unwrap();
        assert_eq!(out[1].as_bytes(), odd.as_bytes());
        assert_eq!(out[3], "sonnet");
    }

    #[test]
    fn never_when_a_shared_bucket_is_pinned() {
        for s in [
            snap(100.0, 50.0, 0.0, 100.0, 5.0, false),
            snap(10.0, 100.0, 0.0, 100.0, 5.0, false),
            snap(10.0, 50.0, 100.0, 100.0, 5.0, false),
            snap(100.0, 50.0, 0.0, 10.0, 5.0, false),
        ] {
            assert_eq!(
                try_switch(&s, Family::Opus, "sonnet", &["-p", "hi"]),
                None,
                "{:?}",
                s.usage
            );
        }
    }

    #[test]
    fn never_to_a_pinned_or_same_or_unknown_family() {
        let both = snap(10.0, 50.0, 0.0, 100.0, 100.0, false);
        assert_eq!(try_switch(&both, Family::Opus, "sonnet", &[]), None);
        let opus = snap(10.0, 50.0, 0.0, 100.0, 5.0, false);
        assert_eq!(
            try_switch(&opus, Family::Opus, "claude-opus-5-5", &[]),
            None
        );
        assert_eq!(try_switch(&opus, Family::Opus, "gizmo-9", &[]), None);
        // Haiku has no weekly bucket of its own: only the shared ones apply.
        assert!(try_switch(&opus, Family::Opus, "haiku", &[]).is_some());
    }

    #[test]
    fn free_fallback_beats_a_billed_run() {
        let s = snap(10.0, 50.0, 0.0, 100.0, 5.0, true);
        let policy = Policy::default();
        let primary = decide(&s, &policy, Family::Opus, now());
        assert_eq!(primary.verdict, Verdict::GoBilled);
        let sw = consider(
            &primary,
            &s,
            &policy,
            now(),
            Family::Opus,
            &Candidate {
                model: "sonnet",
                argv: &args(&["-p"]),
                family_of_argv: &flags_only,
            },
        )
        .unwrap();
        assert_eq!(
            message(&sw, &primary, "sonnet"),
            "claude-guard: seven_day_opus is pinned; running with --model sonnet instead of billing extra usage (--model-fallback)."
        );
    }

    #[test]
    fn not_when_the_fallback_is_over_the_soft_threshold() {
        let s = snap(10.0, 50.0, 0.0, 100.0, 95.0, false);
        let policy = Policy {
            max_utilization: 90.0,
            ..Policy::default()
        };
        let primary = decide(&s, &policy, Family::Opus, now());
        let sw = consider(
            &primary,
            &s,
            &policy,
            now(),
            Family::Opus,
            &Candidate {
                model: "sonnet",
                argv: &args(&[]),
                family_of_argv: &flags_only,
            },
        );
        assert_eq!(sw, None);
    }

    #[test]
    fn nothing_to_do_on_a_go() {
        let s = snap(10.0, 50.0, 0.0, 50.0, 5.0, false);
        assert_eq!(try_switch(&s, Family::Opus, "sonnet", &[]), None);
    }

    #[test]
    fn the_announcement() {
        let s = snap(10.0, 50.0, 0.0, 100.0, 5.0, false);
        let policy = Policy::default();
        let primary = decide(&s, &policy, Family::Opus, now());
        let sw = try_switch(&s, Family::Opus, "sonnet", &[]).unwrap();
        assert_eq!(
            message(&sw, &primary, "sonnet"),
            "claude-guard: seven_day_opus is pinned; running with --model sonnet instead (--model-fallback)."
        );
    }
}
