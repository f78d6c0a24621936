//! What the guard does once it has decided: evaluate (read the state and decide, again when
//! waiting), exec `claude` ([`launch`]), sleep until a reset ([`wait`]), or run claude as a
//! child and see a long job through its plan limits ([`supervise`]).
//!
//! May use: [`crate::core`], [`crate::state`] and [`crate::report`] (a wait prints the same
//! words as a pre-flight). Not the command line: options arrive as plain structs.

pub mod evaluate;
pub mod launch;
pub mod statusline;
pub mod supervise;
pub mod wait;
