//! Benchmarks that print figures and the machine they ran on. Performance targets live here,
//! never in timed tests.

pub mod ledger;
pub mod machine;
pub mod node;
pub mod offline;
pub mod scratch;
