//! Rows of `exec_sessions`: one per exec session, keyed by session id.
//! `command` is a JSON array; `details` holds the rest of
//! [`ExecSession`] as JSON.
use rusqlite::{params, OptionalExtension};

use super::db::{to_json, StateDb};
use crate::exec::{ExecDetails, ExecSession};
use crate::Result;

const COLUMNS: &str = "id, container_id, pid, command, exit_code, running, details";

impl StateDb {
    pub fn insert_exec_session(&self, session: &ExecSession) -> Result<()> {
        self.conn.execute(
            &format!("INSERT INTO exec_sessions ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
            params![
                session.id,
                session.container_id,
                session.pid,
                to_json(&session.command),
                session.exit_code,
                session.running,
                to_json(&session.details),
            ],
        )?;
        Ok(())
    }

    /// The session with exactly this id, if recorded.
    pub fn exec_session(&self, id: &str) -> Result<Option<ExecSession>> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM exec_sessions WHERE id = ?1"),
                [id],
                row_to_session,
            )
            .optional()?)
    }

    /// Resolves a full session id or a unique prefix of one.
    pub fn resolve_exec_session(&self, id_or_prefix: &str) -> Result<Option<String>> {
        let is_hex =
            !id_or_prefix.is_empty() && id_or_prefix.chars().all(|c| c.is_ascii_hexdigit());
        if !is_hex {
            return Ok(None);
        }
        let mut statement = self
            .conn
            .prepare("SELECT id FROM exec_sessions WHERE id LIKE ?1 LIMIT 2")?;
        let ids: Vec<String> = statement
            .query_map([format!("{}%", id_or_prefix.to_ascii_lowercase())], |r| {
                r.get(0)
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(match ids.as_slice() {
            [id] => Some(id.clone()),
            _ => None,
        })
    }

    /// The container's sessions, oldest first.
    pub fn exec_sessions_of(&self, container_id: &str) -> Result<Vec<ExecSession>> {
        let mut statement = self.conn.prepare(&format!(
            "SELECT {COLUMNS} FROM exec_sessions WHERE container_id = ?1 ORDER BY rowid"
        ))?;
        let sessions = statement
            .query_map([container_id], row_to_session)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(sessions)
    }

    /// Records a session's exit. A session that is already recorded as
    /// exited keeps its first exit code.
    pub fn finish_exec_session(&self, session: &ExecSession) -> Result<()> {
        self.conn.execute(
            "UPDATE exec_sessions SET running = 0, exit_code = ?1, details = ?2
             WHERE id = ?3 AND running = 1",
            params![session.exit_code, to_json(&session.details), session.id],
        )?;
        Ok(())
    }

    pub fn delete_exec_session(&self, id: &str) -> Result<()> {
        self.conn
            .execute("DELETE FROM exec_sessions WHERE id = ?1", [id])?;
        Ok(())
    }

    /// Marks every running session as exited with code -1: after a reboot
    /// their processes are gone and their exit codes unknown.
    pub fn forget_running_exec_sessions(&self) -> Result<()> {
        self.conn.execute(
            "UPDATE exec_sessions SET running = 0, exit_code = -1 WHERE running = 1",
            [],
        )?;
        Ok(())
    }
}

fn row_to_session(row: &rusqlite::Row<'_>) -> rusqlite::Result<ExecSession> {
    let json_error = |index: usize, e: serde_json::Error| {
        rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, Box::new(e))
    };
    let command: String = row.get(3)?;
    let details: String = row.get(6)?;
    Ok(ExecSession {
        id: row.get(0)?,
        container_id: row.get(1)?,
        pid: row.get(2)?,
        command: serde_json::from_str(&command).map_err(|e| json_error(3, e))?,
        exit_code: row.get(4)?,
        running: row.get(5)?,
        details: serde_json::from_str::<ExecDetails>(&details).map_err(|e| json_error(6, e))?,
    })
}
