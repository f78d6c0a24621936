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
