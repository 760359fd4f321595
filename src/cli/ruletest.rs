//! `vigil test`: rule unit tests.

use std::path::PathBuf;

use crate::error::{Error, Result};

pub fn run(files: &[PathBuf]) -> Result<i32> {
    let _ = files;
    Err(Error::usage("vigil test: not built yet"))
}
