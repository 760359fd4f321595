//! Inputs: regular files are memory-mapped and handed out as byte ranges;
//! stdin, TCP connections and non-regular files are read by threads that send
//! chunks of whole lines over a bounded channel. Knows no format: it deals in
//! bytes, stream identities and byte offsets.

pub mod truncation;

use std::io::{self, Read};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Sender;
use memmap2::Mmap;

use crate::error::{Error, Result};

pub mod pieces;

/// Read size for streams.
const READ_SIZE: usize = 1 << 16;
/// How often blocked TCP readers look at the stop flag.
const POLL: Duration = Duration::from_millis(50);
/// After SIGINT/SIGTERM, how long a connection that keeps sending is still read.
const STOP_GRACE: Duration = Duration::from_secs(1);

/// A regular file, mapped.
pub struct MappedFile {
    pub path: PathBuf,
    /// declared before `map`: unregistered before the unmap
    guard: Option<truncation::Guard>,
    map: Option<Mmap>,
    pub identity: FileIdentity,
}

/// What identifies a file across runs (checkpoints).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileIdentity {
    pub dev: u64,
    pub ino: u64,
    pub len: u64,
    /// hash of the first up to 1 KiB
    pub head_hash: u64,
    pub head_len: u64,
}

/// Bytes hashed to recognise a file again.
pub const HEAD_BYTES: usize = 1024;

impl MappedFile {
    pub fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }

    /// An error (exit 1) when the file lost bytes since it was mapped (it was
    /// truncated while being read): what was read past its new end read as
    /// zeros, so the run cannot go on as if nothing happened. The driver asks
    /// after each batch, before a checkpoint can record that batch.
    pub fn check_intact(&self) -> Result<()> {
        let Some(now) = self.guard.as_ref().and_then(|g| g.truncated(&self.path)) else {
            return Ok(());
        };
        Err(Error::runtime(format!(
            "input {} was truncated while being read: it had {} bytes when vigil opened it and now has {now}; \
             the bytes past its new end are gone. Rotate files by renaming them (or copytruncate between runs, with --incremental), \
             then run again: with --checkpoint the run resumes from its last checkpoint",
            self.path.display(),
            self.identity.len,
        )))
    }

    /// Tells the kernel the bytes before `upto` were consumed, so they leave
    /// this process' resident set (they stay in the page cache): memory then
    /// does not grow with the length of the input.
    pub fn release_before(&self, upto: usize) {
        const PAGE: usize = 4096;
        let end = upto / PAGE * PAGE;
        if let Some(map) = &self.map {
            if end > 0 {
                // SAFETY: the mapping is private and read-only; pages dropped
                // here are read back from the file if ever touched again.
                let _ = unsafe {
                    map.unchecked_advise_range(
                        memmap2::UncheckedAdvice::DontNeed,
                        0,
                        end.min(map.len()),
                    )
                };
            }
        }
    }
}

/// Hash of the first `n` bytes (identity checks).
pub fn head_hash(bytes: &[u8]) -> u64 {
    crate::plan::hash_bytes(bytes)
}

/// Opens `path`: Ok(Some) for a regular file (mapped), Ok(None) for something
/// to read as a stream (FIFO, /dev/stdin, a character device).
pub fn open_file(path: &Path) -> Result<Option<MappedFile>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io("cannot open", path, e))?;
    let meta = file
        .metadata()
        .map_err(|e| Error::io("cannot read", path, e))?;
    if meta.is_dir() {
        return Err(Error::runtime(format!(
            "cannot read {}: it is a directory",
            path.display()
        )));
    }
    if !meta.is_file() {
        return Ok(None);
    }
    use std::os::unix::fs::MetadataExt;
    let map = if meta.len() == 0 {
        None
    } else {
        // SAFETY: the map is read-only. A file truncated while mapped would
        // raise SIGBUS on reading past its new end: the truncation guard
        // (registered below) turns that into zeros and a flag, and the driver
        // stops with an error (`check_intact`).
        Some(unsafe { Mmap::map(&file) }.map_err(|e| Error::io("cannot map", path, e))?)
    };
    if let Some(m) = &map {
        let _ = m.advise(memmap2::Advice::Sequential);
    }
    let bytes = map.as_deref().unwrap_or(&[]);
    let guard = map
        .as_ref()
        .map(|m| truncation::Guard::register(m, meta.dev(), meta.ino()));
    let head = &bytes[..bytes.len().min(HEAD_BYTES)];
    Ok(Some(MappedFile {
        path: path.to_path_buf(),
        guard,
        identity: FileIdentity {
            dev: meta.dev(),
            ino: meta.ino(),
            len: bytes.len() as u64,
            head_hash: head_hash(head),
            head_len: head.len() as u64,
        },
        map,
    }))
}

/// One message from a stream reader.
pub struct StreamChunk {
    pub stream: u32,
    pub name: Arc<str>,
    /// whole lines (the last one of a stream may lack its newline)
    pub data: Vec<u8>,
    /// byte offset of `data` in the stream
    pub offset: u64,
    /// 1-based line number of the first line in `data`
    pub first_line: u64,
    /// wall-clock arrival, ms since the epoch
    pub arrival_ms: i64,
    /// the stream ended after this chunk
    pub last: bool,
    /// set by the pipeline to drop the stream: its reader stops reading and
    /// closes it (TCP connections that are refused)
    pub hang_up: Option<Arc<AtomicBool>>,
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// What one stream reader may hold and how it reads.
#[derive(Debug, Clone, Copy)]
pub struct StreamLimits {
    /// bytes asked for per read
    pub read_size: usize,
    /// `--max-line-bytes`: a line that grows past this is cut (see [`pump`])
    pub max_line: usize,
}

impl StreamLimits {
    /// stdin and FIFOs: one stream, large reads.
    pub fn stdin(max_line: usize) -> StreamLimits {
        StreamLimits {
            read_size: READ_SIZE,
            max_line,
        }
    }
    /// One TCP connection of possibly thousands: small reads, so an idle
    /// connection holds little.
    pub fn tcp(max_line: usize) -> StreamLimits {
        StreamLimits {
            read_size: TCP_READ_SIZE,
            max_line,
        }
    }
}

/// Read size for one TCP connection.
const TCP_READ_SIZE: usize = 16 << 10;
/// Stack of a reader thread: the read loop is shallow, and there may be a
/// thousand connections.
const READER_STACK: usize = 256 << 10;

/// Reads `reader` to its end, sending chunks of whole lines as soon as they
/// arrive. `stop` (TCP) ends reading early: what was received is still sent.
///
/// Memory is bounded whatever the peer sends: a line that grows past
/// `limits.max_line` bytes without its newline is sent as its first
/// `max_line + 2` bytes and a newline (a line the pipeline then counts and
/// reports as too long, a bad record), and the rest of it is read and
/// dropped up to its newline. So an endless line costs `max_line` bytes, not
/// all memory.
#[allow(clippy::too_many_arguments)] // one call site per kind of stream
pub fn pump(
    mut reader: impl Read,
    stream: u32,
    name: Arc<str>,
    tx: &Sender<StreamChunk>,
    stop: Option<&AtomicBool>,
    skip: u64,
    limits: StreamLimits,
    hang_up: Option<Arc<AtomicBool>>,
) -> io::Result<()> {
    let read_size = limits.read_size.max(1);
    let max_line = limits.max_line.max(1);
    let mut buf: Vec<u8> = Vec::with_capacity(read_size);
    let mut offset = 0u64;
    let mut line = 1u64;
    let mut to_skip = skip;
    // inside a line that was cut: its bytes are dropped up to its newline
    let mut dropping = false;
    let send = |data: Vec<u8>, offset: u64, first_line: u64, last: bool| {
        tx.send(StreamChunk {
            stream,
            name: name.clone(),
            data,
            offset,
            first_line,
            arrival_ms: now_ms(),
            last,
            hang_up: hang_up.clone(),
        })
        .is_ok()
    };
    let hung_up = || hang_up.as_ref().is_some_and(|h| h.load(Ordering::Relaxed));
    // After a stop request, what the peer already sent is still read: reading
    // ends at the first quiet poll, at end of stream, or after STOP_GRACE.
    let mut stopping_since: Option<std::time::Instant> = None;
    loop {
        if hung_up() {
            return Ok(()); // refused by the pipeline: nothing more is wanted
        }
        if stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
            let since = *stopping_since.get_or_insert_with(std::time::Instant::now);
            if since.elapsed() > STOP_GRACE {
                break;
            }
        }
        let len = buf.len();
        buf.resize(len + read_size, 0);
        let n = match reader.read(&mut buf[len..]) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                buf.truncate(len);
                continue;
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                buf.truncate(len);
                break;
            }
            Err(e) => {
                buf.truncate(len);
                if !dropping {
                    send(std::mem::take(&mut buf), offset, line, true);
                }
                return Err(e);
            }
        };
        buf.truncate(len + n);
        if n == 0 {
            break;
        }
        if to_skip > 0 {
            let k = (to_skip as usize).min(buf.len());
            buf.drain(..k);
            to_skip -= k as u64;
            offset += k as u64;
            continue;
        }
        let mut search_from = len;
        if dropping {
            match memchr::memchr(b'\n', &buf) {
                Some(p) => {
                    buf.drain(..=p);
                    offset += p as u64 + 1;
                    dropping = false;
                    search_from = 0;
                }
                None => {
                    offset += buf.len() as u64;
                    buf.clear();
                    continue;
                }
            }
        }
        // Send whole lines (copied out, so the buffer keeps its size); keep the partial tail.
        if let Some(last_nl) = memchr::memrchr(b'\n', &buf[search_from..]).map(|p| p + search_from)
        {
            let data = buf[..=last_nl].to_vec();
            buf.drain(..=last_nl);
            let lines = memchr::memchr_iter(b'\n', &data).count() as u64;
            let size = data.len() as u64;
            if !send(data, offset, line, false) {
                return Ok(());
            }
            offset += size;
            line += lines;
        }
        if buf.len() > max_line + 1 {
            // A line longer than the limit (not counting a `\r` before its
            // newline): what the pipeline needs to see that, its first
            // max_line + 2 bytes (still too long once a `\r` is dropped),
            // then drop the rest of it.
            let mut cut = Vec::with_capacity(max_line + 3);
            cut.extend_from_slice(&buf[..max_line + 2]);
            cut.push(b'\n');
            if !send(cut, offset, line, false) {
                return Ok(());
            }
            line += 1;
            offset += buf.len() as u64;
            buf.clear();
            buf.shrink_to(read_size);
            dropping = true;
        }
    }
    let rest = if dropping { Vec::new() } else { buf };
    send(rest, offset, line, true);
    Ok(())
}

/// Reads stdin (or a non-regular file) on a thread of its own.
pub fn spawn_reader(
    reader: Box<dyn Read + Send>,
    stream: u32,
    name: Arc<str>,
    tx: Sender<StreamChunk>,
    skip: u64,
    limits: StreamLimits,
) {
    std::thread::Builder::new()
        .name(format!("read-{stream}"))
        .stack_size(READER_STACK)
        .spawn(move || {
            if let Err(e) = pump(reader, stream, name.clone(), &tx, None, skip, limits, None) {
                crate::diag!("vigil: reading {name}: {e}");
            }
        })
        .expect("spawn reader thread");
}

/// Limits of a TCP listener.
#[derive(Debug, Clone, Copy)]
pub struct TcpLimits {
    pub stream: StreamLimits,
    /// `--max-connections`: connections open at once; more are refused
    pub max_connections: usize,
}

/// What a TCP listener did, for the summary.
#[derive(Debug, Default)]
pub struct TcpCounters {
    /// connections accepted
    pub accepted: AtomicUsize,
    /// connections closed at once because `--max-connections` were open
    pub refused: AtomicUsize,
    /// open now
    pub open: AtomicUsize,
}

/// Listens on `addr`; every accepted connection becomes a stream with an id
/// from `first_stream` on, read by a thread of its own, at most
/// `limits.max_connections` at once (more are closed as they arrive and
/// counted). Stops accepting when `stop` is set; connection threads then
/// send what they received and end. Returns the bound address and the
/// listener's counters.
pub fn spawn_tcp(
    addr: &str,
    first_stream: u32,
    tx: Sender<StreamChunk>,
    stop: Arc<AtomicBool>,
    limits: TcpLimits,
) -> Result<(std::net::SocketAddr, Arc<TcpCounters>)> {
    // An address that does not resolve or is not this machine's is the
    // user's to fix (exit 2); one in use or refused is a runtime failure.
    let resolved: Vec<std::net::SocketAddr> = std::net::ToSocketAddrs::to_socket_addrs(addr)
        .map_err(|e| Error::usage(format!("cannot listen on tcp://{addr}: {e}")))?
        .collect();
    let listener = TcpListener::bind(&resolved[..]).map_err(|e| {
        let msg = format!("cannot listen on tcp://{addr}: {e}");
        if e.kind() == std::io::ErrorKind::AddrNotAvailable {
            Error::usage(msg)
        } else {
            Error::runtime(msg)
        }
    })?;
    let local = listener
        .local_addr()
        .map_err(|e| Error::runtime(format!("tcp://{addr}: {e}")))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| Error::runtime(format!("tcp://{addr}: {e}")))?;
    let counters = Arc::new(TcpCounters::default());
    let shared = counters.clone();
    std::thread::Builder::new()
        .name("tcp-accept".into())
        .spawn(move || {
            let mut next = first_stream;
            while !stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, peer)) => {
                        if shared.open.load(Ordering::Acquire) >= limits.max_connections {
                            // Closed at once: one client too many must not
                            // cost memory, and must not stop the others.
                            drop(conn);
                            if shared.refused.fetch_add(1, Ordering::AcqRel) == 0 {
                                crate::diag!(
                                    "vigil: tcp://{local}: {} connections are open, as many as --max-connections allows; further connections are closed at once (counted as refused_connections)",
                                    limits.max_connections
                                );
                            }
                            continue;
                        }
                        let id = next;
                        next += 1;
                        shared.accepted.fetch_add(1, Ordering::AcqRel);
                        shared.open.fetch_add(1, Ordering::AcqRel);
                        let tx = tx.clone();
                        let stop = stop.clone();
                        let counters = shared.clone();
                        let name: Arc<str> = Arc::from(format!("tcp://{peer}"));
                        let started = std::thread::Builder::new()
                            .name(format!("tcp-{id}"))
                            .stack_size(READER_STACK)
                            .spawn(move || {
                                serve(conn, id, name, tx, stop, limits.stream);
                                counters.open.fetch_sub(1, Ordering::AcqRel);
                            });
                        if let Err(e) = started {
                            shared.open.fetch_sub(1, Ordering::AcqRel);
                            crate::diag!("vigil: tcp://{local}: cannot serve {peer}: {e}");
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::sleep(POLL),
                    Err(e) => {
                        crate::diag!("vigil: accepting on tcp://{local}: {e}");
                        std::thread::sleep(POLL);
                    }
                }
            }
        })
        .expect("spawn accept thread");
    Ok((local, counters))
}

fn serve(
    conn: TcpStream,
    id: u32,
    name: Arc<str>,
    tx: Sender<StreamChunk>,
    stop: Arc<AtomicBool>,
    limits: StreamLimits,
) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(POLL));
    let hang_up = Arc::new(AtomicBool::new(false));
    if let Err(e) = pump(
        &conn,
        id,
        name.clone(),
        &tx,
        Some(&stop),
        0,
        limits,
        Some(hang_up),
    ) {
        crate::diag!("vigil: reading {name}: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` bytes of `x` without a newline, then `tail`, in reads of `step` bytes.
    struct Endless {
        left: usize,
        tail: &'static [u8],
        step: usize,
    }

    impl Read for Endless {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.left > 0 {
                let k = self.left.min(out.len()).min(self.step);
                out[..k].fill(b'x');
                self.left -= k;
                return Ok(k);
            }
            let k = self.tail.len().min(out.len());
            out[..k].copy_from_slice(&self.tail[..k]);
            self.tail = &self.tail[k..];
            Ok(k)
        }
    }

    fn chunks_of(reader: impl Read, limits: StreamLimits) -> Vec<StreamChunk> {
        let (tx, rx) = crossbeam_channel::unbounded();
        pump(reader, 7, Arc::from("s"), &tx, None, 0, limits, None).unwrap();
        drop(tx);
        rx.iter().collect()
    }

    #[test]
    fn an_endless_line_costs_at_most_the_line_limit_and_reading_goes_on() {
        // 64 MiB without a newline, then two good lines, against a 4 KiB limit
        let reader = Endless {
            left: 64 << 20,
            tail: b"\nok,1\nok,2\n",
            step: 1 << 16,
        };
        let chunks = chunks_of(reader, StreamLimits::tcp(4096));
        let biggest = chunks.iter().map(|c| c.data.capacity()).max().unwrap();
        assert!(
            biggest <= 4096 + 3 + TCP_READ_SIZE,
            "a chunk of {biggest} bytes"
        );
        let all: Vec<u8> = chunks.iter().flat_map(|c| c.data.clone()).collect();
        let lines: Vec<&[u8]> = all.split(|&b| b == b'\n').collect();
        assert_eq!(
            lines[0].len(),
            4098,
            "the cut line: over the limit even without a trailing CR"
        );
        assert_eq!(&lines[1..], [&b"ok,1"[..], b"ok,2", b""]);
        let ok = chunks.iter().find(|c| c.data.starts_with(b"ok")).unwrap();
        assert_eq!(ok.first_line, 2, "line numbers go on after the cut line");
        assert!(chunks.last().unwrap().last);
    }

    #[test]
    fn lines_within_the_limit_pass_whole_and_a_cut_line_at_the_end_is_not_resent() {
        let data = b"a,1\r\nbb,2\nccc".to_vec();
        let chunks = chunks_of(&data[..], StreamLimits::tcp(16));
        let all: Vec<u8> = chunks.iter().flat_map(|c| c.data.clone()).collect();
        assert_eq!(all, data, "short lines arrive byte for byte");
        let endless = Endless {
            left: 100,
            tail: b"",
            step: 7,
        };
        let chunks = chunks_of(endless, StreamLimits::tcp(10));
        let all: Vec<u8> = chunks.iter().flat_map(|c| c.data.clone()).collect();
        assert_eq!(
            all, b"xxxxxxxxxxxx\n",
            "the cut line once, its rest dropped"
        );
        // a line of exactly the limit, its \r\n split across reads, is no cut line
        let data = [vec![b'y'; 10], b"\r\nz\n".to_vec()].concat();
        let chunks = chunks_of(
            &data[..],
            StreamLimits {
                read_size: 11,
                max_line: 10,
            },
        );
        let all: Vec<u8> = chunks.iter().flat_map(|c| c.data.clone()).collect();
        assert_eq!(all, data);
    }
}
