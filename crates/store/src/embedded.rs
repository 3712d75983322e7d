//! [`EmbeddedStore`]: the default backend, one durable redb file with group commit.
//!
//! # Layout of the file
//!
//! Three tables, so the file can be recognised and later migrated:
//! - `gcbridge_records`: key → 8-byte big-endian revision, 8-byte big-endian expiry, value.
//! - `gcbridge_expiry`: 8-byte big-endian expiry followed by the key → `()`. An index of the
//!   records by expiry, so cleanup finds expired records without scanning every record.
//! - `gcbridge_meta`: `format` (the layout version, 1) and `last_revision` (the last revision
//!   handed out; revisions are global so a re-created key never reuses one).
//!
//! # Writes: group commit
//!
//! redb allows one write transaction at a time and each durable commit costs a disk sync
//! (370 to 1,300 commits per second on our machines, depending on what else uses the disk). A dedicated writer thread therefore owns all writes:
//! callers send their save or delete down a channel and wait on a reply. The thread takes the
//! first waiting job, drains every other job already queued (up to [`MAX_BATCH_JOBS`] jobs or
//! [`MAX_BATCH_BYTES`] bytes), applies them **in arrival order** inside one write transaction —
//! each save checks its own revision and either writes or is answered
//! [`StoreError::Conflict`] without affecting the others — commits once, and only then answers
//! every caller. No caller is ever told "saved" before the commit that holds its write has
//! returned with redb's default (immediate, fsync) durability. Nothing waits on a timer to form
//! a batch: while one commit syncs, the next batch queues up by itself, so a lone writer pays
//! no extra latency and many writers share each sync.
//!
//! # Reads
//!
//! Loads run in their own read transactions on tokio's blocking pool, concurrently with each
//! other and with the writer (redb is MVCC). A load started after a save was acknowledged sees it.
//!
//! # Expiry
//!
//! Expired records are ignored on read. They are deleted opportunistically: every write
//! transaction also removes, oldest first, up to twice as many expired records as it has jobs
//! (at least 64), using the expiry index. Cleanup therefore keeps pace with any write load; a
//! store that receives no writes keeps its expired records on disk (invisible) until it does.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use async_trait::async_trait;
use redb::{
    Database, DatabaseError, ReadableDatabase, ReadableTable, ReadableTableMetadata,
    TableDefinition, WriteTransaction,
};
use tokio::sync::{mpsc, oneshot};

use crate::api::{
    Revision, SessionStore, StoreError, Stored, check_key, check_value, is_live, now_unix_ms,
};

const RECORDS: TableDefinition<&str, &[u8]> = TableDefinition::new("gcbridge_records");
const EXPIRY: TableDefinition<&[u8], ()> = TableDefinition::new("gcbridge_expiry");
const META: TableDefinition<&str, u64> = TableDefinition::new("gcbridge_meta");

const META_FORMAT: &str = "format";
const META_LAST_REVISION: &str = "last_revision";
/// The layout described in the module documentation.
const FORMAT: u64 = 1;

/// Bytes in front of the value in a stored record: revision then expiry.
const HEADER_BYTES: usize = 16;

/// Most jobs applied in one write transaction. Bounds the time a batch holds its callers.
const MAX_BATCH_JOBS: usize = 512;
/// Most value bytes applied in one write transaction. Bounds the memory a batch holds.
const MAX_BATCH_BYTES: usize = 8 * 1024 * 1024;
/// Jobs that may wait for the writer before senders wait for room (back-pressure).
const QUEUE_CAPACITY: usize = 1024;
/// Fewest expired records a write transaction removes, if that many have expired.
const MIN_CLEANUP_PER_COMMIT: usize = 64;

/// A session store in one redb file: durable on every acknowledged write, shared by every task
/// of one process.
///
/// Open it with [`EmbeddedStore::open`] or [`crate::open`] (`embedded:PATH`). The file is
/// locked while open: a second process (or a second `EmbeddedStore` on the same file) gets
/// [`StoreError::Unavailable`]. See the module documentation of this backend for how writes
/// are grouped into commits and when expired records are deleted.
///
/// Dropping the store waits for queued writes to be committed and for the writer thread to
/// exit; the file is unlocked once loads still in flight have finished.
pub struct EmbeddedStore {
    db: Arc<Database>,
    path: PathBuf,
    /// `None` only while dropping, so the writer thread sees the channel close.
    jobs: Option<mpsc::Sender<Job>>,
    writer: Option<JoinHandle<u64>>,
}

/// One write for the writer thread, with the channel its outcome goes back on.
enum Job {
    Save {
        key: String,
        value: Vec<u8>,
        expected: Option<Revision>,
        expires_at_ms: u64,
        reply: oneshot::Sender<Result<Revision, StoreError>>,
    },
    Delete {
        key: String,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
}

impl Job {
    fn value_len(&self) -> usize {
        match self {
            Job::Save { value, .. } => value.len(),
            Job::Delete { .. } => 0,
        }
    }
}

/// What the write transaction decided for one job, before the commit.
enum Decision {
    Saved(Revision),
    Deleted,
    Refused(StoreError),
}

/// The decoded front of a stored record.
#[derive(Clone, Copy)]
struct Header {
    revision: Revision,
    expires_at_ms: u64,
}

impl EmbeddedStore {
    /// Opens (or creates) the store file at `path`, creating missing parent directories.
    ///
    /// The open runs on tokio's blocking pool and checks the whole file's integrity (so a
    /// damaged file is reported as [`StoreError::Corrupt`] instead of being trusted); on a large
    /// file this takes a moment. A file that is not a redb database, or is a redb database of
    /// another program, gives [`StoreError::Corrupt`]; a file locked by another process gives
    /// [`StoreError::Unavailable`].
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let shown = path.display().to_string();
        tokio::task::spawn_blocking(move || Self::open_blocking(path))
            .await
            .map_err(|e| {
                if e.is_panic() {
                    StoreError::Corrupt(format!(
                        "the embedded store {shown} could not be opened: redb failed on its \
                         contents (see the panic message above)"
                    ))
                } else {
                    StoreError::Unavailable(format!(
                        "opening the embedded store {shown} was cancelled"
                    ))
                }
            })?
    }

    fn open_blocking(path: PathBuf) -> Result<Self, StoreError> {
        let shown = path.display().to_string();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                StoreError::Unavailable(format!(
                    "cannot create the directory {} for the embedded store: {e}",
                    parent.display()
                ))
            })?;
        }
        let db = redb::Builder::new()
            .set_check_integrity_on_open(true)
            .create(&path)
            .map_err(|e| open_error(&shown, e))?;
        init_tables(&db).map_err(|e| match e {
            StoreError::Corrupt(msg) => {
                StoreError::Corrupt(format!("{shown} is not a gcbridge session store: {msg}"))
            }
            other => other,
        })?;

        let db = Arc::new(db);
        let (jobs, queue) = mpsc::channel(QUEUE_CAPACITY);
        let writer_db = Arc::clone(&db);
        let writer = std::thread::Builder::new()
            .name("gcbridge-store-writer".to_owned())
            .spawn(move || run_writer(&writer_db, queue))
            .map_err(|e| {
                StoreError::Unavailable(format!("cannot start the embedded store writer: {e}"))
            })?;
        Ok(Self {
            db,
            path,
            jobs: Some(jobs),
            writer: Some(writer),
        })
    }

    /// The path of the store file, as given to [`EmbeddedStore::open`].
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Queues a job for the writer thread and waits for its outcome.
    async fn submit<T>(
        &self,
        job: Job,
        outcome: oneshot::Receiver<Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let jobs = self.jobs.as_ref().ok_or_else(writer_stopped)?;
        jobs.send(job).await.map_err(|_| writer_stopped())?;
        outcome.await.map_err(|_| writer_stopped())?
    }

    /// Runs a read on tokio's blocking pool, where redb may wait on the disk without stalling
    /// the async runtime.
    async fn read<T, F>(&self, read: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> Result<T, StoreError> + Send + 'static,
    {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || read(&db))
            .await
            .map_err(|e| {
                if e.is_panic() {
                    StoreError::Corrupt("redb failed while reading the embedded store".to_owned())
                } else {
                    StoreError::Unavailable("a read of the embedded store was cancelled".to_owned())
                }
            })?
    }
}

impl fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbeddedStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Drop for EmbeddedStore {
    fn drop(&mut self) {
        // Closing the channel lets the writer finish the jobs already queued and exit; waiting
        // for it means the file is no longer held by this store once drop returns, so it can be
        // reopened at once (tests, restarts within one process).
        drop(self.jobs.take());
        if let Some(writer) = self.writer.take() {
            // A panicked writer has already failed its callers; there is nothing left to report.
            let _ = writer.join();
        }
    }
}

#[async_trait]
impl SessionStore for EmbeddedStore {
    fn name(&self) -> &'static str {
        "embedded"
    }

    async fn load(&self, key: &str) -> Result<Option<Stored>, StoreError> {
        check_key(key)?;
        let key = key.to_owned();
        self.read(move |db| {
            let txn = db.begin_read().map_err(|e| redb_error("begin a read", e))?;
            let records = txn
                .open_table(RECORDS)
                .map_err(|e| redb_error("open the records table", e))?;
            let Some(guard) = records
                .get(key.as_str())
                .map_err(|e| redb_error("read a record", e))?
            else {
                return Ok(None);
            };
            let bytes = guard.value();
            let header = decode_header(bytes)?;
            if !is_live(header.expires_at_ms, now_unix_ms()) {
                return Ok(None);
            }
            Ok(Some(Stored {
                value: bytes[HEADER_BYTES..].to_vec(),
                revision: header.revision,
                expires_at_ms: header.expires_at_ms,
            }))
        })
        .await
    }

    async fn save(
        &self,
        key: &str,
        value: Vec<u8>,
        expected: Option<Revision>,
        expires_at_ms: u64,
    ) -> Result<Revision, StoreError> {
        check_key(key)?;
        check_value(&value)?;
        let (reply, outcome) = oneshot::channel();
        let job = Job::Save {
            key: key.to_owned(),
            value,
            expected,
            expires_at_ms,
            reply,
        };
        self.submit(job, outcome).await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        check_key(key)?;
        let (reply, outcome) = oneshot::channel();
        let job = Job::Delete {
            key: key.to_owned(),
            reply,
        };
        self.submit(job, outcome).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        if self.jobs.as_ref().is_none_or(mpsc::Sender::is_closed) {
            return Err(writer_stopped());
        }
        self.read(|db| {
            let txn = db.begin_read().map_err(|e| redb_error("begin a read", e))?;
            txn.open_table(META)
                .map_err(|e| redb_error("open the meta table", e))?;
            Ok(())
        })
        .await
    }
}

/// Creates the tables of a new file, or checks that an existing file has our layout.
fn init_tables(db: &Database) -> Result<(), StoreError> {
    let txn = db
        .begin_write()
        .map_err(|e| redb_error("begin a write", e))?;
    {
        let records = txn
            .open_table(RECORDS)
            .map_err(|e| redb_error("open the records table", e))?;
        txn.open_table(EXPIRY)
            .map_err(|e| redb_error("open the expiry table", e))?;
        let mut meta = txn
            .open_table(META)
            .map_err(|e| redb_error("open the meta table", e))?;
        let format = meta
            .get(META_FORMAT)
            .map_err(|e| redb_error("read the format", e))?
            .map(|g| g.value());
        match format {
            Some(FORMAT) => {}
            Some(other) => {
                return Err(StoreError::Invalid(format!(
                    "the embedded store has layout version {other}, this build reads version \
                     {FORMAT}; it was written by a different gcbridge version"
                )));
            }
            None => {
                let existing = records
                    .len()
                    .map_err(|e| redb_error("count the records", e))?;
                if existing > 0 {
                    return Err(StoreError::Corrupt(
                        "it holds records but no layout version".to_owned(),
                    ));
                }
                meta.insert(META_FORMAT, FORMAT)
                    .map_err(|e| redb_error("write the format", e))?;
            }
        }
    }
    txn.commit().map_err(|e| redb_error("commit", e))
}

/// The writer thread: takes batches of jobs off the queue until every sender is gone, and
/// returns how many batches it committed (or tried to).
fn run_writer(db: &Database, mut queue: mpsc::Receiver<Job>) -> u64 {
    let mut batches = 0;
    let mut batch = Vec::with_capacity(MAX_BATCH_JOBS);
    while let Some(first) = queue.blocking_recv() {
        let mut bytes = first.value_len();
        batch.push(first);
        // Everything that queued up while the previous commit was syncing joins this one.
        while batch.len() < MAX_BATCH_JOBS && bytes < MAX_BATCH_BYTES {
            match queue.try_recv() {
                Ok(job) => {
                    bytes += job.value_len();
                    batch.push(job);
                }
                Err(_) => break,
            }
        }
        commit_batch(db, &mut batch);
        batches += 1;
    }
    batches
}

/// Applies and commits one batch, then answers every job in it.
fn commit_batch(db: &Database, batch: &mut Vec<Job>) {
    match apply_batch(db, batch) {
        Ok(decisions) => {
            for (job, decision) in batch.drain(..).zip(decisions) {
                answer(job, decision);
            }
        }
        Err(e) => {
            // Nothing in the batch was committed: every caller gets the error.
            for job in batch.drain(..) {
                answer(job, Decision::Refused(e.clone()));
            }
        }
    }
}

/// Sends a job's outcome to its caller. A caller that stopped waiting has nobody to answer;
/// its write stands (or not) all the same, so the send result is not needed.
fn answer(job: Job, decision: Decision) {
    match job {
        Job::Save { reply, .. } => {
            let outcome = match decision {
                Decision::Saved(revision) => Ok(revision),
                Decision::Refused(e) => Err(e),
                Decision::Deleted => Err(internal_mismatch()),
            };
            let _ = reply.send(outcome);
        }
        Job::Delete { reply, .. } => {
            let outcome = match decision {
                Decision::Deleted => Ok(()),
                Decision::Refused(e) => Err(e),
                Decision::Saved(_) => Err(internal_mismatch()),
            };
            let _ = reply.send(outcome);
        }
    }
}

/// `apply_jobs` decides per job kind, so a save is never answered "deleted" or the reverse;
/// answering with an error anyway keeps a caller from waiting forever if that ever broke.
fn internal_mismatch() -> StoreError {
    StoreError::Unavailable("the embedded store writer mismatched a reply".to_owned())
}

/// Applies every job of the batch in order inside one write transaction and commits it.
///
/// Returns one decision per job. An error means the transaction was not committed.
fn apply_batch(db: &Database, batch: &[Job]) -> Result<Vec<Decision>, StoreError> {
    let now = now_unix_ms();
    let txn = db
        .begin_write()
        .map_err(|e| redb_error("begin a write", e))?;
    let decisions = apply_jobs(&txn, batch, now)?;
    txn.commit().map_err(|e| redb_error("commit", e))?;
    Ok(decisions)
}

fn apply_jobs(
    txn: &WriteTransaction,
    batch: &[Job],
    now: u64,
) -> Result<Vec<Decision>, StoreError> {
    let mut records = txn
        .open_table(RECORDS)
        .map_err(|e| redb_error("open the records table", e))?;
    let mut expiry = txn
        .open_table(EXPIRY)
        .map_err(|e| redb_error("open the expiry table", e))?;
    let mut meta = txn
        .open_table(META)
        .map_err(|e| redb_error("open the meta table", e))?;
    let first_revision = meta
        .get(META_LAST_REVISION)
        .map_err(|e| redb_error("read the revision counter", e))?
        .map_or(0, |g| g.value());
    let mut last_revision = first_revision;

    let mut decisions = Vec::with_capacity(batch.len());
    for job in batch {
        let decision = match job {
            Job::Save {
                key,
                value,
                expected,
                expires_at_ms,
                ..
            } => {
                let current = records
                    .get(key.as_str())
                    .map_err(|e| redb_error("read a record", e))?
                    .map(|g| decode_header(g.value()))
                    .transpose();
                match current {
                    // A damaged record fails its own save only; deleting the key repairs it.
                    Err(e) => Decision::Refused(e),
                    Ok(current) => {
                        let live = current
                            .filter(|h| is_live(h.expires_at_ms, now))
                            .map(|h| h.revision);
                        if live != *expected {
                            Decision::Refused(StoreError::Conflict)
                        } else if let Some(next) = last_revision.checked_add(1) {
                            last_revision = next;
                            let revision = Revision::new(next);
                            if let Some(old) = current {
                                expiry
                                    .remove(index_key(old.expires_at_ms, key).as_slice())
                                    .map_err(|e| redb_error("update the expiry index", e))?;
                            }
                            let record = encode_record(revision, *expires_at_ms, value);
                            records
                                .insert(key.as_str(), record.as_slice())
                                .map_err(|e| redb_error("write a record", e))?;
                            expiry
                                .insert(index_key(*expires_at_ms, key).as_slice(), ())
                                .map_err(|e| redb_error("update the expiry index", e))?;
                            Decision::Saved(revision)
                        } else {
                            Decision::Refused(StoreError::Unavailable(
                                "revision counter exhausted".to_owned(),
                            ))
                        }
                    }
                }
            }
            Job::Delete { key, .. } => {
                let removed = records
                    .remove(key.as_str())
                    .map_err(|e| redb_error("delete a record", e))?
                    .map(|g| decode_header(g.value()));
                if let Some(Ok(old)) = removed {
                    expiry
                        .remove(index_key(old.expires_at_ms, key).as_slice())
                        .map_err(|e| redb_error("update the expiry index", e))?;
                }
                Decision::Deleted
            }
        };
        decisions.push(decision);
    }
    if last_revision != first_revision {
        meta.insert(META_LAST_REVISION, last_revision)
            .map_err(|e| redb_error("write the revision counter", e))?;
    }

    let limit = batch.len().saturating_mul(2).max(MIN_CLEANUP_PER_COMMIT);
    remove_expired(&mut records, &mut expiry, now, limit)?;
    Ok(decisions)
}

/// Deletes up to `limit` expired records, earliest expiry first.
fn remove_expired(
    records: &mut redb::Table<'_, &str, &[u8]>,
    expiry: &mut redb::Table<'_, &[u8], ()>,
    now: u64,
    limit: usize,
) -> Result<(), StoreError> {
    for _ in 0..limit {
        let entry = expiry
            .first()
            .map_err(|e| redb_error("read the expiry index", e))?
            .map(|(k, _)| k.value().to_vec());
        let Some(entry) = entry else { break };
        let parsed = split_index_key(&entry);
        if let Some((expires_at_ms, _)) = parsed
            && is_live(expires_at_ms, now)
        {
            break;
        }
        expiry
            .remove(entry.as_slice())
            .map_err(|e| redb_error("update the expiry index", e))?;
        let Some((expires_at_ms, key)) = parsed else {
            // An index entry we cannot read only cost us its own removal.
            continue;
        };
        // The index and the records change together, so the record carries this expiry; the
        // check guards against deleting a record that was refreshed if that ever stopped holding.
        let stale = records
            .get(key)
            .map_err(|e| redb_error("read a record", e))?
            .and_then(|g| decode_header(g.value()).ok())
            .is_some_and(|h| h.expires_at_ms == expires_at_ms);
        if stale {
            records
                .remove(key)
                .map_err(|e| redb_error("delete an expired record", e))?;
        }
    }
    Ok(())
}

fn encode_record(revision: Revision, expires_at_ms: u64, value: &[u8]) -> Vec<u8> {
    let mut record = Vec::with_capacity(HEADER_BYTES + value.len());
    record.extend_from_slice(&revision.get().to_be_bytes());
    record.extend_from_slice(&expires_at_ms.to_be_bytes());
    record.extend_from_slice(value);
    record
}

fn decode_header(record: &[u8]) -> Result<Header, StoreError> {
    let corrupt = || {
        StoreError::Corrupt(format!(
            "a record of {} bytes is shorter than its {HEADER_BYTES}-byte header",
            record.len()
        ))
    };
    let revision = record.get(0..8).ok_or_else(corrupt)?;
    let expires = record.get(8..16).ok_or_else(corrupt)?;
    Ok(Header {
        revision: Revision::new(u64::from_be_bytes(
            revision.try_into().map_err(|_| corrupt())?,
        )),
        expires_at_ms: u64::from_be_bytes(expires.try_into().map_err(|_| corrupt())?),
    })
}

/// The expiry index key: big-endian expiry first, so byte order is expiry order.
fn index_key(expires_at_ms: u64, key: &str) -> Vec<u8> {
    let mut entry = Vec::with_capacity(8 + key.len());
    entry.extend_from_slice(&expires_at_ms.to_be_bytes());
    entry.extend_from_slice(key.as_bytes());
    entry
}

fn split_index_key(entry: &[u8]) -> Option<(u64, &str)> {
    let (expiry, key) = entry.split_at_checked(8)?;
    Some((
        u64::from_be_bytes(expiry.try_into().ok()?),
        std::str::from_utf8(key).ok()?,
    ))
}

fn writer_stopped() -> StoreError {
    StoreError::Unavailable("the embedded store writer has stopped".to_owned())
}

/// Maps an error from opening the file, naming the file.
fn open_error(path: &str, err: DatabaseError) -> StoreError {
    match err {
        DatabaseError::DatabaseAlreadyOpen => StoreError::Unavailable(format!(
            "the embedded store {path} is already open in another process (or another store in \
             this process); only one may use it at a time"
        )),
        DatabaseError::UpgradeRequired(version) => StoreError::Invalid(format!(
            "the embedded store {path} uses redb file format {version}, which this build cannot \
             read"
        )),
        DatabaseError::Storage(redb::StorageError::Corrupted(msg)) => StoreError::Corrupt(format!(
            "{path} is not a usable gcbridge session store (not a redb database, or damaged): \
             {msg}"
        )),
        // redb reports a file without its magic number as an I/O error of kind InvalidData.
        DatabaseError::Storage(redb::StorageError::Io(e))
            if e.kind() == std::io::ErrorKind::InvalidData =>
        {
            StoreError::Corrupt(format!(
                "{path} is not a usable gcbridge session store (not a redb database, or \
                 damaged): {e}"
            ))
        }
        DatabaseError::Storage(redb::StorageError::Io(e)) => {
            StoreError::Unavailable(format!("cannot open the embedded store {path}: {e}"))
        }
        other => StoreError::Unavailable(format!("cannot open the embedded store {path}: {other}")),
    }
}

/// Maps a redb error raised while doing `what` to the store's error kinds.
fn redb_error(what: &str, err: impl Into<redb::Error>) -> StoreError {
    match err.into() {
        redb::Error::Corrupted(msg) => {
            StoreError::Corrupt(format!("embedded store: cannot {what}: {msg}"))
        }
        e @ (redb::Error::TableTypeMismatch { .. }
        | redb::Error::TableIsMultimap(_)
        | redb::Error::TypeDefinitionChanged { .. }) => {
            StoreError::Corrupt(format!("embedded store: cannot {what}: {e}"))
        }
        e @ redb::Error::ValueTooLarge(_) => {
            StoreError::Invalid(format!("embedded store: cannot {what}: {e}"))
        }
        e => StoreError::Unavailable(format!("embedded store: cannot {what}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(db: &Database) -> (u64, u64) {
        let txn = db.begin_read().unwrap();
        let records = txn.open_table(RECORDS).unwrap().len().unwrap();
        let index = txn.open_table(EXPIRY).unwrap().len().unwrap();
        (records, index)
    }

    #[tokio::test]
    async fn writes_remove_expired_records_and_their_index_entries() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path().join("s.db")).await.unwrap();
        let past = now_unix_ms() - 1;
        for i in 0..100 {
            store
                .save(&format!("gone-{i}"), vec![1], None, past)
                .await
                .unwrap();
        }
        let live = store
            .save("kept", vec![2], None, crate::NEVER_EXPIRES)
            .await
            .unwrap();
        // Each commit removes at least 64 expired records, so a few more writes clear them all.
        for i in 0..3 {
            store
                .save(&format!("later-{i}"), vec![3], None, now_unix_ms() + 60_000)
                .await
                .unwrap();
        }
        assert_eq!(count(&store.db), (4, 4));
        assert_eq!(store.load("kept").await.unwrap().unwrap().revision, live);
    }

    #[tokio::test]
    async fn refreshing_expiry_moves_the_index_entry() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path().join("s.db")).await.unwrap();
        let soon = now_unix_ms() + 60_000;
        let r1 = store.save("k", vec![1], None, soon).await.unwrap();
        let r2 = store
            .save("k", vec![2], Some(r1), soon + 1000)
            .await
            .unwrap();
        assert_eq!(count(&store.db), (1, 1));
        store.delete("k").await.unwrap();
        assert_eq!(count(&store.db), (0, 0));
        assert!(r2 > r1);
    }

    /// A save job on `key` (its value is the key) and the receiver of its outcome.
    fn save_job(
        key: &str,
        expected: Option<u64>,
    ) -> (Job, oneshot::Receiver<Result<Revision, StoreError>>) {
        let (reply, outcome) = oneshot::channel();
        let job = Job::Save {
            key: key.to_owned(),
            value: key.as_bytes().to_vec(),
            expected: expected.map(Revision::new),
            expires_at_ms: crate::NEVER_EXPIRES,
            reply,
        };
        (job, outcome)
    }

    #[tokio::test]
    async fn one_batch_applies_jobs_in_order_and_a_conflict_fails_only_itself() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path().join("s.db")).await.unwrap();
        // A fresh file hands out revisions 1, 2, 3... in job order.
        let (create_a, a1) = save_job("a", None);
        let (create_a_again, a_conflict) = save_job("a", None);
        let (create_b, b1) = save_job("b", None);
        let (update_a, a2) = save_job("a", Some(1));
        let (stale_a, a_stale) = save_job("a", Some(1));
        let (delete_reply, deleted) = oneshot::channel();
        let delete_b = Job::Delete {
            key: "b".to_owned(),
            reply: delete_reply,
        };
        let (recreate_b, b2) = save_job("b", None);
        let mut batch = vec![
            create_a,
            create_a_again,
            create_b,
            update_a,
            stale_a,
            delete_b,
            recreate_b,
        ];
        commit_batch(&store.db, &mut batch);

        assert_eq!(a1.await.unwrap().unwrap(), Revision::new(1));
        assert!(matches!(
            a_conflict.await.unwrap(),
            Err(StoreError::Conflict)
        ));
        assert_eq!(b1.await.unwrap().unwrap(), Revision::new(2));
        assert_eq!(a2.await.unwrap().unwrap(), Revision::new(3));
        assert!(matches!(a_stale.await.unwrap(), Err(StoreError::Conflict)));
        deleted.await.unwrap().unwrap();
        assert_eq!(b2.await.unwrap().unwrap(), Revision::new(4));
        assert_eq!(
            store.load("a").await.unwrap().unwrap().revision,
            Revision::new(3)
        );
        assert_eq!(
            store.load("b").await.unwrap().unwrap().revision,
            Revision::new(4)
        );
        assert_eq!(count(&store.db), (2, 2));
    }

    #[test]
    fn the_writer_commits_everything_queued_as_one_batch_up_to_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join("s.db")).unwrap();
        init_tables(&db).unwrap();
        // Fill the queue before the writer runs, as happens while it waits for a disk sync.
        let jobs = MAX_BATCH_JOBS + 88;
        let (queue_tx, queue_rx) = mpsc::channel(jobs);
        let mut outcomes = Vec::new();
        for i in 0..jobs {
            let (job, outcome) = save_job(&format!("k{i}"), None);
            queue_tx.try_send(job).map_err(|_| "queue full").unwrap();
            outcomes.push(outcome);
        }
        drop(queue_tx);
        let batches = run_writer(&db, queue_rx);

        assert_eq!(batches, 2, "{jobs} queued saves");
        for (i, mut outcome) in outcomes.into_iter().enumerate() {
            let revision = outcome.try_recv().unwrap().unwrap();
            assert_eq!(revision, Revision::new(u64::try_from(i).unwrap() + 1));
        }
    }

    #[test]
    fn short_record_is_corrupt_not_a_panic() {
        assert!(matches!(
            decode_header(&[0; 15]),
            Err(StoreError::Corrupt(_))
        ));
        let h = decode_header(&encode_record(Revision::new(7), 9, b"x")).unwrap();
        assert_eq!((h.revision, h.expires_at_ms), (Revision::new(7), 9));
    }

    #[test]
    fn index_keys_sort_by_expiry() {
        assert!(index_key(1, "zzz") < index_key(2, "aaa"));
        assert_eq!(split_index_key(&index_key(5, "k-ü")), Some((5, "k-ü")));
        assert_eq!(split_index_key(&[1, 2]), None);
    }
}
