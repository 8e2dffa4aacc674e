//! The SQLite state store of containers and their exec sessions.
mod db;
mod exec_sessions;

pub(crate) use db::StateDb;
