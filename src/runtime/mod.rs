//! Running the model: devices and the host-side helpers shared by the CLI and the browser.

pub mod backend;
pub mod figure;
pub mod generate;
pub mod notes;
pub mod options;
pub mod sample;
pub mod session;
pub mod study;
