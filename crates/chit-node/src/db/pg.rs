//! The PostgreSQL side of [`super::Db`]: connecting, migrating, prepared statements.

use std::collections::HashMap;

use chit_ledger::StoreError;

use super::*;

pub(super) use chit_sql::postgres::error as pg_err;

pub(super) fn postgres_migrate(client: &mut postgres::Client) -> Result<(), StoreError> {
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

/// PostgreSQL connections the pool keeps open.
pub const PG_POOL_MAX: usize = 16;
/// PostgreSQL batch writers. One writer waits on a round trip to the server for every job,
/// leaving both cores half idle; two nearly doubled what the node settles, four measured the
/// same as two (docs/benchmarks.md).
pub const PG_WRITERS: usize = 2;
/// Most advisory locks one PostgreSQL batch takes (a posting takes three: two members and its
/// id), so about 85 postings a batch. Advisory locks live in the server's shared lock table,
/// which holds `max_locks_per_transaction` × `max_connections` entries (64 × 100 by default)
/// for every session together; a batch that found it full would fail. At this bound a node's
/// writers hold at most 512, so ten nodes (5,120 of 6,400) fit the default table. (Measured:
/// no change in messages/s against unbounded batches, 11,346 / 11,919 and 11,239 / 10,377.)
pub const PG_BATCH_LOCKS_MAX: usize = 256;
/// Most statements a PostgreSQL connection keeps prepared; the node has fewer kinds of
/// statement than this, so the cache is only ever cleared if that changes.
const PG_STATEMENTS_MAX: usize = 256;

/// A PostgreSQL connection and the statements prepared on it: each is parsed and planned once
/// per connection, so running it is one round trip instead of two (prepare, then execute).
/// Prepared statements outlive the transaction that prepared them, even a rolled-back one.
pub struct PgClient {
    pub(super) client: postgres::Client,
    pub(super) statements: HashMap<String, postgres::Statement>,
}

impl PgClient {
    pub(super) fn connect(url: &str) -> Result<Self, StoreError> {
        Ok(Self {
            client: postgres::Client::connect(url, postgres::NoTls).map_err(pg_err)?,
            statements: HashMap::new(),
        })
    }

    pub(super) fn conn(&mut self) -> PgConn<'_, postgres::Client> {
        PgConn {
            client: &mut self.client,
            statements: &mut self.statements,
        }
    }
}

pub(super) struct PgConn<'a, C: postgres::GenericClient> {
    pub(super) client: &'a mut C,
    pub(super) statements: &'a mut HashMap<String, postgres::Statement>,
}

impl<C: postgres::GenericClient> PgConn<'_, C> {
    fn statement(&mut self, sql: &str) -> Result<postgres::Statement, StoreError> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(sql).map_err(pg_err)?;
        if self.statements.len() >= PG_STATEMENTS_MAX {
            self.statements.clear();
        }
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }
}

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
    fn one_writer_at_a_time(&self) -> bool {
        false
    }

    /// Transaction-scoped advisory locks, taken in the order given (`unnest` reads an array out
    /// in order): one round trip for them all.
    fn lock(&mut self, locks: &[WriteLock]) -> Result<(), StoreError> {
        if locks.is_empty() {
            return Ok(());
        }
        debug_assert!(
            locks.windows(2).all(|w| w[0] < w[1]),
            "locks sorted, no repeats"
        );
        let keys: Vec<i64> = locks.iter().map(|l| l.0).collect();
        let statement =
            self.statement("SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) AS k")?;
        self.client.execute(&statement, &[&keys]).map_err(pg_err)?;
        Ok(())
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        let boxed: Vec<_> = params.iter().map(to_pg).collect();
        let refs: Vec<&(dyn postgres::types::ToSql + Sync)> =
            boxed.iter().map(|b| b.as_ref()).collect();
        let statement = self.statement(sql)?;
        self.client.execute(&statement, &refs).map_err(pg_err)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        let boxed: Vec<_> = params.iter().map(to_pg).collect();
        let refs: Vec<&(dyn postgres::types::ToSql + Sync)> =
            boxed.iter().map(|b| b.as_ref()).collect();
        let statement = self.statement(sql)?;
        let rows = self.client.query(&statement, &refs).map_err(pg_err)?;
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
