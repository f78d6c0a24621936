//! Where Claude Code keeps its files (research/claude-code-facts.md §1–2). Read only: the guard
//! never writes any of them.
//!
//! - config dir: `$CLAUDE_CONFIG_DIR`, else `~/.claude`;
//! - global config: `<config dir>/.config.json` when it is a non-empty file (legacy, takes
//!   precedence), else `${CLAUDE_CONFIG_DIR:-$HOME}/.claude.json`;
//! - user settings: `<config dir>/settings.json`.

use std::path::PathBuf;

/// The user's home directory (`$HOME`).
pub fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// `$CLAUDE_CONFIG_DIR`, else `~/.claude`.
pub fn config_dir() -> Option<PathBuf> {
    match std::env::var_os("CLAUDE_CONFIG_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => Some(PathBuf::from(dir)),
        None => home().map(|h| h.join(".claude")),
    }
}

/// The global config file Claude Code uses (`~/.claude.json` or the legacy `.config.json`).
pub fn global_config() -> Option<PathBuf> {
    if let Some(legacy) = config_dir().map(|d| d.join(".config.json"))
        && std::fs::metadata(&legacy).is_ok_and(|m| m.is_file() && m.len() > 0)
    {
        return Some(legacy);
    }
    match std::env::var_os("CLAUDE_CONFIG_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => Some(PathBuf::from(dir).join(".claude.json")),
        None => home().map(|h| h.join(".claude.json")),
    }
}

/// Largest global config read (it holds project history and can grow to a few MiB).
pub const MAX_GLOBAL_CONFIG_BYTES: u64 = 64 << 20;

/// Reads and parses the global config; `None` when missing, too large or not JSON.
pub fn read_global_config() -> Option<serde_json::Value> {
    let path = global_config()?;
    let meta = std::fs::metadata(&path).ok()?;
    if !meta.is_file() || meta.len() > MAX_GLOBAL_CONFIG_BYTES {
        return None;
    }
    serde_json::from_slice(&std::fs::read(&path).ok()?).ok()
}

/// `oauthAccount.organizationUuid`: the organization Claude Code is logged into.
pub fn logged_in_org() -> Option<String> {
    read_global_config()?
        .get("oauthAccount")?
        .get("organizationUuid")?
        .as_str()
        .map(str::to_owned)
}

/// The two parts of the global config that Claude Code's cached usage needs, read without
/// building the rest (the file can be several MiB of project history).
#[derive(serde::Deserialize)]
struct CachedUsageParts {
    #[serde(rename = "cachedUsageUtilization", default)]
    cached: Option<serde_json::Value>,
    #[serde(rename = "oauthAccount", default)]
    account: Option<serde_json::Value>,
}

/// Claude Code's cached copy of the usage body: the global config's path and a small object
/// `{cachedUsageUtilization, oauthAccount}` that [`crate::snapshot::parse_value`] accepts.
/// `Err` says why there is none (no file, no cached usage, unreadable).
pub fn cached_usage() -> Result<(PathBuf, serde_json::Value), String> {
    let path = global_config().ok_or("HOME is not set")?;
    let shown = path.display();
    let meta = std::fs::metadata(&path).map_err(|_| format!("{shown} does not exist"))?;
    if !meta.is_file() || meta.len() > MAX_GLOBAL_CONFIG_BYTES {
        return Err(format!("{shown} is not a readable config file"));
    }
    let bytes = std::fs::read(&path).map_err(|e| format!("could not read {shown}: {e}"))?;
    let parts: CachedUsageParts =
        serde_json::from_slice(&bytes).map_err(|_| format!("{shown} is not valid JSON"))?;
    let cached = parts
        .cached
        .filter(|c| !c.is_null())
        .ok_or_else(|| format!("no cachedUsageUtilization in {shown}"))?;
    let mut obj = serde_json::Map::new();
    obj.insert("cachedUsageUtilization".into(), cached);
    obj.insert(
        "oauthAccount".into(),
        parts.account.unwrap_or(serde_json::Value::Null),
    );
    Ok((path, serde_json::Value::Object(obj)))
}
