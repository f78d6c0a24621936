//! Claude Code's session transcripts (`<config dir>/projects/<cwd slug>/<session_id>.jsonl`,
//! one JSON entry a line), read after a supervised run to learn why it stopped, with zero
//! requests (DESIGN.md "Long jobs: supervised runs", post-run truth).
//!
//! On a plan limit Claude Code appends an assistant entry with `isApiErrorMessage: true`,
//! `apiError: "usage_limit_reached"` and the limit in `quotaLimits` (and again in
//! `apiErrorParams.rate_limit_info`): `rateLimitType` (`five_hour`, `seven_day`,
//! `seven_day_opus`, `seven_day_sonnet`, `seven_day_overage_included`, `overage`) and
//! `resetsAt` (epoch seconds); see payloads/client_capture__transcript_entry_*.jsonl.
//! The file is found by its session id under `projects/`, so the slug rule does not matter.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use serde_json::Value;

/// The most of a transcript's end that is read (its last entries are what matter).
const TAIL_BYTES: u64 = 4 << 20;
/// At most this many project directories are searched.
const MAX_PROJECTS: usize = 10_000;

/// How the last assistant turn of a transcript ended.
#[derive(Debug, Clone, PartialEq)]
pub enum LastTurn {
    /// A plan limit stopped it.
    UsageLimit {
        /// Claude Code's `rateLimitType`, when given.
        rate_limit_type: Option<String>,
        /// `resetsAt` (UTC), when given.
        resets_at: Option<DateTime<Utc>>,
    },
    /// Anything else (a normal answer, another API error), or no assistant entry.
    Other,
}

/// `<config dir>/projects`.
fn projects(config_dir: &Path) -> PathBuf {
    config_dir.join("projects")
}

/// The transcript of `session_id` under `<config dir>/projects/*/`, if one exists. A
/// `session_id` that is not a plain file name (`/`, `..`) finds nothing.
pub fn find(config_dir: &Path, session_id: &str) -> Option<PathBuf> {
    if session_id.is_empty()
        || session_id.contains(['/', '\\', '\0'])
        || session_id.starts_with('.')
    {
        return None;
    }
    let name = format!("{session_id}.jsonl");
    std::fs::read_dir(projects(config_dir))
        .ok()?
        .flatten()
        .take(MAX_PROJECTS)
        .map(|d| d.path().join(&name))
        .find(|p| p.is_file())
}

/// Claude Code's directory name for a working directory: every character that is not an
/// ASCII letter or digit becomes `-` (`/home/dev/project` → `-home-dev-project`).
pub fn slug(cwd: &Path) -> String {
    cwd.to_string_lossy()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// The newest transcript modified at or after `since`: in the working directory's project
/// first, else in any project. Returns (session id, path).
pub fn newest_since(config_dir: &Path, cwd: &Path, since: SystemTime) -> Option<(String, PathBuf)> {
    let newest_in = |dir: &Path| -> Option<(SystemTime, PathBuf)> {
        std::fs::read_dir(dir)
            .ok()?
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
            .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
            .filter(|(m, _)| *m >= since)
            .max_by_key(|(m, _)| *m)
    };
    let own = projects(config_dir).join(slug(cwd));
    let found = newest_in(&own).or_else(|| {
        std::fs::read_dir(projects(config_dir))
            .ok()?
            .flatten()
            .take(MAX_PROJECTS)
            .filter_map(|d| newest_in(&d.path()))
            .max_by_key(|(m, _)| *m)
    })?;
    let id = found.1.file_stem()?.to_string_lossy().into_owned();
    Some((id, found.1))
}

/// Reads how the last assistant entry of the transcript at `path` ended (the file's last
/// [`TAIL_BYTES`] at most; lines that do not parse are skipped). `None` when it cannot be read.
pub fn last_turn(path: &Path) -> Option<LastTurn> {
    let mut f = std::fs::File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    let start = len.saturating_sub(TAIL_BYTES);
    f.seek(SeekFrom::Start(start)).ok()?;
    let mut bytes = Vec::new();
    f.take(TAIL_BYTES).read_to_end(&mut bytes).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    Some(last_turn_of(&text))
}

/// [`last_turn`] on the text of a transcript.
pub fn last_turn_of(text: &str) -> LastTurn {
    let last = text
        .lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|e| e.get("type").and_then(Value::as_str) == Some("assistant") && !sidechain(e));
    let Some(e) = last else {
        return LastTurn::Other;
    };
    let limit = e.get("isApiErrorMessage").and_then(Value::as_bool) == Some(true)
        && e.get("apiError").and_then(Value::as_str) == Some("usage_limit_reached");
    if !limit {
        return LastTurn::Other;
    }
    let info = [
        e.get("quotaLimits"),
        e.pointer("/apiErrorParams/rate_limit_info"),
    ];
    let field = |k: &str| info.iter().flatten().find_map(|i| i.get(k)).cloned();
    LastTurn::UsageLimit {
        rate_limit_type: field("rateLimitType").and_then(|v| v.as_str().map(str::to_owned)),
        resets_at: field("resetsAt")
            .and_then(|v| v.as_i64())
            .and_then(|s| DateTime::from_timestamp(s, 0)),
    }
}

fn sidechain(e: &Value) -> bool {
    e.get("isSidechain").and_then(Value::as_bool) == Some(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capture() -> String {
        std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/payloads/client_capture__transcript_entry_usage_limit_five_hour.jsonl"
        ))
        .unwrap()
    }

    #[test]
    fn the_captured_five_hour_stop_is_read() {
        let t = last_turn_of(&capture());
        assert_eq!(
            t,
            LastTurn::UsageLimit {
                rate_limit_type: Some("five_hour".into()),
                resets_at: DateTime::from_timestamp(1_796_185_796, 0),
            }
        );
    }

    #[test]
    fn a_later_answer_or_a_damaged_line_is_not_a_stop() {
        let later = format!(
            "{}\nnot json\n{}\n",
            capture().trim(),
            r#"{"type":"assistant","message":{"content":[{"type":"text","text":"done"}]}}"#
        );
        assert_eq!(last_turn_of(&later), LastTurn::Other);
        let damaged = format!("{}\n{{\"type\":\"assist", capture().trim());
        assert!(matches!(
            last_turn_of(&damaged),
            LastTurn::UsageLimit { .. }
        ));
        assert_eq!(last_turn_of(""), LastTurn::Other);
    }

    #[test]
    fn transcripts_are_found_by_session_id_and_by_time() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("projects").join(slug(Path::new("/w/x.y")));
        std::fs::create_dir_all(&p).unwrap();
        assert_eq!(slug(Path::new("/w/x.y")), "-w-x-y");
        std::fs::write(p.join("abc.jsonl"), capture()).unwrap();
        assert_eq!(find(dir.path(), "abc"), Some(p.join("abc.jsonl")));
        assert_eq!(find(dir.path(), "../abc"), None);
        assert_eq!(find(dir.path(), "nope"), None);
        let since = SystemTime::now() - std::time::Duration::from_secs(60);
        let (id, _) = newest_since(dir.path(), Path::new("/w/x.y"), since).unwrap();
        assert_eq!(id, "abc");
        let future = SystemTime::now() + std::time::Duration::from_secs(60);
        assert!(newest_since(dir.path(), Path::new("/w/x.y"), future).is_none());
        assert!(matches!(
            last_turn(&p.join("abc.jsonl")),
            Some(LastTurn::UsageLimit { .. })
        ));
    }
}
