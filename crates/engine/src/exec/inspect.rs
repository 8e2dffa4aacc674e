//! `exec-inspect`: one session as JSON, in the shape of Podman's REST API
//! (`GET /exec/{id}/json`), which has no CLI counterpart in Podman 4.
use serde::Serialize;

use crate::{Engine, EngineError, Result};

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExecInspect {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "ContainerID")]
    pub container_id: String,
    pub running: bool,
    /// The exit code, 0 while running, as Podman shows it.
    pub exit_code: i32,
    pub pid: i32,
    pub can_remove: bool,
    pub open_stdin: bool,
    pub open_stdout: bool,
    pub open_stderr: bool,
    pub detach_keys: String,
    pub process_config: ExecProcessConfig,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecProcessConfig {
    pub arguments: Vec<String>,
    pub entrypoint: String,
    pub privileged: bool,
    pub tty: bool,
    pub user: String,
    pub working_dir: String,
}

impl Engine {
    /// An exec session with its state synced, by full id or unique prefix.
    pub fn exec_inspect(&self, session_id: &str) -> Result<ExecInspect> {
        let not_found = || EngineError::NoSuchExecSession {
            id: session_id.to_string(),
        };
        let id = self
            .db
            .resolve_exec_session(session_id)?
            .ok_or_else(not_found)?;
        let container_id = self
            .db
            .exec_session(&id)?
            .ok_or_else(not_found)?
            .container_id;
        let (_lock, _container) = self.lock_container(&container_id)?;
        let session = self
            .synced_exec_sessions(&container_id)?
            .into_iter()
            .find(|session| session.id == id)
            .ok_or_else(not_found)?;

        let details = &session.details;
        Ok(ExecInspect {
            id: session.id.clone(),
            container_id: session.container_id.clone(),
            running: session.running,
            exit_code: session.exit_code.unwrap_or(0),
            pid: session.pid,
            can_remove: !session.running,
            open_stdin: details.interactive,
            open_stdout: !details.detached,
            open_stderr: !details.detached,
            detach_keys: String::new(),
            process_config: ExecProcessConfig {
                entrypoint: session.command.first().cloned().unwrap_or_default(),
                arguments: session.command.iter().skip(1).cloned().collect(),
                privileged: details.privileged,
                tty: details.tty,
                user: details.user.clone(),
                working_dir: details.workdir.clone(),
            },
        })
    }
}
