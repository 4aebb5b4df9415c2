//! The node's database: the connection, one writer, and statements committed
//! together. One code path for SQLite (embedded, the default) and PostgreSQL, through
//! sqlx's `Any` driver with portable SQL and embedded migrations. Each table group's
//! queries sit in a room of their own: [`people`] (the directory), [`changes`] (the
//! directory's changes until they are in the audit log), [`agreements`],
//! [`nonces`] (the KAS's replay guard), and the exchange's tables in
//! `exchange/store.rs`.

use crate::Error;
use sqlx::any::AnyPoolOptions;
use sqlx::AnyPool;

mod agreements;
mod changes;
pub(crate) mod inbox_index;
mod nonces;
mod opentdf;
mod people;
mod sealed;

pub use agreements::AgreementRecord;
pub use changes::{Actor, DirectoryChange};
pub use opentdf::OpenTdfClient;
pub use people::PersonRecord;
pub use sealed::Sealed;

/// A database error as the node's [`Error`]: the error type is the API crate's, which
/// knows nothing of the database, so every query says where it turns one into the other.
pub(crate) fn db(e: sqlx::Error) -> Error {
    Error::Database(e.to_string())
}

/// A database handle (a connection pool).
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    /// Where writes go. SQLite lets one connection write at a time and makes the others
    /// wait in its busy handler, which sleeps 1, 2, 5, 10... ms between tries: under
    /// concurrent sends that sleeping, not the work, was most of a write's time. So on
    /// SQLite writes share one connection and queue for it in order; on PostgreSQL this
    /// is the main pool.
    writer: AnyPool,
    /// The group committer of the frequent writes (see [`Store::commit`]).
    committer: tokio::sync::mpsc::Sender<Job>,
    /// Counts the commits that added to the inbox through this handle (the node's: no
    /// other process adds to it while the node runs), so that the inbox's index knows
    /// without asking the database whether it may have changed.
    pub(crate) inbox_generation: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// SQLite (else PostgreSQL): for the few statements whose spelling differs.
    pub(crate) sqlite: bool,
}

/// A value bound to a statement the group committer runs.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Text(String),
    OptText(Option<String>),
    Int(i64),
    OptInt(Option<i64>),
}

/// One SQL statement with its values, owned so that it can wait in the committer's
/// queue and run again on its own if its batch fails.
#[derive(Debug, Clone)]
pub(crate) struct Stmt {
    sql: std::borrow::Cow<'static, str>,
    args: Vec<Arg>,
}

impl Stmt {
    pub(crate) fn new(sql: &'static str) -> Stmt {
        Stmt {
            sql: sql.into(),
            args: vec![],
        }
    }
    /// A statement whose text is made at run time (many rows in one `INSERT`): only
    /// from the code's own fragments, never from input; the values are bound.
    pub(crate) fn made(sql: String) -> Stmt {
        Stmt {
            sql: sql.into(),
            args: vec![],
        }
    }
    pub(crate) fn text(mut self, v: impl Into<String>) -> Stmt {
        self.args.push(Arg::Text(v.into()));
        self
    }
    pub(crate) fn opt_text(mut self, v: Option<String>) -> Stmt {
        self.args.push(Arg::OptText(v));
        self
    }
    pub(crate) fn int(mut self, v: i64) -> Stmt {
        self.args.push(Arg::Int(v));
        self
    }
    pub(crate) fn opt_int(mut self, v: Option<i64>) -> Stmt {
        self.args.push(Arg::OptInt(v));
        self
    }
}

/// Statements that commit together, and who waits for their rows affected.
#[derive(Debug)]
struct Job {
    stmts: Vec<Stmt>,
    reply: tokio::sync::oneshot::Sender<Result<Vec<u64>, Error>>,
}

/// Most jobs committed in one transaction.
const MAX_GROUP: usize = 1024;

/// Run queued jobs in as few transactions as the queue allows: every commit is an
/// fsync, and one fsync for everything that arrived while the last one ran is what
/// lets many small writes (one per object sent, delivered or received, one per rewrap
/// request) keep up. Each caller still gets its answer only after its own statements
/// are committed. A group that fails is retried job by job, so one bad statement fails
/// only its own caller.
async fn committer(pool: AnyPool, mut rx: tokio::sync::mpsc::Receiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        match run_group(&pool, &jobs).await {
            Ok(results) => {
                for (j, r) in jobs.into_iter().zip(results) {
                    let _ = j.reply.send(Ok(r));
                }
            }
            Err(e) if jobs.len() == 1 => {
                if let Some(j) = jobs.pop() {
                    let _ = j.reply.send(Err(e));
                }
            }
            Err(_) => {
                for j in jobs {
                    let r = run_group(&pool, std::slice::from_ref(&j))
                        .await
                        .map(|mut v| v.pop().unwrap_or_default());
                    let _ = j.reply.send(r);
                }
            }
        }
    }
}

async fn run_group(pool: &AnyPool, jobs: &[Job]) -> Result<Vec<Vec<u64>>, Error> {
    let mut tx = pool.begin().await.map_err(db)?;
    let mut out = Vec::with_capacity(jobs.len());
    for j in jobs {
        let mut rows = Vec::with_capacity(j.stmts.len());
        for s in &j.stmts {
            let mut q = sqlx::query(&s.sql);
            for a in &s.args {
                q = match a {
                    Arg::Text(v) => q.bind(v.clone()),
                    Arg::OptText(v) => q.bind(v.clone()),
                    Arg::Int(v) => q.bind(*v),
                    Arg::OptInt(v) => q.bind(*v),
                };
            }
            rows.push(q.execute(&mut *tx).await.map_err(db)?.rows_affected());
        }
        out.push(rows);
    }
    tx.commit().await.map_err(db)?;
    Ok(out)
}

/// Unix seconds as RFC 3339 (UTC), as the node's answers write times.
pub(crate) fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// Unix seconds now.
pub(crate) fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The database's migrations, built into the binary.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

impl Store {
    /// The newest schema version this build knows (its last migration).
    pub fn known_schema() -> i64 {
        MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
    }

    /// The schema version the database at `url` is at (its newest applied migration),
    /// read without migrating it: looking must not change what is looked at.
    pub async fn schema_at(url: &str) -> Result<i64, Error> {
        use sqlx::Connection as _;
        sqlx::any::install_default_drivers();
        // One connection, not a pool: a pool retries an unreachable server for 30 s.
        let mut conn = match tokio::time::timeout(
            std::time::Duration::from_secs(10),
            sqlx::AnyConnection::connect(url),
        )
        .await
        {
            Err(_) => {
                return Err(Error::Database(format!(
                    "connecting to {}: no answer within 10 s",
                    redact(url)
                )))
            }
            Ok(c) => {
                c.map_err(|e| Error::Database(format!("connecting to {}: {e}", redact(url))))?
            }
        };
        let row =
            sqlx::query("SELECT MAX(version) AS v FROM _sqlx_migrations WHERE success = TRUE")
                .fetch_one(&mut conn)
                .await
                .map_err(db);
        let _ = conn.close().await;
        Ok(sqlx::Row::try_get::<Option<i64>, _>(&row?, "v")
            .map_err(db)?
            .unwrap_or(0))
    }

    /// Connect to `url` (`sqlite://PATH?mode=rwc` or `postgres://...`) and run the
    /// migrations.
    pub async fn connect(url: &str) -> Result<Store, Error> {
        sqlx::any::install_default_drivers();
        let sqlite = url.starts_with("sqlite");
        if !sqlite {
            // One plain connection first: the pool retries until its 30 s timeout and
            // then says only that it timed out, hiding "connection refused" or a wrong
            // password.
            use sqlx::Connection as _;
            let fail =
                |why: String| Error::Database(format!("connecting to {}: {why}", redact(url)));
            match tokio::time::timeout(
                std::time::Duration::from_secs(10),
                sqlx::AnyConnection::connect(url),
            )
            .await
            {
                Err(_) => return Err(fail("no answer within 10 s".into())),
                Ok(Err(e)) => return Err(fail(e.to_string())),
                Ok(Ok(c)) => {
                    let _ = c.close().await;
                }
            }
        }
        let pool = Self::open(url, if sqlite { 4 } else { 8 }).await?;
        MIGRATOR.run(&pool).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::VersionMissing(v) => Error::Database(format!(
                "the database has schema version {v}, which this accord (schema {}) does not know: a newer accord upgraded it. Run that accord, or restore the backup taken before the upgrade (docs/operations.md)",
                Store::known_schema()
            )),
            e => Error::Database(format!("migration: {e}")),
        })?;
        let writer = if sqlite {
            Self::open(url, 1).await?
        } else {
            pool.clone()
        };
        let (committer_tx, rx) = tokio::sync::mpsc::channel(4 * MAX_GROUP);
        tokio::spawn(committer(writer.clone(), rx));
        Ok(Store {
            pool,
            writer,
            committer: committer_tx,
            inbox_generation: Default::default(),
            sqlite,
        })
    }

    /// Commit `stmts` together with whatever other writes are waiting (group commit),
    /// and answer with each statement's rows affected once they are durable.
    pub(crate) async fn commit(&self, stmts: Vec<Stmt>) -> Result<Vec<u64>, Error> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let gone = || Error::Database("the database writer has stopped".into());
        self.committer
            .send(Job { stmts, reply })
            .await
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }

    async fn open(url: &str, connections: u32) -> Result<AnyPool, Error> {
        AnyPoolOptions::new()
            .after_connect(|conn, _| {
                Box::pin(async move {
                    if conn.backend_name() == "SQLite" {
                        // Readers must not wait for the writer (nor for each other's
                        // busy-handler sleeps): write-ahead logging, still fsynced at
                        // every commit.
                        sqlx::query("PRAGMA journal_mode=WAL")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA synchronous=FULL")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .max_connections(connections)
            .connect(url)
            .await
            .map_err(|e| Error::Database(format!("connecting to {}: {e}", redact(url))))
    }

    /// The pool, for the other tables' modules (exchange): reads.
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Close the pool.
    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }
}

/// A database URL with any password removed, for messages ([`split_password`]).
pub fn redact(url: &str) -> String {
    split_password(url).0
}

/// `url` without its password, and that password (percent-decoded), so that it goes
/// to `pg_dump`/`pg_restore` through `PGPASSWORD` and never onto a command line that
/// every local user can read (`ps`). Both spellings libpq and sqlx take are removed: the
/// user info's `user:password@`, and a `password=` query parameter. Only the authority
/// is searched for `@`: a query may hold one.
pub(crate) fn split_password(url: &str) -> (String, Option<String>) {
    let Some(s) = url.find("://") else {
        return (url.to_string(), None);
    };
    let (scheme, rest) = url.split_at(s + 3);
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let mut password = None;
    let authority = match authority.rfind('@') {
        Some(at) => {
            let (userinfo, host) = authority.split_at(at);
            match userinfo.split_once(':') {
                Some((user, pw)) => {
                    password = Some(percent_decode(pw));
                    format!("{user}{host}")
                }
                None => authority.to_string(),
            }
        }
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let mut kept = Vec::new();
            for kv in query.split('&') {
                match kv.strip_prefix("password=") {
                    Some(v) => password = Some(percent_decode(v)),
                    None => kept.push(kv),
                }
            }
            if kept.is_empty() {
                path.to_string()
            } else {
                format!("{path}?{}", kept.join("&"))
            }
        }
        None => tail.to_string(),
    };
    (format!("{scheme}{authority}{tail}"), password)
}

/// `%XX` escapes decoded (a URL's password may hold `@`, `:` or `/` only so).
pub(crate) fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    /// A database a newer accord upgraded (a migration this build does not have) is
    /// refused with what to do, and its schema is what `node info` shows.
    #[test]
    fn a_database_newer_than_this_build_is_refused_with_what_to_do() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("node.db").display());
        rt.block_on(async {
            let store = super::Store::connect(&url).await.unwrap();
            assert_eq!(
                super::Store::schema_at(&url).await.unwrap(),
                super::Store::known_schema()
            );
            sqlx::query(
                "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
                 VALUES (99990101000000, 'from a newer accord', TRUE, X'00', 1)",
            )
            .execute(&store.pool)
            .await
            .unwrap();
            store.close().await;
            let e = match super::Store::connect(&url).await {
                Err(e) => e.to_string(),
                Ok(_) => panic!("a newer database was opened"),
            };
            assert!(
                e.contains("schema version 99990101000000")
                    && e.contains("a newer accord upgraded it")
                    && e.contains(&super::Store::known_schema().to_string()),
                "{e}"
            );
        });
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            super::redact("postgres://u:secret@h/db?password=again"),
            "postgres://u@h/db"
        );
        assert_eq!(
            super::redact("sqlite:///x?mode=rwc"),
            "sqlite:///x?mode=rwc"
        );
    }
}
