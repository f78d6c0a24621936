//! claude-guard: a pre-flight guard for Claude Code. See README.md and DESIGN.md.
//!
//! `main` is the one place that prints fatal errors and turns results into exit codes.

mod cache;
mod claude_files;
mod cli;
mod commands;
mod credentials;
mod decide;
mod exit_codes;
mod fallback;
mod github;
mod http;
mod launch;
mod model;
mod oauth;
mod plan;
mod policy;
mod report;
mod shell;
mod snapshot;
mod source;
mod sources;
mod wait;
mod web;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use crate::exit_codes::Exit;

fn main() -> ExitCode {
    let argv = commands::multicall_argv(std::env::args_os().collect());
    let cli = match cli::Cli::try_parse_from(&argv) {
        Ok(cli) => cli,
        Err(err) => {
            // Help is rendered from the full command, which carries the epilogue.
            let err = match err.kind() {
                clap::error::ErrorKind::DisplayHelp => cli::command()
                    .try_get_matches_from(argv)
                    .err()
                    .unwrap_or(err),
                _ => err,
            };
            let _ = err.print();
            return if err.use_stderr() {
                Exit::Usage
            } else {
                Exit::Go
            }
            .into();
        }
    };
    match commands::dispatch(cli) {
        Ok(exit) => exit.into(),
        Err(err) => {
            let exit = err
                .downcast_ref::<launch::LaunchError>()
                .map_or(Exit::Internal, |e| e.exit);
            let _ = writeln!(anstream::stderr(), "claude-guard: error: {err:#}");
            exit.into()
        }
    }
}
