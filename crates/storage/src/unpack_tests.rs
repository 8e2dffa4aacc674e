use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use tar::EntryType;

use crate::digest::strip_algorithm;
use crate::test_support::*;
use crate::StorageError;

fn assert_unsafe(err: StorageError, expected_entry: &str, expected_reason: &str) {
    match err {
        StorageError::UnsafeEntry { entry, reason, .. } => {
            assert_eq!(entry, expected_entry);
            assert_eq!(reason, expected_reason);
        }
        other => panic!("expected UnsafeEntry, got {other:?}"),
    }
}

#[test]
fn unpack_rejects_dotdot_escape() {
    // The layer is unpacked in root/layers/.tmp-X/diff, so four levels up
    // is the test's temp dir.
    let tar = TarBuilder::new()
        .file("ok", 0o644, b"fine")
        .file("../../../../sentinel", 0o644, b"escaped")
        .build();
    let (dir, store, err) = import_error(&tar);
    assert_unsafe(
        err,
        "../../../../sentinel",
        "path escapes the layer directory through '..'",
    );
    assert!(!dir.path().join("sentinel").exists());
    assert_nothing_stored(&store);
}

#[test]
fn unpack_allows_dotdot_that_stays_inside() {
    let tar = TarBuilder::new()
        .dir("a/", 0o755)
        .file("a/../b", 0o644, b"inside")
        .build();
    let (dir, store) = test_store();
    let tarball = write_file(dir.path(), "in.tar", &tar);
    let image = store.import(&tarball, None, &|_| {}).unwrap();
    let diff = store.layer_diff(strip_algorithm(&image.layers[0]));
    assert_eq!(fs::read(diff.join("b")).unwrap(), b"inside");
}

#[test]
fn unpack_strips_leading_slash() {
    let tar = TarBuilder::new().file("/etc/x", 0o600, b"abs").build();
    let (dir, store) = test_store();
    let tarball = write_file(dir.path(), "in.tar", &tar);
    let image = store.import(&tarball, None, &|_| {}).unwrap();
    let diff = store.layer_diff(strip_algorithm(&image.layers[0]));
    assert_eq!(fs::read(diff.join("etc/x")).unwrap(), b"abs");
    assert_eq!(
        fs::metadata(diff.join("etc")).unwrap().mode() & 0o7777,
        0o755
    );
}

#[test]
fn unpack_rejects_write_through_symlinked_parent() {
    let (dir, store) = test_store();
    let outside = dir.path().join("outside");
    fs::create_dir(&outside).unwrap();
    let tar = TarBuilder::new()
        .link(EntryType::Symlink, "link", outside.to_str().unwrap())
        .file("link/file", 0o644, b"escaped")
        .build();
    let tarball = write_file(dir.path(), "in.tar", &tar);

    let err = store.import(&tarball, None, &|_| {}).unwrap_err();

    assert_unsafe(err, "link/file", "parent link is a symlink");
    assert!(!outside.join("file").exists());
    assert_nothing_stored(&store);
}

#[test]
fn unpack_rejects_absolute_symlink_chain() {
    let (dir, store) = test_store();
    let outside = dir.path().join("outside");
    fs::create_dir(&outside).unwrap();
    // `a -> /`, `b -> a/<outside>`: `b/x` would land in outside/x.
    let through_root = format!("a{}", outside.display());
    let tar = TarBuilder::new()
        .link(EntryType::Symlink, "a", "/")
        .link(EntryType::Symlink, "b", &through_root)
        .dir("b/", 0o755)
        .file("b/x", 0o644, b"escaped")
        .build();
    let tarball = write_file(dir.path(), "in.tar", &tar);

    // The directory entry `b/` replaces the symlink b, so `b/x` lands in the
    // layer's own b/ and nothing reaches outside.
    let image = store.import(&tarball, None, &|_| {}).unwrap();
    let diff = store.layer_diff(strip_algorithm(&image.layers[0]));
    assert!(fs::symlink_metadata(diff.join("b")).unwrap().is_dir());
    assert_eq!(fs::read(diff.join("b/x")).unwrap(), b"escaped");
    assert!(!outside.join("x").exists());

    let tar = TarBuilder::new()
        .link(EntryType::Symlink, "a", "/")
        .link(EntryType::Symlink, "b", &through_root)
        .file("b/y", 0o644, b"escaped")
        .build();
    let tarball = write_file(dir.path(), "in2.tar", &tar);
    let err = store.import(&tarball, None, &|_| {}).unwrap_err();
    assert_unsafe(err, "b/y", "parent b is a symlink");
    assert!(!outside.join("y").exists());

    let tar = TarBuilder::new()
        .link(EntryType::Symlink, "a", "/")
        .file("a/deep/z", 0o644, b"escaped")
        .build();
    let tarball = write_file(dir.path(), "in3.tar", &tar);
    let err = store.import(&tarball, None, &|_| {}).unwrap_err();
    assert_unsafe(err, "a/deep/z", "parent a is a symlink");
    assert!(!Path::new("/deep/z").exists());
}

#[test]
fn unpack_rejects_bad_hard_links() {
    let (dir, store) = test_store();
    let outside = dir.path().join("outside");
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("secret"), b"secret").unwrap();

    let tar = TarBuilder::new()
        .link(EntryType::Link, "h", "../../../../outside/secret")
        .build();
    let tarball = write_file(dir.path(), "escape.tar", &tar);
    let err = store.import(&tarball, None, &|_| {}).unwrap_err();
    assert_unsafe(
        err,
        "h",
        "hard link target \"../../../../outside/secret\": path escapes the layer directory through '..'",
    );

    let tar = TarBuilder::new()
        .link(EntryType::Symlink, "link", outside.to_str().unwrap())
        .link(EntryType::Link, "h", "link/secret")
        .build();
    let tarball = write_file(dir.path(), "through-symlink.tar", &tar);
    let err = store.import(&tarball, None, &|_| {}).unwrap_err();
    assert_unsafe(
        err,
        "h",
        "hard link target parent link is not a directory in the layer",
    );

    let tar = TarBuilder::new()
        .link(EntryType::Link, "h", "nothere")
        .build();
    let tarball = write_file(dir.path(), "missing.tar", &tar);
    let err = store.import(&tarball, None, &|_| {}).unwrap_err();
    assert_unsafe(
        err,
        "h",
        "hard link target nothere does not exist in the layer",
    );

    assert_eq!(fs::metadata(outside.join("secret")).unwrap().nlink(), 1);
    assert_nothing_stored(&store);
}

#[test]
fn unpack_makes_overlay_whiteouts() {
    let tar = TarBuilder::new()
        .dir("dir/", 0o755)
        .file("dir/gone", 0o644, b"replaced by the whiteout")
        .file("dir/.wh.gone", 0o644, b"")
        .file("dir/.wh..wh..opq", 0o644, b"")
        .build();
    let (dir, store) = test_store();
    let tarball = write_file(dir.path(), "in.tar", &tar);
    let image = store.import(&tarball, None, &|_| {}).unwrap();
    let diff = store.layer_diff(strip_algorithm(&image.layers[0]));

    let gone = fs::symlink_metadata(diff.join("dir/gone")).unwrap();
    assert!(gone.file_type().is_char_device());
    assert_eq!(gone.rdev(), 0);
    assert!(!diff.join("dir/.wh.gone").exists());
    assert!(!diff.join("dir/.wh..wh..opq").exists());
    let opaque = crate::xattr::get(
        &diff.join("dir"),
        std::ffi::OsStr::new("trusted.overlay.opaque"),
    )
    .unwrap();
    assert_eq!(opaque, Some(b"y".to_vec()));
}

#[test]
fn unpack_devices_fifos_and_xattrs() {
    let tar = TarBuilder::new()
        .device(EntryType::Char, "dev/null", 1, 3)
        .device(EntryType::Block, "dev/loop9", 7, 9)
        .device(EntryType::Fifo, "run/fifo", 0, 0)
        .xattr_file("tagged", "user.berth", b"value")
        .build();
    let (dir, store) = test_store();
    let tarball = write_file(dir.path(), "in.tar", &tar);
    let image = store.import(&tarball, None, &|_| {}).unwrap();
    let diff = store.layer_diff(strip_algorithm(&image.layers[0]));

    let null = fs::symlink_metadata(diff.join("dev/null")).unwrap();
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), nix::sys::stat::makedev(1, 3));
    assert_eq!(null.mode() & 0o7777, 0o666);
    let block = fs::symlink_metadata(diff.join("dev/loop9")).unwrap();
    assert!(block.file_type().is_block_device());
    assert_eq!(block.rdev(), nix::sys::stat::makedev(7, 9));
    assert!(fs::symlink_metadata(diff.join("run/fifo"))
        .unwrap()
        .file_type()
        .is_fifo());
    let value =
        crate::xattr::get(&diff.join("tagged"), std::ffi::OsStr::new("user.berth")).unwrap();
    assert_eq!(value, Some(b"value".to_vec()));
}

#[test]
fn unpack_read_only_dir_keeps_children() {
    let tar = TarBuilder::new()
        .dir("ro/", 0o555)
        .file("ro/child", 0o444, b"c")
        .dir("ro/sub/", 0o500)
        .file("ro/sub/deeper", 0o400, b"d")
        .build();
    let (dir, store) = test_store();
    let tarball = write_file(dir.path(), "in.tar", &tar);
    let image = store.import(&tarball, None, &|_| {}).unwrap();
    let diff = store.layer_diff(strip_algorithm(&image.layers[0]));

    assert_eq!(fs::read(diff.join("ro/sub/deeper")).unwrap(), b"d");
    assert_eq!(
        fs::metadata(diff.join("ro")).unwrap().permissions().mode() & 0o7777,
        0o555
    );
    assert_eq!(
        fs::metadata(diff.join("ro/sub"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o500
    );
    assert_eq!(fs::metadata(diff.join("ro")).unwrap().mtime(), MTIME as i64);
}
