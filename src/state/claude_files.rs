//! Where Claude Code keeps its files (research/claude-code-facts.md §1–2). Read only: the guard
//! never writes any of them, except `settings.json` on an explicit
//! `claude-guard init statusline --install` ([`replace_settings`]: backup, temp file, rename).
//!
//! - config dir: `$CLAUDE_CONFIG_DIR`, else `~/.claude`;
//! - global config: `<config dir>/.config.json` when it is a non-empty file (legacy, takes
//!   precedence), else `${CLAUDE_CONFIG_DIR:-$HOME}/.claude.json`;
//! - user settings: `<config dir>/settings.json`.

use std::path::{Path, PathBuf};

use crate::core::model::{self, AgentDef, ClaudeArgs, SettingSource};

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

/// Largest global config read (it holds project history: tens of MiB for heavy users).
pub const MAX_GLOBAL_CONFIG_BYTES: u64 = 64 << 20;

/// The only parts of the global config the guard reads. Every other key (the `projects`
/// history is most of the file) is skipped as serde's `IgnoredAny` without being built.
#[derive(Debug, Default, serde::Deserialize)]
pub struct GlobalConfig {
    /// `oauthAccount`: the logged-in account (`accountUuid`, `organizationUuid`,
    /// `emailAddress`, ...), as written by Claude Code.
    #[serde(rename = "oauthAccount", default)]
    pub oauth_account: Option<serde_json::Value>,
    /// `cachedUsageUtilization`: Claude Code's cached copy of the usage body
    /// (`{utilization: <usage body>, fetchedAtMs}` in current versions).
    #[serde(rename = "cachedUsageUtilization", default)]
    pub cached_usage: Option<serde_json::Value>,
    /// `customApiKeyResponses`: `{approved: [last 20 characters of a key], rejected: [...]}`,
    /// the API keys the user allowed (or refused) for interactive sessions.
    #[serde(rename = "customApiKeyResponses", default)]
    pub custom_api_key_responses: Option<serde_json::Value>,
    // No `deny_unknown_fields` and no `flatten` (which would buffer the whole file): serde's
    // derive reads each other key's value as `IgnoredAny`, i.e. parses past it, keeping nothing.
}

/// The file a [`GlobalConfig`] was read from, as it was then (a changed file is read again:
/// the wait loop runs for hours while Claude Code rewrites it).
#[derive(PartialEq, Eq, Clone)]
struct Identity {
    path: PathBuf,
    len: u64,
    modified: Option<std::time::SystemTime>,
    ino: u64,
}

type Read = Result<std::sync::Arc<GlobalConfig>, String>;

static GLOBAL: std::sync::Mutex<Option<(Identity, Read)>> = std::sync::Mutex::new(None);

/// The global config's path and its [`GlobalConfig`] parts, read at most once per process
/// while the file is unchanged (same size, modification time and inode). `Err` says why there
/// is none: no HOME, no file, too large (over [`MAX_GLOBAL_CONFIG_BYTES`]), unreadable, not
/// JSON.
pub fn global_config_parts() -> Result<(PathBuf, std::sync::Arc<GlobalConfig>), String> {
    use std::os::unix::fs::MetadataExt;
    let path = global_config().ok_or("HOME is not set")?;
    let shown = path.display().to_string();
    let meta = std::fs::metadata(&path).map_err(|_| format!("{shown} does not exist"))?;
    if !meta.is_file() || meta.len() > MAX_GLOBAL_CONFIG_BYTES {
        return Err(format!("{shown} is not a readable config file"));
    }
    let id = Identity {
        path: path.clone(),
        len: meta.len(),
        modified: meta.modified().ok(),
        ino: meta.ino(),
    };
    let mut memo = GLOBAL.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((seen, read)) = memo.as_ref()
        && *seen == id
    {
        return read.clone().map(|parts| (path, parts));
    }
    let read: Read = (|| {
        // O_NONBLOCK: a FIFO swapped in after the check above must not block the open; the
        // opened file itself is checked again.
        let file = std::os::unix::fs::OpenOptionsExt::custom_flags(
            std::fs::OpenOptions::new().read(true),
            nix::fcntl::OFlag::O_NONBLOCK.bits(),
        )
        .open(&path)
        .map_err(|e| format!("could not read {shown}: {e}"))?;
        let opened = file
            .metadata()
            .map_err(|e| format!("could not read {shown}: {e}"))?;
        if !opened.is_file() || opened.len() > MAX_GLOBAL_CONFIG_BYTES {
            return Err(format!("{shown} is not a readable config file"));
        }
        let mut bytes = Vec::with_capacity(opened.len() as usize);
        std::io::Read::read_to_end(
            &mut std::io::Read::take(file, MAX_GLOBAL_CONFIG_BYTES + 1),
            &mut bytes,
        )
        .map_err(|e| format!("could not read {shown}: {e}"))?;
        if bytes.len() as u64 > MAX_GLOBAL_CONFIG_BYTES {
            return Err(format!("{shown} is not a readable config file"));
        }
        serde_json::from_slice::<GlobalConfig>(&bytes)
            .map(std::sync::Arc::new)
            .map_err(|_| format!("{shown} is not valid JSON"))
    })();
    *memo = Some((id, read.clone()));
    read.map(|parts| (path, parts))
}

/// `oauthAccount.organizationUuid`: the organization Claude Code is logged into.
pub fn logged_in_org() -> Option<String> {
    global_config_parts()
        .ok()?
        .1
        .oauth_account
        .as_ref()?
        .get("organizationUuid")?
        .as_str()
        .map(str::to_owned)
}

/// `customApiKeyResponses.approved` of the global config: the last 20 characters of each API
/// key the user allowed an interactive Claude Code to use. Empty when none or unreadable.
/// Comes from the same single read as [`global_config_parts`].
pub fn approved_api_keys() -> Vec<String> {
    global_config_parts()
        .ok()
        .and_then(|(_, parts)| parts.custom_api_key_responses.clone())
        .and_then(|r| r.get("approved").and_then(|a| a.as_array()).cloned())
        .map(|approved| {
            approved
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Claude Code's cached copy of the usage body: the global config's path and a small object
/// `{cachedUsageUtilization, oauthAccount}` that [`crate::core::snapshot::parse_value`] accepts.
/// `Err` says why there is none (no file, no cached usage, unreadable).
pub fn cached_usage() -> Result<(PathBuf, serde_json::Value), String> {
    let (path, parts) = global_config_parts()?;
    let cached = parts
        .cached_usage
        .clone()
        .filter(|c| !c.is_null())
        .ok_or_else(|| format!("no cachedUsageUtilization in {}", path.display()))?;
    let mut obj = serde_json::Map::new();
    obj.insert("cachedUsageUtilization".into(), cached);
    obj.insert(
        "oauthAccount".into(),
        parts
            .oauth_account
            .clone()
            .unwrap_or(serde_json::Value::Null),
    );
    Ok((path, serde_json::Value::Object(obj)))
}

/// Largest settings or agent file the guard reads (such files are a few KiB).
const MAX_SETTINGS_BYTES: u64 = 1 << 20;

/// Most agent files looked at in one agents directory.
const MAX_AGENT_FILES: usize = 256;

/// Reads a JSON settings file; `None` when missing, too large or not JSON.
pub fn read_settings(path: &Path) -> Option<serde_json::Value> {
    serde_json::from_slice(&read_small(path)?).ok()
}

/// A regular file's bytes, when it is at most [`MAX_SETTINGS_BYTES`].
fn read_small(path: &Path) -> Option<Vec<u8>> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() || meta.len() > MAX_SETTINGS_BYTES {
        return None;
    }
    std::fs::read(path).ok()
}

/// Reads `--settings`: inline JSON when it starts with `{`, else a file.
pub fn read_flag_settings(value: &str) -> Option<serde_json::Value> {
    if value.trim_start().starts_with('{') {
        model::inline_settings(value)
    } else {
        read_settings(Path::new(value))
    }
}

/// The settings files claude reads for a run with these arguments, highest precedence first,
/// each with a label for `--explain`: `--settings` (inline JSON or a file), then
/// `.claude/settings.local.json`, `.claude/settings.json` in the working directory, then
/// `settings.json` in Claude Code's config directory (`$CLAUDE_CONFIG_DIR` or `~/.claude`) —
/// the last three only as `--setting-sources` allows. Unreadable files are skipped.
pub fn load_settings(args: &ClaudeArgs) -> Vec<(String, serde_json::Value)> {
    let mut out = Vec::new();
    if let Some(flag) = &args.settings
        && let Some(v) = read_flag_settings(flag)
    {
        out.push(("--settings".to_owned(), v));
    }
    let cwd = std::env::current_dir().unwrap_or_default();
    let project = cwd.join(".claude");
    let mut files = vec![
        (SettingSource::Local, project.join("settings.local.json")),
        (SettingSource::Project, project.join("settings.json")),
    ];
    if let Some(dir) = config_dir() {
        files.push((SettingSource::User, dir.join("settings.json")));
    }
    for (source, path) in files {
        if model::source_enabled(args, source)
            && let Some(v) = read_settings(&path)
        {
            out.push((path.display().to_string(), v));
        }
    }
    out
}

/// Claude Code's user settings file: `<config dir>/settings.json`.
pub fn user_settings() -> Option<PathBuf> {
    config_dir().map(|d| d.join("settings.json"))
}

/// Reads a settings file's text for rewriting: `Ok(None)` when it does not exist; `Err` when it
/// cannot be read or is larger than a settings file can be.
pub fn read_settings_text(path: &Path) -> std::io::Result<Option<String>> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
        Ok(m) if !m.is_file() || m.len() > MAX_SETTINGS_BYTES => {
            Err(std::io::Error::other("not a regular file of at most 1 MiB"))
        }
        Ok(_) => std::fs::read_to_string(path).map(Some),
    }
}

/// Replaces a settings file with `text` atomically: the old file (when there is one) is first
/// copied to `settings.json.<UTC stamp>.bak` beside it, then `text` is written to a temp file
/// in the same directory (same permissions as the old file, else 0600) and renamed over it.
/// Returns the backup's path. The directory is created (0700) when missing.
pub fn replace_settings(path: &Path, text: &str) -> std::io::Result<Option<PathBuf>> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    // A settings.json that is a symlink (a dotfiles repository) is replaced where it points.
    let resolved = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let path = resolved.as_path();
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("no parent directory"))?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "settings.json".into());
    let old_mode = std::fs::metadata(path)
        .ok()
        .map(|m| m.permissions().mode() & 0o7777);
    let backup = match old_mode {
        Some(_) => {
            let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
            let mut backup = dir.join(format!("{name}.{stamp}.bak"));
            if backup.exists() {
                backup = dir.join(format!("{name}.{stamp}.{}.bak", std::process::id()));
            }
            std::fs::copy(path, &backup)?;
            Some(backup)
        }
        None => None,
    };
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(old_mode.unwrap_or(0o600))
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        drop(f);
        if let Some(mode) = old_mode {
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))?;
        }
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.map(|()| backup)
}

/// The Markdown agent files of one agents directory: `(path, file stem, text)`, sorted by
/// name, at most [`MAX_AGENT_FILES`], each at most [`MAX_SETTINGS_BYTES`].
fn agent_files(dir: &Path) -> Vec<(String, String, String)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return vec![];
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .take(MAX_AGENT_FILES)
        .collect();
    paths.sort();
    paths
        .into_iter()
        .filter_map(|p| {
            let text = String::from_utf8(read_small(&p)?).ok()?;
            let stem = p.file_stem()?.to_string_lossy().into_owned();
            Some((p.display().to_string(), stem, text))
        })
        .collect()
}

/// The main-thread agent's definition for a run (`--agent NAME` or the `agent` setting): from
/// `--agents`, `.claude/agents/*.md` in the working directory, or `agents/*.md` in Claude
/// Code's config directory, as `--setting-sources` allows. `None` when no agent is named or
/// none is found.
pub fn load_agent(args: &ClaudeArgs, settings: &[(String, serde_json::Value)]) -> Option<AgentDef> {
    let name = model::agent_name(args, settings)?;
    let project = if model::source_enabled(args, SettingSource::Project) {
        let cwd = std::env::current_dir().unwrap_or_default();
        agent_files(&cwd.join(".claude").join("agents"))
    } else {
        vec![]
    };
    let user = match config_dir() {
        Some(dir) if model::source_enabled(args, SettingSource::User) => {
            agent_files(&dir.join("agents"))
        }
        _ => vec![],
    };
    model::find_agent(&name, args.agents.as_deref(), &project, &user)
}
