//! vigil: windowed event-time aggregates and threshold alerts over files,
//! stdin and TCP, in one process. The binary in `main.rs` is a thin switchboard;
//! everything lives here so tests and benches can reach it.

pub mod agg;
pub mod alert;
pub mod decode;
pub mod expr;
pub mod time;
