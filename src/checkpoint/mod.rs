//! Checkpoint files: what they hold, how they are written (serialize in the
//! pipeline thread, then temporary file, fsync, rename, fsync of the
//! directory on a writer thread), and how a run resumes from one (verify
//! version, checksum, job fingerprint and input identities). The only module
//! that writes state files.
//!
//! File layout: `VIGILCKP` magic, format version (u32 LE), job fingerprint
//! (u64 LE), payload length (u64 LE), CRC-32 of the payload (u32 LE), then
//! the payload: a postcard-encoded [`Checkpoint`].

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::deliver::firing::FiringSet;
use crate::error::{Error, Result};
use crate::html::PageStore;
use crate::job::Job;
use crate::shard::KeyEntry;
use crate::source::{self, FileIdentity, MappedFile};
use crate::stats::Counters;

const MAGIC: &[u8; 8] = b"VIGILCKP";
/// Bumped whenever the payload layout changes; older files are refused.
/// 2: input tail hashes and per-key history-function state; 3: the
/// `--html` page's store after the keys; 4: per-input watermarks; 5: the
/// firing alerts (start and value) after the page's store.
pub const FORMAT_VERSION: u32 = 6;
const HEADER_LEN: usize = 8 + 4 + 8 + 8 + 4;

/// Where reading of one file input stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputPosition {
    pub path: PathBuf,
    /// the file being read (after a rotation: the old file, now at `PATH.1`)
    pub identity: FileIdentity,
    pub offset: u64,
    /// hash of the up to [`TAIL_BYTES`] bytes just before `offset`: with the
    /// head hash, tells a file that grew from one truncated and rewritten
    pub tail_hash: u64,
    /// true while the rest of a rotated file (`PATH.1`) is being read
    pub rotated: bool,
    /// what was at `PATH.1` when this run started (None: nothing). A change
    /// since then is a rotation, even when `PATH` itself still looks the same
    /// (copytruncate of a file this run saw empty)
    pub rotated_seen: Option<FileIdentity>,
}

/// Bytes before the offset hashed into [`InputPosition::tail_hash`].
pub const TAIL_BYTES: u64 = 1024;

/// Hash of the bytes before `offset` (those that exist).
fn tail_hash(bytes: &[u8], offset: u64) -> u64 {
    let end = (offset as usize).min(bytes.len());
    let start = end.saturating_sub(TAIL_BYTES as usize);
    source::head_hash(&bytes[start..end])
}

/// A part of an input to read: the current file, or the rest of a rotated one.
pub enum Segment {
    Mapped { from: u64 },
    Rotated { file: Arc<MappedFile>, from: u64 },
}

impl InputPosition {
    pub fn set_offset(&mut self, seg: &Segment, current: &MappedFile, offset: u64) {
        let read = match seg {
            Segment::Mapped { .. } => {
                self.rotated = false;
                current
            }
            Segment::Rotated { file, .. } => {
                self.rotated = true;
                file.as_ref()
            }
        };
        self.identity = read.identity.clone();
        self.tail_hash = tail_hash(read.bytes(), offset);
        self.offset = offset;
    }
}

/// The state a run resumes from.
#[derive(Debug, Serialize, Deserialize)]
pub struct Checkpoint {
    pub positions: Vec<InputPosition>,
    /// byte lengths of: report, alerts, late output, bad-record file
    pub outputs: Vec<u64>,
    pub max_seen: i64,
    pub wm: i64,
    pub seq: u64,
    /// `--watermark per-input`: each file input's (max event time, watermark)
    pub input_clocks: Vec<(i64, i64)>,
    pub counters: Counters,
    pub keys: Vec<KeyEntry>,
    /// The `--html` page's memory of the run (None: the run had no --html).
    pub html: Option<PageStore>,
    /// firing alerts with their start and value (version 4): re-sent to
    /// Alertmanager targets on resume
    pub firing: FiringSet,
}

/// The same, borrowed from the running pipeline for writing.
#[derive(Serialize)]
pub struct Snapshot<'a> {
    pub positions: &'a [InputPosition],
    pub outputs: Vec<u64>,
    pub max_seen: i64,
    pub wm: i64,
    pub seq: u64,
    pub input_clocks: Vec<(i64, i64)>,
    pub counters: Counters,
    pub keys: Vec<&'a KeyEntry>,
    pub html: Option<&'a PageStore>,
    pub firing: FiringSet,
    #[serde(skip)]
    pub last: bool,
}

/// 64-bit FNV-1a: stable across builds and platforms, unlike std's hashers.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A fingerprint of everything that changes results (SPEC section 5); not the
/// options that may differ between runs of one job (threads, incremental, ...).
pub fn fingerprint(job: &Job) -> u64 {
    let mut s = String::new();
    use std::fmt::Write as _;
    let _ = write!(
        s,
        "inputs={:?};",
        job.inputs.iter().map(|i| i.describe()).collect::<Vec<_>>()
    );
    let _ = write!(
        s,
        "format={:?};regex={:?};delim={};header={};columns={:?};",
        job.format, job.regex, job.delimiter, job.has_header, job.columns
    );
    let _ = write!(
        s,
        "time={:?};time_format={:?};key={:?};window={:?};",
        job.time_field, job.time_format_text, job.key, job.window
    );
    let _ = write!(s, "aggs={:?};where={:?};", job.aggs, job.where_text);
    for (name, _, text) in &job.evals {
        let _ = write!(s, "eval {name}={text};");
    }
    let _ = write!(
        s,
        "max_delay={};max_line={};",
        job.max_delay, job.max_line_bytes
    );
    if job.watermark_per_input || job.input_field.is_some() {
        let _ = write!(
            s,
            "watermark_per_input={};input_field={:?};",
            job.watermark_per_input, job.input_field
        );
    }
    for r in &job.rules {
        let _ = write!(s, "rule={};", r.text);
    }
    // The tables' content, not their paths: a moved table is the same job,
    // an edited one is not.
    for t in &job.lookups.tables {
        let _ = write!(s, "lookup={:016x};", t.digest);
    }
    fnv1a(s.as_bytes())
}

fn refuse(path: &Path, why: &str) -> Error {
    Error::usage(format!(
        "checkpoint {}: {why}; use --fresh to start over (outputs are rewritten) or another --checkpoint path",
        path.display()
    ))
}

/// Reads and verifies a checkpoint made by this job.
pub fn load(path: &Path, fingerprint: u64) -> Result<Checkpoint> {
    let bytes = std::fs::read(path)
        .map_err(|e| Error::usage(format!("cannot read checkpoint {}: {e}", path.display())))?;
    if bytes.len() < HEADER_LEN || &bytes[..8] != MAGIC {
        return Err(refuse(path, "not a vigil checkpoint (bad header)"));
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if version != FORMAT_VERSION {
        return Err(refuse(
            path,
            &format!(
                "unreadable: format version {version} where this vigil reads version {FORMAT_VERSION} ({})",
                if version < FORMAT_VERSION {
                    "made by an older vigil"
                } else {
                    "a newer vigil's file, or a corrupt one"
                }
            ),
        ));
    }
    let fp = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes"));
    let len = u64::from_le_bytes(bytes[20..28].try_into().expect("8 bytes")) as usize;
    let crc = u32::from_le_bytes(bytes[28..32].try_into().expect("4 bytes"));
    let payload = &bytes[HEADER_LEN..];
    if payload.len() != len {
        return Err(refuse(
            path,
            &format!(
                "truncated or corrupt ({} payload bytes, header says {len})",
                payload.len()
            ),
        ));
    }
    if crc32fast::hash(payload) != crc {
        return Err(refuse(path, "corrupt (checksum mismatch)"));
    }
    if fp != fingerprint {
        return Err(refuse(
            path,
            "made by a different job (inputs, format, time, key, window, aggregates, --where/--eval, rules or --lookup tables differ)",
        ));
    }
    postcard::from_bytes(payload).map_err(|e| refuse(path, &format!("corrupt payload ({e})")))
}

/// `PATH.1`, where logrotate (rename or copytruncate) leaves the previous generation.
fn rotated_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".1");
    PathBuf::from(p)
}

/// Checks each file input against its checkpointed position and says what to
/// read: the rest of the same file, or (with `--incremental`) the rest of the
/// previous generation at `PATH.1` and then the new file from its start.
///
/// A generation is recognised by its content, not only its inode: at least
/// `offset` bytes, the same first bytes and the same bytes before the offset.
/// So a copy (copytruncate: `PATH` copied to `PATH.1`, then `PATH` truncated
/// in place, same inode) is found as surely as a renamed file; and `PATH.1`
/// having changed since the checkpoint is itself a rotation, which is how a
/// generation written and rotated after a run that saw `PATH` empty (nothing
/// to compare) is not lost.
pub fn verify_inputs(
    files: &[MappedFile],
    resume: &[InputPosition],
    incremental: bool,
) -> Result<Vec<(InputPosition, Vec<Segment>)>> {
    let mut out = Vec::new();
    for (i, file) in files.iter().enumerate() {
        let p1_path = rotated_path(&file.path);
        let p1 = match source::open_file(&p1_path) {
            Ok(Some(f)) => Some(f),
            _ => None,
        };
        let p1_identity = p1.as_ref().map(|f| f.identity.clone());
        let fresh = InputPosition {
            path: file.path.clone(),
            identity: file.identity.clone(),
            offset: 0,
            tail_hash: tail_hash(file.bytes(), 0),
            rotated: false,
            rotated_seen: p1_identity.clone(),
        };
        let Some(saved) = resume.get(i) else {
            out.push((fresh, vec![Segment::Mapped { from: 0 }]));
            continue;
        };
        let keep_reading = |saved: &InputPosition| {
            let mut pos = saved.clone();
            pos.rotated_seen = p1_identity.clone();
            (pos, vec![Segment::Mapped { from: saved.offset }])
        };
        let current_continues = same_inode(file, &saved.identity) && continues(file, saved);
        let p1_continues = p1
            .as_ref()
            .is_some_and(|f| continues(f, saved) && !same_inode(f, &file.identity));
        if saved.rotated {
            // We were reading the previous generation (then at PATH.1).
            if current_continues {
                // The old file is back at PATH (rotation undone?): keep reading it.
                out.push(keep_reading(saved));
                continue;
            }
        } else if current_continues {
            // PATH still holds what was read. Unless PATH.1 is new since the
            // checkpoint and holds that same generation, while PATH is not
            // merely its continuation (logrotate `copy`, no truncation):
            // then PATH was copied away and truncated.
            let copied_away = incremental
                && p1_continues
                && p1_identity != saved.rotated_seen
                && !p1.as_ref().is_some_and(|f| is_prefix_of(f, file));
            if !copied_away {
                out.push(keep_reading(saved));
                continue;
            }
        }
        if !incremental {
            return Err(Error::usage(format!(
                "input {} is no longer the file the checkpoint was made from (other inode, shorter, or different first bytes); \
                 use --fresh to start over, or --incremental to follow rotations",
                file.path.display()
            )));
        }
        match p1 {
            Some(old) if p1_continues => {
                crate::diag!(
                    "vigil: {} was rotated: reading the rest of {} from byte {}, then the new file",
                    file.path.display(),
                    p1_path.display(),
                    saved.offset
                );
                let mut pos = saved.clone();
                pos.identity = old.identity.clone();
                pos.rotated = true;
                pos.rotated_seen = p1_identity.clone();
                out.push((
                    pos,
                    vec![
                        Segment::Rotated {
                            file: Arc::new(old),
                            from: saved.offset,
                        },
                        Segment::Mapped { from: 0 },
                    ],
                ));
            }
            other => {
                let why = match other {
                    None => format!("there is no {}", p1_path.display()),
                    Some(_) => format!(
                        "{} is not it (shorter than byte {}, or other first bytes)",
                        p1_path.display(),
                        saved.offset
                    ),
                };
                crate::diag!(
                    "vigil: {} is a new file and the one the checkpoint was reading is lost: {why}; \
                     reading the new file from its start (what the old file had after byte {} is not read)",
                    file.path.display(),
                    saved.offset
                );
                out.push((fresh, vec![Segment::Mapped { from: 0 }]));
            }
        }
    }
    Ok(out)
}

fn same_inode(file: &MappedFile, id: &FileIdentity) -> bool {
    file.identity.dev == id.dev && file.identity.ino == id.ino
}

/// `file` holds the generation `saved` was reading: at least `offset` bytes,
/// the same first bytes and the same bytes before the offset (any inode: a
/// renamed file or a copy).
fn continues(file: &MappedFile, saved: &InputPosition) -> bool {
    let bytes = file.bytes();
    let id = &saved.identity;
    (bytes.len() as u64) >= saved.offset
        && (bytes.len() as u64) >= id.head_len
        && source::head_hash(&bytes[..id.head_len as usize]) == id.head_hash
        && tail_hash(bytes, saved.offset) == saved.tail_hash
}

/// Every byte of `old` starts `current` (a copy that was not truncated after).
fn is_prefix_of(old: &MappedFile, current: &MappedFile) -> bool {
    current.bytes().starts_with(old.bytes())
}

/// The lock on a checkpoint, held for the whole run: two runs on one
/// checkpoint would race on its temporary file and resume from each other's
/// state. An advisory `flock` on `CHECKPOINT.lock` (a file of its own: the
/// checkpoint itself is replaced by rename at every save); the kernel drops
/// it when the process ends, however it ends, so a killed run leaves no
/// stale lock behind. The lock file is left in place (removing it would let
/// a third run lock a new file while the second still holds the old one).
pub struct CheckpointLock {
    _file: std::fs::File,
}

/// Takes the lock of the checkpoint at `path`, or refuses (exit 2) when
/// another run holds it.
pub fn lock(path: &Path) -> Result<CheckpointLock> {
    use std::io::{Read, Seek};
    use std::os::fd::AsRawFd;
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".lock");
    let lock_path = PathBuf::from(lock_path);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(|e| Error::io("cannot create the checkpoint lock", &lock_path, e))?;
    // SAFETY: flock(2) on a descriptor owned by `file`.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::WouldBlock {
            return Err(Error::io("cannot lock", &lock_path, err));
        }
        let mut holder = String::new();
        let _ = file.read_to_string(&mut holder);
        let holder = match holder.trim() {
            "" => String::new(),
            pid => format!(" (pid {pid})"),
        };
        return Err(Error::usage(format!(
            "checkpoint {} is in use by another vigil run{holder}; wait for it to end, or give this run another --checkpoint path",
            path.display()
        )));
    }
    // Who holds it, for the message of a second run.
    let _ = file.set_len(0);
    let _ = file.seek(std::io::SeekFrom::Start(0));
    let _ = writeln!(file, "{}", std::process::id());
    Ok(CheckpointLock { _file: file })
}

/// Output files to make durable before a checkpoint that records their
/// lengths: each one's path (for messages) and a handle on it.
pub type OutputsToSync = Vec<(PathBuf, std::fs::File)>;

/// The background writer: a channel of serialized checkpoints (and the
/// outputs to sync first) and its thread.
type Writer = (
    crossbeam_channel::Sender<(Vec<u8>, OutputsToSync)>,
    std::thread::JoinHandle<Result<()>>,
);

/// Writes checkpoints: due every `every` of wall time; the file itself is
/// written on a background thread so the pipeline pauses only to serialize.
pub struct Store {
    path: PathBuf,
    fingerprint: u64,
    every: Duration,
    last: Instant,
    writer: Option<Writer>,
    /// checkpoints taken, size of the last, and the longest pause of the
    /// pipeline for one (serialization; the write happens on another thread)
    pub saved: u64,
    pub bytes: u64,
    pub max_stall: Duration,
    /// the longest background write (outputs fsynced, then the checkpoint
    /// written, fsynced and renamed), in microseconds
    max_write_us: Arc<std::sync::atomic::AtomicU64>,
}

impl Store {
    pub fn new(path: PathBuf, fingerprint: u64, every_ms: i64) -> Store {
        Store {
            path,
            fingerprint,
            every: Duration::from_millis(every_ms.max(1) as u64),
            last: Instant::now(),
            writer: None,
            saved: 0,
            bytes: 0,
            max_stall: Duration::ZERO,
            max_write_us: Arc::default(),
        }
    }

    /// The longest background write of a checkpoint so far.
    pub fn max_write(&self) -> Duration {
        Duration::from_micros(self.max_write_us.load(std::sync::atomic::Ordering::Relaxed))
    }

    pub fn due(&self) -> bool {
        self.last.elapsed() >= self.every
    }

    /// Serializes now; writes in the background (or, for the last one,
    /// waits). `outputs` (already flushed to their recorded lengths) are
    /// fsynced on the writer thread before the checkpoint file is written,
    /// so a checkpoint on disk never records more output than the disk
    /// holds, and the pipeline does not wait for the disk.
    pub fn save(&mut self, snap: &Snapshot<'_>, outputs: OutputsToSync) -> Result<()> {
        let started = Instant::now();
        self.last = started;
        let payload = postcard::to_stdvec(snap)
            .map_err(|e| Error::runtime(format!("serializing checkpoint: {e}")))?;
        let mut bytes = Vec::with_capacity(HEADER_LEN + payload.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        bytes.extend_from_slice(&self.fingerprint.to_le_bytes());
        bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        bytes.extend_from_slice(&payload);
        if self.writer.is_none() {
            let (tx, rx) = crossbeam_channel::bounded::<(Vec<u8>, OutputsToSync)>(1);
            let path = self.path.clone();
            let max_write = self.max_write_us.clone();
            let handle = std::thread::Builder::new()
                .name("checkpoint".into())
                .spawn(move || {
                    for (bytes, outputs) in rx {
                        let started = Instant::now();
                        for (out, file) in &outputs {
                            file.sync_data()
                                .map_err(|e| Error::io("cannot sync", out, e))?;
                        }
                        crate::sink::write_atomic(&path, &bytes, crate::sink::Durability::Synced)?;
                        let us = started.elapsed().as_micros() as u64;
                        max_write.fetch_max(us, std::sync::atomic::Ordering::Relaxed);
                    }
                    Ok(())
                })
                .expect("spawn checkpoint writer");
            self.writer = Some((tx, handle));
        }
        self.saved += 1;
        self.bytes = bytes.len() as u64;
        self.max_stall = self.max_stall.max(started.elapsed());
        if let Some((tx, _)) = &self.writer {
            if tx.send((bytes, outputs)).is_err() {
                return self.join();
            }
        }
        if snap.last {
            return self.join();
        }
        Ok(())
    }

    fn join(&mut self) -> Result<()> {
        if let Some((tx, handle)) = self.writer.take() {
            drop(tx);
            return handle
                .join()
                .unwrap_or_else(|_| Err(Error::runtime("checkpoint writer panicked")));
        }
        Ok(())
    }
}

#[cfg(test)]
mod format_tests {
    use super::*;
    use crate::agg::AggValue;
    use crate::shard::Row;

    /// A checkpoint with a page history, written by the store and read back.
    fn written(dir: &Path) -> (PathBuf, Vec<u8>) {
        let mut history = PageStore::new(1, Some(0), 10, &["in.csv".to_string()]);
        let key: Box<[u8]> = [1u8, 0, 0, 0, b'a'].into();
        history.add_row(&Row {
            order: (10, 0),
            start: 0,
            end: 10,
            key: &key,
            values: &[AggValue::Int(3)],
        });
        history.add_input_counts("in.csv", 2, 1);
        let path = dir.join("run.ckpt");
        let mut store = Store::new(path.clone(), 0xfeed, 1000);
        store
            .save(
                &Snapshot {
                    positions: &[],
                    outputs: vec![5, 0, 0, 0],
                    max_seen: 9,
                    wm: 9,
                    seq: 1,
                    input_clocks: vec![(7, 2)],
                    counters: Counters::default(),
                    keys: Vec::new(),
                    html: Some(&history),
                    firing: FiringSet::default(),
                    last: true,
                },
                Vec::new(),
            )
            .unwrap();
        let bytes = std::fs::read(&path).unwrap();
        (path, bytes)
    }

    #[test]
    fn the_file_layout_is_magic_version_fingerprint_length_crc_payload() {
        let dir = tempfile::tempdir().unwrap();
        let (path, bytes) = written(dir.path());
        assert_eq!(&bytes[..8], b"VIGILCKP");
        assert_eq!(u32::from_le_bytes(bytes[8..12].try_into().unwrap()), 6);
        assert_eq!(FORMAT_VERSION, 6, "bump this test with the version");
        assert_eq!(
            u64::from_le_bytes(bytes[12..20].try_into().unwrap()),
            0xfeed
        );
        let len = u64::from_le_bytes(bytes[20..28].try_into().unwrap()) as usize;
        assert_eq!(len, bytes.len() - HEADER_LEN);
        let crc = u32::from_le_bytes(bytes[28..32].try_into().unwrap());
        assert_eq!(crc, crc32fast::hash(&bytes[HEADER_LEN..]));
        let back = load(&path, 0xfeed).unwrap();
        assert_eq!(back.outputs, vec![5, 0, 0, 0]);
        assert_eq!(back.input_clocks, vec![(7, 2)]);
        let history = back
            .html
            .expect("the page history")
            .restored(1, Some(0))
            .unwrap();
        assert_eq!(history.shown()[0].records, Some(3));
        assert_eq!(history.inputs().0[0].bad, 2);
    }

    #[test]
    fn a_file_of_the_previous_format_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let (path, mut bytes) = written(dir.path());
        bytes[8..12].copy_from_slice(&5u32.to_le_bytes());
        std::fs::write(&path, &bytes).unwrap();
        let err = load(&path, 0xfeed).unwrap_err().to_string();
        assert!(
            err.contains("format version 5 where this vigil reads version 6"),
            "{err}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Transition;

    #[test]
    fn a_second_lock_on_one_checkpoint_is_refused_until_the_first_is_released() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.ckpt");
        let first = lock(&path).unwrap();
        let e = lock(&path).err().expect("the second run is refused");
        assert_eq!(e.exit_code(), crate::error::EXIT_USAGE);
        let msg = e.to_string();
        assert!(msg.contains("in use by another vigil run"), "{msg}");
        assert!(
            msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        drop(first);
        let _again = lock(&path).expect("free once the first run ended");
    }

    /// The payload layout, pinned: a change here must bump FORMAT_VERSION
    /// (version 3: the --html store after the keys; version 4: the firing set after it;
    /// version 6: a key's aggregate slots keep squares, first and last in one optional part).
    #[test]
    fn payload_layout_is_pinned() {
        let mut firing = FiringSet::default();
        firing.apply(1, b"\x01\x00\x00\x00a", Transition::Firing, 60_000, "2.5");
        let snap = Snapshot {
            positions: &[],
            outputs: vec![10, 20, 0, 0],
            max_seen: 61_000,
            wm: 60_000,
            seq: 7,
            input_clocks: vec![(61_000, 60_000)],
            counters: Counters::default(),
            keys: Vec::new(),
            html: None,
            firing,
            last: true,
        };
        let bytes = postcard::to_stdvec(&snap).unwrap();
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(FORMAT_VERSION, 6);
        assert_eq!(
            hex, PINNED_V6,
            "the checkpoint payload changed: bump FORMAT_VERSION"
        );
        let back: Checkpoint = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back.outputs, [10, 20, 0, 0]);
        assert_eq!((back.max_seen, back.wm, back.seq), (61_000, 60_000, 7));
        assert_eq!(back.firing, snap.firing);
    }

    /// positions, outputs, max_seen, wm, seq, one per-input watermark, counters, keys,
    /// no html store, then the firing set: one entry (rule 1, key "a") since 60000 with value "2.5".
    const PINNED_V6: &str =
        "00040a14000090b907c0a907070190b907c0a90700000000000000000000000101050100000061c0a90703322e35";
}
