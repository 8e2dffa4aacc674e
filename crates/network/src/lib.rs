//! berth's network layer.
//!
//! Containers currently run with `--network none` or `--network host` only;
//! both are plain namespace choices made by the engine in the runtime spec,
//! so this crate holds no code yet. Bridge networks through netavark, port
//! publishing and port reservation will live here.
#![deny(unsafe_code)]
