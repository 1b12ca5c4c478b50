//! Integration tests of overstory-serve: a real server on port 0 over a
//! real `ov init`-ed project, real HTTP and WebSocket clients.
#![allow(clippy::unwrap_used, clippy::print_stderr, reason = "tests")]

mod support;

mod browser;
mod guard_file;
mod mail;
mod mail_paging;
mod rest;
mod security;
mod ws;
