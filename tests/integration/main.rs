//! The one integration test target: every module runs the built `vigil`
//! binary in a temporary directory (helpers in `common`), so the binary and
//! the test harness are compiled once.

mod common;
mod components;

mod absent_model;
mod alertmanager;
mod alerts;
mod checkpoint;
mod docs;
mod edges;
mod engine;
mod engine_paths;
mod errors;
mod exact_sums;
mod export;
mod flink;
mod fuzz;
mod history;
mod html;
mod inputs;
mod logs;
mod lookup;
mod model;
mod run;
mod usability;
mod webhook;
