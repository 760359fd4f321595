//! Pieces: runs of whole lines of one input, cut so that several threads can
//! decode a batch at once, and the line numbers of bytes inside them (counted
//! lazily for mapped files, only when a bad record must be reported). Knows
//! bytes and offsets only: no format, no records.

/// One piece of input to decode: whole lines of one input.
pub struct Piece<'a> {
    /// index of the input's decoder in the batch
    pub input: usize,
    pub data: &'a [u8],
    /// stream offset of `data`
    pub offset: u64,
    /// line number of the first line, when known (streams)
    pub first_line: Option<u64>,
    /// the whole mapped file, to count lines in only when one must be reported
    pub whole: Option<&'a [u8]>,
    pub arrival_ms: i64,
}

/// Smallest piece worth a thread of its own.
const MIN_PIECE_BYTES: usize = 1 << 16;

/// Lines of `data`, without terminators, with their start offsets; blank lines skipped.
/// (`f` is called from one place, so the compiler inlines it, however large.)
#[inline(always)]
pub fn for_each_line(data: &[u8], mut f: impl FnMut(usize, &[u8])) {
    let mut start = 0;
    for end in LineEnds::new(data) {
        let mut line = &data[start..end];
        if line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        if !line.is_empty() {
            f(start, line);
        }
        start = end + 1;
    }
}

/// Bytes [`LineEnds`] looks at together.
const BLOCK: usize = 32;

/// Where the lines of some data end: the offset of every `\n`, in order,
/// then the data's length when its last line has no newline. On x86_64,
/// one SSE2 pass over 32 bytes at a time: memchr_iter's per-call setup is
/// most of its cost when lines are short.
struct LineEnds<'a> {
    data: &'a [u8],
    /// the next block to read
    next_block: usize,
    /// newline bits of the block at `base` not handed out yet
    bits: u32,
    base: usize,
    /// the end without a newline was handed out, or there is none
    done: bool,
}

impl<'a> LineEnds<'a> {
    fn new(data: &'a [u8]) -> LineEnds<'a> {
        LineEnds {
            data,
            next_block: 0,
            bits: 0,
            base: 0,
            done: false,
        }
    }
}

impl Iterator for LineEnds<'_> {
    type Item = usize;

    #[inline(always)]
    fn next(&mut self) -> Option<usize> {
        loop {
            if self.bits != 0 {
                let at = self.base + self.bits.trailing_zeros() as usize;
                self.bits &= self.bits - 1;
                return Some(at);
            }
            let len = self.data.len();
            if self.next_block < len {
                let at = self.next_block;
                self.bits = match self.data.get(at..at + BLOCK) {
                    Some(block) => newline_bits(block.try_into().expect("a block")),
                    None => self.data[at..]
                        .iter()
                        .enumerate()
                        .filter(|&(_, &b)| b == b'\n')
                        .fold(0, |bits, (i, _)| bits | 1 << i),
                };
                self.base = at;
                self.next_block = (at + BLOCK).min(len);
                continue;
            }
            if self.done {
                return None;
            }
            self.done = true;
            return (self.data.last().is_some_and(|&b| b != b'\n')).then_some(len);
        }
    }
}

/// Bit i set for each `\n` at byte i of `block`.
#[inline(always)]
fn newline_bits(block: &[u8; BLOCK]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
        };
        // SAFETY: SSE2 is part of the x86_64 baseline, so these intrinsics
        // are available on every x86_64 CPU; `block` is 32 bytes, and each
        // _mm_loadu_si128 reads 16 of them with no alignment requirement.
        unsafe {
            let newlines = _mm_set1_epi8(b'\n' as i8);
            let lo = _mm_loadu_si128(block.as_ptr().cast::<__m128i>());
            let hi = _mm_loadu_si128(block.as_ptr().add(16).cast::<__m128i>());
            let lo = _mm_movemask_epi8(_mm_cmpeq_epi8(lo, newlines)) as u32;
            let hi = _mm_movemask_epi8(_mm_cmpeq_epi8(hi, newlines)) as u32;
            lo | hi << 16
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let mut bits = 0u32;
        for (i, &b) in block.iter().enumerate() {
            bits |= ((b == b'\n') as u32) << i;
        }
        bits
    }
}

/// The first line of `data` without its terminator (None: no data).
pub fn first_line(data: &[u8]) -> Option<&[u8]> {
    if data.is_empty() {
        return None;
    }
    let end = memchr::memchr(b'\n', data).unwrap_or(data.len());
    let mut l = &data[..end];
    if l.last() == Some(&b'\r') {
        l = &l[..l.len() - 1];
    }
    Some(l)
}

/// The end of the line that holds byte `at` of `data[..limit]` (just past
/// its newline), or `limit`.
pub fn line_end_after(data: &[u8], at: usize, limit: usize) -> usize {
    if at >= limit {
        return limit;
    }
    match memchr::memchr(b'\n', &data[at..limit]) {
        Some(n) => at + n + 1,
        None => limit,
    }
}

/// Where one batch of a mapped input ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchEnd {
    /// Whole lines up to here (or the limit).
    At(usize),
    /// The batch would start with a line longer than the line limit: only
    /// its first bytes, up to `shown_end`, are handed out, for the parser to
    /// report as too long; reading goes on past its newline
    /// ([`skip_line`]). So no piece ever holds a line of gigabytes (line
    /// spans are 32-bit).
    Overlong { shown_end: usize },
}

/// Bytes of an overlong line scanned between two releases of its pages.
const SCAN_BYTES: usize = 16 << 20;

/// The end of the line that goes on at `from` (just past its newline, or
/// `limit`), scanned [`SCAN_BYTES`] at a time; `release(upto)` is called as
/// the scan moves on, so a line of gigabytes never becomes resident.
pub fn skip_line(data: &[u8], from: usize, limit: usize, mut release: impl FnMut(usize)) -> usize {
    let mut at = from;
    loop {
        let upto = (at + SCAN_BYTES).min(limit);
        match memchr::memchr(b'\n', &data[at..upto]) {
            Some(n) => return at + n + 1,
            None if upto == limit => return limit,
            None => {
                release(upto);
                at = upto;
            }
        }
    }
}

/// The end of the batch of `data[..limit]` that starts at `pos` (a line
/// start) and takes about `target` bytes: the end of the line that holds
/// `pos + target`, unless that line is longer than `max_line` bytes (not
/// counting a `\r\n`); then the batch ends before it, or, when it is the
/// batch's first line, is that line alone ([`BatchEnd::Overlong`]).
pub fn batch_end(
    data: &[u8],
    pos: usize,
    target: usize,
    limit: usize,
    max_line: usize,
) -> BatchEnd {
    let cut = (pos + target.max(1)).min(limit);
    if cut >= limit {
        // the rest; its lines are bounded by the batch size or checked below
        let last_start = memchr::memrchr(b'\n', &data[pos..limit]).map_or(pos, |n| pos + n + 1);
        if last_start == pos && limit - pos > max_line + 2 {
            return overlong(pos, limit, max_line);
        }
        return BatchEnd::At(limit);
    }
    let line_start = memchr::memrchr(b'\n', &data[pos..cut]).map_or(pos, |n| pos + n + 1);
    let bound = (line_start + max_line + 2).min(limit);
    match memchr::memchr(b'\n', &data[cut.min(bound)..bound]) {
        Some(n) => BatchEnd::At(cut.min(bound) + n + 1),
        None if bound == limit => BatchEnd::At(limit),
        None if line_start > pos => BatchEnd::At(line_start),
        None => overlong(pos, limit, max_line),
    }
}

fn overlong(pos: usize, limit: usize, max_line: usize) -> BatchEnd {
    BatchEnd::Overlong {
        shown_end: (pos + max_line + 2).min(limit),
    }
}

/// Cuts `data[start..end]` of a mapped input into about `n` pieces at line boundaries.
pub fn split_pieces<'d>(
    data: &'d [u8],
    start: usize,
    end: usize,
    n: usize,
    input: usize,
    arrival: i64,
    out: &mut Vec<Piece<'d>>,
) {
    let target = ((end - start) / n.max(1)).max(MIN_PIECE_BYTES);
    let mut s = start;
    while s < end {
        let e = line_end_after(data, (s + target).min(end), end);
        out.push(Piece {
            input,
            data: &data[s..e],
            offset: s as u64,
            first_line: None,
            whole: Some(data),
            arrival_ms: arrival,
        });
        s = e;
    }
}

/// 1-based line number of `offset` within a piece. For mapped files lines
/// are counted only here, when a bad record is reported (bad records come in
/// file order, so the count resumes from the previous one).
pub fn line_number(piece: &Piece<'_>, offset: usize) -> String {
    thread_local! {
        /// (file start address, byte offset, line number at that offset)
        static CURSOR: std::cell::Cell<(usize, usize, u64)> = const { std::cell::Cell::new((0, 0, 1)) };
    }
    match (piece.first_line, piece.whole) {
        (Some(first), _) => {
            (first + memchr::memchr_iter(b'\n', &piece.data[..offset]).count() as u64).to_string()
        }
        (None, Some(whole)) => {
            let target = piece.offset as usize + offset;
            let (base, mut at, mut line) = CURSOR.with(|c| c.get());
            if base != whole.as_ptr() as usize || at > target {
                (at, line) = (0, 1);
            }
            line += memchr::memchr_iter(b'\n', &whole[at..target]).count() as u64;
            at = target;
            CURSOR.with(|c| c.set((whole.as_ptr() as usize, at, line)));
            line.to_string()
        }
        (None, None) => format!("byte {}", piece.offset + offset as u64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_cover_the_range_at_line_boundaries() {
        let mut data = Vec::new();
        for i in 0..20_000 {
            data.extend_from_slice(format!("line {i}\n").as_bytes());
        }
        let mut pieces = Vec::new();
        split_pieces(&data, 7, data.len(), 4, 0, 0, &mut pieces);
        assert!(pieces.len() > 1);
        assert_eq!(pieces[0].offset, 7);
        let mut at = 7;
        for p in &pieces {
            assert_eq!(p.offset as usize, at);
            at += p.data.len();
            assert_eq!(*p.data.last().unwrap(), b'\n');
        }
        assert_eq!(at, data.len());
    }

    #[test]
    fn newlines_are_found_at_every_place() {
        // xorshift64*: the same data on every run
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_f491_4f6c_dd1d)
        };
        for round in 0..3_000 {
            let len = (next() % 300) as usize;
            let per_64 = [0, 1, 4, 16, 64][round % 5];
            let data: Vec<u8> = (0..len)
                .map(|_| match next() % 64 {
                    r if r < per_64 => b'\n',
                    // '\n' with the high bit set, and neighbours
                    0..=15 => b'\n' ^ 0x80,
                    16..=31 => b'\r',
                    _ => next() as u8 & 0x7f | 0x20,
                })
                .collect();
            let seen: Vec<usize> = LineEnds::new(&data).collect();
            let mut want: Vec<usize> = (0..len).filter(|&i| data[i] == b'\n').collect();
            if data.last().is_some_and(|&b| b != b'\n') {
                want.push(len);
            }
            assert_eq!(seen, want, "{data:?}");
        }
    }

    #[test]
    fn lines_skip_blanks_and_carriage_returns() {
        let mut seen = Vec::new();
        for_each_line(b"a\r\n\nbc\n\r\nd", |s, l| seen.push((s, l.to_vec())));
        assert_eq!(
            seen,
            vec![(0, b"a".to_vec()), (4, b"bc".to_vec()), (9, b"d".to_vec())]
        );
        assert_eq!(first_line(b"h1,h2\r\nx"), Some(&b"h1,h2"[..]));
        assert_eq!(first_line(b""), None);
    }

    #[test]
    fn batches_end_at_line_ends_and_never_hold_an_overlong_line_whole() {
        use BatchEnd::*;
        let data = b"aa\nbbbb\ncc\n";
        assert_eq!(batch_end(data, 0, 4, data.len(), 100), At(8));
        assert_eq!(batch_end(data, 0, 100, data.len(), 100), At(data.len()));
        // a 30-byte line under a 10-byte limit: the batch before it ends at its start
        let mut long = b"ok\n".to_vec();
        long.extend(std::iter::repeat_n(b'x', 30));
        long.extend_from_slice(b"\nend\n");
        assert_eq!(batch_end(&long, 0, 5, long.len(), 10), At(3));
        // and the next batch is that line alone: 12 bytes shown, then on past its newline
        assert_eq!(
            batch_end(&long, 3, 5, long.len(), 10),
            Overlong { shown_end: 15 }
        );
        let mut released = Vec::new();
        assert_eq!(skip_line(&long, 15, long.len(), |u| released.push(u)), 34);
        assert_eq!(batch_end(&long, 34, 5, long.len(), 10), At(long.len()));
        // the same line at the end of the input without its newline
        let tail = [b"ok\n".to_vec(), vec![b'x'; 30]].concat();
        assert_eq!(
            batch_end(&tail, 3, 100, tail.len(), 10),
            Overlong { shown_end: 15 }
        );
        assert_eq!(skip_line(&tail, 15, tail.len(), |_| {}), 33);
        // exactly the limit, with \r\n, is a line like any other
        let crlf = [vec![b'y'; 10], b"\r\nz\n".to_vec()].concat();
        assert_eq!(batch_end(&crlf, 0, 3, crlf.len(), 10), At(12));
    }

    #[test]
    fn line_numbers_of_mapped_pieces_are_counted_lazily() {
        let data = b"h\na\nb\nc\n";
        let piece = Piece {
            input: 0,
            data: &data[4..],
            offset: 4,
            first_line: None,
            whole: Some(data),
            arrival_ms: 0,
        };
        assert_eq!(line_number(&piece, 0), "3");
        assert_eq!(line_number(&piece, 2), "4");
    }
}
