//! CSV lines.
