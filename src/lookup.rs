//! Lookup tables (SPEC 10): `--lookup FILE` CSV tables of per-key fields
//! (thresholds, owners) joined on the `--key` fields they have.
//!
//! Owns: reading and validating a table (header, join columns, one row per
//! join key, name clashes with `--eval`, `--time`, `--input-field` and other
//! tables), the digest of its content for the job fingerprint, and the index
//! from join-key values to rows. Lookups borrow: once loaded, nothing here
//! allocates, so the record path may call [`LookupTable::find`] per record.
//!
//! Must not touch: records, windows, shards, outputs or the expression
//! language. `plan` resolves names to ([`Lookups::field`]) and reads cells
//! through ([`LookupTable::cell`]); `cli::config` loads the tables once,
//! before any input is opened. An empty cell is a missing value.

use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hashbrown::HashTable;

use crate::error::{Error, Result};

/// The row a key joins to in each table, or [`NO_ROW`].
pub const NO_ROW: u32 = u32::MAX;

/// Most rows in one table (row numbers are 32-bit, [`NO_ROW`] excluded).
const MAX_ROWS: usize = (u32::MAX - 1) as usize;

/// One loaded `--lookup` table.
pub struct LookupTable {
    /// The path as given.
    pub path: PathBuf,
    /// Join columns, in the table's order: name and its index in `--key`.
    pub join: Vec<(String, usize)>,
    /// The other columns: the fields the table adds, in the table's order.
    pub fields: Vec<String>,
    /// 1-based header column of each field, for messages.
    field_columns: Vec<usize>,
    /// `rows x join.len()` join values.
    keys: Vec<Box<[u8]>>,
    /// `rows x fields.len()` cells.
    cells: Vec<Box<[u8]>>,
    index: HashTable<u32>,
    rows: usize,
    /// FNV-1a of the file's bytes (part of the job fingerprint).
    pub digest: u64,
}

impl std::fmt::Debug for LookupTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LookupTable")
            .field("path", &self.path)
            .field("join", &self.join)
            .field("fields", &self.fields)
            .field("rows", &self.rows)
            .field("digest", &self.digest)
            .finish()
    }
}

/// Hash of a join key: the values in join-column order, each with its length.
fn hash_values<'a>(values: impl Iterator<Item = &'a [u8]>) -> u64 {
    let mut h = crate::plan::hasher().build_hasher();
    for v in values {
        h.write_usize(v.len());
        h.write(v);
    }
    h.finish()
}

/// 64-bit FNV-1a: stable across builds and platforms.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Bytes for a message: lossy UTF-8, bounded, control characters escaped.
fn shown(bytes: &[u8]) -> String {
    use crate::sink::console::{clip, escape_controls};
    let text = String::from_utf8_lossy(bytes);
    let clipped = clip(&text, 64);
    escape_controls(&clipped).into_owned()
}

/// A header for a message: bounded, control characters escaped.
fn shown_text(text: &str) -> String {
    use crate::sink::console::{clip, escape_controls};
    let clipped = clip(text, 200);
    escape_controls(&clipped).into_owned()
}

impl LookupTable {
    /// Reads `path`, joined on the columns named like `key` fields.
    pub fn load(path: &Path, key: &[String]) -> Result<LookupTable> {
        let name = path.display().to_string();
        let bytes = std::fs::read(path)
            .map_err(|e| Error::usage(format!("--lookup {name}: cannot read the table: {e}")))?;
        Self::parse(path, &bytes, key)
    }

    /// Parses a table's bytes (`path` names it in messages).
    pub fn parse(path: &Path, bytes: &[u8], key: &[String]) -> Result<LookupTable> {
        let name = path.display().to_string();
        let err = |line: u64, what: String| Error::usage(format!("--lookup {name}:{line}: {what}"));
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(bytes);
        let mut records = reader.byte_records();
        let header = match records.next() {
            None => {
                return Err(err(
                    1,
                    "the table is empty; expected a header row such as host,max_cpu".to_string(),
                ))
            }
            Some(Err(e)) => return Err(err(1, format!("cannot read the header: {e}"))),
            Some(Ok(h)) => h,
        };
        let mut names: Vec<String> = Vec::with_capacity(header.len());
        for (c, raw) in header.iter().enumerate() {
            let column = c + 1;
            let Ok(n) = std::str::from_utf8(raw) else {
                return Err(err(
                    1,
                    format!(
                        "column {column}: the name '{}' is not UTF-8; expected a field name",
                        shown(raw)
                    ),
                ));
            };
            if n.trim().is_empty() {
                return Err(err(
                    1,
                    format!("column {column} has no name; expected a field name in every column of the header"),
                ));
            }
            if let Some(first) = names.iter().position(|m| m == n) {
                return Err(err(
                    1,
                    format!(
                        "column {column} '{n}' is also column {}; expected each column named once",
                        first + 1
                    ),
                ));
            }
            names.push(n.to_string());
        }
        let header_text = shown_text(&names.join(","));
        let mut join = Vec::new();
        let mut fields = Vec::new();
        let mut field_columns = Vec::new();
        let mut is_join = Vec::with_capacity(names.len());
        for (c, n) in names.iter().enumerate() {
            match key.iter().position(|k| k == n) {
                Some(k) => {
                    join.push((n.clone(), k));
                    is_join.push(true);
                }
                None => {
                    fields.push(n.clone());
                    field_columns.push(c + 1);
                    is_join.push(false);
                }
            }
        }
        if join.is_empty() {
            return Err(err(
                1,
                if key.is_empty() {
                    format!("the job has no --key to join the table on (its header: {header_text}); expected --key naming one of its columns")
                } else {
                    format!(
                        "no column of the table is a --key field (the header: {header_text}; the key: {}); expected at least one column named like a key field to join on",
                        key.join(", ")
                    )
                },
            ));
        }
        let mut keys: Vec<Box<[u8]>> = Vec::new();
        let mut cells: Vec<Box<[u8]>> = Vec::new();
        let mut lines: Vec<u64> = Vec::new();
        let mut index: HashTable<u32> = HashTable::new();
        let nj = join.len();
        for record in records {
            let record = record.map_err(|e| {
                let line = e.position().map_or(0, |p| p.line());
                err(line, format!("cannot read the row: {e}"))
            })?;
            let line = record.position().map_or(0, |p| p.line());
            if record.len() != names.len() {
                return Err(err(
                    line,
                    format!(
                        "{} field{} where the header has {}; expected one value per column (an empty one for none)",
                        record.len(),
                        if record.len() == 1 { "" } else { "s" },
                        names.len()
                    ),
                ));
            }
            if lines.len() >= MAX_ROWS {
                return Err(err(
                    line,
                    format!("more than {MAX_ROWS} rows; expected a smaller table"),
                ));
            }
            let row = lines.len();
            let start = keys.len();
            for (c, v) in record.iter().enumerate() {
                if is_join[c] {
                    keys.push(v.into());
                } else {
                    cells.push(v.into());
                }
            }
            let values = &keys[start..start + nj];
            let hash = hash_values(values.iter().map(|v| &v[..]));
            let same = |&r: &u32| {
                let r = r as usize;
                keys[r * nj..r * nj + nj] == keys[start..start + nj]
            };
            if let Some(&first) = index.find(hash, same) {
                let described: Vec<String> = join
                    .iter()
                    .zip(&keys[start..start + nj])
                    .map(|((n, _), v)| format!("{n}={}", shown(v)))
                    .collect();
                return Err(err(
                    line,
                    format!(
                        "a second row for {} (the first is at line {}); expected one row per key",
                        described.join(" "),
                        lines[first as usize]
                    ),
                ));
            }
            let keys_ref = &keys;
            index.insert_unique(hash, row as u32, |&r| {
                let r = r as usize;
                hash_values(keys_ref[r * nj..r * nj + nj].iter().map(|v| &v[..]))
            });
            lines.push(line);
        }
        Ok(LookupTable {
            path: path.to_path_buf(),
            join,
            fields,
            field_columns,
            keys,
            cells,
            index,
            rows: lines.len(),
            digest: fnv1a(bytes),
        })
    }

    /// Rows in the table.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The row whose join values equal the key's: `value(k)` gives `--key`
    /// field `k` of the record or window. A missing key field finds none.
    #[inline]
    pub fn find<'a>(&self, value: impl Fn(usize) -> Option<&'a [u8]>) -> u32 {
        let nj = self.join.len();
        if self.join.iter().any(|(_, k)| value(*k).is_none()) {
            return NO_ROW;
        }
        let hash = hash_values(self.join.iter().map(|(_, k)| value(*k).unwrap_or_default()));
        let found = self.index.find(hash, |&r| {
            let r = r as usize;
            self.keys[r * nj..r * nj + nj]
                .iter()
                .zip(&self.join)
                .all(|(v, (_, k))| value(*k) == Some(&v[..]))
        });
        found.copied().unwrap_or(NO_ROW)
    }

    /// Field `field` of `row`; none for [`NO_ROW`] and for an empty cell.
    #[inline]
    pub fn cell(&self, row: u32, field: usize) -> Option<&[u8]> {
        if row == NO_ROW {
            return None;
        }
        let v = self.cells.get(row as usize * self.fields.len() + field)?;
        if v.is_empty() {
            None
        } else {
            Some(v)
        }
    }

    /// `FILE:1: column N 'NAME'`, where field `field` is defined.
    pub fn locate(&self, field: usize) -> String {
        format!(
            "--lookup {}:1: column {} '{}'",
            self.path.display(),
            self.field_columns.get(field).copied().unwrap_or(0),
            self.fields.get(field).map_or("", String::as_str)
        )
    }
}

/// The job's tables, in `--lookup` order.
#[derive(Debug, Clone, Default)]
pub struct Lookups {
    pub tables: Vec<Arc<LookupTable>>,
}

impl Lookups {
    /// Loads every table and checks that each field the tables add has a
    /// name of its own: not an `--eval` field, the `--time` or
    /// `--input-field` field, or a field of another table.
    pub fn load(paths: &[PathBuf], key: &[String], taken: &[(&str, String)]) -> Result<Lookups> {
        let mut tables: Vec<Arc<LookupTable>> = Vec::new();
        for p in paths {
            let t = LookupTable::load(p, key)?;
            for (f, name) in t.fields.iter().enumerate() {
                if let Some((_, what)) = taken.iter().find(|(n, _)| n == name) {
                    return Err(Error::usage(format!(
                        "{} is also {what}; expected the table's fields named unlike the job's own (rename one of them)",
                        t.locate(f)
                    )));
                }
                for other in &tables {
                    if let Some(g) = other.fields.iter().position(|n| n == name) {
                        return Err(Error::usage(format!(
                            "{} is also a field of {}; expected each lookup field in one table only",
                            t.locate(f),
                            other.locate(g)
                        )));
                    }
                }
            }
            tables.push(Arc::new(t));
        }
        Ok(Lookups { tables })
    }

    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }

    /// The table and field index of a lookup field named `name`.
    pub fn field(&self, name: &str) -> Option<(usize, usize)> {
        self.tables
            .iter()
            .enumerate()
            .find_map(|(t, table)| table.fields.iter().position(|f| f == name).map(|f| (t, f)))
    }

    /// Every lookup field's name.
    pub fn field_names(&self) -> impl Iterator<Item = &str> {
        self.tables
            .iter()
            .flat_map(|t| t.fields.iter().map(String::as_str))
    }

    /// The first lookup field that an input also has (`available`: a CSV
    /// header, a log format's fields), as `FILE:1: column N 'NAME'`.
    pub fn shadowed(&self, available: &[&str]) -> Option<String> {
        self.tables.iter().find_map(|t| {
            t.fields
                .iter()
                .position(|f| available.contains(&f.as_str()))
                .map(|f| t.locate(f))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &[&str]) -> Vec<String> {
        k.iter().map(|s| s.to_string()).collect()
    }

    fn parse(text: &str, k: &[&str]) -> Result<LookupTable> {
        LookupTable::parse(Path::new("t.csv"), text.as_bytes(), &key(k))
    }

    fn message(r: Result<LookupTable>) -> String {
        match r {
            Err(Error::Usage(m)) => m,
            other => panic!("expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn joins_on_the_key_columns_it_has() {
        let t = parse(
            "team,host,max\nfe,web-1,90\nst,db-1,\n",
            &["host", "metric"],
        )
        .unwrap();
        assert_eq!(t.join, vec![("host".to_string(), 0)]);
        assert_eq!(t.fields, vec!["team".to_string(), "max".to_string()]);
        assert_eq!(t.rows(), 2);
        let values = [b"db-1".as_slice(), b"cpu".as_slice()];
        let row = t.find(|k| values.get(k).copied());
        assert_eq!(t.cell(row, 0), Some(&b"st"[..]));
        // an empty cell is missing
        assert_eq!(t.cell(row, 1), None);
        let other = [b"db-2".as_slice(), b"cpu".as_slice()];
        assert_eq!(t.find(|k| other.get(k).copied()), NO_ROW);
        assert_eq!(t.cell(NO_ROW, 0), None);
        // a missing key field joins nothing
        assert_eq!(t.find(|_| None), NO_ROW);
    }

    #[test]
    fn two_join_columns_must_both_match() {
        let t = parse(
            "metric,host,max\ncpu,a,1\nmem,a,2\ncpu,b,3\n",
            &["host", "metric"],
        )
        .unwrap();
        let v = |h: &'static str, m: &'static str| {
            let vals = [h.as_bytes(), m.as_bytes()];
            t.cell(t.find(|k| vals.get(k).copied()), 0)
                .map(|c| c.to_vec())
        };
        assert_eq!(v("a", "mem"), Some(b"2".to_vec()));
        assert_eq!(v("b", "cpu"), Some(b"3".to_vec()));
        assert_eq!(v("b", "mem"), None);
    }

    #[test]
    fn bad_tables_are_refused_with_file_line_and_column() {
        assert!(message(parse("a,b\n1,2\n", &["host"])).contains("t.csv:1: no column"));
        assert!(message(parse("", &["host"])).contains("t.csv:1: the table is empty"));
        let dup = message(parse("host,x\na,1\nb,2\na,3\n", &["host"]));
        assert!(
            dup.contains("t.csv:4: a second row for host=a (the first is at line 2)"),
            "{dup}"
        );
        let width = message(parse("host,x\na,1,2\n", &["host"]));
        assert!(
            width.contains("t.csv:2: 3 fields where the header has 2"),
            "{width}"
        );
        let twice = message(parse("host,x,x\n", &["host"]));
        assert!(twice.contains("column 3 'x' is also column 2"), "{twice}");
        let unnamed = message(parse("host,,x\n", &["host"]));
        assert!(unnamed.contains("column 2 has no name"), "{unnamed}");
    }

    #[test]
    fn garbage_never_panics() {
        for text in [
            "host\n\u{0}\u{1}",
            "\"host",
            "host,x\n\"a",
            "\u{feff}host,x\na,1\n",
        ] {
            let _ = parse(text, &["host"]);
        }
        let t = parse("host,x\n\"a,b\",1\n", &["host"]).unwrap();
        let v = [b"a,b".as_slice()];
        assert_eq!(t.cell(t.find(|k| v.get(k).copied()), 0), Some(&b"1"[..]));
    }
}
