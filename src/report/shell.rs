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
    }
    out
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
    fn cmd_names_are_plain_words() {
        for ok in ["claude", "cl", "claude_safe", "claude-guarded", "c2.x"] {
            assert_eq!(parse_cmd_name(ok).as_deref(), Ok(ok));
        }
        for bad in ["", "-x", "2x", "a b", "a;b", "$(x)", "a'b", "ä"] {
            assert!(parse_cmd_name(bad).is_err(), "{bad:?}");
        }
    }
}
