//! A logged-in scratch HOME (Claude Code's OAuth login with both scopes) whose guard cache
//! lives in `<home>/cache`, shared by every guard started from it. Test files add their own
//! methods in an `impl Home` block of their own.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use super::{Guard, epoch_ms_in, write_credentials};

/// A scratch HOME, removed when dropped.
pub struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    /// A HOME logged in with `token` (valid for a day, `user:inference user:profile`).
    pub fn logged_in_with(token: &str) -> Home {
        let dir = tempfile::tempdir().unwrap();
        write_credentials(
            &dir.path().join(".claude"),
            token,
            epoch_ms_in(86_400),
            &["user:inference", "user:profile"],
        );
        Home { dir }
    }

    /// The HOME directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The guard's cache directory (`CLAUDE_GUARD_CACHE_DIR`).
    pub fn cache(&self) -> PathBuf {
        self.path().join("cache")
    }

    /// A guard in this HOME, working directory HOME, reading OAuth usage from `base`.
    pub fn guard(&self, base: &str) -> Guard {
        Guard::new()
            .env("HOME", self.path())
            .env("CLAUDE_GUARD_CACHE_DIR", self.cache())
            .env("CLAUDE_GUARD_OAUTH_BASE_URL", base)
            .cwd(self.path())
            .timeout(Duration::from_secs(20))
    }

    /// The one OAuth cache file (panics unless there is exactly one).
    pub fn oauth_file(&self) -> PathBuf {
        let files: Vec<PathBuf> = std::fs::read_dir(self.cache())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                let n = p.file_name().unwrap().to_string_lossy().into_owned();
                n.starts_with("oauth-") && n.ends_with(".json")
            })
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
        files[0].clone()
    }

    /// The OAuth cache file as JSON.
    pub fn state(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.oauth_file()).unwrap()).unwrap()
    }

    /// Moves the cached snapshot's fetch time `secs` into the past.
    pub fn age_cache(&self, secs: i64) {
        let path = self.oauth_file();
        let mut state = self.state();
        let at = (chrono::Utc::now() - chrono::Duration::seconds(secs)).to_rfc3339();
        state["fetched_at"] = json!(at);
        state["snapshot"]["fetched_at"] = json!(at);
        std::fs::write(&path, state.to_string()).unwrap();
    }
}
