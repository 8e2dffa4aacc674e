//! Image and layer records in `state.db`. The engine keeps its own tables
//! in the same file through another connection, so every table here is
//! prefixed `image_` or `layer_`.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use tracing::debug;

use crate::{Image, Result, StorageError};

/// The version of the tables below; bump it with a migration when they change.
pub(crate) const SCHEMA_VERSION: i64 = 1;

/// How long a statement waits for another process's write lock before
/// failing with "database is locked". Imports and removals hold it only
/// for a few small statements.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS image_schema (
    version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS layer_records (
    chain_id TEXT PRIMARY KEY,      -- sha256:<hex>
    diff_id  TEXT NOT NULL,         -- sha256:<hex> of the uncompressed tar
    parent   TEXT REFERENCES layer_records(chain_id),
    size     INTEGER NOT NULL       -- uncompressed tar size in bytes
);
CREATE TABLE IF NOT EXISTS image_records (
    id      TEXT PRIMARY KEY,       -- hex sha256 of the config blob
    digest  TEXT NOT NULL,          -- sha256:<hex> of the manifest blob
    created TEXT NOT NULL,          -- RFC 3339 UTC with nanoseconds
    size    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS image_names (
    name     TEXT PRIMARY KEY,      -- fully qualified, e.g. localhost/busybox:latest
    image_id TEXT NOT NULL REFERENCES image_records(id) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS image_layers (
    image_id TEXT NOT NULL REFERENCES image_records(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,      -- 0 is the base layer
    diff_id  TEXT NOT NULL,
    chain_id TEXT NOT NULL REFERENCES layer_records(chain_id),
    PRIMARY KEY (image_id, position)
);
CREATE INDEX IF NOT EXISTS image_names_by_image ON image_names(image_id);
CREATE INDEX IF NOT EXISTS image_layers_by_chain ON image_layers(chain_id);
";

/// Opens `path` and creates the image tables if missing.
pub(crate) fn open(path: &Path) -> Result<Connection> {
    let mut conn = Connection::open(path)?;
    // WAL lets the engine read container state while an import writes.
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    debug!(db = %path.display(), journal_mode = %mode, "opened image database");
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // Foreign keys are off by default in SQLite; image_names and
    // image_layers rely on ON DELETE CASCADE.
    conn.pragma_update(None, "foreign_keys", true)?;
    // FULL: an image record never survives a power loss that its commit
    // did not.
    conn.pragma_update(None, "synchronous", "FULL")?;

    // The common case, tables at the current version, needs no write lock.
    if let Some(found) = recorded_version(&conn)? {
        check_version(path, found)?;
        return Ok(conn);
    }

    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch(SCHEMA)?;
    let version: Option<i64> = tx
        .query_row("SELECT version FROM image_schema", [], |row| row.get(0))
        .optional()?;
    match version {
        None => {
            tx.execute(
                "INSERT INTO image_schema (version) VALUES (?1)",
                [SCHEMA_VERSION],
            )?;
        }
        Some(found) => check_version(path, found)?,
    }
    tx.commit()?;
    Ok(conn)
}

/// The schema version in `image_schema`, or `None` before the tables exist.
fn recorded_version(conn: &Connection) -> Result<Option<i64>> {
    let has_table: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'image_schema')",
        [],
        |row| row.get(0),
    )?;
    if !has_table {
        return Ok(None);
    }
    Ok(conn
        .query_row("SELECT version FROM image_schema", [], |row| row.get(0))
        .optional()?)
}

fn check_version(path: &Path, found: i64) -> Result<()> {
    if found > SCHEMA_VERSION {
        return Err(StorageError::SchemaTooNew {
            path: path.to_path_buf(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(())
}

/// A layer of a new image record.
pub(crate) struct NewLayer<'a> {
    pub chain_id: &'a str,
    pub diff_id: &'a str,
    pub parent: Option<&'a str>,
    pub size: u64,
}

/// Records an image, its layers and its name in one transaction. A name
/// held by another image moves to this one.
pub(crate) fn insert_image(
    conn: &mut Connection,
    image: &Image,
    layers: &[NewLayer<'_>],
) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for layer in layers {
        tx.execute(
            "INSERT OR IGNORE INTO layer_records (chain_id, diff_id, parent, size) VALUES (?1, ?2, ?3, ?4)",
            params![layer.chain_id, layer.diff_id, layer.parent, layer.size as i64],
        )?;
    }
    tx.execute(
        "INSERT OR IGNORE INTO image_records (id, digest, created, size) VALUES (?1, ?2, ?3, ?4)",
        params![
            image.id,
            image.digest,
            format_time(&image.created),
            image.size as i64
        ],
    )?;
    for (position, layer) in layers.iter().enumerate() {
        tx.execute(
            "INSERT OR IGNORE INTO image_layers (image_id, position, diff_id, chain_id) VALUES (?1, ?2, ?3, ?4)",
            params![image.id, position as i64, layer.diff_id, layer.chain_id],
        )?;
    }
    for name in &image.names {
        set_name(&tx, name, &image.id)?;
    }
    tx.commit()?;
    Ok(())
}

fn set_name(tx: &Transaction<'_>, name: &str, image_id: &str) -> Result<()> {
    tx.execute(
        "INSERT INTO image_names (name, image_id) VALUES (?1, ?2)
         ON CONFLICT (name) DO UPDATE SET image_id = excluded.image_id",
        params![name, image_id],
    )?;
    Ok(())
}

/// Gives `name` to the image, taking it from any other image.
pub(crate) fn tag(conn: &mut Connection, image_id: &str, name: &str) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    set_name(&tx, name, image_id)?;
    tx.commit()?;
    Ok(())
}

/// Removes `name` from the image. Returns whether the image had it.
pub(crate) fn untag(conn: &Connection, image_id: &str, name: &str) -> Result<bool> {
    let removed = conn.execute(
        "DELETE FROM image_names WHERE name = ?1 AND image_id = ?2",
        params![name, image_id],
    )?;
    Ok(removed > 0)
}

/// Deletes an image record and returns the layers no other image uses
/// any more as `(chain_id, diff_id)`, whose records are deleted too.
pub(crate) fn delete_image(conn: &mut Connection, image_id: &str) -> Result<Vec<(String, String)>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let chain_ids: Vec<String> = {
        let mut stmt = tx.prepare(
            "SELECT chain_id FROM image_layers WHERE image_id = ?1 ORDER BY position DESC",
        )?;
        let rows = stmt.query_map([image_id], |row| row.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    tx.execute("DELETE FROM image_records WHERE id = ?1", [image_id])?;

    // Top layer first, so a child's record goes before its parent's.
    let mut unused = Vec::new();
    for chain_id in chain_ids {
        let users: i64 = tx.query_row(
            "SELECT (SELECT count(*) FROM image_layers WHERE chain_id = ?1)
                  + (SELECT count(*) FROM layer_records WHERE parent = ?1)",
            [&chain_id],
            |row| row.get(0),
        )?;
        if users > 0 {
            continue;
        }
        let diff_id: String = tx.query_row(
            "SELECT diff_id FROM layer_records WHERE chain_id = ?1",
            [&chain_id],
            |row| row.get(0),
        )?;
        tx.execute("DELETE FROM layer_records WHERE chain_id = ?1", [&chain_id])?;
        unused.push((chain_id, diff_id));
    }
    tx.commit()?;
    Ok(unused)
}

/// Every image record, newest first.
pub(crate) fn load_images(conn: &Connection) -> Result<Vec<Image>> {
    let mut stmt = conn
        .prepare("SELECT id, digest, created, size FROM image_records ORDER BY created DESC, id")?;
    let rows = stmt.query_map([], |row| {
        let created: String = row.get(2)?;
        let created = DateTime::parse_from_rfc3339(&created)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(
                    2,
                    rusqlite::types::Type::Text,
                    Box::new(e),
                )
            })?;
        Ok(Image {
            id: row.get(0)?,
            names: Vec::new(),
            digest: row.get(1)?,
            created,
            size: row.get::<_, i64>(3)? as u64,
            layers: Vec::new(),
        })
    })?;
    let mut images: Vec<Image> = rows.collect::<rusqlite::Result<_>>()?;

    let mut names =
        conn.prepare("SELECT name FROM image_names WHERE image_id = ?1 ORDER BY name")?;
    let mut layers =
        conn.prepare("SELECT diff_id FROM image_layers WHERE image_id = ?1 ORDER BY position")?;
    for image in &mut images {
        image.names = names
            .query_map([&image.id], |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        image.layers = layers
            .query_map([&image.id], |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?;
    }
    Ok(images)
}

fn format_time(time: &DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// The uncompressed size of a recorded layer, or `None` if it has no record.
pub(crate) fn layer_size(conn: &Connection, chain_id: &str) -> Result<Option<u64>> {
    let size: Option<i64> = conn
        .query_row(
            "SELECT size FROM layer_records WHERE chain_id = ?1",
            [chain_id],
            |row| row.get(0),
        )
        .optional()?;
    Ok(size.map(|s| s as u64))
}

/// Chain ids of every layer record.
pub(crate) fn layer_chain_ids(conn: &Connection) -> Result<Vec<String>> {
    let mut stmt = conn.prepare("SELECT chain_id FROM layer_records")?;
    let rows = stmt.query_map([], |row| row.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
