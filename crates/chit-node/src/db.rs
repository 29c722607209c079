//! The node's SQL connection, SQLite or PostgreSQL behind one small interface.
//!
//! Queries are written once with `$1…$n` placeholders: PostgreSQL binds them by number, SQLite by
//! first appearance, so each statement must introduce `$1`, `$2`, … in order (checked when it is
//! prepared). DDL differs between the two and lives in per-engine migrations.

use std::path::Path;
use std::sync::{Arc, Mutex};

use chit_ledger::pool::Pool;
use chit_ledger::StoreError;

/// A value passed to or read from SQL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Self::Int(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Self::Text(v.to_owned())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Self::Text(v)
    }
}

impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Self::Blob(v)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Self::Null, Into::into)
    }
}

/// One result row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row(pub Vec<Value>);

impl Row {
    pub fn int(&self, i: usize) -> Result<i64, StoreError> {
        match &self.0[i] {
            Value::Int(v) => Ok(*v),
            other => Err(StoreError::Corrupt(format!(
                "column {i}: expected integer, got {other:?}"
            ))),
        }
    }

    pub fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        match &self.0[i] {
            Value::Null => Ok(None),
            _ => self.int(i).map(Some),
        }
    }

    pub fn text(&self, i: usize) -> Result<String, StoreError> {
        match &self.0[i] {
            Value::Text(v) => Ok(v.clone()),
            other => Err(StoreError::Corrupt(format!(
                "column {i}: expected text, got {other:?}"
            ))),
        }
    }

    pub fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        match &self.0[i] {
            Value::Null => Ok(None),
            _ => self.text(i).map(Some),
        }
    }

    pub fn blob(&self, i: usize) -> Result<Vec<u8>, StoreError> {
        match &self.0[i] {
            Value::Blob(v) => Ok(v.clone()),
            other => Err(StoreError::Corrupt(format!(
                "column {i}: expected bytes, got {other:?}"
            ))),
        }
    }
}

/// A connection inside a transaction (or not): what store code runs statements on.
pub trait Conn {
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError>;
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError>;

    fn query_opt(&mut self, sql: &str, params: &[Value]) -> Result<Option<Row>, StoreError> {
        Ok(self.query(sql, params)?.into_iter().next())
    }
}

/// The node database: SQLite (one writer connection, pooled readers) or PostgreSQL (pooled).
#[derive(Clone)]
pub enum Db {
    Sqlite {
        writer: Arc<Mutex<rusqlite::Connection>>,
        readers: Arc<Pool<rusqlite::Connection>>,
    },
    Postgres(Arc<Pool<postgres::Client>>),
}

const SQLITE_MIGRATIONS: &[&str] = &[
    include_str!("../migrations/sqlite/0001_node.sql"),
    include_str!("../migrations/sqlite/0002_payments.sql"),
    include_str!("../migrations/sqlite/0003_requests.sql"),
    include_str!("../migrations/sqlite/0004_rails.sql"),
];
const POSTGRES_MIGRATIONS: &[&str] = &[
    include_str!("../migrations/postgres/0001_node.sql"),
    include_str!("../migrations/postgres/0002_payments.sql"),
    include_str!("../migrations/postgres/0003_requests.sql"),
    include_str!("../migrations/postgres/0004_rails.sql"),
];

impl Db {
    /// Opens (and migrates) the SQLite database file at `path`.
    pub fn sqlite(path: &Path) -> Result<Self, StoreError> {
        let writer = sqlite_connect(path)?;
        sqlite_migrate(&writer)?;
        let path = path.to_owned();
        Ok(Self::Sqlite {
            writer: Arc::new(Mutex::new(writer)),
            readers: Arc::new(Pool::new(8, Box::new(move || sqlite_connect(&path)))),
        })
    }

    /// Connects to (and migrates) the PostgreSQL database at `url`.
    pub fn postgres(url: &str) -> Result<Self, StoreError> {
        let mut client = postgres::Client::connect(url, postgres::NoTls).map_err(pg_err)?;
        postgres_migrate(&mut client)?;
        let url = url.to_owned();
        Ok(Self::Postgres(Arc::new(Pool::new(
            16,
            Box::new(move || postgres::Client::connect(&url, postgres::NoTls).map_err(pg_err)),
        ))))
    }

    /// Runs `f` in one write transaction, committed durably before it returns; rolled back if
    /// `f` fails.
    pub fn write<T>(
        &self,
        f: impl FnOnce(&mut dyn Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match self {
            Self::Sqlite { writer, .. } => {
                let conn = writer.lock().expect("sqlite writer lock");
                conn.execute_batch("BEGIN IMMEDIATE").map_err(sqlite_err)?;
                let mut c = SqliteConn(&conn);
                match f(&mut c) {
                    Ok(v) => {
                        conn.execute_batch("COMMIT").map_err(sqlite_err)?;
                        Ok(v)
                    }
                    Err(e) => {
                        let _ = conn.execute_batch("ROLLBACK");
                        Err(e)
                    }
                }
            }
            Self::Postgres(pool) => pool.with(|client| {
                let mut tx = client.transaction().map_err(pg_err)?;
                let v = f(&mut PgConn(&mut tx))?;
                tx.commit().map_err(pg_err)?;
                Ok(v)
            }),
        }
    }

    /// Runs `f` on a read connection (one consistent snapshot per statement).
    pub fn read<T>(
        &self,
        f: impl FnOnce(&mut dyn Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match self {
            Self::Sqlite { readers, .. } => readers.with(|conn| f(&mut SqliteConn(conn))),
            Self::Postgres(pool) => pool.with(|client| f(&mut PgConn(client))),
        }
    }
}

fn sqlite_err(e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(f, _) = &e {
        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
        {
            return StoreError::Conflict(e.to_string());
        }
    }
    StoreError::Backend(e.to_string())
}

fn pg_err(e: postgres::Error) -> StoreError {
    let text = match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    };
    match e.code() {
        Some(c) if *c == postgres::error::SqlState::UNIQUE_VIOLATION => StoreError::Conflict(text),
        Some(c) if *c == postgres::error::SqlState::T_R_SERIALIZATION_FAILURE => {
            StoreError::Conflict(text)
        }
        _ => StoreError::Backend(text),
    }
}

fn sqlite_connect(path: &Path) -> Result<rusqlite::Connection, StoreError> {
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

fn sqlite_migrate(conn: &rusqlite::Connection) -> Result<(), StoreError> {
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

fn postgres_migrate(client: &mut postgres::Client) -> Result<(), StoreError> {
    let mut tx = client.transaction().map_err(pg_err)?;
    tx.execute(
        "SELECT pg_advisory_xact_lock($1)",
        &[&0x6368_6974_6e6f_6465_i64],
    )
    .map_err(pg_err)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS node_migrations (version integer PRIMARY KEY)")
        .map_err(pg_err)?;
    let done: i64 = tx
        .query_one("SELECT count(*) FROM node_migrations", &[])
        .map_err(pg_err)?
        .get(0);
    for (i, sql) in POSTGRES_MIGRATIONS.iter().enumerate().skip(done as usize) {
        tx.batch_execute(sql).map_err(pg_err)?;
        tx.execute(
            "INSERT INTO node_migrations (version) VALUES ($1)",
            &[&(i as i32 + 1)],
        )
        .map_err(pg_err)?;
    }
    tx.commit().map_err(pg_err)
}

struct SqliteConn<'a>(&'a rusqlite::Connection);

impl SqliteConn<'_> {
    fn prepare(
        &self,
        sql: &str,
        params: &[Value],
    ) -> Result<rusqlite::CachedStatement<'_>, StoreError> {
        let stmt = self.0.prepare_cached(sql).map_err(sqlite_err)?;
        // `$n` must first appear in order for positional binding to mean the same as in PostgreSQL.
        for i in 1..=stmt.parameter_count() {
            let name = stmt.parameter_name(i);
            assert_eq!(
                name,
                Some(format!("${i}").as_str()),
                "placeholders out of order in: {sql}"
            );
        }
        assert_eq!(
            stmt.parameter_count(),
            params.len(),
            "parameter count for: {sql}"
        );
        Ok(stmt)
    }
}

fn to_sqlite(v: &Value) -> rusqlite::types::Value {
    match v {
        Value::Null => rusqlite::types::Value::Null,
        Value::Int(i) => rusqlite::types::Value::Integer(*i),
        Value::Text(t) => rusqlite::types::Value::Text(t.clone()),
        Value::Blob(b) => rusqlite::types::Value::Blob(b.clone()),
    }
}

impl Conn for SqliteConn<'_> {
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        let mut stmt = self.prepare(sql, params)?;
        let values: Vec<rusqlite::types::Value> = params.iter().map(to_sqlite).collect();
        let n = stmt
            .execute(rusqlite::params_from_iter(values))
            .map_err(sqlite_err)?;
        Ok(n as u64)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        let mut stmt = self.prepare(sql, params)?;
        let columns = stmt.column_count();
        let values: Vec<rusqlite::types::Value> = params.iter().map(to_sqlite).collect();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(values))
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

struct PgConn<'a, C: postgres::GenericClient>(&'a mut C);

/// SQL NULL for a parameter of any type (a typed `None` only fits columns of its own type).
#[derive(Debug)]
struct AnyNull;

impl postgres::types::ToSql for AnyNull {
    fn to_sql(
        &self,
        _: &postgres::types::Type,
        _: &mut postgres::types::private::BytesMut,
    ) -> Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        Ok(postgres::types::IsNull::Yes)
    }

    fn accepts(_: &postgres::types::Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

fn to_pg(v: &Value) -> Box<dyn postgres::types::ToSql + Sync + '_> {
    match v {
        Value::Null => Box::new(AnyNull),
        Value::Int(i) => Box::new(*i),
        Value::Text(t) => Box::new(t.as_str()),
        Value::Blob(b) => Box::new(b.as_slice()),
    }
}

impl<C: postgres::GenericClient> Conn for PgConn<'_, C> {
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        let boxed: Vec<_> = params.iter().map(to_pg).collect();
        let refs: Vec<&(dyn postgres::types::ToSql + Sync)> =
            boxed.iter().map(|b| b.as_ref()).collect();
        self.0.execute(sql, &refs).map_err(pg_err)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        let boxed: Vec<_> = params.iter().map(to_pg).collect();
        let refs: Vec<&(dyn postgres::types::ToSql + Sync)> =
            boxed.iter().map(|b| b.as_ref()).collect();
        let rows = self.0.query(sql, &refs).map_err(pg_err)?;
        rows.iter()
            .map(|r| {
                let mut values = Vec::with_capacity(r.len());
                for (i, col) in r.columns().iter().enumerate() {
                    use postgres::types::Type;
                    let v = match *col.type_() {
                        Type::INT8 => r
                            .try_get::<_, Option<i64>>(i)
                            .map(|v| v.map_or(Value::Null, Value::Int)),
                        Type::INT4 => r
                            .try_get::<_, Option<i32>>(i)
                            .map(|v| v.map_or(Value::Null, |v| Value::Int(v.into()))),
                        Type::INT2 => r
                            .try_get::<_, Option<i16>>(i)
                            .map(|v| v.map_or(Value::Null, |v| Value::Int(v.into()))),
                        Type::BOOL => r
                            .try_get::<_, Option<bool>>(i)
                            .map(|v| v.map_or(Value::Null, |v| Value::Int(v.into()))),
                        Type::BYTEA => r
                            .try_get::<_, Option<Vec<u8>>>(i)
                            .map(|v| v.map_or(Value::Null, Value::Blob)),
                        _ => r
                            .try_get::<_, Option<String>>(i)
                            .map(|v| v.map_or(Value::Null, Value::Text)),
                    };
                    values.push(v.map_err(pg_err)?);
                }
                Ok(Row(values))
            })
            .collect()
    }
}
