//! sha256 digests, the content addresses of blobs and layers.

use std::io::{self, Read, Write};

use sha2::{Digest as _, Sha256};

/// Returns the lowercase hex sha256 of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Returns the hex part of `sha256:<hex>`, or `digest` itself when it has
/// no algorithm prefix.
pub(crate) fn strip_algorithm(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

/// Whether `s` is a full 64-character lowercase hex sha256.
pub(crate) fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && is_lower_hex(s)
}

pub(crate) fn is_lower_hex(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Computes a layer's chain id as the OCI image spec defines it: the base
/// layer's chain id is its diff id, and each later layer's chain id is
/// `sha256(parent_chain_id + " " + diff_id)` over the `sha256:<hex>` strings.
/// Takes and returns `sha256:<hex>` strings.
pub(crate) fn chain_id(parent: Option<&str>, diff_id: &str) -> String {
    match parent {
        None => diff_id.to_string(),
        Some(parent) => format!(
            "sha256:{}",
            sha256_hex(format!("{parent} {diff_id}").as_bytes())
        ),
    }
}

/// Returns the chain ids of a stack of diff ids, base layer first.
pub(crate) fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut chain = Vec::with_capacity(diff_ids.len());
    for diff_id in diff_ids {
        let next = chain_id(chain.last().map(String::as_str), diff_id);
        chain.push(next);
    }
    chain
}

/// A reader that hashes and copies to `sink` every byte read through it.
pub(crate) struct TeeHasher<R, W> {
    inner: R,
    sink: W,
    hasher: Sha256,
    bytes: u64,
    sink_error: Option<io::Error>,
}

impl<R: Read, W: Write> TeeHasher<R, W> {
    pub fn new(inner: R, sink: W) -> Self {
        TeeHasher {
            inner,
            sink,
            hasher: Sha256::new(),
            bytes: 0,
            sink_error: None,
        }
    }

    /// Returns the error of a failed write to the sink. A read fails with
    /// a generic error then, so callers can tell a full disk from a
    /// corrupt input.
    pub fn take_sink_error(&mut self) -> Option<io::Error> {
        self.sink_error.take()
    }

    /// Returns the hex sha256 and the count of bytes read so far, and the sink.
    pub fn finish(self) -> (String, u64, W) {
        (hex::encode(self.hasher.finalize()), self.bytes, self.sink)
    }
}

impl<R: Read, W: Write> Read for TeeHasher<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        if let Err(e) = self.sink.write_all(&buf[..n]) {
            self.sink_error = Some(e);
            return Err(io::Error::other("writing the copy of the input failed"));
        }
        self.bytes += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_empty_input() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn chain_id_of_base_layer_is_diff_id() {
        let diff = "sha256:aaaa";
        assert_eq!(chain_id(None, diff), diff);
    }

    #[test]
    fn chain_id_of_child_hashes_parent_and_diff() {
        let parent = "sha256:aaaa";
        let diff = "sha256:bbbb";
        let expected = format!("sha256:{}", sha256_hex(b"sha256:aaaa sha256:bbbb"));
        assert_eq!(chain_id(Some(parent), diff), expected);
        assert_eq!(
            chain_ids(&[parent.to_string(), diff.to_string()]),
            vec![parent.to_string(), expected]
        );
    }

    #[test]
    fn tee_hasher_copies_and_hashes() {
        let mut sink = Vec::new();
        let mut tee = TeeHasher::new(&b"hello"[..], &mut sink);
        io::copy(&mut tee, &mut io::sink()).unwrap();
        let (hex, bytes, _) = tee.finish();
        assert_eq!(hex, sha256_hex(b"hello"));
        assert_eq!(bytes, 5);
        assert_eq!(sink, b"hello");
    }

    #[test]
    fn hex_checks() {
        assert!(is_sha256_hex(&"a".repeat(64)));
        assert!(!is_sha256_hex(&"A".repeat(64)));
        assert!(!is_sha256_hex(&"a".repeat(63)));
        assert!(is_lower_hex("0f"));
        assert!(!is_lower_hex("0g"));
        assert!(!is_lower_hex(""));
    }
}
