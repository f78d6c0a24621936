#!/usr/bin/env bash
# The guard in front of `claude` for an interactive shell: put the alias line in ~/.bashrc
# (or ~/.zshrc). Guard options come from CLAUDE_GUARD_* variables, since an aliased `claude`
# takes claude's own flags only:
#
#   alias claude='claude-guard run --'
#   export CLAUDE_GUARD_WAIT=1 CLAUDE_GUARD_MAX_WAIT=2h   # optional: wait for resets
#
# Non-interactive shells do not expand aliases; this script turns them on so it runs as a
# demonstration: `examples/shell-alias.sh --version`. For scripts and cron, use the PATH shim
# (bin/claude) instead.
shopt -s expand_aliases
alias claude='claude-guard run --'
claude "$@"
