//! The one integration test target: every module runs the built `vigil`
//! binary in a temporary directory (helpers in `common`), so the binary and
//! the test harness are compiled once.

mod common;
mod components;

mod alerts;
mod checkpoint;
mod docs;
mod edges;
mod engine;
mod errors;
mod exact_sums;
mod history;
mod html;
mod logs;
mod model;
mod run;
mod usability;
