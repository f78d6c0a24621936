#!/bin/sh
# claude-nightly: one unattended Claude Code run, gated and supervised by claude-guard. When a
# plan limit is pinned it sleeps until the reset (at most CLAUDE_GUARD_MAX_WAIT) instead of
# failing, runs on Sonnet when only the Opus weekly limit is pinned, and never starts claude
# into a refusal. With --supervise the guard stays beside claude: a limit met in the middle of
# the job is waited out and the same session resumed (at most CLAUDE_GUARD_MAX_RESUMES times);
# a stop on the Opus weekly limit resumes on Sonnet at once.
#
# cron (crontab -e); run it from the project directory and keep a log:
#   17 3 * * *  cd "$HOME/src/project" && "$HOME/bin/claude-nightly" >>"$HOME/.local/state/claude-nightly.log" 2>&1
# systemd: claude-nightly.service and claude-nightly.timer beside this file.
#
# Exit status: claude's own when no plan limit stopped it; 10-20 when claude-guard refused,
# before the start or after a mid-job stop it could not resume (claude-guard --help lists them;
# 19: the reset is later than CLAUDE_GUARD_MAX_WAIT); 130/143 when stopped while waiting.
set -eu

# cron starts with a minimal PATH: add where claude and claude-guard are usually installed.
PATH="$HOME/.local/bin:$HOME/.cargo/bin:/usr/local/bin:$PATH"
export PATH

# The usage snapshot: Claude Code's own cached copy in ~/.claude.json unless set otherwise
# (a file written by another tool, or CLAUDE_GUARD_BRIDGE). It is read again after the wait:
# the window that was pinned has reset by then and counts as 0 %, but a copy nobody refreshed
# is stale, so the run goes with a warning (CLAUDE_GUARD_ON_UNKNOWN=refuse refuses instead).
: "${CLAUDE_GUARD_SNAPSHOT:=$HOME/.claude.json}"
# The longest wait for a reset; a later one refuses at once (exit 19).
: "${CLAUDE_GUARD_MAX_WAIT:=6h}"
# How often a job stopped by a limit mid-run is resumed before giving up with its code.
: "${CLAUDE_GUARD_MAX_RESUMES:=2}"
export CLAUDE_GUARD_SNAPSHOT CLAUDE_GUARD_MAX_WAIT CLAUDE_GUARD_MAX_RESUMES

prompt=${CLAUDE_NIGHTLY_PROMPT:-"Read TODO.md, do the first unchecked item, run the tests, and summarize what changed."}

exec claude-guard run --supervise --wait --model-fallback sonnet -- \
  -p "$prompt" \
  --model opus \
  --permission-mode acceptEdits \
  --max-turns 30 \
  --output-format text
