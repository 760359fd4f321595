//! Checks the decoders' hot-path rule: once warmed up on a line, decoding
//! lines of the same shape allocates nothing. Owns only its counting
//! allocator (a separate test binary, so it does not affect other tests).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use vigil::decode::{json, logs, FieldSlots, Format, LineDecoder};

struct Counting;

thread_local! {
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> usize {
    ALLOCS.with(|c| c.get())
}

fn strings(f: &[&str]) -> Vec<String> {
    f.iter().map(|s| s.to_string()).collect()
}

fn assert_no_alloc(name: &str, mut d: Box<dyn LineDecoder>, n: usize, lines: &[&[u8]]) {
    let mut slots = FieldSlots::new(n);
    for l in lines {
        slots.clear();
        d.decode(l, &mut slots)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let before = allocs();
    for _ in 0..100 {
        for l in lines {
            slots.clear();
            d.decode(l, &mut slots).unwrap();
        }
    }
    assert_eq!(allocs() - before, 0, "{name} allocated on the hot path");
}

#[test]
fn decoders_do_not_allocate_per_line() {
    let before = allocs();
    drop(std::hint::black_box(vec![1u8; 10]));
    assert!(allocs() > before, "the counting allocator works");
    assert_no_alloc(
        "jsonl",
        json::json_decoder(&strings(&["a.b", "msg", "k\u{e9}y", "arr", "log.level"])).unwrap(),
        5,
        &[br#"{"a":{"b":1,"c":[1,{"d":2}]},"msg":"say \"hi\" \u00e9","k\u00e9y":true,"arr":[1,2],"log.level":"x"}"#],
    );
    // flat lines: read by the last line's shape, and (two shapes taking
    // turns) the shape taken again from a line
    assert_no_alloc(
        "jsonl shapes",
        json::json_decoder(&strings(&["ts", "host", "value"])).unwrap(),
        3,
        &[
            br#"{"ts":"2026-01-01T00:00:00.000Z","host":"h1","value":1.5}"#,
            br#"{"ts":"2026-01-01T00:00:01.000Z","host":"h22","value":-2e3}"#,
            br#"{"host":"h1","ts":"2026-01-01T00:00:02.000Z","value":null,"x":true}"#,
        ],
    );
    assert_no_alloc(
        "logfmt",
        logs::logfmt_decoder(&strings(&["a", "msg", "flag"])).unwrap(),
        3,
        &[br#"a=1 msg="quoted \"x\"" flag b=-"#],
    );
    assert_no_alloc(
        "regex",
        logs::regex_decoder(r"(?P<a>\d+) (?P<b>\w+)?", &strings(&["a", "b"])).unwrap(),
        2,
        &[b"12 abc", b"12 "],
    );
    let nginx: Vec<String> = logs::preset_fields(Format::Nginx)
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_no_alloc(
        "nginx",
        logs::preset_decoder(Format::Nginx, &nginx).unwrap(),
        nginx.len(),
        &[br#"1.2.3.4 - u [01/Feb/2024:10:00:00 +0100] "GET /a\"b HTTP/1.1" 200 12 "-" "ua \"x\"" 0.5"#],
    );
    let syslog: Vec<String> = logs::preset_fields(Format::Syslog)
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_no_alloc(
        "syslog",
        logs::preset_decoder(Format::Syslog, &syslog).unwrap(),
        syslog.len(),
        &[
            b"<165>1 2003-10-11T22:14:15.003Z h app 1 ID [a b=\"c\"] msg",
            b"<13>Jun 14 15:16:01 combo sshd[1]: m",
        ],
    );
}
