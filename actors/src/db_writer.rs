//! DbWriter: the only writer of one SQLite file.
//!
//! Every data file (`products.db`, `orders.db`, `customers-{user}.db`, `sync.db`) has exactly
//! one DbWriter. Writes are closures sent to it through a [`DbHandle`]; the actor runs them one
//! at a time, each inside ONE immediate transaction (committed on `Ok`, rolled back on `Err`).
//! Two syncs that share a file (products and prices) are therefore serialized by construction,
//! without a lock and without `SQLITE_BUSY`.
//!
//! SQLite calls block, so a job never runs on a tokio worker thread: the connection is moved
//! into `spawn_blocking` with the job and moved back when it is done. The actor awaits that, so
//! serialization still holds (the same question mini-redis' `db.rs` answers for its mutex).
//! A job that panics loses the connection: the actor fails, its supervisor restarts it (which
//! reopens the file), and the caller gets [`DbError::JobLost`] rather than a hang.
//!
//! Readers never go through here: [`open_reader`] gives a read-only connection, and WAL mode
//! lets it read the last committed state while a write is in progress.
//!
//! This module must NOT know any schema: the migrations and the jobs come from the root crate.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
use tokio::sync::oneshot;
use tracing::{debug, info};

use crate::directory::{ActorTarget, Directory, DirectoryError};

/// How long a connection waits for a lock held by another connection before `SQLITE_BUSY`.
/// Only foreign writers (an operator's `sqlite3` shell) or WAL checkpoints can hold one: our
/// own writes are serialized by the actor.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Errors of the DbWriter and of its handle, each naming the file or writer involved.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The directory that should hold the database could not be created.
    #[error("creating directory {path} for the database: {source}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// SQLite could not open the file.
    #[error("opening database {path}: {source}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// The SQLite error.
        source: rusqlite::Error,
    },
    /// A connection setting (`journal_mode`, `synchronous`, ...) could not be applied.
    #[error("configuring database {path} ({setting}): {source}")]
    Setup {
        /// The database file.
        path: PathBuf,
        /// Which setting failed.
        setting: &'static str,
        /// The SQLite error.
        source: rusqlite::Error,
    },
    /// The file refused WAL mode (e.g. it lives on a file system without shared memory).
    #[error("database {path} stays in journal mode `{mode}` instead of WAL")]
    NotWal {
        /// The database file.
        path: PathBuf,
        /// The journal mode SQLite reported.
        mode: String,
    },
    /// A migration failed; it was rolled back and `user_version` still names the last good one.
    #[error("database {path}: migration #{index} failed: {source}")]
    Migration {
        /// The database file.
        path: PathBuf,
        /// Index of the migration in the list (0-based; `user_version` is index + 1 once done).
        index: usize,
        /// The SQLite error.
        source: rusqlite::Error,
    },
    /// The file was migrated by a newer build that knows more migrations than this one.
    #[error(
        "database {path} has user_version {version} but this build knows only {known} migrations"
    )]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// The file's `user_version`.
        version: i64,
        /// How many migrations this build has.
        known: usize,
    },
    /// Beginning or committing the job's transaction failed.
    #[error("writer {writer}: {step} of the transaction failed: {source}{storage}")]
    Transaction {
        /// The writer's name (or file).
        writer: String,
        /// `begin` or `commit`.
        step: &'static str,
        /// The SQLite error.
        source: rusqlite::Error,
        /// What the file system holding the file says when the error was an I/O one (SQLite
        /// says only "disk I/O error"): ` (the file system holding DIR is read-only)`, or
        /// empty.
        storage: Box<str>,
    },
    /// A statement inside a job failed (jobs that use `DbError` as their error type can `?`
    /// rusqlite errors straight into it).
    #[error("statement in a database job failed: {0}")]
    Statement(#[from] rusqlite::Error),
    /// The writer is not running (stopped, or between a crash and its restart): retry later.
    #[error("writer {writer} is not available: {source}")]
    NotRunning {
        /// The writer's name.
        writer: String,
        /// Why the lookup failed.
        source: DirectoryError,
    },
    /// The writer stopped or failed while the job was queued or running; the job's
    /// transaction, if it had begun, was rolled back.
    #[error("writer {writer} stopped or failed before finishing the job (rolled back)")]
    JobLost {
        /// The writer's name.
        writer: String,
    },
    /// The blocking task that opens the file failed (panicked or was cancelled).
    #[error("opening database {path}: the blocking task failed: {reason}")]
    Blocking {
        /// The database file.
        path: PathBuf,
        /// The join error.
        reason: String,
    },
}

/// Why an I/O error happened, in the words of the file system holding `file`: read-only (a
/// disk that failed and was remounted so, a read-only mount) or out of space. Empty when the
/// error was not an I/O one or the file system says nothing wrong. Called only after a write
/// failed, so the probe file it creates (and removes) costs nothing in normal operation.
pub fn storage_state(file: Option<&Path>, err: &rusqlite::Error) -> String {
    use rusqlite::ErrorCode as C;
    let io = matches!(
        err.sqlite_error_code(),
        Some(C::SystemIoFailure | C::DiskFull | C::ReadOnly | C::CannotOpen)
    );
    let Some(dir) = file.and_then(Path::parent).filter(|_| io) else {
        return String::new();
    };
    // Asked directly: a failed ext4 disk turns read-only with its mount flags still `rw`, so
    // statvfs alone would not tell.
    let probe = dir.join(format!(".blackant-write-probe-{}", std::process::id()));
    match std::fs::File::create_new(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
        }
        Err(e) if e.raw_os_error() == Some(libc::EROFS) => {
            return format!(" (the file system holding {} is read-only)", dir.display());
        }
        Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => {
            return format!(
                " (no space left on the file system holding {})",
                dir.display()
            );
        }
        Err(e) => return format!(" (the folder {} refuses a new file: {e})", dir.display()),
    }
    let Ok(c_dir) = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()) else {
        return String::new();
    };
    // SAFETY: statvfs reads a NUL-terminated path and fills the zeroed struct we own.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c_dir.as_ptr(), &mut st) } == 0 && st.f_bavail == 0 {
        format!(
            " (no space left on the file system holding {})",
            dir.display()
        )
    } else {
        String::new()
    }
}

/// Gauge: jobs sent to a writer and not started yet (label `writer`).
pub const QUEUE_DEPTH: &str = "blackant_db_writer_queue_depth";
/// Histogram: the time of one commit (label `writer`): an fsync for `sync.db`.
pub const COMMIT_SECONDS: &str = "blackant_db_writer_commit_seconds";

/// The actor. It holds no configuration: everything comes in [`DbWriterArguments`].
pub struct DbWriter;

/// What the supervisor hands over at every (re)start.
#[derive(Debug, Clone)]
pub struct DbWriterArguments {
    /// The SQLite file; its directory is created if missing.
    pub path: PathBuf,
    /// Schema migrations, in order. Migration `i` runs once, when `user_version <= i`, inside
    /// its own transaction that also sets `user_version = i + 1`.
    pub migrations: &'static [&'static str],
    /// How hard a commit reaches the disk.
    pub durability: Durability,
}

/// How hard a commit reaches the disk (SQLite's `synchronous` in WAL mode), and how often the
/// WAL is copied back into the database (`wal_autocheckpoint`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `NORMAL`: a commit survives a crash of the process, but a power loss may take the
    /// last commits back. Right for data files: a lost page is re-read from the ERP. The WAL
    /// is checkpointed every [`DATA_WAL_PAGES`] pages instead of SQLite's 1,000.
    #[default]
    Relaxed,
    /// `FULL`: every commit is fsynced before it returns. Right for what cannot be re-read
    /// from the ERP: the order outbox and the id mapping (`sync.db`).
    Fsync,
}

/// WAL pages between checkpoints of a data file (~40 MB at 4 KiB pages). A sync commits once
/// per report page and rewrites the same table and index pages commit after commit; with
/// SQLite's default of 1,000 a 5,700-customer first load checkpoints (and fsyncs) a few times
/// mid-run and copies the same pages back each time. Measured here (`make bench`, figure 2):
/// the first load and an edit of 25 rows ~5–15 ms faster.
pub const DATA_WAL_PAGES: u32 = 10_000;

/// A WAL file longer than this is cut back to it when the WAL restarts after a checkpoint, so
/// a big first load does not leave a ~40 MB file behind.
const WAL_SIZE_LIMIT: i64 = 8 << 20;

impl Durability {
    fn pragma(self) -> &'static str {
        match self {
            Durability::Relaxed => "NORMAL",
            Durability::Fsync => "FULL",
        }
    }

    fn wal_pages(self) -> u32 {
        match self {
            Durability::Relaxed => DATA_WAL_PAGES,
            Durability::Fsync => 1_000,
        }
    }
}

/// The open connection. It is `None` only while a job has it on the blocking pool.
pub struct DbWriterState {
    path: PathBuf,
    conn: Option<Connection>,
}

/// One unit of work for the writer: built by [`DbHandle`], opaque to everyone else.
pub struct Job(Box<dyn FnOnce(&mut Connection) + Send>);

/// Messages of [`DbWriter`].
pub enum DbWriterMessage {
    /// Run a job (see [`DbHandle::write`] and [`DbHandle::read`]).
    Run(Job),
}

impl Actor for DbWriter {
    type Msg = DbWriterMessage;
    type State = DbWriterState;
    type Arguments = DbWriterArguments;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: DbWriterArguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let path = args.path.clone();
        let migrations = args.migrations;
        let durability = args.durability;
        let conn = tokio::task::spawn_blocking(move || {
            open_writer_with(&args.path, migrations, durability)
        })
        .await
        .map_err(|e| DbError::Blocking {
            path: path.clone(),
            reason: e.to_string(),
        })??;
        info!(path = %path.display(), "db writer ready");
        Ok(DbWriterState {
            path,
            conn: Some(conn),
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            DbWriterMessage::Run(Job(job)) => {
                let Some(mut conn) = state.conn.take() else {
                    return Err(format!("writer {}: connection lost", state.path.display()).into());
                };
                let done = tokio::task::spawn_blocking(move || {
                    job(&mut conn);
                    conn
                })
                .await;
                match done {
                    Ok(conn) => state.conn = Some(conn),
                    // The job panicked: its transaction was rolled back while unwinding and the
                    // connection is gone. Fail, so the supervisor reopens the file.
                    Err(e) => {
                        return Err(format!(
                            "writer {}: a job panicked ({e}); restarting to reopen the file",
                            state.path.display()
                        )
                        .into());
                    }
                }
            }
        }
        Ok(())
    }
}

/// Open `path` for writing: create its directory, set WAL, relaxed durability, foreign keys
/// and the busy timeout, and apply the pending migrations. Blocking: call it off the async
/// threads.
pub fn open_writer(path: &Path, migrations: &[&str]) -> Result<Connection, DbError> {
    open_writer_with(path, migrations, Durability::Relaxed)
}

/// [`open_writer`] with a chosen durability.
pub fn open_writer_with(
    path: &Path,
    migrations: &[&str],
    durability: Durability,
) -> Result<Connection, DbError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| DbError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let mut conn = Connection::open(path).map_err(|source| DbError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let setup = |setting: &'static str| {
        let path = path.to_path_buf();
        move |source| DbError::Setup {
            path,
            setting,
            source,
        }
    };
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(setup("busy_timeout"))?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(setup("journal_mode"))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(DbError::NotWal {
            path: path.to_path_buf(),
            mode,
        });
    }
    conn.pragma_update(None, "synchronous", durability.pragma())
        .map_err(setup("synchronous"))?;
    conn.pragma_update(None, "wal_autocheckpoint", durability.wal_pages())
        .map_err(setup("wal_autocheckpoint"))?;
    conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)
        .map_err(setup("journal_size_limit"))?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(setup("foreign_keys"))?;
    migrate(&mut conn, path, migrations)?;
    Ok(conn)
}

/// Apply every migration whose index is `>= user_version`, each in its own transaction that
/// also bumps `user_version`. Returns how many were applied.
fn migrate(conn: &mut Connection, path: &Path, migrations: &[&str]) -> Result<usize, DbError> {
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(|source| DbError::Setup {
            path: path.to_path_buf(),
            setting: "user_version",
            source,
        })?;
    let done = usize::try_from(version).unwrap_or(0);
    if done > migrations.len() {
        return Err(DbError::TooNew {
            path: path.to_path_buf(),
            version,
            known: migrations.len(),
        });
    }
    for (index, sql) in migrations.iter().enumerate().skip(done) {
        let fail = |source| DbError::Migration {
            path: path.to_path_buf(),
            index,
            source,
        };
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(fail)?;
        tx.execute_batch(sql).map_err(fail)?;
        tx.pragma_update(None, "user_version", (index + 1) as i64)
            .map_err(fail)?;
        tx.commit().map_err(fail)?;
        debug!(path = %path.display(), index, "migration applied");
    }
    Ok(migrations.len() - done)
}

/// A read-only connection to `path` for the read paths (gRPC, PWA queries). In WAL mode it
/// sees the last committed state and never blocks the writer, nor is blocked by it.
pub fn open_reader(path: impl AsRef<Path>) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
}

/// A cloneable way to run jobs on one DbWriter.
///
/// Built over a [`Directory`] name ([`DbHandle::named`]) it always reaches the current
/// incarnation of a supervised writer, so it stays valid across restarts.
#[derive(Clone)]
pub struct DbHandle {
    label: Arc<str>,
    target: ActorTarget<DbWriterMessage>,
}

impl std::fmt::Debug for DbHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbHandle")
            .field("writer", &self.label)
            .finish()
    }
}

impl DbHandle {
    /// A handle bound to one actor (it goes stale if that actor is restarted).
    pub fn new(actor: ActorRef<DbWriterMessage>) -> Self {
        let target = ActorTarget::Fixed(actor);
        Self {
            label: target.label().into(),
            target,
        }
    }

    /// A handle that resolves `name` in `directory` at every call.
    pub fn named(directory: Directory, name: impl Into<String>) -> Self {
        let name = name.into();
        Self {
            label: name.clone().into(),
            target: ActorTarget::Named { directory, name },
        }
    }

    /// The writer's name, for logs and errors.
    pub fn writer(&self) -> &str {
        &self.label
    }

    /// Run `f` inside ONE immediate transaction on the writer: committed if it returns `Ok`,
    /// rolled back if it returns `Err` (or panics). Jobs run strictly one at a time, in the
    /// order they reach the writer.
    ///
    /// Dropping the returned future does not cancel a job already sent: it still runs (and
    /// commits) — only its result is lost.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, E> + Send + 'static,
    {
        let writer = self.label.clone();
        self.run(move |conn| {
            let file = conn.path().map(PathBuf::from);
            let failed = |step, source: rusqlite::Error| DbError::Transaction {
                writer: writer.to_string(),
                step,
                storage: storage_state(file.as_deref(), &source).into(),
                source,
            };
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|source| failed("begin", source))?;
            let value = f(&tx)?;
            let committing = std::time::Instant::now();
            tx.commit().map_err(|source| failed("commit", source))?;
            metrics::histogram!(COMMIT_SECONDS, "writer" => writer.to_string())
                .record(committing.elapsed().as_secs_f64());
            Ok(value)
        })
        .await
    }

    /// Run a short read on the writer's own connection, ordered with the writes (for the rare
    /// read that must see exactly the state between two writes; ordinary reads should use
    /// [`open_reader`] and never queue behind writes).
    pub async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    {
        self.run(move |conn| f(conn)).await
    }

    async fn run<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
    {
        let actor = self.resolve()?;
        let (tx, rx) = oneshot::channel();
        let queued = metrics::gauge!(QUEUE_DEPTH, "writer" => self.label.to_string());
        let started = queued.clone();
        let job = Job(Box::new(move |conn: &mut Connection| {
            started.decrement(1.0);
            // The caller may have given up: the job still ran, nobody to tell.
            let _ = tx.send(f(conn));
        }));
        queued.increment(1.0);
        actor.send_message(DbWriterMessage::Run(job)).map_err(|_| {
            queued.decrement(1.0);
            DbError::JobLost {
                writer: self.label.to_string(),
            }
        })?;
        rx.await.map_err(|_| {
            E::from(DbError::JobLost {
                writer: self.label.to_string(),
            })
        })?
    }

    fn resolve(&self) -> Result<ActorRef<DbWriterMessage>, DbError> {
        self.target.resolve().map_err(|source| DbError::NotRunning {
            writer: self.label.to_string(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    const MIGRATIONS: &[&str] = &[
        "CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL);
         INSERT INTO counter (id, n) VALUES (1, 0);",
        "CREATE TABLE log (id INTEGER PRIMARY KEY AUTOINCREMENT, what TEXT NOT NULL);",
    ];

    async fn start(path: &Path) -> (ActorRef<DbWriterMessage>, DbHandle) {
        let (actor, _) = Actor::spawn(
            None,
            DbWriter,
            DbWriterArguments {
                path: path.to_path_buf(),
                migrations: MIGRATIONS,
                durability: Durability::default(),
            },
        )
        .await
        .expect("writer starts");
        (actor.clone(), DbHandle::new(actor))
    }

    fn counter(conn: &Connection) -> i64 {
        conn.query_row("SELECT n FROM counter WHERE id = 1", [], |r| r.get(0))
            .expect("counter row")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_read_modify_writes_never_lose_an_update() {
        let dir = tempfile::tempdir().unwrap();
        let (actor, db) = start(&dir.path().join("nested/dir/c.db")).await;
        let tasks: Vec<_> = (0..200)
            .map(|_| {
                let db = db.clone();
                tokio::spawn(async move {
                    db.write(|tx| {
                        let n: i64 =
                            tx.query_row("SELECT n FROM counter WHERE id = 1", [], |r| r.get(0))?;
                        tx.execute("UPDATE counter SET n = ?1 WHERE id = 1", [n + 1])?;
                        Ok::<_, DbError>(n + 1)
                    })
                    .await
                })
            })
            .collect();
        let mut seen = Vec::new();
        for t in tasks {
            seen.push(t.await.unwrap().expect("no SQLITE_BUSY, no lost job"));
        }
        seen.sort();
        // Every job saw a distinct value: no two read-modify-writes interleaved.
        assert_eq!(seen, (1..=200).collect::<Vec<i64>>());
        let reader = open_reader(dir.path().join("nested/dir/c.db")).unwrap();
        assert_eq!(counter(&reader), 200);
        actor.stop_and_wait(None, None).await.unwrap();
    }

    #[tokio::test]
    async fn err_rolls_back_and_ok_commits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.db");
        let (_actor, db) = start(&path).await;
        let err = db
            .write(|tx| {
                tx.execute("UPDATE counter SET n = 41 WHERE id = 1", [])?;
                tx.execute("INSERT INTO log (what) VALUES ('half')", [])?;
                Err::<(), _>(DbError::Statement(rusqlite::Error::InvalidQuery))
            })
            .await;
        assert!(matches!(err, Err(DbError::Statement(_))));
        let reader = open_reader(&path).unwrap();
        assert_eq!(
            counter(&reader),
            0,
            "the failed job's update was rolled back"
        );
        let logged: i64 = reader
            .query_row("SELECT count(*) FROM log", [], |r| r.get(0))
            .unwrap();
        assert_eq!(logged, 0);

        db.write(|tx| {
            tx.execute("UPDATE counter SET n = 7 WHERE id = 1", [])
                .map_err(DbError::from)
        })
        .await
        .unwrap();
        assert_eq!(counter(&reader), 7);
        // `read` runs on the writer's connection, ordered after the write.
        let n = db
            .read(|conn| Ok::<_, DbError>(counter(conn)))
            .await
            .unwrap();
        assert_eq!(n, 7);
    }

    #[tokio::test]
    async fn migrations_run_once_and_resume_where_they_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        // First open knows only the first migration.
        let conn = open_writer(&path, &MIGRATIONS[..1]).unwrap();
        conn.execute("UPDATE counter SET n = 5 WHERE id = 1", [])
            .unwrap();
        drop(conn);
        // Second open: migration 0 must not run again (it would reset n / fail on CREATE).
        let conn = open_writer(&path, MIGRATIONS).unwrap();
        assert_eq!(counter(&conn), 5);
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, 2);
        let mode: String = conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        drop(conn);
        // Third open: nothing to do.
        let mut conn = open_writer(&path, MIGRATIONS).unwrap();
        assert_eq!(migrate(&mut conn, &path, MIGRATIONS).unwrap(), 0);
        // A build that knows fewer migrations than the file refuses it.
        drop(conn);
        assert!(matches!(
            open_writer(&path, &MIGRATIONS[..1]),
            Err(DbError::TooNew {
                version: 2,
                known: 1,
                ..
            })
        ));
    }

    /// Data files fsync less and checkpoint less often; the outbox's files keep fsyncing each
    /// commit and SQLite's checkpoint interval.
    #[test]
    fn each_durability_sets_its_sync_and_checkpoint_pragmas() {
        let dir = tempfile::tempdir().unwrap();
        for (durability, synchronous, pages) in [
            (Durability::Relaxed, 1, i64::from(DATA_WAL_PAGES)),
            (Durability::Fsync, 2, 1_000),
        ] {
            let path = dir.path().join(format!("{durability:?}.db"));
            let conn = open_writer_with(&path, MIGRATIONS, durability).unwrap();
            let value =
                |name: &str| -> i64 { conn.pragma_query_value(None, name, |r| r.get(0)).unwrap() };
            assert_eq!(value("synchronous"), synchronous, "{durability:?}");
            assert_eq!(value("wal_autocheckpoint"), pages, "{durability:?}");
            assert_eq!(
                value("journal_size_limit"),
                WAL_SIZE_LIMIT,
                "{durability:?}"
            );
        }
    }

    #[tokio::test]
    async fn failed_migration_is_rolled_back_with_context() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.db");
        const BAD: &[&str] = &[
            "CREATE TABLE a (x INTEGER);",
            "CREATE TABLE b (y INTEGER); THIS IS NOT SQL;",
        ];
        match open_writer(&path, BAD) {
            Err(DbError::Migration {
                index: 1, path: p, ..
            }) => assert_eq!(p, path),
            other => panic!("expected migration #1 to fail, got {other:?}"),
        }
        let conn = open_reader(&path).unwrap();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, 1, "only the good migration is recorded");
        let b: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'b'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(b, 0, "the half-applied migration was rolled back");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reader_sees_committed_data_while_a_write_is_in_progress() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let (_actor, db) = start(&path).await;
        db.write(|tx| {
            tx.execute("UPDATE counter SET n = 1 WHERE id = 1", [])
                .map_err(DbError::from)
        })
        .await
        .unwrap();

        let (entered_tx, entered_rx) = oneshot::channel::<()>();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let writing = tokio::spawn({
            let db = db.clone();
            async move {
                db.write(move |tx| {
                    tx.execute("UPDATE counter SET n = 2 WHERE id = 1", [])?;
                    entered_tx.send(()).unwrap();
                    // Hold the write transaction open until the test has read.
                    release_rx.recv().unwrap();
                    Ok::<_, DbError>(())
                })
                .await
            }
        });
        entered_rx.await.unwrap();
        let reader = open_reader(&path).unwrap();
        assert_eq!(
            counter(&reader),
            1,
            "reader sees the last committed value, unblocked"
        );
        assert!(
            reader
                .execute("UPDATE counter SET n = 99 WHERE id = 1", [])
                .is_err(),
            "reader connections are read-only"
        );
        release_tx.send(()).unwrap();
        writing.await.unwrap().unwrap();
        assert_eq!(counter(&reader), 2);
    }

    fn job_bug() -> Result<(), DbError> {
        panic!("job bug")
    }

    #[tokio::test]
    async fn a_panicking_job_fails_the_writer_and_the_caller_gets_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let (actor, db) = start(&dir.path().join("p.db")).await;
        let result = db
            .write(|tx| {
                tx.execute("UPDATE counter SET n = 3 WHERE id = 1", [])?;
                job_bug()
            })
            .await;
        assert!(matches!(result, Err(DbError::JobLost { .. })));
        actor.wait(None).await.unwrap();
        assert_eq!(actor.get_status(), ractor::ActorStatus::Stopped);
        // A handle to a dead writer fails fast too.
        let again = db.write(|_| Ok::<_, DbError>(())).await;
        assert!(matches!(again, Err(DbError::JobLost { .. })));
        let reader = open_reader(dir.path().join("p.db")).unwrap();
        assert_eq!(counter(&reader), 0, "the panicking job was rolled back");
    }

    #[tokio::test(start_paused = true)]
    async fn a_supervised_writer_reopens_after_a_panic_and_named_handles_follow() {
        use crate::root::ChildSpec;
        use crate::root::{ChildState, RootSupervisor, RootSupervisorArguments, SupervisorHandle};
        use crate::supervision::RestartPolicy;

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let directory = Directory::new();
        let policy = RestartPolicy {
            backoff_base: Duration::from_secs(1),
            ..RestartPolicy::default()
        };
        let spec = ChildSpec::for_actor("db:s", policy, {
            let path = path.clone();
            move || {
                (
                    DbWriter,
                    DbWriterArguments {
                        path: path.clone(),
                        migrations: MIGRATIONS,
                        durability: Durability::default(),
                    },
                )
            }
        });
        let (root, _) = Actor::spawn(
            None,
            RootSupervisor,
            RootSupervisorArguments::new(directory.clone(), vec![spec]),
        )
        .await
        .unwrap();
        let sup = SupervisorHandle::new(root, Duration::from_secs(30));
        let db = DbHandle::named(directory.clone(), "db:s");
        let bump = |n: i64| {
            move |tx: &Transaction<'_>| {
                tx.execute("UPDATE counter SET n = n + ?1 WHERE id = 1", [n])
                    .map_err(DbError::from)
            }
        };
        db.write(bump(1)).await.unwrap();

        let first = directory.get("db:s").unwrap();
        let lost = db.write(|_| job_bug()).await;
        assert!(matches!(lost, Err(DbError::JobLost { .. })));
        first.wait(None).await.unwrap();
        // Let (virtual) time pass the 1 s restart backoff.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let info = sup.list_tree().await.unwrap().remove(0);
        assert_eq!((info.state, info.restarts), (ChildState::Running, 1));
        assert!(info.last_failure.unwrap().contains("panicked"));

        // The same handle reaches the new writer, which reopened the file.
        db.write(bump(10)).await.unwrap();
        assert_ne!(directory.get("db:s").unwrap().get_id(), first.get_id());
        assert_eq!(counter(&open_reader(&path).unwrap()), 11);
    }

    #[tokio::test]
    async fn named_handle_reports_a_missing_writer() {
        let db = DbHandle::named(Directory::new(), "db:orders");
        let err = db.write(|_| Ok::<_, DbError>(())).await.unwrap_err();
        assert!(matches!(err, DbError::NotRunning { ref writer, .. } if writer == "db:orders"));
        assert!(err.to_string().contains("db:orders"));
    }
}
