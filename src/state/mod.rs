//! The usage state and where it comes from: snapshot files and stdin, a bridge, the guard's
//! own cache, Claude Code's files (its cached copy, its login, its settings), and the live
//! endpoints (OAuth usage, claude.ai), in the order [`sources`] tries them; and Claude Code's
//! session transcripts ([`transcript`]), which say why a supervised run stopped.
//!
//! May use: [`crate::core`] only. Nothing here prints to the user or knows the command line:
//! options arrive as plain structs ([`sources::SourceConfig`]).

pub mod cache;
pub mod capture;
pub mod claude_files;
pub mod credentials;
pub mod history;
pub mod http;
pub mod oauth;
pub mod refresh;
pub mod source;
pub mod sources;
pub mod transcript;
pub mod web;
