//! Fresh databases for tests, on every backend this machine can reach.
//!
//! Each call creates new, migrated databases: SQLite in a temporary directory always, and a
//! PostgreSQL and a MySQL/MariaDB database when their servers answer. A server that does not
//! answer is skipped with a message on stderr, unless `VIGIL_REQUIRE_DBS=1` (set by the project's
//! test script and CI), where it is a test failure: a green run then means all three were tested.
//!
//! Server databases are named `vigil_test_<pid>_<n>`; those of test processes that have exited
//! are dropped the first time a process asks for a database.

use crate::{Backend, Store};
use sqlx::{AnyConnection, Connection, Executor, Row};
use std::sync::atomic::{AtomicU32, Ordering};
use tokio::sync::OnceCell;

/// Admin URLs; override with `VIGIL_TEST_POSTGRES_URL` / `VIGIL_TEST_MYSQL_URL`. The database
/// part of the URL is replaced by each test database's name.
const POSTGRES_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const MYSQL_ADMIN: &str = "mysql://root@127.0.0.1:3306/mysql";

pub struct TestStore {
    pub store: Store,
    pub backend: Backend,
    /// The URL of this database, for tests that start a `vigil` process on it.
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

/// One fresh, migrated store per reachable backend, SQLite first.
pub async fn test_stores() -> Vec<TestStore> {
    test_stores_before(i64::MAX).await
}

/// One fresh store per reachable backend with only the migrations numbered below `version`
/// applied, for tests of what a later migration does to existing rows (`Store::migrate`
/// applies the rest).
pub async fn test_stores_before(version: i64) -> Vec<TestStore> {
    let mut out = vec![sqlite_before(version).await];
    for backend in [Backend::Postgres, Backend::MySql] {
        if let Some(t) = server_before(backend, version).await {
            out.push(t);
        }
    }
    out
}

/// A fresh, migrated SQLite store in a temporary directory.
pub async fn sqlite() -> TestStore {
    sqlite_before(i64::MAX).await
}

async fn sqlite_before(version: i64) -> TestStore {
    let dir = tempfile::tempdir().expect("creating a temporary directory");
    let url = format!("sqlite:{}", dir.path().join("vigil.sqlite").display());
    let store = Store::connect(&url).await.expect("opening SQLite");
    migrate_before(&store, version)
        .await
        .expect("migrating SQLite");
    TestStore {
        store,
        backend: Backend::Sqlite,
        url,
        _dir: Some(dir),
    }
}

/// A fresh, migrated database on the PostgreSQL or MySQL server, or `None` (with a loud
/// message) when the server cannot be reached and `VIGIL_REQUIRE_DBS` is not set.
pub async fn server(backend: Backend) -> Option<TestStore> {
    server_before(backend, i64::MAX).await
}

async fn server_before(backend: Backend, version: i64) -> Option<TestStore> {
    let (admin, var) = match backend {
        Backend::Postgres => (POSTGRES_ADMIN, "VIGIL_TEST_POSTGRES_URL"),
        Backend::MySql => (MYSQL_ADMIN, "VIGIL_TEST_MYSQL_URL"),
        Backend::Sqlite => return Some(sqlite_before(version).await),
    };
    let admin = std::env::var(var).unwrap_or_else(|_| admin.to_owned());
    sqlx::any::install_default_drivers();
    let mut conn = match AnyConnection::connect(&admin).await {
        Ok(c) => c,
        Err(e) => {
            let msg = format!("{backend:?} at {admin} is not reachable ({e}); set {var}");
            if std::env::var("VIGIL_REQUIRE_DBS").as_deref() == Ok("1") {
                panic!("{msg} (VIGIL_REQUIRE_DBS=1 makes this a failure)");
            }
            eprintln!("SKIPPING {backend:?} TESTS: {msg}");
            return None;
        }
    };
    static SWEPT_PG: OnceCell<()> = OnceCell::const_new();
    static SWEPT_MY: OnceCell<()> = OnceCell::const_new();
    let swept = if backend == Backend::Postgres {
        &SWEPT_PG
    } else {
        &SWEPT_MY
    };
    swept
        .get_or_init(|| async { sweep(backend, &mut conn).await })
        .await;
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "vigil_test_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    conn.execute(&*format!("CREATE DATABASE {name}"))
        .await
        .unwrap_or_else(|e| panic!("creating test database {name}: {e}"));
    let _ = conn.close().await;
    let url = match admin.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{name}"),
        None => panic!("{var} must end with /<database>"),
    };
    let store = Store::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("connecting to {name}: {e}"));
    migrate_before(&store, version)
        .await
        .unwrap_or_else(|e| panic!("migrating {name}: {e:?}"));
    Some(TestStore {
        store,
        backend,
        url,
        _dir: None,
    })
}

async fn migrate_before(store: &Store, version: i64) -> Result<(), sqlx::migrate::MigrateError> {
    let mut migrator = store.migrator();
    let wanted: Vec<_> = migrator
        .migrations
        .iter()
        .filter(|m| m.version < version)
        .cloned()
        .collect();
    migrator.migrations = wanted.into();
    migrator.run(&store.writer).await
}

/// Drops test databases left by test processes that are no longer running.
async fn sweep(backend: Backend, conn: &mut AnyConnection) {
    let list = match backend {
        Backend::Postgres => {
            "SELECT datname AS name FROM pg_database WHERE datname LIKE 'vigil_test_%'"
        }
        _ => {
            "SELECT CAST(schema_name AS CHAR) AS name FROM information_schema.schemata \
              WHERE schema_name LIKE 'vigil_test_%'"
        }
    };
    let Ok(rows) = sqlx::query(list).fetch_all(&mut *conn).await else {
        return;
    };
    for row in rows {
        let name: String = match row.try_get::<String, _>("name") {
            Ok(n) => n,
            Err(_) => match row.try_get::<Vec<u8>, _>("name") {
                Ok(b) => String::from_utf8_lossy(&b).into_owned(),
                Err(_) => continue,
            },
        };
        let pid = name
            .strip_prefix("vigil_test_")
            .and_then(|rest| rest.split('_').next())
            .and_then(|p| p.parse::<u32>().ok());
        let alive = pid.is_some_and(|p| std::path::Path::new(&format!("/proc/{p}")).exists());
        if !alive {
            let force = if backend == Backend::Postgres {
                " WITH (FORCE)"
            } else {
                ""
            };
            let _ = conn
                .execute(&*format!("DROP DATABASE IF EXISTS {name}{force}"))
                .await;
        }
    }
}
