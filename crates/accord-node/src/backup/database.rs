//! The database's part of a backup: a snapshot taken while the node writes (SQLite's
//! `VACUUM INTO`, or `pg_dump` inside an exported snapshot), the outbox rows that
//! snapshot holds queued (whose files must be in the backup), and the restore of a
//! PostgreSQL dump (`pg_restore`).

use crate::store::redact;
use crate::Error;
use sqlx::Connection as _;
use sqlx::Row as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A database snapshot in a file, with what the backup needs to know of it.
pub(super) struct DbSnapshot {
    /// The file (`node.db` or `node.pgdump`, in a temporary directory).
    pub(super) file: PathBuf,
    /// `sqlite` or `postgres`.
    pub(super) kind: &'static str,
    /// The schema version (newest migration applied).
    pub(super) schema: i64,
    /// The file names under `blobs/outbox/` of the rows queued in it.
    pub(super) queued: Vec<String>,
}

fn db(e: sqlx::Error) -> Error {
    Error::Database(e.to_string())
}

const QUEUED: &str = "SELECT object_id, recipient, file_name FROM outbox WHERE state = 'queued'";
const SCHEMA: &str = "SELECT MAX(version) AS v FROM _sqlx_migrations WHERE success = TRUE";

fn queued_names(rows: Vec<sqlx::any::AnyRow>) -> Result<Vec<String>, Error> {
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let name: Option<String> = r.try_get("file_name").map_err(db)?;
        let name = match name {
            Some(n) => n,
            None => {
                let id: String = r.try_get("object_id").map_err(db)?;
                let to: String = r.try_get("recipient").map_err(db)?;
                format!("{id}.{to}.tdf")
            }
        };
        out.push(super::checked_name(&name)?.to_string());
    }
    Ok(out)
}

async fn read_back(conn: &mut sqlx::AnyConnection) -> Result<(i64, Vec<String>), Error> {
    let schema: Option<i64> = sqlx::query(SCHEMA)
        .fetch_one(&mut *conn)
        .await
        .map_err(db)?
        .try_get("v")
        .map_err(db)?;
    let rows = sqlx::query(QUEUED)
        .fetch_all(&mut *conn)
        .await
        .map_err(db)?;
    Ok((schema.unwrap_or(0), queued_names(rows)?))
}

/// Snapshot the database at `url` into `dir`.
pub(super) async fn snapshot(url: &str, dir: &Path) -> Result<DbSnapshot, Error> {
    sqlx::any::install_default_drivers();
    if url.starts_with("sqlite") {
        let file = dir.join("node.db");
        let mut conn = sqlx::AnyConnection::connect(url).await.map_err(db)?;
        // One read transaction: a consistent copy while the node writes (WAL mode).
        let target = file.to_string_lossy().replace('\'', "''");
        sqlx::query(&format!("VACUUM INTO '{target}'"))
            .execute(&mut conn)
            .await
            .map_err(|e| Error::Database(format!("VACUUM INTO {}: {e}", file.display())))?;
        let _ = conn.close().await;
        let copy = format!(
            "sqlite://{}?mode=ro",
            crate::home::percent_encode_path(&file)
        );
        let mut conn = sqlx::AnyConnection::connect(&copy).await.map_err(db)?;
        let (schema, queued) = read_back(&mut conn).await?;
        let _ = conn.close().await;
        return Ok(DbSnapshot {
            file,
            kind: "sqlite",
            schema,
            queued,
        });
    }
    // PostgreSQL: a repeatable-read transaction exports its snapshot, pg_dump dumps
    // exactly that, and the queued rows are read in the same transaction.
    let file = dir.join("node.pgdump");
    let mut conn = sqlx::AnyConnection::connect(url)
        .await
        .map_err(|e| Error::Database(format!("connecting to {}: {e}", redact(url))))?;
    sqlx::raw_sql("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .execute(&mut conn)
        .await
        .map_err(db)?;
    let id: String = sqlx::query("SELECT pg_export_snapshot() AS s")
        .fetch_one(&mut conn)
        .await
        .map_err(db)?
        .try_get("s")
        .map_err(db)?;
    let (schema, queued) = read_back(&mut conn).await?;
    let mut cmd = pg_command("pg_dump", url)?;
    cmd.arg("--format=custom")
        .arg(format!("--snapshot={id}"))
        .arg("--no-owner")
        .arg("--no-privileges")
        .arg(format!("--file={}", file.display()));
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .map_err(|e| Error::Input(format!("pg_dump: {e}")))?
        .map_err(|e| Error::Input(format!("running pg_dump: {e}")))?;
    let _ = sqlx::raw_sql("COMMIT").execute(&mut conn).await;
    let _ = conn.close().await;
    if !out.status.success() {
        return Err(Error::Database(format!(
            "pg_dump of {} failed ({}): {}",
            redact(url),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(DbSnapshot {
        file,
        kind: "postgres",
        schema,
        queued,
    })
}

/// Restore a `pg_dump` file into the (empty) database at `url`.
pub(super) async fn pg_restore(url: &str, dump: &Path) -> Result<(), Error> {
    sqlx::any::install_default_drivers();
    {
        let mut conn = sqlx::AnyConnection::connect(url)
            .await
            .map_err(|e| Error::Database(format!("connecting to {}: {e}", redact(url))))?;
        let n: i64 = sqlx::query(
            "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM information_schema.tables WHERE table_schema = 'public'",
        )
        .fetch_one(&mut conn)
        .await
        .map_err(db)?
        .try_get("n")
        .map_err(db)?;
        let _ = conn.close().await;
        if n > 0 {
            return Err(Error::Exists(format!(
                "the database {} is not empty ({n} tables): restore into an empty database",
                redact(url)
            )));
        }
    }
    let mut cmd = pg_command("pg_restore", url)?;
    cmd.arg("--no-owner")
        .arg("--no-privileges")
        .arg("--exit-on-error")
        .arg("--single-transaction")
        .arg(dump);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .map_err(|e| Error::Input(format!("pg_restore: {e}")))?
        .map_err(|e| Error::Input(format!("running pg_restore: {e}")))?;
    if !out.status.success() {
        return Err(Error::Database(format!(
            "pg_restore into {} failed ({}): {}",
            redact(url),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// A PostgreSQL client program for the database at `url`: the URL without its password
/// on the command line (where other users could read it), the password in `PGPASSWORD`.
fn pg_command(program: &str, url: &str) -> Result<Command, Error> {
    let bin = pg_binary(program).ok_or_else(|| {
        Error::Input(format!(
            "{program} was not found on PATH, in /usr/local/bin or /usr/lib/postgresql/*/bin: install PostgreSQL's client programs (Debian: postgresql-client)"
        ))
    })?;
    let mut cmd = Command::new(bin);
    // The token's PIN is the node's, not the database tools'.
    cmd.env_remove(accord_keys::pkcs11::PIN_ENV);
    let (url, password) = crate::store::split_password(url);
    if let Some(p) = password {
        cmd.env("PGPASSWORD", p);
    }
    cmd.arg(format!("--dbname={url}"));
    Ok(cmd)
}

/// Where `program` is: in the newest `/usr/lib/postgresql/*/bin` (where Debian puts
/// them, as `.ci/run` looks for `initdb`), in `/usr/local/bin`, or on `PATH`.
fn pg_binary(program: &str) -> Option<PathBuf> {
    // The server's own version first: Debian's /usr/bin/pg_dump is a wrapper that
    // picks a version by the clusters it knows of, which a throwaway server is not.
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((v, e.path().join("bin")))
        })
        .collect();
    versions.sort();
    let mut dirs: Vec<PathBuf> = versions.into_iter().rev().map(|(_, p)| p).collect();
    dirs.push("/usr/local/bin".into());
    dirs.extend(
        std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
            .unwrap_or_default(),
    );
    dirs.into_iter()
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_password_leaves_the_command_line() {
        assert_eq!(
            crate::store::split_password("postgres://u:s3cret@h:5432/db"),
            ("postgres://u@h:5432/db".to_string(), Some("s3cret".into()))
        );
        assert_eq!(
            crate::store::split_password("postgres://u@h/db"),
            ("postgres://u@h/db".to_string(), None)
        );
        // Percent-encoded, and in the query (kept: the other parameters).
        assert_eq!(
            crate::store::split_password("postgres://u:p%40ss%3Aw@h/db?sslmode=require"),
            (
                "postgres://u@h/db?sslmode=require".to_string(),
                Some("p@ss:w".into())
            )
        );
        assert_eq!(
            crate::store::split_password("postgres://u@h/db?sslmode=require&password=s%2Fx&a=b"),
            (
                "postgres://u@h/db?sslmode=require&a=b".to_string(),
                Some("s/x".into())
            )
        );
        assert_eq!(
            crate::store::split_password("postgres://u@h/db?password=x"),
            ("postgres://u@h/db".to_string(), Some("x".into()))
        );
        // An `@` in the query is not the user info's.
        assert_eq!(
            crate::store::split_password("postgres://h/db?application_name=a@b"),
            ("postgres://h/db?application_name=a@b".to_string(), None)
        );
        assert_eq!(crate::store::percent_decode("%zz%4"), "%zz%4");
    }
}
