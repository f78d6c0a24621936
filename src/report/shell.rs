//! `claude-guard init bash|zsh|fish`: a snippet that defines `claude` as a shell **function**
//! going through the guard, in the style of `zoxide init` / `starship init` / `mise activate`:
//!
//! ```sh
//! eval "$(claude-guard init bash)"      # ~/.bashrc
//! eval "$(claude-guard init zsh)"       # ~/.zshrc
//! claude-guard init fish | source       # ~/.config/fish/config.fish
//! ```
//!
//! A function rather than an alias: bash does not expand aliases in non-interactive shells
//! (`bash -c`, scripts that source the rc file), and no shell expands one inside a function
//! defined before it.
//! The function calls `command claude-guard run -- ARGS`, so the real `claude` is found by the
//! guard's own PATH lookup (which skips the guard and its shim), never by the function itself.

use std::fmt::Write as _;

/// The shells `init` writes a snippet for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InitShell {
    /// GNU bash (also works in bash's POSIX mode).
    Bash,
    /// zsh.
    Zsh,
    /// fish 3 or later.
    Fish,
    /// Not a shell: Claude Code's `statusLine` setting running `claude-guard statusline`
    /// (`--install` merges it into settings.json).
    Statusline,
}

/// The `statusLine` block of Claude Code's settings that runs `claude-guard statusline`.
pub fn statusline_block() -> serde_json::Value {
    serde_json::json!({"type": "command", "command": "claude-guard statusline"})
}

/// Checks a `--cmd` name: it becomes a shell function name, so only letters, digits, `_`, `-`
/// and `.`, not starting with `-` or a digit (nothing a shell would parse as syntax).
pub fn parse_cmd_name(s: &str) -> Result<String, String> {
    let ok_first = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    let ok_rest = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok_first && ok_rest {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "{s:?} is not a usable function name; use letters, digits, _, - and . (e.g. claude, cl)"
        ))
    }
}

/// The snippet for `shell` defining the function `name` (normally `claude`).
pub fn init_snippet(shell: InitShell, name: &str) -> String {
    let mut out = String::new();
    match shell {
        InitShell::Bash | InitShell::Zsh => {
            let sh = if shell == InitShell::Bash {
                "bash"
            } else {
                "zsh"
            };
            let rc = if shell == InitShell::Bash {
                "~/.bashrc"
            } else {
                "~/.zshrc"
            };
            let _ = writeln!(
                out,
                "# claude-guard shell integration for {sh}: add this line to {rc}:\n\
                 #   eval \"$(claude-guard init {sh})\"\n\
                 # `{name}` then goes through the guard (guard options come from CLAUDE_GUARD_*\n\
                 # variables); `command claude` still reaches the real one, unguarded.\n\
                 # An alias of the same name (e.g. one Claude Code's installer added) would\n\
                 # shadow the function, so it is removed first."
            );
            let _ = writeln!(
                out,
                "\\builtin unalias {name} >/dev/null 2>&1 || \\builtin true"
            );
            let _ = writeln!(out, "function {name}() {{");
            let _ = writeln!(out, "    \\command claude-guard run -- \"$@\"");
            let _ = writeln!(out, "}}");
        }
        InitShell::Fish => {
            let _ = writeln!(
                out,
                "# claude-guard shell integration for fish: add this line to\n\
                 # ~/.config/fish/config.fish:\n\
                 #   claude-guard init fish | source\n\
                 # `{name}` then goes through the guard (guard options come from CLAUDE_GUARD_*\n\
                 # variables); `command claude` still reaches the real one, unguarded."
            );
            let _ = writeln!(
                out,
                "function {name} --wraps claude --description 'claude, guarded by claude-guard'"
            );
            let _ = writeln!(out, "    command claude-guard run -- $argv");
            let _ = writeln!(out, "end");
        }
        InitShell::Statusline => {
            let block = serde_json::json!({"statusLine": statusline_block()});
            let _ = writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&block).unwrap_or_default()
            );
        }
    }
    out
}

/// What merging the `statusLine` block into a settings file does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Merge {
    /// The file already runs `claude-guard statusline`: nothing to write.
    AlreadyInstalled,
    /// The new file's text (every other key kept, in its order and with its text).
    Write(String),
    /// A different `statusLine` is set and `--force` was not given; the string shows it.
    Conflict(String),
}

/// One top-level key of a settings file and its value's original text.
struct Ordered(Vec<(String, Box<serde_json::value::RawValue>)>);

impl<'de> serde::Deserialize<'de> for Ordered {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Ordered;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Ordered, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    out.push(entry);
                }
                Ok(Ordered(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// Merges the `statusLine` block into a settings file's text (`None`: no file yet). Every other
/// top-level key keeps its place and its exact text; `statusLine` is replaced in place, or
/// added first. `Err` when the text is not a JSON object (the file is left alone).
pub fn merge_statusline(existing: Option<&str>, force: bool) -> Result<Merge, String> {
    let block = statusline_block();
    let entries = match existing.filter(|t| !t.trim().is_empty()) {
        None => Vec::new(),
        Some(text) => {
            serde_json::from_str::<Ordered>(text)
                .map_err(|e| format!("is not a JSON object ({e})"))?
                .0
        }
    };
    let mut replaced = false;
    let mut out: Vec<(String, String)> = Vec::with_capacity(entries.len() + 1);
    for (key, raw) in entries {
        if key == "statusLine" {
            let current: serde_json::Value =
                serde_json::from_str(raw.get()).unwrap_or(serde_json::Value::Null);
            if current == block {
                return Ok(Merge::AlreadyInstalled);
            }
            if !force && !current.is_null() {
                return Ok(Merge::Conflict(current.to_string()));
            }
            if !replaced {
                out.push((key, block.to_string()));
                replaced = true;
            }
            continue;
        }
        out.push((key, raw.get().to_owned()));
    }
    if !replaced {
        out.insert(0, ("statusLine".to_owned(), block.to_string()));
    }
    let body: Vec<String> = out
        .iter()
        .map(|(k, v)| format!("  {}: {v}", serde_json::Value::String(k.clone())))
        .collect();
    Ok(Merge::Write(format!("{{\n{}\n}}\n", body.join(",\n"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bash_and_zsh_define_a_function_that_passes_every_argument() {
        for shell in [InitShell::Bash, InitShell::Zsh] {
            let s = init_snippet(shell, "claude");
            assert!(s.contains("function claude() {\n"), "{s}");
            assert!(s.contains("\\command claude-guard run -- \"$@\"\n"), "{s}");
            assert!(s.contains("unalias claude"), "{s}");
        }
    }

    #[test]
    fn fish_uses_argv_and_command() {
        let s = init_snippet(InitShell::Fish, "cl");
        assert!(s.contains("function cl --wraps claude"), "{s}");
        assert!(s.contains("    command claude-guard run -- $argv\n"), "{s}");
    }

    #[test]
    fn statusline_block_merges_keeping_every_other_key() {
        let printed: serde_json::Value =
            serde_json::from_str(&init_snippet(InitShell::Statusline, "claude")).unwrap();
        assert_eq!(
            printed,
            serde_json::json!({"statusLine":{"type":"command","command":"claude-guard statusline"}})
        );
        let existing = "{\n  \"model\": \"opus\",\n  \"env\": {\"A\": \"1\"},\n  \"hooks\": {\n    \"x\": [1, 2]\n  }\n}\n";
        let Merge::Write(text) = merge_statusline(Some(existing), false).unwrap() else {
            panic!()
        };
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["model"], "opus");
        assert_eq!(v["hooks"]["x"], serde_json::json!([1, 2]));
        assert_eq!(v["statusLine"]["command"], "claude-guard statusline");
        let keys: Vec<usize> = ["statusLine", "model", "env", "hooks"]
            .iter()
            .map(|k| text.find(&format!("\"{k}\"")).unwrap())
            .collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{text}");
        assert!(text.contains("{\n    \"x\": [1, 2]\n  }"), "{text}");
        assert_eq!(
            merge_statusline(Some(&text), false),
            Ok(Merge::AlreadyInstalled)
        );
        let other = r#"{"statusLine":{"type":"command","command":"ccline"},"model":"x"}"#;
        assert!(
            matches!(merge_statusline(Some(other), false), Ok(Merge::Conflict(c)) if c.contains("ccline"))
        );
        let Merge::Write(forced) = merge_statusline(Some(other), true).unwrap() else {
            panic!()
        };
        assert!(forced.find("statusLine").unwrap() < forced.find("model").unwrap());
        assert!(merge_statusline(Some("[1]"), false).is_err());
        assert!(merge_statusline(Some("{"), false).is_err());
        assert!(matches!(merge_statusline(None, false), Ok(Merge::Write(_))));
    }

    #[test]
    fn cmd_names_are_plain_words() {
        for ok in ["claude", "cl", "claude_safe", "claude-guarded", "c2.x"] {
            assert_eq!(parse_cmd_name(ok).as_deref(), Ok(ok));
        }
        for bad in ["", "-x", "2x", "a b", "a;b", "$(x)", "a'b", "ä"] {
            assert!(parse_cmd_name(bad).is_err(), "{bad:?}");
        }
    }
}
