//! The `Store` handle: connection pools, migrations, and the transaction discipline.

use crate::sql::{bind_all, dialect, Arg};
use crate::StoreError;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{Any, AnyPool, Executor, Transaction};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, OwnedMutexGuard};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    MySql,
}

impl Backend {
    fn of_url(url: &str) -> Option<Backend> {
        let scheme = url.split(':').next()?;
        match scheme {
            "sqlite" => Some(Backend::Sqlite),
            "postgres" | "postgresql" => Some(Backend::Postgres),
            "mysql" | "mariadb" => Some(Backend::MySql),
            _ => None,
        }
    }
}

/// How the store waits on a database server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreOptions {
    /// PostgreSQL and MariaDB: how long an operation waits for a connection (a free one, or a
    /// new one while the server is unreachable) before failing as unavailable. Short, so that a
    /// database outage is a quick 503 rather than a hung request; the pool reconnects by itself
    /// once the server is back. (SQLite's pools queue for its one writer and keep 30 s.)
    pub connect_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// A cheap-to-clone handle on the database.
///
/// Reads go to `pool`. Writes go to `writer`, which on SQLite is a single connection: SQLite
/// allows one writer at a time, and queueing in the pool is cheaper and fairer than retrying
/// on `SQLITE_BUSY`. On PostgreSQL and MySQL both are the same pool.
#[derive(Clone)]
pub struct Store {
    pub(crate) backend: Backend,
    pub(crate) pool: AnyPool,
    pub(crate) writer: AnyPool,
    /// SQLite only: group commit of notification reports (see `batch`).
    pub(crate) batcher: Option<crate::batch::Batcher>,
    /// SQLite only: this process's writers (`writer` and the batcher's own connection) take
    /// turns here, in order of arrival, before asking SQLite for its write lock.
    pub(crate) write_turn: Option<Arc<Mutex<()>>>,
}

impl Store {
    /// Connects to `sqlite:PATH`, `postgres://…` or `mysql://…` (MariaDB too). A missing SQLite
    /// file is created. Waits on a server with the default [`StoreOptions`].
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        Store::connect_with(url, StoreOptions::default()).await
    }

    /// [`Store::connect`] with OPTIONS.
    pub async fn connect_with(url: &str, options: StoreOptions) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let connect_err = |source| StoreError::Connect {
            url: redact(url),
            source,
        };
        let backend = Backend::of_url(url).ok_or_else(|| {
            connect_err(sqlx::Error::Configuration(
                "the URL must start with sqlite:, postgres://, postgresql://, mysql:// or mariadb://"
                    .into(),
            ))
        })?;
        match backend {
            Backend::Sqlite => {
                let url = if url.contains("mode=") {
                    url.to_owned()
                } else if url.contains('?') {
                    format!("{url}&mode=rwc")
                } else {
                    format!("{url}?mode=rwc")
                };
                let writer = sqlite_pool(1).connect(&url).await.map_err(connect_err)?;
                let pool = sqlite_pool(4).connect(&url).await.map_err(connect_err)?;
                let write_turn = Arc::new(Mutex::new(()));
                // An in-memory database exists only inside one connection; it gets no batcher
                // (reports then take the one-transaction-each path).
                let batcher = match sqlite_file(&url).map_err(connect_err)? {
                    Some(path) => Some(crate::batch::Batcher::start(&path, write_turn.clone())?),
                    None => None,
                };
                Ok(Store {
                    backend,
                    pool,
                    batcher,
                    writer,
                    write_turn: Some(write_turn),
                })
            }
            Backend::Postgres => {
                let pool = server_pool(&options)
                    .connect(url)
                    .await
                    .map_err(connect_err)?;
                Ok(Store::on_server(backend, pool))
            }
            Backend::MySql => {
                let url = url.replacen("mariadb://", "mysql://", 1);
                let pool = server_pool(&options)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            // Each statement sees what committed before it, as on PostgreSQL;
                            // the duplicate check relies on it after taking the host row lock.
                            conn.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
                                .await?;
                            Ok(())
                        })
                    })
                    .connect(&url)
                    .await
                    .map_err(connect_err)?;
                Ok(Store::on_server(backend, pool))
            }
        }
    }

    /// A store on a database server: one pool serves reads and writes (the server orders
    /// writes itself), with no batcher and no write turn.
    fn on_server(backend: Backend, pool: AnyPool) -> Store {
        Store {
            backend,
            writer: pool.clone(),
            pool,
            batcher: None,
            write_turn: None,
        }
    }

    /// Applies the embedded migrations for this backend (`vigil db sync`). Idempotent.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        self.migrator()
            .run(&self.writer)
            .await
            .map_err(StoreError::Migrate)
    }

    /// This backend's embedded migrations.
    pub(crate) fn migrator(&self) -> sqlx::migrate::Migrator {
        match self.backend {
            Backend::Sqlite => sqlx::migrate!("migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("migrations/postgres"),
            Backend::MySql => sqlx::migrate!("migrations/mysql"),
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes the pools, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }

    /// Begins a write transaction. On SQLite it takes the write lock at once (`BEGIN
    /// IMMEDIATE`), so a read-then-write transaction can never fail half-way on a lock upgrade.
    /// The turn (SQLite) is held until the transaction ends; see `write_turn`.
    pub(crate) async fn write(
        &self,
    ) -> Result<(Transaction<'static, Any>, Option<OwnedMutexGuard<()>>), StoreError> {
        let turn = match &self.write_turn {
            Some(turn) => Some(turn.clone().lock_owned().await),
            None => None,
        };
        let tx = match self.backend {
            Backend::Sqlite => self.writer.begin_with("BEGIN IMMEDIATE").await,
            _ => self.writer.begin().await,
        };
        Ok((tx.map_err(db("begin"))?, turn))
    }

    /// `FOR UPDATE` where the backend has row locks; SQLite's write lock already covers it.
    pub(crate) fn for_update(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "",
            _ => " FOR UPDATE",
        }
    }
}

/// PostgreSQL's and MariaDB's pool options. Each connection is checked before use (sqlx's
/// default), so those a restarted server dropped are replaced rather than handed out.
fn server_pool(options: &StoreOptions) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(options.connect_timeout)
}

/// Where reads run: the store's read pool (`&Store`) or a write transaction (`&mut Tx`). Each
/// statement is written once with `?` placeholders and run in the backend's dialect; a failure
/// is named by `op`.
pub(crate) trait Queries<'c>: Sized {
    type On: sqlx::Executor<'c, Database = Any>;

    fn on(self) -> (Backend, Self::On);

    async fn fetch_all(
        self,
        op: &'static str,
        sql: &str,
        args: Vec<Arg>,
    ) -> Result<Vec<AnyRow>, StoreError> {
        let (backend, on) = self.on();
        let sql = dialect(backend, sql);
        on.fetch_all(bind_all(sqlx::query(&sql), args))
            .await
            .map_err(db(op))
    }

    async fn fetch_optional(
        self,
        op: &'static str,
        sql: &str,
        args: Vec<Arg>,
    ) -> Result<Option<AnyRow>, StoreError> {
        let (backend, on) = self.on();
        let sql = dialect(backend, sql);
        on.fetch_optional(bind_all(sqlx::query(&sql), args))
            .await
            .map_err(db(op))
    }
}

impl<'c> Queries<'c> for &'c Store {
    type On = &'c AnyPool;

    fn on(self) -> (Backend, &'c AnyPool) {
        (self.backend, &self.pool)
    }
}

impl<'c> Queries<'c> for &'c mut Tx {
    type On = &'c mut sqlx::AnyConnection;

    fn on(self) -> (Backend, &'c mut sqlx::AnyConnection) {
        (self.backend, &mut *self.tx)
    }
}

/// Statements inside a write transaction.
pub(crate) struct Tx {
    pub(crate) backend: Backend,
    pub(crate) tx: Transaction<'static, Any>,
    /// Declared after `tx`, so dropped after it: an abandoned transaction's rollback is under
    /// way before the next writer's turn.
    _turn: Option<OwnedMutexGuard<()>>,
}

impl Tx {
    /// Runs a statement and returns the number of rows it changed.
    pub(crate) async fn execute(
        &mut self,
        op: &'static str,
        sql: &str,
        args: Vec<Arg>,
    ) -> Result<u64, StoreError> {
        let sql = dialect(self.backend, sql);
        Ok(bind_all(sqlx::query(&sql), args)
            .execute(&mut *self.tx)
            .await
            .map_err(db(op))?
            .rows_affected())
    }

    /// Runs an `INSERT` and returns the new row's integer id.
    pub(crate) async fn insert(
        &mut self,
        op: &'static str,
        sql: &str,
        args: Vec<Arg>,
    ) -> Result<i64, StoreError> {
        self.insert_inner(sql, args).await.map_err(db(op))
    }

    async fn insert_inner(&mut self, sql: &str, args: Vec<Arg>) -> Result<i64, sqlx::Error> {
        match self.backend {
            Backend::MySql => {
                let done = bind_all(sqlx::query(sql), args)
                    .execute(&mut *self.tx)
                    .await?;
                done.last_insert_id()
                    .ok_or_else(|| sqlx::Error::Protocol("MySQL returned no insert id".into()))
            }
            _ => {
                let sql = format!("{} RETURNING id", dialect(self.backend, sql));
                let row = bind_all(sqlx::query(&sql), args)
                    .fetch_one(&mut *self.tx)
                    .await?;
                sqlx::Row::try_get::<i64, _>(&row, 0)
            }
        }
    }

    pub(crate) async fn commit(self) -> Result<(), StoreError> {
        let Tx { tx, _turn, .. } = self;
        tx.commit().await.map_err(db("commit"))
    }
}

impl Store {
    pub(crate) async fn tx(&self) -> Result<Tx, StoreError> {
        let (tx, turn) = self.write().await?;
        Ok(Tx {
            backend: self.backend,
            tx,
            _turn: turn,
        })
    }

    /// Runs one statement in a write transaction of its own; the number of rows it changed.
    pub(crate) async fn execute(
        &self,
        op: &'static str,
        sql: &str,
        args: Vec<Arg>,
    ) -> Result<u64, StoreError> {
        let mut tx = self.tx().await?;
        let changed = tx.execute(op, sql, args).await?;
        tx.commit().await?;
        Ok(changed)
    }
}

/// Wraps a database error with the operation that failed.
pub(crate) fn db(operation: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |source| StoreError::Database { operation, source }
}

/// The database file of a `sqlite:` URL, as sqlx reads it; `None` for an in-memory database.
fn sqlite_file(url: &str) -> Result<Option<PathBuf>, sqlx::Error> {
    use std::str::FromStr;
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)?;
    let path = options.get_filename();
    let memory = url.contains(":memory:")
        || url.contains("mode=memory")
        || path.to_string_lossy().starts_with("file:sqlx-in-memory");
    Ok((!memory).then(|| path.to_path_buf()))
}

fn sqlite_pool(max: u32) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(30))
        .after_connect(|conn, _| {
            Box::pin(async move {
                // WAL lets readers run beside the writer; synchronous=FULL makes a commit
                // durable before the API answers 201/202 ("once accepted, persistent").
                conn.execute("PRAGMA journal_mode = WAL").await?;
                conn.execute("PRAGMA synchronous = FULL").await?;
                conn.execute("PRAGMA foreign_keys = ON").await?;
                conn.execute("PRAGMA busy_timeout = 10000").await?;
                Ok(())
            })
        })
}

/// The URL without its password, for error messages.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://vigil:s3cret@db:5432/vigil"),
            "postgres://vigil:***@db:5432/vigil"
        );
        assert_eq!(redact("sqlite:/x/y.sqlite"), "sqlite:/x/y.sqlite");
    }
}
