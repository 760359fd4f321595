//! vigil: windowed event-time aggregates and threshold alerts over files,
//! stdin and TCP, in one process. The binary in `main.rs` is a thin switchboard;
//! everything lives here so tests and benches can reach it.

pub mod agg;
pub mod alert;

pub mod checkpoint;
pub mod cli;
pub mod decode;
pub mod deliver;
pub mod error;
pub mod export;
pub mod expr;
pub mod history;
pub mod html;
pub mod job;
pub mod lookup;
pub mod origin;
pub mod pipeline;
pub mod plan;
pub mod shard;
pub mod sink;
pub mod source;
pub mod stats;
pub mod suggest;
#[cfg(test)]
mod test_rng;
pub mod time;
pub mod window;
