//! The integration tests, as ONE test binary (faster to build on two cores): the Archibald
//! simulator, a real Chromium, real SQLite files and the real gRPC server on 127.0.0.1:0.
//! Helpers live in `util`; each module covers one area.

mod util;

mod breaker;
mod chaos;
mod cli;
mod crash;
mod ctl;
mod customers;
mod dashboard;
mod erp_changes;
mod escalation;
mod fuzz;
mod grpc_api;
mod hostile;
mod images;
mod kinds;
mod lifecycle;
mod placement_crash;
mod placements;
mod prices;
mod priority;
mod schedule;
mod sessions;
mod soak;
mod storage;
mod surface;
mod upgrade;
