//! The report suite: the page builds from the committed fixtures (small `--quick --json` runs of
//! every demo) without running a demo, a broken or missing file costs only its own topic, and a
//! real browser, offline, renders every chart the page promises.

mod browser;
mod charts;
mod common;
mod errors;
mod fixtures;
