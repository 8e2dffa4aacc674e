//! Extended attributes of a path itself (the `l*xattr` calls, which never
//! follow a symlink). nix 0.29 has no safe wrapper for these calls.
#![allow(unsafe_code)]

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

fn c_string(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// Sets the attribute `name` of `path` (not of a symlink's target).
pub(crate) fn set(path: &Path, name: &OsStr, value: &[u8]) -> io::Result<()> {
    let c_path = c_string(path.as_os_str().as_bytes())?;
    let c_name = c_string(name.as_bytes())?;
    // SAFETY: both strings are NUL-terminated and outlive the call, and
    // `value` is a valid slice of `value.len()` bytes.
    let rc = unsafe {
        libc::lsetxattr(
            c_path.as_ptr(),
            c_name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Returns the attribute `name` of `path`, or `None` when it is not set.
pub(crate) fn get(path: &Path, name: &OsStr) -> io::Result<Option<Vec<u8>>> {
    let c_path = c_string(path.as_os_str().as_bytes())?;
    let c_name = c_string(name.as_bytes())?;
    loop {
        // SAFETY: a null buffer of size 0 asks only for the value's size.
        let size =
            unsafe { libc::lgetxattr(c_path.as_ptr(), c_name.as_ptr(), std::ptr::null_mut(), 0) };
        if size < 0 {
            let err = io::Error::last_os_error();
            return match err.raw_os_error() {
                Some(libc::ENODATA) => Ok(None),
                _ => Err(err),
            };
        }
        let mut buf = vec![0u8; size as usize];
        // SAFETY: `buf` is writable for `buf.len()` bytes.
        let got = unsafe {
            libc::lgetxattr(
                c_path.as_ptr(),
                c_name.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        if got >= 0 {
            buf.truncate(got as usize);
            return Ok(Some(buf));
        }
        let err = io::Error::last_os_error();
        // ERANGE: the value grew between the two calls, so ask again.
        if err.raw_os_error() != Some(libc::ERANGE) {
            return Err(err);
        }
    }
}

/// Returns the names of all attributes of `path`.
pub(crate) fn list(path: &Path) -> io::Result<Vec<OsString>> {
    let c_path = c_string(path.as_os_str().as_bytes())?;
    loop {
        // SAFETY: a null buffer of size 0 asks only for the list's size.
        let size = unsafe { libc::llistxattr(c_path.as_ptr(), std::ptr::null_mut(), 0) };
        if size < 0 {
            return Err(io::Error::last_os_error());
        }
        if size == 0 {
            return Ok(Vec::new());
        }
        let mut buf = vec![0u8; size as usize];
        // SAFETY: `buf` is writable for `buf.len()` bytes.
        let got = unsafe { libc::llistxattr(c_path.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        if got >= 0 {
            buf.truncate(got as usize);
            // The kernel returns NUL-terminated names back to back.
            return Ok(buf
                .split(|&b| b == 0)
                .filter(|name| !name.is_empty())
                .map(|name| OsString::from_vec(name.to_vec()))
                .collect());
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::ERANGE) {
            return Err(err);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_list_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"x").unwrap();

        set(&file, OsStr::new("user.berth.test"), b"value").unwrap();

        assert_eq!(
            get(&file, OsStr::new("user.berth.test")).unwrap(),
            Some(b"value".to_vec())
        );
        assert_eq!(get(&file, OsStr::new("user.berth.other")).unwrap(), None);
        assert!(list(&file)
            .unwrap()
            .contains(&OsString::from("user.berth.test")));
    }
}
