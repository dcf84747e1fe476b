//! Test and demo harness.
//!
//! - [`paths`]: the project root and the shared real data (tests skip with a message when
//!   it is absent).
//!
//! More parts (the in-process RTSP camera server, the mosquitto harness) live beside it.

pub mod paths;
