//! The demo: both paths and tus measured side by side, the hostile-input table, and a closing
//! paragraph built from what those sections measured.

pub mod clients;
