//! Mapped inputs that shrink while they are read. Touching a page of a
//! mapping beyond the end of its (now shorter) file raises SIGBUS, which
//! would kill vigil. A SIGBUS handler, installed once, maps an anonymous
//! page of zeros over the faulting page when the address belongs to a
//! registered input mapping, marks that mapping as truncated and lets the
//! read go on; the driver asks [`Guard::truncated`] after each batch (which
//! also compares the file's size with the mapping: the tail of the last page
//! reads as zeros without any signal) and stops with an error naming the
//! file. A SIGBUS at any other address goes to the handler that was there
//! before (Rust's own), or the default action.
//!
//! Cost: nothing on the read path; per batch, one atomic load and one
//! `stat`. Owns the signal handler and the registry of mapped ranges; knows
//! nothing of formats or batches.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::Once;

/// Mappings that can be registered at once (inputs of one run are mapped
/// together). Beyond it a file is read unguarded, as before this module.
const SLOTS: usize = 4096;

struct Slot {
    /// 0 free, 1 taken
    state: AtomicU8,
    /// first byte of the mapping (0: not published yet)
    start: AtomicUsize,
    len: AtomicUsize,
    /// a page of this mapping faulted past the end of the file
    faulted: AtomicBool,
}

#[allow(clippy::declare_interior_mutable_const)] // the initializer of the static array
const FREE: Slot = Slot {
    state: AtomicU8::new(0),
    start: AtomicUsize::new(0),
    len: AtomicUsize::new(0),
    faulted: AtomicBool::new(false),
};

static REGISTRY: [Slot; SLOTS] = [FREE; SLOTS];
static INSTALL: Once = Once::new();
/// The SIGBUS action found at installation, for faults that are not ours.
static mut PREVIOUS: Option<libc::sigaction> = None;

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 {
        n as usize
    } else {
        4096
    }
}

extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // Only async-signal-safe work here: atomics, mmap, sigaction.
    // SAFETY: the kernel hands a valid siginfo_t to an SA_SIGINFO handler.
    let addr = unsafe { (*info).si_addr() } as usize;
    for slot in REGISTRY.iter() {
        let start = slot.start.load(Ordering::Acquire);
        if start == 0 || addr < start || addr >= start + slot.len.load(Ordering::Acquire) {
            continue;
        }
        let page = addr & !(page_size() - 1);
        // SAFETY: replaces one page inside a mapping this process owns (a
        // read-only view of an input) with private zeros; nothing else
        // refers to that page's old contents.
        let mapped = unsafe {
            libc::mmap(
                page as *mut libc::c_void,
                page_size(),
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                -1,
                0,
            )
        };
        if mapped != libc::MAP_FAILED {
            slot.faulted.store(true, Ordering::Release);
            return; // the faulting read is retried and sees zeros
        }
        break;
    }
    // Not one of ours (or the page could not be replaced): whoever was there before.
    // SAFETY: PREVIOUS is written once, before the handler is installed.
    let previous = unsafe { *std::ptr::addr_of!(PREVIOUS) };
    match previous {
        Some(old)
            if old.sa_sigaction != libc::SIG_DFL
                && old.sa_sigaction != libc::SIG_IGN
                && old.sa_flags & libc::SA_SIGINFO != 0 =>
        {
            // SAFETY: the previous handler was installed with SA_SIGINFO, so
            // it has this signature.
            let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                unsafe { std::mem::transmute(old.sa_sigaction) };
            f(sig, info, ctx);
        }
        _ => {
            // SAFETY: restoring the default action; returning re-raises the
            // fault, which then ends the process as it would have.
            unsafe {
                let mut dfl: libc::sigaction = std::mem::zeroed();
                dfl.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(libc::SIGBUS, &dfl, std::ptr::null_mut());
            }
        }
    }
}

fn install() {
    INSTALL.call_once(|| {
        // SAFETY: installing a handler with a valid function and an empty
        // mask; PREVIOUS is written before the handler can run.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            libc::sigaction(libc::SIGBUS, std::ptr::null(), &mut old);
            *std::ptr::addr_of_mut!(PREVIOUS) = Some(old);
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_sigbus as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut());
        }
    });
}

/// A registered mapping; unregistered when dropped (before the unmap).
pub struct Guard {
    slot: Option<usize>,
    len: usize,
    dev: u64,
    ino: u64,
}

impl Guard {
    /// Registers the mapping `bytes` of the file (`dev`, `ino`).
    pub fn register(bytes: &[u8], dev: u64, ino: u64) -> Guard {
        install();
        let slot = REGISTRY.iter().position(|s| {
            s.state
                .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        });
        if let Some(i) = slot {
            let s = &REGISTRY[i];
            s.faulted.store(false, Ordering::Release);
            s.len.store(bytes.len(), Ordering::Release);
            s.start.store(bytes.as_ptr() as usize, Ordering::Release);
        }
        Guard {
            slot,
            len: bytes.len(),
            dev,
            ino,
        }
    }

    /// Whether the file at `path` lost bytes the mapping holds: a page read
    /// faulted, or the file (the same inode) is now shorter than the
    /// mapping. Some(current length) when it did.
    pub fn truncated(&self, path: &Path) -> Option<u64> {
        use std::os::unix::fs::MetadataExt;
        let faulted = self
            .slot
            .is_some_and(|i| REGISTRY[i].faulted.load(Ordering::Acquire));
        let now = std::fs::metadata(path)
            .ok()
            .filter(|m| m.dev() == self.dev && m.ino() == self.ino)
            .map(|m| m.len());
        match now {
            Some(len) if len < self.len as u64 => Some(len),
            _ if faulted => Some(now.unwrap_or(0).min(self.len as u64)),
            _ => None,
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(i) = self.slot {
            let s = &REGISTRY[i];
            s.start.store(0, Ordering::Release);
            s.len.store(0, Ordering::Release);
            s.faulted.store(false, Ordering::Release);
            s.state.store(0, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_a_mapping_of_a_file_truncated_underneath_is_flagged_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.csv");
        let page = page_size();
        std::fs::write(&path, vec![b'x'; page * 4]).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        // SAFETY: a read-only map of a file this test owns.
        let map = unsafe { memmap2::Mmap::map(&file) }.unwrap();
        use std::os::unix::fs::MetadataExt;
        let meta = file.metadata().unwrap();
        let guard = Guard::register(&map, meta.dev(), meta.ino());
        assert_eq!(guard.truncated(&path), None);
        // shrink to one page and a half: pages 2 and 3 are gone
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len((page + page / 2) as u64)
            .unwrap();
        // without the handler this read is SIGBUS and the test process dies
        let sum: u64 = map.iter().map(|&b| b as u64).sum();
        assert!(sum < (page * 4) as u64 * b'x' as u64);
        assert_eq!(map[page * 3], 0, "a replaced page reads as zeros");
        assert_eq!(guard.truncated(&path), Some((page + page / 2) as u64));
        drop(guard);
    }
}
