//! The one table of claude-guard's exit codes (DESIGN.md "Exit codes"; stable, documented in
//! `--help` and the README). Nothing else in the crate writes a bare number as an exit status.

/// A process exit status of claude-guard itself. `run` returns the real `claude`'s own status
/// after `exec` (that process replaces ours), so these are the codes of everything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: go (`check`, `wait`, `status`).
    Go,
    /// 1: internal error (I/O that is not a snapshot source, a bug).
    Internal,
    /// 2: usage error (bad flag, bad value). clap also exits 2 on its own parse errors.
    Usage,
    /// 10: refused, `five_hour` pinned.
    FiveHour,
    /// 11: refused, `seven_day` pinned.
    SevenDay,
    /// 12: refused, `seven_day_opus` pinned.
    SevenDayOpus,
    /// 13: refused, `seven_day_sonnet` pinned.
    SevenDaySonnet,
    /// 14: refused, `seven_day_oauth_apps` pinned.
    SevenDayOauthApps,
    /// 15: refused, a model-scoped weekly limit (`limits[]` `weekly_scoped`) pinned.
    WeeklyScoped,
    /// 16: refused, the run would bill against extra usage and the policy forbids it.
    Overage,
    /// 17: refused, subscription not active.
    Subscription,
    /// 18: refused, soft threshold (`--max-utilization`) reached.
    Threshold,
    /// 19: refused, the reset lies beyond `--max-wait`.
    MaxWait,
    /// 20: state unknown and the policy fails closed.
    Unknown,
    /// 21: refused, `--needs DUR`: an applicable bucket is projected to reach its limit
    /// before the job ends (and before its reset).
    Needs,
    /// 126: `claude` found but not executable.
    NotExecutable,
    /// 127: `claude` not found.
    NotFound,
    /// 130: interrupted by SIGINT while waiting.
    Interrupted,
    /// 143: terminated by SIGTERM while waiting.
    Terminated,
    /// `run --supervise`: claude's own exit status, passed through unchanged when no plan
    /// limit stopped it (128 + N when a signal N ended it). Not a row of the table.
    Claude(u8),
}

impl Exit {
    /// Every code, in table order.
    pub const ALL: [Exit; 19] = [
        Exit::Go,
        Exit::Internal,
        Exit::Usage,
        Exit::FiveHour,
        Exit::SevenDay,
        Exit::SevenDayOpus,
        Exit::SevenDaySonnet,
        Exit::SevenDayOauthApps,
        Exit::WeeklyScoped,
        Exit::Overage,
        Exit::Subscription,
        Exit::Threshold,
        Exit::MaxWait,
        Exit::Unknown,
        Exit::Needs,
        Exit::NotExecutable,
        Exit::NotFound,
        Exit::Interrupted,
        Exit::Terminated,
    ];

    /// The numeric status.
    pub const fn code(self) -> u8 {
        match self {
            Exit::Go => 0,
            Exit::Internal => 1,
            Exit::Usage => 2,
            Exit::FiveHour => 10,
            Exit::SevenDay => 11,
            Exit::SevenDayOpus => 12,
            Exit::SevenDaySonnet => 13,
            Exit::SevenDayOauthApps => 14,
            Exit::WeeklyScoped => 15,
            Exit::Overage => 16,
            Exit::Subscription => 17,
            Exit::Threshold => 18,
            Exit::MaxWait => 19,
            Exit::Unknown => 20,
            Exit::Needs => 21,
            Exit::NotExecutable => 126,
            Exit::NotFound => 127,
            Exit::Interrupted => 130,
            Exit::Terminated => 143,
            Exit::Claude(code) => code,
        }
    }

    /// One line of meaning, as printed in `--help` and the README.
    pub const fn meaning(self) -> &'static str {
        match self {
            Exit::Go => "go (check, wait); run returns claude's own status after exec",
            Exit::Internal => "internal error",
            Exit::Usage => "usage error (bad flag, bad value)",
            Exit::FiveHour => "refused: five_hour pinned",
            Exit::SevenDay => "refused: seven_day pinned",
            Exit::SevenDayOpus => "refused: seven_day_opus pinned",
            Exit::SevenDaySonnet => "refused: seven_day_sonnet pinned",
            Exit::SevenDayOauthApps => "refused: seven_day_oauth_apps pinned",
            Exit::WeeklyScoped => {
                "refused: a model-scoped weekly limit (limits[] weekly_scoped) pinned"
            }
            Exit::Overage => {
                "refused: the run would bill extra usage and --overage refuse forbids it"
            }
            Exit::Subscription => "refused: subscription not active",
            Exit::Threshold => "refused: soft threshold (--max-utilization) reached",
            Exit::MaxWait => "refused: the reset lies beyond --max-wait",
            Exit::Unknown => "state unknown and the policy fails closed (--on-unknown refuse)",
            Exit::Needs => {
                "refused: --needs DUR — an applicable bucket is projected to reach its limit before the job ends (and before its reset)"
            }
            Exit::NotExecutable => "claude found but not executable",
            Exit::NotFound => "claude not found",
            Exit::Interrupted => "interrupted (SIGINT) while waiting",
            Exit::Terminated => "terminated (SIGTERM) while waiting",
            Exit::Claude(_) => "claude's own exit status (run --supervise)",
        }
    }

    /// The table as text for `--help` (`after_long_help`).
    pub fn help_table() -> String {
        let mut out = String::from("Exit codes:\n");
        for exit in Self::table() {
            out.push_str(&format!("  {:>3}  {}\n", exit.code(), exit.meaning()));
        }
        out
    }

    /// The distinct codes in table order.
    pub fn table() -> impl Iterator<Item = Exit> {
        Self::ALL.iter().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_match_the_design_table() {
        let codes: Vec<u8> = Exit::table().map(Exit::code).collect();
        assert_eq!(
            codes,
            [
                0, 1, 2, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 126, 127, 130, 143
            ]
        );
    }
}
