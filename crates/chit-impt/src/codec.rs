//! IMPT's wire form: one PDU per line, `C > COMMAND [TYPE] params…` or `S > …`.
//!
//! Framing checks before it parses (as mini-redis does): [`check_line`] says whether the buffer
//! holds a whole line yet ("incomplete" is not an error), or can never become one (too long);
//! only then does [`Line::parse`] look at the bytes. Raw bytes never leave this module: the rest
//! of the gateway sees typed [`Pdu`]s.
//!
//! Parameters are bare words, or double-quoted strings (`\"` and `\\` escape) when they hold a
//! space. INIT's version is the rest of the line (`IMPT 1.0`), as the seed writes it.

use std::fmt;

/// Longest line accepted, terminator included. A client that sends more is cut off.
pub const LINE_BYTES_MAX: usize = 2048;
/// Longest text in one MSG (extension).
pub const TEXT_CHARS_MAX: usize = 1000;
/// Per-session peer tokens: 16 characters (seed §2.3).
pub const USER_TOKEN_CHARS: usize = 16;
/// Request ids: 10 digits (seed §2.3).
pub const REQUEST_ID_DIGITS: usize = 10;

/// Why a line is not a PDU.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("line longer than {LINE_BYTES_MAX} bytes")]
    TooLong,
    #[error("line is not UTF-8")]
    NotUtf8,
    #[error("control character in line")]
    ControlCharacter,
    #[error("line does not start with `C > ` or `S > `")]
    NoSender,
    #[error("unknown command {0}")]
    UnknownCommand(String),
    #[error("bad message type {0}")]
    BadType(String),
    #[error("unterminated quoted parameter")]
    Unterminated,
    #[error("{command} takes {expected}")]
    Params {
        command: &'static str,
        expected: &'static str,
    },
    #[error("bad {what}: {value}")]
    BadValue { what: &'static str, value: String },
}

/// Looks for a complete line at the start of `buf`: `Ok(Some(n))` when the first `n` bytes are
/// one (terminator included), `Ok(None)` when more bytes are needed, an error when no line this
/// long may ever be accepted.
pub fn check_line(buf: &[u8]) -> Result<Option<usize>, CodecError> {
    let window = &buf[..buf.len().min(LINE_BYTES_MAX)];
    match window.iter().position(|b| *b == b'\n') {
        Some(i) => Ok(Some(i + 1)),
        None if buf.len() >= LINE_BYTES_MAX => Err(CodecError::TooLong),
        None => Ok(None),
    }
}

/// Who sent a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
}

/// The seed's `[messageType]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Begin,
    Res,
    Final,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Begin => "BEGIN",
            Self::Res => "RES",
            Self::Final => "FINAL",
        }
    }
}

/// A 16-character token naming a user within one session.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserToken(String);

impl UserToken {
    pub fn new(s: &str) -> Result<Self, CodecError> {
        if s.len() == USER_TOKEN_CHARS && s.bytes().all(|b| b.is_ascii_alphanumeric()) {
            Ok(Self(s.to_owned()))
        } else {
            Err(CodecError::BadValue {
                what: "user token (16 letters or digits)",
                value: s.to_owned(),
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A 10-digit request id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(u64);

impl RequestId {
    pub const MAX: u64 = 9_999_999_999;

    pub fn new(s: &str) -> Result<Self, CodecError> {
        let bad = || CodecError::BadValue {
            what: "request id (10 digits)",
            value: s.to_owned(),
        };
        if s.len() != REQUEST_ID_DIGITS || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        s.parse().map(Self).map_err(|_| bad())
    }

    /// A request id from its number; `None` above ten digits.
    pub fn from_number(n: u64) -> Option<Self> {
        (n <= Self::MAX).then_some(Self(n))
    }

    pub fn number(self) -> u64 {
        self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:010}", self.0)
    }
}

/// A payment's parameters as PAYSND and PAYRQST carry them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub peer: UserToken,
    /// `chit` (the balance) or a rail such as `sandbox`.
    pub service: String,
    /// `50`, `12.50` (the node's default currency) or `EUR:12.50`.
    pub amount: String,
    pub request: RequestId,
}

/// Every IMPT message. Extensions to the seed are marked; docs/impt.md has the grammar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pdu {
    Init {
        kind: Kind,
        version: String,
    },
    /// Extension: SASL inside the handshake. `BEGIN` carries the mechanism and the initial
    /// response (base64); `RES` carries the session's own user token.
    Auth {
        kind: Kind,
        mechanism: String,
        response: String,
    },
    /// Extension: the token by which this session names `handle`.
    Who {
        kind: Kind,
        handle: String,
        peer: Option<UserToken>,
    },
    Poke {
        kind: Kind,
        peer: UserToken,
        /// Extension, server to client: who is poking (a token the client may not know yet).
        handle: Option<String>,
    },
    PaySnd {
        kind: Kind,
        payment: Payment,
    },
    PayRqst {
        kind: Kind,
        payment: Payment,
    },
    PayAccept {
        kind: Kind,
        peer: UserToken,
        request: RequestId,
    },
    PayDecline {
        kind: Kind,
        peer: UserToken,
        request: RequestId,
    },
    TransSuccess {
        kind: Kind,
        peer: UserToken,
        request: RequestId,
    },
    /// Extension: a payment ended without moving money (declined, rejected, cancelled, expired).
    PayClosed {
        kind: Kind,
        peer: UserToken,
        request: RequestId,
        state: String,
    },
    /// Extension: a text message in the two users' conversation.
    Msg {
        kind: Kind,
        peer: UserToken,
        text: String,
    },
    ErrInit {
        kind: Kind,
        peer: Option<UserToken>,
        message: String,
    },
    ErrPay {
        kind: Kind,
        peer: Option<UserToken>,
        message: String,
        request: RequestId,
    },
    ErrTrans {
        kind: Kind,
        peer: Option<UserToken>,
        message: String,
        request: RequestId,
    },
    /// Extension: the generic error for a message that is illegal in the current state (seed
    /// §2.4, §5); the connection closes after it.
    Err {
        message: String,
    },
    Disconnect,
}

impl Pdu {
    /// The command word, as on the wire.
    pub fn command(&self) -> &'static str {
        match self {
            Self::Init { .. } => "INIT",
            Self::Auth { .. } => "AUTH",
            Self::Who { .. } => "WHO",
            Self::Poke { .. } => "POKE",
            Self::PaySnd { .. } => "PAYSND",
            Self::PayRqst { .. } => "PAYRQST",
            Self::PayAccept { .. } => "PAYACCEPT",
            Self::PayDecline { .. } => "PAYDECLINE",
            Self::TransSuccess { .. } => "TRANS_SUCCESS",
            Self::PayClosed { .. } => "PAYCLOSED",
            Self::Msg { .. } => "MSG",
            Self::ErrInit { .. } => "ERR_INIT",
            Self::ErrPay { .. } => "ERR_PAY",
            Self::ErrTrans { .. } => "ERR_TRANS",
            Self::Err { .. } => "ERR",
            Self::Disconnect => "DISCONNECT",
        }
    }

    /// The `[TYPE]`, if the PDU carries one.
    pub fn message_type(&self) -> Option<Kind> {
        match self {
            Self::Init { kind, .. }
            | Self::Auth { kind, .. }
            | Self::Who { kind, .. }
            | Self::Poke { kind, .. }
            | Self::PaySnd { kind, .. }
            | Self::PayRqst { kind, .. }
            | Self::PayAccept { kind, .. }
            | Self::PayDecline { kind, .. }
            | Self::TransSuccess { kind, .. }
            | Self::PayClosed { kind, .. }
            | Self::Msg { kind, .. }
            | Self::ErrInit { kind, .. }
            | Self::ErrPay { kind, .. }
            | Self::ErrTrans { kind, .. } => Some(*kind),
            Self::Err { .. } => Some(Kind::Final),
            Self::Disconnect => None,
        }
    }

    /// The parameters, in wire order (a `-` stands for an absent token).
    fn params(&self) -> Vec<String> {
        let token = |t: &Option<UserToken>| t.as_ref().map_or("-".to_owned(), |t| t.0.clone());
        let payment = |p: &Payment| {
            vec![
                p.peer.0.clone(),
                p.service.clone(),
                p.amount.clone(),
                p.request.to_string(),
            ]
        };
        match self {
            Self::Init { version, .. } => vec![version.clone()],
            Self::Auth {
                mechanism,
                response,
                ..
            } => vec![mechanism.clone(), response.clone()],
            Self::Who { handle, peer, .. } => {
                let mut v = vec![handle.clone()];
                v.extend(peer.as_ref().map(|p| p.0.clone()));
                v
            }
            Self::Poke { peer, handle, .. } => {
                let mut v = vec![peer.0.clone()];
                v.extend(handle.clone());
                v
            }
            Self::PaySnd { payment: p, .. } | Self::PayRqst { payment: p, .. } => payment(p),
            Self::PayAccept { peer, request, .. }
            | Self::PayDecline { peer, request, .. }
            | Self::TransSuccess { peer, request, .. } => {
                vec![peer.0.clone(), request.to_string()]
            }
            Self::PayClosed {
                peer,
                request,
                state,
                ..
            } => vec![peer.0.clone(), request.to_string(), state.clone()],
            Self::Msg { peer, text, .. } => vec![peer.0.clone(), text.clone()],
            Self::ErrInit { peer, message, .. } => vec![token(peer), message.clone()],
            Self::ErrPay {
                peer,
                message,
                request,
                ..
            }
            | Self::ErrTrans {
                peer,
                message,
                request,
                ..
            } => vec![token(peer), message.clone(), request.to_string()],
            Self::Err { message } => vec![message.clone()],
            Self::Disconnect => Vec::new(),
        }
    }
}

/// One line: who sent it and what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub from: Side,
    pub pdu: Pdu,
}

impl Line {
    pub fn client(pdu: Pdu) -> Self {
        Self {
            from: Side::Client,
            pdu,
        }
    }

    pub fn server(pdu: Pdu) -> Self {
        Self {
            from: Side::Server,
            pdu,
        }
    }

    /// Parses one line (as [`check_line`] delimited it; the `\n` or `\r\n` is optional here).
    pub fn parse(bytes: &[u8]) -> Result<Self, CodecError> {
        if bytes.len() > LINE_BYTES_MAX {
            return Err(CodecError::TooLong);
        }
        let text = std::str::from_utf8(bytes).map_err(|_| CodecError::NotUtf8)?;
        let text = text.strip_suffix('\n').unwrap_or(text);
        let text = text.strip_suffix('\r').unwrap_or(text);
        // Room for `\r\n` whatever the terminator was: a parsed line re-encodes within the limit
        // (the fuzzer found a 2047-byte line ending in a bare `\n`).
        if text.len() > LINE_BYTES_MAX - 2 {
            return Err(CodecError::TooLong);
        }
        if text.chars().any(char::is_control) {
            return Err(CodecError::ControlCharacter);
        }
        let (from, rest) = if let Some(rest) = text.strip_prefix("C > ") {
            (Side::Client, rest)
        } else if let Some(rest) = text.strip_prefix("S > ") {
            (Side::Server, rest)
        } else {
            return Err(CodecError::NoSender);
        };
        let (command, rest) = rest.split_once(' ').unwrap_or((rest, ""));
        let (kind, rest) = match rest.strip_prefix('[') {
            Some(r) => {
                let (word, r) = r
                    .split_once(']')
                    .ok_or_else(|| CodecError::BadType(r.into()))?;
                let kind = match word {
                    "BEGIN" => Kind::Begin,
                    "RES" => Kind::Res,
                    "FINAL" => Kind::Final,
                    other => return Err(CodecError::BadType(other.into())),
                };
                let r = match r {
                    "" => r,
                    _ => r
                        .strip_prefix(' ')
                        .ok_or_else(|| CodecError::BadType(word.into()))?,
                };
                (Some(kind), r)
            }
            None => (None, rest),
        };
        let pdu = if command == "INIT" {
            Pdu::Init {
                kind: need_kind("INIT", kind)?,
                version: rest.to_owned(),
            }
        } else {
            typed(command, kind, split_params(rest)?)?
        };
        Ok(Self { from, pdu })
    }

    /// The wire form, `\r\n` included.
    pub fn encode(&self) -> String {
        let mut out = String::from(match self.from {
            Side::Client => "C > ",
            Side::Server => "S > ",
        });
        out.push_str(self.pdu.command());
        if let Some(kind) = self.pdu.message_type() {
            out.push_str(" [");
            out.push_str(kind.as_str());
            out.push(']');
        }
        let verbatim = matches!(self.pdu, Pdu::Init { .. });
        for p in self.pdu.params() {
            out.push(' ');
            if verbatim {
                out.push_str(&p);
            } else {
                push_param(&mut out, &p);
            }
        }
        out.push_str("\r\n");
        out
    }
}

fn push_param(out: &mut String, p: &str) {
    let bare = !p.is_empty() && !p.contains([' ', '"', '\\']);
    if bare {
        out.push_str(p);
        return;
    }
    out.push('"');
    for c in p.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

fn split_params(mut rest: &str) -> Result<Vec<String>, CodecError> {
    let mut params = Vec::new();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = r.char_indices();
            let end = loop {
                match chars.next() {
                    Some((i, '"')) => break i + 1,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, c @ ('"' | '\\'))) => value.push(c),
                        _ => return Err(CodecError::Unterminated),
                    },
                    Some((_, c)) => value.push(c),
                    None => return Err(CodecError::Unterminated),
                }
            };
            params.push(value);
            rest = &r[end..];
        } else {
            let (word, r) = rest.split_once(' ').unwrap_or((rest, ""));
            // A backslash or quote needs quoting: so a parsed line never re-encodes longer.
            if word.is_empty() || word.contains(['"', '\\']) {
                return Err(CodecError::BadValue {
                    what: "parameter",
                    value: word.into(),
                });
            }
            params.push(word.to_owned());
            rest = r;
            continue;
        }
        rest = match rest {
            "" => rest,
            _ => rest.strip_prefix(' ').ok_or(CodecError::Unterminated)?,
        };
    }
    Ok(params)
}

fn need_kind(command: &'static str, kind: Option<Kind>) -> Result<Kind, CodecError> {
    kind.ok_or(CodecError::Params {
        command,
        expected: "a message type ([BEGIN], [RES] or [FINAL])",
    })
}

fn opt_token(s: &str) -> Result<Option<UserToken>, CodecError> {
    match s {
        "-" => Ok(None),
        _ => UserToken::new(s).map(Some),
    }
}

fn typed(command: &str, kind: Option<Kind>, p: Vec<String>) -> Result<Pdu, CodecError> {
    let arity = |command: &'static str, expected: &'static str, ok: bool| {
        if ok {
            Ok(())
        } else {
            Err(CodecError::Params { command, expected })
        }
    };
    let payment = |p: &[String]| -> Result<Payment, CodecError> {
        Ok(Payment {
            peer: UserToken::new(&p[0])?,
            service: p[1].clone(),
            amount: p[2].clone(),
            request: RequestId::new(&p[3])?,
        })
    };
    Ok(match command {
        "AUTH" => {
            arity("AUTH", "a mechanism and a response", p.len() == 2)?;
            Pdu::Auth {
                kind: need_kind("AUTH", kind)?,
                mechanism: p[0].clone(),
                response: p[1].clone(),
            }
        }
        "WHO" => {
            arity(
                "WHO",
                "a handle and maybe a token",
                (1..=2).contains(&p.len()),
            )?;
            Pdu::Who {
                kind: need_kind("WHO", kind)?,
                handle: p[0].clone(),
                peer: p.get(1).map(|t| UserToken::new(t)).transpose()?,
            }
        }
        "POKE" => {
            arity(
                "POKE",
                "a user token and maybe a handle",
                (1..=2).contains(&p.len()),
            )?;
            Pdu::Poke {
                kind: need_kind("POKE", kind)?,
                peer: UserToken::new(&p[0])?,
                handle: p.get(1).cloned(),
            }
        }
        "PAYSND" | "PAYRQST" => {
            let send = command == "PAYSND";
            let name = if send { "PAYSND" } else { "PAYRQST" };
            arity(name, "token, service, amount and request id", p.len() == 4)?;
            let (kind, payment) = (need_kind(name, kind)?, payment(&p)?);
            if send {
                Pdu::PaySnd { kind, payment }
            } else {
                Pdu::PayRqst { kind, payment }
            }
        }
        "PAYACCEPT" | "PAYDECLINE" | "TRANS_SUCCESS" => {
            let name = match command {
                "PAYACCEPT" => "PAYACCEPT",
                "PAYDECLINE" => "PAYDECLINE",
                _ => "TRANS_SUCCESS",
            };
            arity(name, "a user token and a request id", p.len() == 2)?;
            let kind = need_kind(name, kind)?;
            let (peer, request) = (UserToken::new(&p[0])?, RequestId::new(&p[1])?);
            match name {
                "PAYACCEPT" => Pdu::PayAccept {
                    kind,
                    peer,
                    request,
                },
                "PAYDECLINE" => Pdu::PayDecline {
                    kind,
                    peer,
                    request,
                },
                _ => Pdu::TransSuccess {
                    kind,
                    peer,
                    request,
                },
            }
        }
        "PAYCLOSED" => {
            arity("PAYCLOSED", "token, request id and state", p.len() == 3)?;
            Pdu::PayClosed {
                kind: need_kind("PAYCLOSED", kind)?,
                peer: UserToken::new(&p[0])?,
                request: RequestId::new(&p[1])?,
                state: p[2].clone(),
            }
        }
        "MSG" => {
            arity("MSG", "a user token and a text", p.len() == 2)?;
            if p[1].chars().count() > TEXT_CHARS_MAX {
                return Err(CodecError::BadValue {
                    what: "text (at most 1000 characters)",
                    value: format!("{} characters", p[1].chars().count()),
                });
            }
            Pdu::Msg {
                kind: need_kind("MSG", kind)?,
                peer: UserToken::new(&p[0])?,
                text: p[1].clone(),
            }
        }
        "ERR_INIT" => {
            arity(
                "ERR_INIT",
                "a user token (or -) and a message",
                p.len() == 2,
            )?;
            Pdu::ErrInit {
                kind: need_kind("ERR_INIT", kind)?,
                peer: opt_token(&p[0])?,
                message: p[1].clone(),
            }
        }
        "ERR_PAY" | "ERR_TRANS" => {
            let name = if command == "ERR_PAY" {
                "ERR_PAY"
            } else {
                "ERR_TRANS"
            };
            arity(
                name,
                "a user token (or -), a message and a request id",
                p.len() == 3,
            )?;
            let kind = need_kind(name, kind)?;
            let (peer, message, request) =
                (opt_token(&p[0])?, p[1].clone(), RequestId::new(&p[2])?);
            if name == "ERR_PAY" {
                Pdu::ErrPay {
                    kind,
                    peer,
                    message,
                    request,
                }
            } else {
                Pdu::ErrTrans {
                    kind,
                    peer,
                    message,
                    request,
                }
            }
        }
        "ERR" => {
            arity(
                "ERR",
                "[FINAL] and a message",
                p.len() == 1 && kind == Some(Kind::Final),
            )?;
            Pdu::Err {
                message: p[0].clone(),
            }
        }
        "DISCONNECT" => {
            arity("DISCONNECT", "nothing", p.is_empty() && kind.is_none())?;
            Pdu::Disconnect
        }
        other => return Err(CodecError::UnknownCommand(other.chars().take(32).collect())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(s: &str) -> UserToken {
        UserToken::new(s).unwrap()
    }

    #[test]
    fn the_seeds_examples_parse() {
        let l = Line::parse(b"C > INIT [BEGIN] IMPT 1.0\r\n").unwrap();
        assert_eq!(
            l.pdu,
            Pdu::Init {
                kind: Kind::Begin,
                version: "IMPT 1.0".into()
            }
        );
        let l = Line::parse(b"C > PAYSND [BEGIN] rieoslfbdjlgfdem PayPal 50 2345657240\n").unwrap();
        assert_eq!(
            l.pdu,
            Pdu::PaySnd {
                kind: Kind::Begin,
                payment: Payment {
                    peer: token("rieoslfbdjlgfdem"),
                    service: "PayPal".into(),
                    amount: "50".into(),
                    request: RequestId::new("2345657240").unwrap(),
                }
            }
        );
        let l = Line::parse(b"S > ERR_INIT [FINAL] - \"Authentication Error\"").unwrap();
        assert_eq!(l.from, Side::Server);
        assert_eq!(
            l.encode(),
            "S > ERR_INIT [FINAL] - \"Authentication Error\"\r\n"
        );
        assert_eq!(Line::parse(b"C > DISCONNECT").unwrap().pdu, Pdu::Disconnect);
    }

    #[test]
    fn incomplete_is_not_invalid() {
        assert_eq!(check_line(b"C > INIT [BEG"), Ok(None));
        assert_eq!(check_line(b"C > DISCONNECT\r\nC > "), Ok(Some(16)));
        assert_eq!(
            check_line(&vec![b'a'; LINE_BYTES_MAX]),
            Err(CodecError::TooLong)
        );
        let mut long = vec![b'a'; LINE_BYTES_MAX - 1];
        long.push(b'\n');
        assert_eq!(check_line(&long), Ok(Some(LINE_BYTES_MAX)));
    }

    #[test]
    fn bad_lines_say_why() {
        let bad = |s: &str| Line::parse(s.as_bytes()).unwrap_err();
        assert_eq!(bad("X > INIT [BEGIN] IMPT 1.0"), CodecError::NoSender);
        assert!(matches!(
            bad("C > FROB [BEGIN]"),
            CodecError::UnknownCommand(_)
        ));
        assert!(matches!(
            bad("C > POKE [MAYBE] abc"),
            CodecError::BadType(_)
        ));
        assert!(matches!(
            bad("C > POKE [BEGIN] short"),
            CodecError::BadValue { .. }
        ));
        assert!(matches!(
            bad("C > PAYACCEPT [RES] rieoslfbdjlgfdem 12345"),
            CodecError::BadValue { .. }
        ));
        assert!(matches!(
            bad("C > PAYACCEPT [RES]"),
            CodecError::Params { .. }
        ));
        assert_eq!(
            bad("C > MSG [BEGIN] rieoslfbdjlgfdem \"open"),
            CodecError::Unterminated
        );
        assert_eq!(bad("C > MSG [BEGIN] a\tb"), CodecError::ControlCharacter);
        assert_eq!(Line::parse(&[b'C', 0xff]).unwrap_err(), CodecError::NotUtf8);
        assert!(matches!(
            bad("C > DISCONNECT now"),
            CodecError::Params { .. }
        ));
        // Found by the fuzzer: a bare `\` would re-encode quoted and escaped, longer than the
        // line it came from (past the limit for a long line). It must be quoted on the wire.
        assert!(matches!(
            bad("C > WHO [BEGIN] a\\b"),
            CodecError::BadValue { .. }
        ));
    }

    #[test]
    fn a_parsed_line_always_re_encodes_within_the_limit() {
        // Found by the fuzzer: 2047 bytes ending in a bare LF re-encoded to 2049 with CRLF.
        let text = "x".repeat(LINE_BYTES_MAX - 2 - "C > ERR [FINAL] ".len());
        let fits = format!("C > ERR [FINAL] {text}\n");
        let wire = Line::parse(fits.as_bytes()).unwrap().encode();
        assert_eq!(check_line(wire.as_bytes()), Ok(Some(wire.len())));
        let over = format!("C > ERR [FINAL] {text}x\n");
        assert_eq!(over.len(), LINE_BYTES_MAX);
        assert_eq!(Line::parse(over.as_bytes()), Err(CodecError::TooLong));
    }

    #[test]
    fn quoted_parameters_round_trip() {
        let line = Line::client(Pdu::Msg {
            kind: Kind::Begin,
            peer: token("rieoslfbdjlgfdem"),
            text: "lunch \"at\" 12 \\ ok".into(),
        });
        let wire = line.encode();
        assert_eq!(
            wire,
            "C > MSG [BEGIN] rieoslfbdjlgfdem \"lunch \\\"at\\\" 12 \\\\ ok\"\r\n"
        );
        assert_eq!(Line::parse(wire.as_bytes()).unwrap(), line);
    }
}
