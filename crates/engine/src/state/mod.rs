//! The SQLite state store of containers.
mod db;

pub(crate) use db::StateDb;
