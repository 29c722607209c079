//! The IMPT codec on arbitrary bytes: framing and parsing never panic, and whatever parses
//! encodes to a line that parses to the same PDU.
#![no_main]

use chit_impt::codec::{check_line, Line};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let line = match check_line(data) {
        Ok(Some(n)) => &data[..n],
        _ => data,
    };
    if let Ok(parsed) = Line::parse(line) {
        let wire = parsed.encode();
        assert_eq!(check_line(wire.as_bytes()), Ok(Some(wire.len())));
        assert_eq!(Line::parse(wire.as_bytes()).as_ref(), Ok(&parsed));
    }
});
