//! Looking back: the caller's statement, conversations, read markers and settings, as the
//! node serves them to any device.

use chit_proto::api::{ConversationPage, Conversations, ReadMarker, Settings, Statement};

use crate::{Client, ClientError};

/// Which page of a conversation to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Page {
    Newest,
    Before(u64),
    After(u64),
}

/// A path segment as it may appear in a URL (conversation ids hold `:`, which may stay).
fn segment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b':' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Client {
    /// Entries of the caller's statement in `currency` (the node's default if `None`) after
    /// `after`, oldest first.
    pub fn statement(
        &self,
        currency: Option<&str>,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Statement, ClientError> {
        let mut path = format!("/v1/statement?limit={limit}");
        if let Some(c) = currency {
            path.push_str(&format!("&currency={}", segment(c)));
        }
        if let Some(a) = after {
            path.push_str(&format!("&after={a}"));
        }
        self.get(&path)
    }

    /// The caller's conversations, most recently active first.
    pub fn conversations(&self, limit: usize) -> Result<Conversations, ClientError> {
        self.get(&format!("/v1/conversations?limit={limit}"))
    }

    /// A page of one conversation, oldest first.
    pub fn conversation(
        &self,
        id: &str,
        page: Page,
        limit: usize,
    ) -> Result<ConversationPage, ClientError> {
        let bound = match page {
            Page::Newest => String::new(),
            Page::Before(seq) => format!("&before={seq}"),
            Page::After(seq) => format!("&after={seq}"),
        };
        self.get(&format!(
            "/v1/conversations/{}/messages?limit={limit}{bound}",
            segment(id)
        ))
    }

    /// Marks a conversation read up to `seq`; returns where the marker stands.
    pub fn mark_read(&self, id: &str, seq: u64) -> Result<u64, ClientError> {
        let marker: ReadMarker = self.post(
            &format!("/v1/conversations/{}/read", segment(id)),
            &ReadMarker { seq },
        )?;
        Ok(marker.seq)
    }

    /// The caller's preferences as the node holds them.
    pub fn settings(&self) -> Result<Settings, ClientError> {
        self.get("/v1/settings")
    }
}
