//! conmon's attach socket (`attach` in the bundle dir) and ctl fifo.
use std::io::{Read, Write};
use std::path::Path;

use crate::Result;

/// The caller's side of an attached container's stdio.
pub struct AttachIo {
    /// Forwarded to the container's stdin until EOF, then the write side of
    /// the socket is shut down so conmon closes the container's stdin.
    pub stdin: Option<Box<dyn Read + Send>>,
    pub stdout: Box<dyn Write + Send>,
    pub stderr: Box<dyn Write + Send>,
}

/// A connection to a container's attach socket.
pub struct AttachSocket {
    _private: (),
}

impl AttachSocket {
    /// Connects to `bundle/attach` through `/proc/self/fd/N/attach`, because
    /// the full path may be longer than a unix socket address can hold.
    pub fn connect(bundle: &Path) -> Result<AttachSocket> {
        let _ = bundle;
        todo!()
    }

    /// Copies output to `io` until conmon closes the socket (the container
    /// exited), forwarding stdin meanwhile.
    pub fn pump(self, io: AttachIo) -> Result<()> {
        let _ = io;
        todo!()
    }
}

/// Tells conmon the terminal size through the `ctl` fifo in the bundle dir.
pub fn resize(bundle: &Path, rows: u16, cols: u16) -> Result<()> {
    let _ = (bundle, rows, cols);
    todo!()
}
