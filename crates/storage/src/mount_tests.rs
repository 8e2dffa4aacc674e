use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use nix::sys::stat::{makedev, mknod, Mode, SFlag};
use tempfile::TempDir;

use super::*;
use crate::StoreOptions;

/// Detaches a mount left by a failing test, so no test leaks a mount.
struct MountGuard(PathBuf);

impl Drop for MountGuard {
    fn drop(&mut self) {
        if is_mount_point(&self.0) {
            let _ = umount2(&self.0, MntFlags::MNT_DETACH);
        }
    }
}

fn sample_tarball(dir: &Path) -> PathBuf {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_path("etc/hostname").unwrap();
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(1_700_000_000);
    header.set_size(5);
    header.set_cksum();
    builder.append(&header, &b"base\n"[..]).unwrap();
    let path = dir.join("rootfs.tar");
    fs::write(&path, builder.into_inner().unwrap()).unwrap();
    path
}

/// A store whose driver is forced through the run root's cache file.
fn store_with(driver: Option<&str>) -> (TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let runroot = dir.path().join("run");
    if let Some(driver) = driver {
        fs::create_dir_all(&runroot).unwrap();
        fs::write(runroot.join(DRIVER_CACHE), driver).unwrap();
    }
    let store = Store::open(&dir.path().join("root"), &runroot).unwrap();
    (dir, store)
}

#[test]
fn probe_finds_overlay_and_caches_it() {
    let (dir, store) = store_with(None);
    assert_eq!(store.driver(), Driver::Overlay);
    assert_eq!(
        fs::read_to_string(dir.path().join("run").join(DRIVER_CACHE)).unwrap(),
        "overlay"
    );
    // The probe leaves no scratch dir behind.
    let leftovers: Vec<_> = fs::read_dir(&store.root)
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(crate::import::TEMP_PREFIX)
        })
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn overlay_mount_writes_land_in_upper() {
    let (dir, store) = store_with(Some("overlay"));
    let image = store
        .import(&sample_tarball(dir.path()), Some("base"), &|_| {})
        .unwrap();
    let container_dir = store.container_dir("c1");
    let _guard = MountGuard(container_dir.join("merged"));

    let merged = store.mount("c1", &image, false).unwrap();

    assert_eq!(merged, container_dir.join("merged"));
    assert!(store.is_mounted("c1"));
    assert_eq!(fs::read(merged.join("etc/hostname")).unwrap(), b"base\n");
    fs::write(merged.join("etc/hostname"), b"changed\n").unwrap();
    fs::write(merged.join("new"), b"new\n").unwrap();
    assert_eq!(
        fs::read(container_dir.join("upper/etc/hostname")).unwrap(),
        b"changed\n"
    );
    assert_eq!(fs::read(container_dir.join("upper/new")).unwrap(), b"new\n");
    let layer = store.layer_diff(strip_algorithm(&image.layers[0]));
    assert_eq!(fs::read(layer.join("etc/hostname")).unwrap(), b"base\n");

    // A second mount returns the same path without stacking another mount.
    assert_eq!(store.mount("c1", &image, false).unwrap(), merged);
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let count = mounts
        .lines()
        .filter(|l| l.contains(&*merged.to_string_lossy()))
        .count();
    assert_eq!(count, 1);

    store.unmount("c1").unwrap();
    assert!(!store.is_mounted("c1"));
    assert!(!merged.join("etc").exists());
    store.unmount("c1").unwrap();

    // A remount shows the changes kept in the upper dir.
    store.mount("c1", &image, false).unwrap();
    assert_eq!(fs::read(merged.join("etc/hostname")).unwrap(), b"changed\n");
    store.unmount("c1").unwrap();
}

#[test]
fn volatile_mount_can_be_remounted() {
    let (dir, store) = store_with(Some("overlay"));
    let image = store
        .import(&sample_tarball(dir.path()), None, &|_| {})
        .unwrap();
    let container_dir = store.container_dir("c1");
    let _guard = MountGuard(container_dir.join("merged"));
    let merged_options = || {
        let merged = container_dir.join("merged");
        let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
        mounts
            .lines()
            .find(|l| l.contains(&*merged.to_string_lossy()))
            .map(str::to_string)
            .unwrap_or_default()
    };

    let merged = store.mount("c1", &image, true).unwrap();
    fs::write(merged.join("new"), b"new\n").unwrap();
    assert!(
        merged_options().contains("volatile"),
        "{}",
        merged_options()
    );
    store.unmount("c1").unwrap();

    // The work dir a volatile mount used can be mounted again, with the
    // option or without it.
    store.mount("c1", &image, true).unwrap();
    assert!(
        merged_options().contains("volatile"),
        "{}",
        merged_options()
    );
    assert_eq!(fs::read(merged.join("new")).unwrap(), b"new\n");
    store.unmount("c1").unwrap();

    store.mount("c1", &image, false).unwrap();
    assert!(
        !merged_options().contains("volatile"),
        "{}",
        merged_options()
    );
    assert_eq!(fs::read(merged.join("new")).unwrap(), b"new\n");
    store.unmount("c1").unwrap();
}

#[test]
fn remove_container_fs_keeps_engine_files() {
    let (dir, store) = store_with(Some("overlay"));
    let image = store
        .import(&sample_tarball(dir.path()), None, &|_| {})
        .unwrap();
    let _guards = [
        MountGuard(store.container_dir("kept").join("merged")),
        MountGuard(store.container_dir("gone").join("merged")),
    ];

    store.mount("kept", &image, false).unwrap();
    let userdata = store.container_dir("kept").join("userdata");
    fs::create_dir(&userdata).unwrap();
    fs::write(userdata.join("config.json"), b"{}").unwrap();
    store.remove_container_fs("kept").unwrap();
    assert!(!store.is_mounted("kept"));
    assert!(userdata.join("config.json").exists());
    for name in ["upper", "work", "merged"] {
        assert!(
            !store.container_dir("kept").join(name).exists(),
            "{name} left behind"
        );
    }

    store.mount("gone", &image, false).unwrap();
    store.remove_container_fs("gone").unwrap();
    assert!(!store.container_dir("gone").exists());
    // Removing again finds nothing to do.
    store.remove_container_fs("gone").unwrap();
}

#[test]
fn copy_driver_copies_once() {
    let (dir, store) = store_with(Some("vfs"));
    assert_eq!(store.driver(), Driver::Copy);
    let image = store
        .import(&sample_tarball(dir.path()), None, &|_| {})
        .unwrap();
    assert!(!store.is_mounted("c1"));

    let merged = store.mount("c1", &image, false).unwrap();
    assert!(store.is_mounted("c1"));
    assert!(!is_mount_point(&merged));
    assert_eq!(fs::read(merged.join("etc/hostname")).unwrap(), b"base\n");
    fs::write(merged.join("etc/hostname"), b"changed\n").unwrap();

    // Mounting again keeps the container's changes.
    store.mount("c1", &image, false).unwrap();
    assert_eq!(fs::read(merged.join("etc/hostname")).unwrap(), b"changed\n");
    store.unmount("c1").unwrap();

    store.remove_container_fs("c1").unwrap();
    assert!(!store.container_dir("c1").exists());
}

#[test]
fn copy_layer_applies_whiteouts_and_opaque_dirs() {
    let dir = tempfile::tempdir().unwrap();
    let (lower, upper, dest) = (
        dir.path().join("lower"),
        dir.path().join("upper"),
        dir.path().join("dest"),
    );
    for path in [&lower, &upper, &dest] {
        fs::create_dir(path).unwrap();
    }
    fs::create_dir(lower.join("opaque")).unwrap();
    fs::write(lower.join("opaque/old"), b"old").unwrap();
    fs::write(lower.join("deleted"), b"x").unwrap();
    fs::write(lower.join("kept"), b"kept").unwrap();
    fs::write(lower.join("linked"), b"linked").unwrap();
    fs::hard_link(lower.join("linked"), lower.join("linked2")).unwrap();
    std::os::unix::fs::symlink("/nowhere", lower.join("dangling")).unwrap();

    fs::create_dir(upper.join("opaque")).unwrap();
    fs::write(upper.join("opaque/new"), b"new").unwrap();
    crate::xattr::set(
        &upper.join("opaque"),
        std::ffi::OsStr::new(crate::userns::opaque_xattr()),
        b"y",
    )
    .unwrap();
    mknod(
        &upper.join("deleted"),
        SFlag::S_IFCHR,
        Mode::empty(),
        makedev(0, 0),
    )
    .unwrap();

    copy_layer(&lower, &dest).unwrap();
    copy_layer(&upper, &dest).unwrap();

    assert!(!dest.join("deleted").exists());
    assert!(!dest.join("opaque/old").exists());
    assert_eq!(fs::read(dest.join("opaque/new")).unwrap(), b"new");
    assert_eq!(fs::read(dest.join("kept")).unwrap(), b"kept");
    assert_eq!(
        fs::read_link(dest.join("dangling")).unwrap(),
        Path::new("/nowhere")
    );
    let linked = fs::metadata(dest.join("linked")).unwrap();
    assert_eq!(
        linked.ino(),
        fs::metadata(dest.join("linked2")).unwrap().ino()
    );
    let opaque = crate::xattr::get(
        &dest.join("opaque"),
        std::ffi::OsStr::new(crate::userns::opaque_xattr()),
    );
    assert_eq!(opaque.unwrap(), None, "overlay xattrs are not copied");
    assert!(
        !fs::symlink_metadata(dest.join("deleted")).is_ok_and(|m| m.file_type().is_char_device())
    );
}

#[test]
fn mount_rejects_path_like_container_ids() {
    let (dir, store) = store_with(Some("overlay"));
    let image = store
        .import(&sample_tarball(dir.path()), None, &|_| {})
        .unwrap();
    for id in ["", ".", "..", "a/b"] {
        match store.mount(id, &image, false) {
            Err(StorageError::InvalidContainerId { container_id }) => assert_eq!(container_id, id),
            other => panic!("{id:?}: expected InvalidContainerId, got {other:?}"),
        }
    }
}

#[test]
fn mount_reports_missing_layer() {
    let (dir, store) = store_with(Some("overlay"));
    let image = store
        .import(&sample_tarball(dir.path()), None, &|_| {})
        .unwrap();
    let chain_hex = strip_algorithm(&image.layers[0]).to_string();
    fs::remove_dir_all(store.layers_dir().join(&chain_hex)).unwrap();

    match store.mount("c1", &image, false) {
        Err(StorageError::MissingLayer {
            image_id, chain_id, ..
        }) => {
            assert_eq!(image_id, image.id);
            assert_eq!(chain_id, format!("sha256:{chain_hex}"));
        }
        other => panic!("expected MissingLayer, got {other:?}"),
    }
}

#[test]
fn overlay_options_limit_is_enforced() {
    let (dir, store) = store_with(Some("overlay"));
    let image = store
        .import(&sample_tarball(dir.path()), None, &|_| {})
        .unwrap();
    let lower: Vec<PathBuf> = (0..100)
        .map(|_| store.layer_diff(strip_algorithm(&image.layers[0])))
        .collect();

    let err = mount_overlay(&store, "c1", &store.container_dir("c1"), &lower, false).unwrap_err();

    match err {
        StorageError::OverlayOptionsTooLong {
            layers, len, max, ..
        } => {
            assert_eq!(layers, 100);
            assert!(len > max);
            assert_eq!(max, 4095);
        }
        other => panic!("expected OverlayOptionsTooLong, got {other:?}"),
    }
}

#[test]
fn mountinfo_escapes_are_decoded() {
    assert_eq!(unescape_mountinfo(br"/a\040b\011c\134d"), b"/a b\tc\\d");
    assert_eq!(unescape_mountinfo(br"/plain\0"), b"/plain\\0");
}

#[test]
fn unmount_removes_mount_point() {
    let (dir, store) = store_with(None);
    let image = store
        .import(&sample_tarball(dir.path()), None, &|_| {})
        .unwrap();
    let merged = store.mount("c1", &image, false).unwrap();
    let _guard = MountGuard(merged.clone());

    store.unmount("c1").unwrap();
    assert!(!merged.exists(), "the empty mount point is removed");
    // The next mount makes it again.
    store.mount("c1", &image, false).unwrap();
    assert_eq!(fs::read(merged.join("etc/hostname")).unwrap(), b"base\n");
    store.remove_container_fs("c1").unwrap();
}

#[test]
fn mount_program_recorded_and_mismatch_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let (root, runroot) = (dir.path().join("root"), dir.path().join("run"));
    // Any executable serves: the store only runs it to mount.
    let program = PathBuf::from("/bin/true");
    let forced = StoreOptions {
        mount_program: Some(program.clone()),
    };
    let store = Store::open_with_options(&root, &runroot, &forced).unwrap();
    assert_eq!(store.mount_program(), Some(program.as_path()));
    assert_eq!(
        fs::read_to_string(store.root.join(MOUNT_PROGRAM_RECORD)).unwrap(),
        "/bin/true\n"
    );

    let reopened = Store::open(&root, &runroot).unwrap();
    assert_eq!(reopened.mount_program(), Some(program.as_path()));

    let other = StoreOptions {
        mount_program: Some(PathBuf::from("/bin/false")),
    };
    let error = Store::open_with_options(&root, &runroot, &other)
        .err()
        .expect("a different program is rejected");
    assert_eq!(
        error.to_string(),
        format!(
            "storage root {} mounts overlays with /bin/true, not /bin/false: drop --storage-opt overlay.mount_program, give /bin/true, or use another --root",
            store.root.display()
        )
    );
}

#[test]
fn storage_options_parse() {
    let parsed =
        StoreOptions::parse(&["overlay.mount_program=/usr/bin/fuse-overlayfs".into()]).unwrap();
    assert_eq!(
        parsed.mount_program,
        Some(PathBuf::from("/usr/bin/fuse-overlayfs"))
    );
    assert_eq!(StoreOptions::parse(&[]).unwrap(), StoreOptions::default());

    let cases = [
        ("overlay.mount_program", "expected KEY=VALUE"),
        (
            "overlay.mount_program=fuse-overlayfs",
            "the mount program must be an absolute path",
        ),
        (
            "overlay.size=10G",
            "unsupported option: berth supports only overlay.mount_program=PATH",
        ),
    ];
    for (option, reason) in cases {
        let error = StoreOptions::parse(&[option.to_string()]).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("invalid --storage-opt {option:?}: {reason}"),
        );
    }
}
