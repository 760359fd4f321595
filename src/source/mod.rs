//! Inputs: regular files are memory-mapped and handed out as byte ranges;
//! stdin, TCP connections and non-regular files are read by threads that send
//! chunks of whole lines over a bounded channel. Knows no format: it deals in
//! bytes, stream identities and byte offsets.

use std::io::{self, Read};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
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
        // SAFETY: the map is read-only; vigil's contract (README) is that input
        // files are only appended to while read, never truncated in place.
        Some(unsafe { Mmap::map(&file) }.map_err(|e| Error::io("cannot map", path, e))?)
    };
    if let Some(m) = &map {
        let _ = m.advise(memmap2::Advice::Sequential);
    }
    let bytes = map.as_deref().unwrap_or(&[]);
    let head = &bytes[..bytes.len().min(HEAD_BYTES)];
    Ok(Some(MappedFile {
        path: path.to_path_buf(),
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
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Reads `reader` to its end, sending chunks of whole lines as soon as they
/// arrive. `stop` (TCP) ends reading early: what was received is still sent.
pub fn pump(
    mut reader: impl Read,
    stream: u32,
    name: Arc<str>,
    tx: &Sender<StreamChunk>,
    stop: Option<&AtomicBool>,
    skip: u64,
) -> io::Result<()> {
    let mut buf: Vec<u8> = Vec::with_capacity(READ_SIZE * 2);
    let mut offset = 0u64;
    let mut line = 1u64;
    let mut to_skip = skip;
    // After a stop request, what the peer already sent is still read: reading
    // ends at the first quiet poll, at end of stream, or after STOP_GRACE.
    let mut stopping_since: Option<std::time::Instant> = None;
    loop {
        if stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
            let since = *stopping_since.get_or_insert_with(std::time::Instant::now);
            if since.elapsed() > STOP_GRACE {
                break;
            }
        }
        let len = buf.len();
        buf.resize(len + READ_SIZE, 0);
        let n = match reader.read(&mut buf[len..]) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                buf.truncate(len);
                continue;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                buf.truncate(len);
                continue;
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                buf.truncate(len);
                break;
            }
            Err(e) => {
                buf.truncate(len);
                send_rest(&mut buf, stream, &name, tx, offset, line);
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
        // Send whole lines; keep the partial tail.
        if let Some(last_nl) = memchr::memrchr(b'\n', &buf[len.min(buf.len())..]).map(|p| p + len) {
            {
                let rest = buf.split_off(last_nl + 1);
                let lines = memchr::memchr_iter(b'\n', &buf).count() as u64;
                let data = std::mem::replace(&mut buf, rest);
                let size = data.len() as u64;
                let chunk = StreamChunk {
                    stream,
                    name: name.clone(),
                    data,
                    offset,
                    first_line: line,
                    arrival_ms: now_ms(),
                    last: false,
                };
                offset += size;
                line += lines;
                if tx.send(chunk).is_err() {
                    return Ok(());
                }
            }
        }
    }
    send_rest(&mut buf, stream, &name, tx, offset, line);
    Ok(())
}

fn send_rest(
    buf: &mut Vec<u8>,
    stream: u32,
    name: &Arc<str>,
    tx: &Sender<StreamChunk>,
    offset: u64,
    line: u64,
) {
    let _ = tx.send(StreamChunk {
        stream,
        name: name.clone(),
        data: std::mem::take(buf),
        offset,
        first_line: line,
        arrival_ms: now_ms(),
        last: true,
    });
}

/// Reads stdin (or a non-regular file) on a thread of its own.
pub fn spawn_reader(
    reader: Box<dyn Read + Send>,
    stream: u32,
    name: Arc<str>,
    tx: Sender<StreamChunk>,
    skip: u64,
) {
    std::thread::Builder::new()
        .name(format!("read-{stream}"))
        .spawn(move || {
            if let Err(e) = pump(reader, stream, name.clone(), &tx, None, skip) {
                eprintln!("vigil: reading {name}: {e}");
            }
        })
        .expect("spawn reader thread");
}

/// Listens on `addr`; every accepted connection becomes a stream with an id
/// from `first_stream` on. Stops accepting when `stop` is set; connection
/// threads then send what they received and end.
pub fn spawn_tcp(
    addr: &str,
    first_stream: u32,
    tx: Sender<StreamChunk>,
    stop: Arc<AtomicBool>,
) -> Result<std::net::SocketAddr> {
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
    std::thread::Builder::new()
        .name("tcp-accept".into())
        .spawn(move || {
            let mut next = first_stream;
            while !stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, peer)) => {
                        let id = next;
                        next += 1;
                        let tx = tx.clone();
                        let stop = stop.clone();
                        let name: Arc<str> = Arc::from(format!("tcp://{peer}"));
                        std::thread::spawn(move || serve(conn, id, name, tx, stop));
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::sleep(POLL),
                    Err(e) => {
                        eprintln!("vigil: accepting on tcp://{local}: {e}");
                        std::thread::sleep(POLL);
                    }
                }
            }
        })
        .expect("spawn accept thread");
    Ok(local)
}

fn serve(conn: TcpStream, id: u32, name: Arc<str>, tx: Sender<StreamChunk>, stop: Arc<AtomicBool>) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(POLL));
    if let Err(e) = pump(&conn, id, name.clone(), &tx, Some(&stop), 0) {
        eprintln!("vigil: reading {name}: {e}");
    }
}
