//! berth's network layer.
//!
//! Rootful containers run with `--network none` or `--network host`, plain
//! namespace choices the engine makes in the runtime spec. Rootless
//! containers get user-mode networking from slirp4netns ([`slirp4netns`]),
//! with published ports ([`port`]) forwarded through its API socket.
#![deny(unsafe_code)]

mod error;
pub mod port;
pub mod slirp4netns;

pub use error::{NetworkError, Result};
pub use port::{parse_port_mapping, PortMapping};
