//! claude-guard: a pre-flight guard for Claude Code. See README.md and DESIGN.md.
//!
//! `run_guard` is the one place that prints fatal errors and turns results into exit codes.
//!
//! The crate has its own C `main` instead of std's runtime start (`no_main`): the guard starts
//! before every `claude`, and std's start-up reads /proc/self/maps (through glibc's
//! `pthread_getattr_np`, to place a stack-overflow guard) and installs signal handlers on an
//! alternate stack: 17 of the 46 system calls and 8 % of the instructions of `check` with a
//! snapshot file. What the guard keeps of it is in [`main`].

#![cfg_attr(not(test), no_main)]

mod act;
mod cli;
mod commands;
mod core;
mod report;
mod state;

use std::io::Write;

use crate::core::exit_codes::Exit;

/// The process entry point, called by the C runtime with the process's arguments (which std
/// also reads on its own, so `std::env::args_os` works as usual).
///
/// Of std's runtime start-up this keeps what matters to the guard: closed standard streams
/// are reopened on /dev/null (so that no file the guard opens becomes its stdout), SIGPIPE
/// is ignored, and `std::process::exit` flushes stdout. Lost: std's message on a stack
/// overflow (a plain SIGSEGV instead; nothing in the guard recurses without a bound).
#[cfg(not(test))]
#[allow(unsafe_code)] // `unsafe(no_mangle)` exports the C `main` symbol; no unsafe code runs.
#[unsafe(no_mangle)]
extern "C" fn main(
    _argc: std::ffi::c_int,
    _argv: *const *const std::ffi::c_char,
) -> std::ffi::c_int {
    reopen_closed_stdio();
    ignore_sigpipe();
    std::process::exit(i32::from(run_guard().code()))
}

/// Opens /dev/null on each of fds 0, 1 and 2 that is closed (`POLLNVAL`), lowest first, as
/// std's runtime start-up does: `open` returns the lowest free descriptor, so each call fills
/// the lowest closed one of the three. The descriptors stay open across `exec`, so `claude`
/// starts with the three streams open as well.
#[cfg_attr(test, allow(dead_code))] // the test harness has its own `main`
fn reopen_closed_stdio() {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::os::fd::{AsFd, IntoRawFd};
    let (stdin, stdout, stderr) = (std::io::stdin(), std::io::stdout(), std::io::stderr());
    let mut fds = [
        PollFd::new(stdin.as_fd(), PollFlags::empty()),
        PollFd::new(stdout.as_fd(), PollFlags::empty()),
        PollFd::new(stderr.as_fd(), PollFlags::empty()),
    ];
    if poll(&mut fds, PollTimeout::ZERO).is_err() {
        return;
    }
    let closed = fds
        .iter()
        .filter(|fd| {
            fd.revents()
                .is_some_and(|r| r.contains(PollFlags::POLLNVAL))
        })
        .count();
    for _ in 0..closed {
        // Without O_CLOEXEC (std's File would set it): `claude` inherits these through exec.
        match nix::fcntl::open(
            "/dev/null",
            nix::fcntl::OFlag::O_RDWR,
            nix::sys::stat::Mode::empty(),
        ) {
            Ok(null) => _ = null.into_raw_fd(), // kept open for the life of the process
            Err(_) => return,
        }
    }
}

/// Ignores SIGPIPE, as std's start-up does: a write to a closed pipe (`status | head -1`, a
/// `wait` whose reader went away) then fails with EPIPE, which the guard's output ignores,
/// instead of killing the guard. std's `exec` restores the default before starting `claude`.
#[cfg_attr(test, allow(dead_code))] // the test harness has its own `main`
#[allow(unsafe_code)]
fn ignore_sigpipe() {
    use nix::sys::signal::{SigHandler, Signal, signal};
    // SAFETY: SIG_IGN installs no handler, so no code of ours ever runs in a signal context,
    // and no other thread exists yet to race on the disposition.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigIgn) };
}

/// Parses the command line, runs the command and prints a fatal error; returns the exit code.
#[cfg_attr(test, allow(dead_code))] // the test harness has its own `main`
fn run_guard() -> Exit {
    let argv = commands::multicall_argv(std::env::args_os().collect());
    if let Some(exit) = commands::internal(&argv) {
        return exit;
    }
    let cli = match cli::parse(&argv) {
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
            };
        }
    };
    match commands::dispatch(cli) {
        Ok(exit) => exit,
        Err(err) => {
            let exit = err
                .downcast_ref::<act::launch::LaunchError>()
                .map_or(Exit::Internal, |e| e.exit);
            let _ = writeln!(anstream::stderr(), "claude-guard: error: {err:#}");
            exit
        }
    }
}
