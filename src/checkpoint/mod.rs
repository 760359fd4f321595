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

use crate::error::{Error, Result};
use crate::job::Job;
use crate::shard::KeyEntry;
use crate::source::{self, FileIdentity, MappedFile};
use crate::stats::Counters;

const MAGIC: &[u8; 8] = b"VIGILCKP";
/// Bumped whenever the payload layout changes; older files are refused.
pub const FORMAT_VERSION: u32 = 1;
const HEADER_LEN: usize = 8 + 4 + 8 + 8 + 4;

/// Where reading of one file input stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputPosition {
    pub path: PathBuf,
    /// the file being read (after a rotation: the old file, now at `PATH.1`)
    pub identity: FileIdentity,
    pub offset: u64,
    /// true while the rest of a rotated file (`PATH.1`) is being read
    pub rotated: bool,
}

/// A part of an input to read: the current file, or the rest of a rotated one.
pub enum Segment {
    Mapped { from: u64 },
    Rotated { file: Arc<MappedFile>, from: u64 },
}

impl InputPosition {
    pub fn set_offset(&mut self, seg: &Segment, current: &MappedFile, offset: u64) {
        match seg {
            Segment::Mapped { .. } => {
                self.identity = current.identity.clone();
                self.rotated = false;
            }
            Segment::Rotated { file, .. } => {
                self.identity = file.identity.clone();
                self.rotated = true;
            }
        }
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
    pub counters: Counters,
    pub keys: Vec<KeyEntry>,
}

/// The same, borrowed from the running pipeline for writing.
#[derive(Serialize)]
pub struct Snapshot<'a> {
    pub positions: &'a [InputPosition],
    pub outputs: Vec<u64>,
    pub max_seen: i64,
    pub wm: i64,
    pub seq: u64,
    pub counters: Counters,
    pub keys: Vec<&'a KeyEntry>,
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
    let _ = write!(s, "max_delay={};", job.max_delay);
    for r in &job.rules {
        let _ = write!(s, "rule={};", r.text);
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
            &format!("unreadable: format version {version} where this vigil reads version {FORMAT_VERSION} (a newer vigil's file, or a corrupt one)"),
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
            "made by a different job (inputs, format, time, key, window, aggregates, --where/--eval or rules differ)",
        ));
    }
    postcard::from_bytes(payload).map_err(|e| refuse(path, &format!("corrupt payload ({e})")))
}

/// Checks each file input against its checkpointed position and says what to
/// read: the rest of the same file, or (with `--incremental`) the rest of a
/// rotated file at `PATH.1` and then the new file from its start.
pub fn verify_inputs(
    files: &[MappedFile],
    resume: &[InputPosition],
    incremental: bool,
) -> Result<Vec<(InputPosition, Vec<Segment>)>> {
    let mut out = Vec::new();
    for (i, file) in files.iter().enumerate() {
        let fresh = InputPosition {
            path: file.path.clone(),
            identity: file.identity.clone(),
            offset: 0,
            rotated: false,
        };
        let Some(saved) = resume.get(i) else {
            out.push((fresh, vec![Segment::Mapped { from: 0 }]));
            continue;
        };
        if same_file(file, &saved.identity, saved.offset) && !saved.rotated {
            out.push((saved.clone(), vec![Segment::Mapped { from: saved.offset }]));
            continue;
        }
        if saved.rotated && same_file(file, &saved.identity, saved.offset) {
            // The old file is still at PATH (rotation undone?): keep reading it.
            out.push((saved.clone(), vec![Segment::Mapped { from: saved.offset }]));
            continue;
        }
        if !incremental {
            return Err(Error::usage(format!(
                "input {} is no longer the file the checkpoint was made from (other inode, shorter, or different first bytes); \
                 use --fresh to start over, or --incremental to follow rotations",
                file.path.display()
            )));
        }
        let mut rotated_path = file.path.clone().into_os_string();
        rotated_path.push(".1");
        let rotated_path = PathBuf::from(rotated_path);
        let old = match source::open_file(&rotated_path) {
            Ok(Some(old)) if same_file(&old, &saved.identity, saved.offset) => Some(old),
            _ => None,
        };
        match old {
            Some(old) => {
                eprintln!(
                    "vigil: {} was rotated: reading the rest of {} from byte {}, then the new file",
                    file.path.display(),
                    rotated_path.display(),
                    saved.offset
                );
                let pos = InputPosition {
                    path: file.path.clone(),
                    identity: old.identity.clone(),
                    offset: saved.offset,
                    rotated: true,
                };
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
            None => {
                eprintln!(
                    "vigil: {} is a new file and the old one is not at {}: reading the new file from its start \
                     (what the old file had after byte {} is not read)",
                    file.path.display(),
                    rotated_path.display(),
                    saved.offset
                );
                out.push((fresh, vec![Segment::Mapped { from: 0 }]));
            }
        }
    }
    Ok(out)
}

/// Same inode, at least `offset` bytes, and the same first bytes.
fn same_file(file: &MappedFile, id: &FileIdentity, offset: u64) -> bool {
    let bytes = file.bytes();
    file.identity.dev == id.dev
        && file.identity.ino == id.ino
        && (bytes.len() as u64) >= offset
        && (bytes.len() as u64) >= id.head_len
        && source::head_hash(&bytes[..id.head_len as usize]) == id.head_hash
}

/// The background writer: a channel of serialized checkpoints and its thread.
type Writer = (
    crossbeam_channel::Sender<Vec<u8>>,
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
        }
    }

    pub fn due(&self) -> bool {
        self.last.elapsed() >= self.every
    }

    /// Serializes now; writes in the background (or, for the last one, waits).
    pub fn save(&mut self, snap: &Snapshot<'_>) -> Result<()> {
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
            let (tx, rx) = crossbeam_channel::bounded::<Vec<u8>>(1);
            let path = self.path.clone();
            let handle = std::thread::Builder::new()
                .name("checkpoint".into())
                .spawn(move || {
                    for bytes in rx {
                        write_atomic(&path, &bytes)?;
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
            if tx.send(bytes).is_err() {
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

/// Temporary file, fsync, rename over `path`, fsync of the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = std::fs::File::create(&tmp).map_err(|e| Error::io("cannot create", &tmp, e))?;
    f.write_all(bytes)
        .map_err(|e| Error::io("cannot write", &tmp, e))?;
    f.sync_all()
        .map_err(|e| Error::io("cannot sync", &tmp, e))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| Error::io("cannot rename checkpoint to", path, e))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}
