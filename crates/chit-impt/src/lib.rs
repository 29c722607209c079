//! IMPT (seed 000), the instant-message payment protocol, as a second front door onto the
//! node: the line codec, the session state table, and the gateway that serves TCP 5180, in the clear or over TLS.

pub mod codec;
pub mod dfa;
pub mod gateway;
pub mod tls;
