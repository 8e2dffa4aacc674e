//! berth's runtime layer.
//!
//! A thin, stateless driver of an OCI runtime (crun, runc) and of the conmon
//! monitor. Callers (the engine) check container state before calling; this
//! crate only runs programs, speaks their protocols and builds the runtime
//! spec.
#![deny(unsafe_code)]

pub mod attach;
pub mod cgroup;
pub mod criu;
mod error;
pub mod logs;
pub mod monitor;
pub mod runtime;
pub mod seccomp_cache;
pub mod signal;
pub mod spec;

pub use error::{OciError, Result};
pub use monitor::{
    CreateRequest, Created, ExecExitPipe, ExecRequest, ExecStarted, Monitor, PendingCreate,
    RestoreRequest,
};
pub use runtime::{CheckpointRequest, Runtime, RuntimeState};
