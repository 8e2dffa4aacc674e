use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};

use crate::container::{Container, ContainerConfig, ContainerState};
use crate::{EngineError, Result};

/// Version 2 added `exec_sessions`.
const SCHEMA_VERSION: i64 = 2;

/// How long a kept exit code of a removed container stays readable, so that
/// `run --rm` and `wait` get the code even when cleanup removed the
/// container first.
const EXIT_CODE_RETENTION_SECONDS: i64 = 300;

/// The engine's connection to `state.db`.
pub(crate) struct StateDb {
    pub(super) conn: Connection,
}

impl StateDb {
    pub fn open(path: &Path) -> Result<StateDb> {
        let conn = Connection::open(path)?;

        // WAL lets `ps` read while another berth process writes. NORMAL
        // synchronous mode in WAL survives a crash of berth; only a power
        // loss may drop the last transaction.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // Many berth processes (and conmon's cleanup commands) write at once.
        conn.busy_timeout(Duration::from_secs(30))?;

        // The common case, tables already made at this version, needs no
        // write lock; an older database gets its new tables below.
        if recorded_version(&conn)? == Some(SCHEMA_VERSION) {
            return Ok(StateDb { conn });
        }

        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS container_schema (version INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS containers (
                 id TEXT PRIMARY KEY,
                 name TEXT NOT NULL UNIQUE,
                 image_id TEXT NOT NULL,
                 created_at TEXT NOT NULL,
                 config TEXT NOT NULL,
                 state TEXT NOT NULL
             );
             CREATE INDEX IF NOT EXISTS containers_image ON containers(image_id);
             CREATE TABLE IF NOT EXISTS container_exit_codes (
                 id TEXT PRIMARY KEY,
                 exit_code INTEGER NOT NULL,
                 recorded_at INTEGER NOT NULL
             );
             CREATE TABLE IF NOT EXISTS exec_sessions (
                 id TEXT PRIMARY KEY,
                 container_id TEXT NOT NULL,
                 pid INTEGER NOT NULL,
                 command TEXT NOT NULL,
                 exit_code INTEGER,
                 running INTEGER NOT NULL,
                 details TEXT NOT NULL
             );
             CREATE INDEX IF NOT EXISTS exec_sessions_container ON exec_sessions(container_id);",
        )?;
        let version: Option<i64> = conn
            .query_row("SELECT version FROM container_schema", [], |r| r.get(0))
            .optional()?;
        match version {
            None => {
                conn.execute(
                    "INSERT INTO container_schema (version) VALUES (?1)",
                    [SCHEMA_VERSION],
                )?;
            }
            // Every change so far only added tables, which CREATE TABLE IF
            // NOT EXISTS above made.
            Some(old) if old < SCHEMA_VERSION => {
                conn.execute("UPDATE container_schema SET version = ?1", [SCHEMA_VERSION])?;
            }
            Some(_) => {}
        }
        Ok(StateDb { conn })
    }

    /// Inserts a new container; a taken name is `NameInUse`.
    pub fn insert(&self, container: &Container) -> Result<()> {
        let result = self.conn.execute(
            "INSERT INTO containers (id, name, image_id, created_at, config, state)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                container.id,
                container.name,
                container.image_id,
                container.created_at.to_rfc3339(),
                to_json(&container.config),
                to_json(&container.state),
            ],
        );
        match result {
            Ok(_) => Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                let id = self.id_of_name(&container.name)?.unwrap_or_default();
                Err(EngineError::NameInUse {
                    name: container.name.clone(),
                    id,
                })
            }
            Err(e) => Err(e.into()),
        }
    }

    pub fn name_exists(&self, name: &str) -> Result<bool> {
        Ok(self.id_of_name(name)?.is_some())
    }

    fn id_of_name(&self, name: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT id FROM containers WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// Loads the container with exactly this id, if recorded.
    pub fn get(&self, id: &str) -> Result<Option<Container>> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, name, image_id, created_at, config, state FROM containers WHERE id = ?1",
                [id],
                row_to_container,
            )
            .optional()?)
    }

    /// Resolves a name, full id or unique id prefix to a container id.
    pub fn resolve(&self, name_or_id: &str) -> Result<String> {
        // A full id wins over a name that happens to equal it, as in Podman.
        if name_or_id.len() == 64 && self.get(name_or_id)?.is_some() {
            return Ok(name_or_id.to_string());
        }
        if let Some(id) = self.id_of_name(name_or_id)? {
            return Ok(id);
        }
        let is_hex = !name_or_id.is_empty() && name_or_id.chars().all(|c| c.is_ascii_hexdigit());
        if is_hex {
            let pattern = format!("{}%", name_or_id.to_ascii_lowercase());
            let mut statement = self
                .conn
                .prepare("SELECT id FROM containers WHERE id LIKE ?1 LIMIT 2")?;
            let ids: Vec<String> = statement
                .query_map([pattern], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            match ids.len() {
                1 => return Ok(ids.into_iter().next().unwrap_or_default()),
                0 => {}
                _ => {
                    let count: usize = self.conn.query_row(
                        "SELECT COUNT(*) FROM containers WHERE id LIKE ?1",
                        [format!("{}%", name_or_id.to_ascii_lowercase())],
                        |r| r.get(0),
                    )?;
                    return Err(EngineError::AmbiguousContainer {
                        prefix: name_or_id.to_string(),
                        count,
                    });
                }
            }
        }
        Err(EngineError::NoSuchContainer {
            name_or_id: name_or_id.to_string(),
        })
    }

    /// Loads every container, oldest first.
    pub fn all(&self) -> Result<Vec<Container>> {
        let mut statement = self.conn.prepare(
            "SELECT id, name, image_id, created_at, config, state FROM containers ORDER BY created_at, id",
        )?;
        let containers = statement
            .query_map([], row_to_container)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(containers)
    }

    pub fn ids_using_image(&self, image_id: &str) -> Result<Vec<String>> {
        let mut statement = self
            .conn
            .prepare("SELECT id FROM containers WHERE image_id = ?1")?;
        let ids = statement
            .query_map([image_id], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(ids)
    }

    pub fn save_state(&self, id: &str, state: &ContainerState) -> Result<()> {
        self.conn.execute(
            "UPDATE containers SET state = ?1 WHERE id = ?2",
            params![to_json(state), id],
        )?;
        Ok(())
    }

    pub fn rename(&self, id: &str, new_name: &str) -> Result<()> {
        let result = self.conn.execute(
            "UPDATE containers SET name = ?1 WHERE id = ?2",
            params![new_name, id],
        );
        match result {
            Ok(_) => Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Err(EngineError::NameInUse {
                    name: new_name.to_string(),
                    id: self.id_of_name(new_name)?.unwrap_or_default(),
                })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes the container's row, keeping its exit code (if any) for a
    /// while in `container_exit_codes`, in one transaction.
    pub fn delete(&self, id: &str, exit_code: Option<i32>) -> Result<()> {
        let now = Utc::now().timestamp();
        let transaction = self.conn.unchecked_transaction()?;
        transaction.execute("DELETE FROM containers WHERE id = ?1", [id])?;
        if let Some(code) = exit_code {
            transaction.execute(
                "INSERT OR REPLACE INTO container_exit_codes (id, exit_code, recorded_at) VALUES (?1, ?2, ?3)",
                params![id, code, now],
            )?;
        }
        transaction.execute(
            "DELETE FROM container_exit_codes WHERE recorded_at < ?1",
            [now - EXIT_CODE_RETENTION_SECONDS],
        )?;
        transaction.commit()?;
        Ok(())
    }

    /// Returns the kept exit code of a removed container, by its id or an
    /// id prefix that only it has.
    pub fn removed_exit_code(&self, id: &str) -> Result<Option<i32>> {
        let mut statement = self.conn.prepare(
            "SELECT exit_code FROM container_exit_codes WHERE substr(id, 1, length(?1)) = ?1 LIMIT 2",
        )?;
        let codes = statement
            .query_map([id], |r| r.get(0))?
            .collect::<std::result::Result<Vec<i32>, _>>()?;
        Ok(match codes.as_slice() {
            [code] => Some(*code),
            _ => None,
        })
    }
}

/// The version in `container_schema`, or `None` before the tables exist.
fn recorded_version(conn: &Connection) -> Result<Option<i64>> {
    let has_table: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'container_schema')",
        [],
        |r| r.get(0),
    )?;
    if !has_table {
        return Ok(None);
    }
    Ok(conn
        .query_row("SELECT version FROM container_schema", [], |r| r.get(0))
        .optional()?)
}

pub(super) fn to_json<T: serde::Serialize>(value: &T) -> String {
    // The stored structs have only string-keyed maps and derived
    // serializers, which serde_json serializes without error.
    serde_json::to_string(value).unwrap_or_default()
}

fn row_to_container(row: &rusqlite::Row<'_>) -> rusqlite::Result<Container> {
    let created_at: String = row.get(3)?;
    let config: String = row.get(4)?;
    let state: String = row.get(5)?;
    let json_error = |index: usize, e: serde_json::Error| {
        rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, Box::new(e))
    };
    Ok(Container {
        id: row.get(0)?,
        name: row.get(1)?,
        image_id: row.get(2)?,
        created_at: DateTime::parse_from_rfc3339(&created_at)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(
                    3,
                    rusqlite::types::Type::Text,
                    Box::new(e),
                )
            })?,
        config: serde_json::from_str::<ContainerConfig>(&config).map_err(|e| json_error(4, e))?,
        state: serde_json::from_str::<ContainerState>(&state).map_err(|e| json_error(5, e))?,
    })
}
