use std::cell::RefCell;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::*;
use crate::test_support::*;

fn check_sample_layer(diff: &Path) {
    let hello = diff.join("etc/hello");
    assert_eq!(fs::read(&hello).unwrap(), b"hello\n");
    let meta = fs::symlink_metadata(&hello).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o755);
    assert_eq!(meta.uid(), 1000);
    assert_eq!(meta.gid(), 1000);
    assert_eq!(meta.mtime(), MTIME as i64);

    assert_eq!(
        fs::read_link(diff.join("etc/link")).unwrap(),
        Path::new("hello")
    );
    assert_eq!(
        fs::read_link(diff.join("etc/abs")).unwrap(),
        Path::new("/etc/passwd")
    );
    let hard = fs::symlink_metadata(diff.join("etc/hard")).unwrap();
    assert_eq!(hard.ino(), meta.ino());
    assert_eq!(hard.nlink(), 2);

    let su = fs::symlink_metadata(diff.join("bin/su")).unwrap();
    assert_eq!(su.mode() & 0o7777, 0o4755);
    let etc = fs::symlink_metadata(diff.join("etc")).unwrap();
    assert!(etc.is_dir());
    assert_eq!(etc.mode() & 0o7777, 0o755);
    assert_eq!(etc.mtime(), MTIME as i64);
}

#[test]
fn import_plain_gzip_zstd_share_one_layer() {
    let (dir, store) = test_store();
    let tar = sample_tar();
    let inputs = [
        write_file(dir.path(), "rootfs.tar", &tar),
        write_file(dir.path(), "rootfs.tar.gz", &gzip(&tar)),
        write_file(
            dir.path(),
            "rootfs.tar.zst",
            &zstd::encode_all(&tar[..], 3).unwrap(),
        ),
    ];
    let diff_id = format!("sha256:{}", sha256_hex(&tar));

    for input in &inputs {
        let image = store.import(input, None, &|_| {}).unwrap();
        assert_eq!(
            image.layers,
            vec![diff_id.clone()],
            "input {}",
            input.display()
        );
        assert_eq!(image.size, tar.len() as u64);
        assert!(image.names.is_empty());
    }

    assert_eq!(layer_count(&store), 1);
    check_sample_layer(&store.layer_diff(strip_algorithm(&diff_id)));
    assert_eq!(
        fs::read(store.blob_path(strip_algorithm(&diff_id))).unwrap(),
        tar
    );
    assert_eq!(store.images().unwrap().len(), 3);
}

#[test]
fn import_twice_reuses_layer() {
    let (dir, store) = test_store();
    let tarball = write_file(dir.path(), "rootfs.tar", &sample_tar());
    let first = store.import(&tarball, Some("busybox"), &|_| {}).unwrap();
    let layer = store.layer_diff(strip_algorithm(&first.layers[0]));
    let inode = fs::metadata(layer.join("etc/hello")).unwrap().ino();

    let second = store.import(&tarball, Some("busybox"), &|_| {}).unwrap();

    assert_eq!(second.layers, first.layers);
    assert_eq!(layer_count(&store), 1);
    assert_eq!(fs::metadata(layer.join("etc/hello")).unwrap().ino(), inode);
    assert_eq!(second.names, vec!["localhost/busybox:latest"]);
    // The name moved to the newer image.
    let images = store.images().unwrap();
    let old = images.iter().find(|i| i.id == first.id).unwrap();
    assert!(old.names.is_empty());
    assert_eq!(store.lookup("busybox").unwrap().id, second.id);
}

#[test]
fn import_writes_config_and_manifest() {
    let (dir, store) = test_store();
    let tarball = write_file(dir.path(), "rootfs.tar", &sample_tar());
    let image = store
        .import(&tarball, Some("quay.io/a/b:1"), &|_| {})
        .unwrap();

    assert_eq!(image.names, vec!["quay.io/a/b:1"]);
    let config_bytes = fs::read(store.blob_path(&image.id)).unwrap();
    assert_eq!(sha256_hex(&config_bytes), image.id);

    let config = store.config(&image).unwrap();
    assert_eq!(config.rootfs().diff_ids(), &image.layers);
    assert_eq!(config.os(), &oci_spec::image::Os::Linux);
    assert_eq!(config.architecture().to_string(), go_arch());
    assert_eq!(
        config.history()[0].comment().as_deref(),
        Some("imported from tarball")
    );
    let cmd = config.config().as_ref().and_then(|c| c.cmd().clone());
    assert_eq!(cmd, None);

    let manifest_bytes = fs::read(store.blob_path(strip_algorithm(&image.digest))).unwrap();
    let manifest: oci_spec::image::ImageManifest = serde_json::from_slice(&manifest_bytes).unwrap();
    assert_eq!(
        manifest.config().digest().to_string(),
        format!("sha256:{}", image.id)
    );
    assert_eq!(manifest.config().size(), config_bytes.len() as u64);
    assert_eq!(manifest.layers()[0].digest().to_string(), image.layers[0]);
}

#[test]
fn import_reports_progress_to_end() {
    let (dir, store) = test_store();
    let mut big = TarBuilder::new();
    big = big.file("big", 0o644, &vec![7u8; 600 * 1024]);
    let bytes = big.build();
    let tarball = write_file(dir.path(), "big.tar", &bytes);
    let calls = RefCell::new(Vec::new());

    store
        .import(&tarball, None, &|n| calls.borrow_mut().push(n))
        .unwrap();

    let calls = calls.into_inner();
    assert_eq!(calls.last().copied(), Some(bytes.len() as u64));
    assert!(calls.len() >= 3, "expected a call per 256 KiB: {calls:?}");
    assert!(
        calls.windows(2).all(|w| w[0] < w[1]),
        "not increasing: {calls:?}"
    );
}

#[test]
fn import_rejects_invalid_name_before_reading() {
    let (dir, store) = test_store();
    let tarball = dir.path().join("missing.tar");
    match store.import(&tarball, Some("Bad/Name"), &|_| {}) {
        Err(StorageError::InvalidName { name, .. }) => assert_eq!(name, "Bad/Name"),
        other => panic!("expected InvalidName, got {other:?}"),
    }
}

#[test]
fn import_garbage_is_not_a_tarball() {
    let garbage: Vec<u8> = (0..2048u32).map(|i| (i * 7 + 3) as u8).collect();
    let (_dir, store, err) = import_error(&garbage);
    match err {
        StorageError::NotATarball { reason, .. } => assert_eq!(
            reason,
            "no tar header at the start of the data (checksum mismatch)"
        ),
        other => panic!("expected NotATarball, got {other:?}"),
    }
    assert_nothing_stored(&store);
}

#[test]
fn import_empty_and_xz_are_not_tarballs() {
    let cases: [(&[u8], &str); 4] = [
        (b"", "the file is empty"),
        (
            b"just some text\n",
            "the data is shorter than one 512-byte tar block",
        ),
        (
            b"\xfd7zXZ\x00rest",
            "xz compression is not supported: decompress it with `xz -d` first",
        ),
        (
            b"BZh91AY",
            "bzip2 compression is not supported: decompress it with `bzip2 -d` first",
        ),
    ];
    for (bytes, expected) in cases {
        let (_dir, _store, err) = import_error(bytes);
        match err {
            StorageError::NotATarball { reason, .. } => assert_eq!(reason, expected),
            other => panic!("expected NotATarball, got {other:?}"),
        }
    }
}

#[test]
fn import_truncated_gzip_is_not_a_tarball() {
    let bytes = gzip(&sample_tar());
    let (_dir, store, err) = import_error(&bytes[..bytes.len() / 2]);
    assert!(
        matches!(err, StorageError::NotATarball { .. }),
        "got {err:?}"
    );
    assert_nothing_stored(&store);
}

#[test]
fn remove_deletes_unused_layer_only() {
    let (dir, store) = test_store();
    let shared = write_file(dir.path(), "shared.tar", &sample_tar());
    let other = write_file(
        dir.path(),
        "other.tar",
        &TarBuilder::new().file("only", 0o644, b"1").build(),
    );
    let first = store.import(&shared, Some("first"), &|_| {}).unwrap();
    let second = store.import(&shared, Some("second"), &|_| {}).unwrap();
    let third = store.import(&other, Some("third"), &|_| {}).unwrap();
    let shared_layer = store.layers_dir().join(strip_algorithm(&first.layers[0]));
    let other_layer = store.layers_dir().join(strip_algorithm(&third.layers[0]));

    store.remove("first").unwrap();
    assert!(
        shared_layer.is_dir(),
        "layer still used by the second image"
    );
    assert!(!store.blob_path(&first.id).exists());
    assert!(!store.blob_path(strip_algorithm(&first.digest)).exists());

    store.remove(&second.id).unwrap();
    assert!(!shared_layer.exists());
    assert!(!store.blob_path(strip_algorithm(&first.layers[0])).exists());
    assert!(other_layer.is_dir());

    store.remove(&third.id[..12]).unwrap();
    assert_nothing_stored(&store);
    assert!(matches!(
        store.lookup("third"),
        Err(StorageError::NoSuchImage { .. })
    ));
}

#[test]
fn tag_and_untag_move_names() {
    let (dir, store) = test_store();
    let tarball = write_file(dir.path(), "rootfs.tar", &sample_tar());
    let a = store.import(&tarball, Some("a"), &|_| {}).unwrap();
    let b = store.import(&tarball, Some("b"), &|_| {}).unwrap();

    store.tag("b", "a:latest").unwrap();
    assert_eq!(store.lookup("a").unwrap().id, b.id);
    assert!(store.lookup(&a.id).unwrap().names.is_empty());

    store.tag(&a.id, "quay.io/x/y:2").unwrap();
    assert_eq!(store.lookup("quay.io/x/y:2").unwrap().id, a.id);

    assert!(!store.untag(&b.id, "a").unwrap());
    assert!(store.untag(&b.id, "localhost/b:latest").unwrap());
    assert!(store.lookup(&b.id).unwrap().names.is_empty());
    match store.untag(&b.id, "b") {
        Err(StorageError::NotTagged { image_id, name }) => {
            assert_eq!(image_id, b.id);
            assert_eq!(name, "localhost/b:latest");
        }
        other => panic!("expected NotTagged, got {other:?}"),
    }
    assert!(matches!(
        store.tag(&a.id, "UPPER"),
        Err(StorageError::InvalidName { .. })
    ));
}

#[test]
fn detect_compression_by_magic() {
    assert_eq!(detect_compression(&[0x1f, 0x8b, 8]), Ok(Compression::Gzip));
    assert_eq!(
        detect_compression(&[0x28, 0xb5, 0x2f, 0xfd, 0]),
        Ok(Compression::Zstd)
    );
    assert_eq!(detect_compression(b"etc/\0\0\0"), Ok(Compression::None));
    assert_eq!(detect_compression(b""), Err("the file is empty"));
}
