//! Canonical encoding of what gets signed: a domain tag, then each field length-prefixed.
//!
//! JSON is not canonical (key order, whitespace, number forms), so signatures never cover JSON.
//! Each signed statement builds its bytes here, field by field, under a tag naming the statement,
//! so a signature for one kind of statement can never be replayed as another.

/// Builds the bytes a signature covers.
pub struct Canon(Vec<u8>);

impl Canon {
    /// Starts a statement of kind `tag` (e.g. `chit/v1/offer`).
    pub fn new(tag: &str) -> Self {
        let mut c = Self(Vec::with_capacity(256));
        c.bytes(tag.as_bytes());
        c
    }

    pub fn bytes(&mut self, field: &[u8]) -> &mut Self {
        let len = u32::try_from(field.len()).expect("canonical field under 4 GiB");
        self.0.extend_from_slice(&len.to_be_bytes());
        self.0.extend_from_slice(field);
        self
    }

    pub fn str(&mut self, field: &str) -> &mut Self {
        self.bytes(field.as_bytes())
    }

    pub fn u64(&mut self, field: u64) -> &mut Self {
        self.bytes(&field.to_be_bytes())
    }

    pub fn u128(&mut self, field: u128) -> &mut Self {
        self.bytes(&field.to_be_bytes())
    }

    /// An optional field: absent and present-but-empty encode differently.
    pub fn opt_str(&mut self, field: Option<&str>) -> &mut Self {
        match field {
            None => self.bytes(&[0]),
            Some(s) => self.bytes(&[1]).str(s),
        }
    }

    pub fn opt_u64(&mut self, field: Option<u64>) -> &mut Self {
        match field {
            None => self.bytes(&[0]),
            Some(v) => self.bytes(&[1]).u64(v),
        }
    }

    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_boundaries_and_tags_are_unambiguous() {
        let ab_c = Canon::new("t").str("ab").str("c").finish();
        let a_bc = Canon::new("t").str("a").str("bc").finish();
        assert_ne!(ab_c, a_bc);
        assert_ne!(
            Canon::new("t1").str("x").finish(),
            Canon::new("t2").str("x").finish()
        );
        assert_ne!(
            Canon::new("t").opt_str(None).finish(),
            Canon::new("t").opt_str(Some("")).finish()
        );
    }
}
