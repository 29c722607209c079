//! The SQLite side of [`super::Db`]: connecting, migrating, running statements.

use std::path::Path;

use chit_ledger::StoreError;

use super::*;

pub(super) use chit_sql::sqlite::error as sqlite_err;

pub(super) fn sqlite_connect(path: &Path) -> Result<rusqlite::Connection, StoreError> {
    let conn = rusqlite::Connection::open(path).map_err(sqlite_err)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(sqlite_err)?;
    conn.pragma_update(None, "journal_mode", "wal")
        .map_err(sqlite_err)?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(sqlite_err)?;
    conn.pragma_update(None, "temp_store", "MEMORY")
        .map_err(sqlite_err)?;
    conn.set_prepared_statement_cache_capacity(128);
    Ok(conn)
}

pub(super) fn sqlite_migrate(conn: &rusqlite::Connection) -> Result<(), StoreError> {
    conn.execute_batch("BEGIN IMMEDIATE").map_err(sqlite_err)?;
    let result = (|| {
        // The node's schema version lives in a table (the ledger owns `PRAGMA user_version`).
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS node_migrations (version INTEGER PRIMARY KEY)",
        )
        .map_err(sqlite_err)?;
        let done: i64 = conn
            .query_row("SELECT count(*) FROM node_migrations", [], |r| r.get(0))
            .map_err(sqlite_err)?;
        for (i, sql) in SQLITE_MIGRATIONS.iter().enumerate().skip(done as usize) {
            conn.execute_batch(sql).map_err(sqlite_err)?;
            conn.execute(
                "INSERT INTO node_migrations (version) VALUES (?1)",
                [i as i64 + 1],
            )
            .map_err(sqlite_err)?;
        }
        Ok(())
    })();
    match result {
        Ok(()) => conn.execute_batch("COMMIT").map_err(sqlite_err),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

pub(super) struct SqliteConn<'a>(pub(super) &'a rusqlite::Connection);

impl SqliteConn<'_> {
    fn prepare(
        &self,
        sql: &str,
        params: &[Value],
    ) -> Result<rusqlite::CachedStatement<'_>, StoreError> {
        let stmt = self.0.prepare_cached(sql).map_err(sqlite_err)?;
        // `$n` must first appear in order for positional binding to mean the same as in
        // PostgreSQL. A property of the SQL text, so checked in debug builds (every test) only.
        if cfg!(debug_assertions) {
            for i in 1..=stmt.parameter_count() {
                assert_eq!(
                    stmt.parameter_name(i),
                    Some(format!("${i}").as_str()),
                    "placeholders out of order in: {sql}"
                );
            }
        }
        assert_eq!(
            stmt.parameter_count(),
            params.len(),
            "parameter count for: {sql}"
        );
        Ok(stmt)
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::ValueRef;
        Ok(rusqlite::types::ToSqlOutput::Borrowed(match self {
            Self::Null => ValueRef::Null,
            Self::Int(i) => ValueRef::Integer(*i),
            Self::Text(t) => ValueRef::Text(t.as_bytes()),
            Self::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

impl Conn for SqliteConn<'_> {
    fn one_writer_at_a_time(&self) -> bool {
        true
    }

    /// Nothing to take: a SQLite write transaction (`BEGIN IMMEDIATE`) already excludes every
    /// other writer.
    fn lock(&mut self, _: &[WriteLock]) -> Result<(), StoreError> {
        Ok(())
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        let mut stmt = self.prepare(sql, params)?;
        let n = stmt
            .execute(rusqlite::params_from_iter(params))
            .map_err(sqlite_err)?;
        Ok(n as u64)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        let mut stmt = self.prepare(sql, params)?;
        let columns = stmt.column_count();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params))
            .map_err(sqlite_err)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(sqlite_err)? {
            let mut values = Vec::with_capacity(columns);
            for i in 0..columns {
                values.push(match row.get_ref(i).map_err(sqlite_err)? {
                    rusqlite::types::ValueRef::Null => Value::Null,
                    rusqlite::types::ValueRef::Integer(v) => Value::Int(v),
                    rusqlite::types::ValueRef::Text(t) => {
                        Value::Text(String::from_utf8_lossy(t).into_owned())
                    }
                    rusqlite::types::ValueRef::Blob(b) => Value::Blob(b.to_vec()),
                    rusqlite::types::ValueRef::Real(_) => {
                        return Err(StoreError::Corrupt("unexpected real column".into()))
                    }
                });
            }
            out.push(Row(values));
        }
        Ok(out)
    }
}
