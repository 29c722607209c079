//! Ids people can type. Ids are 32 hex digits and time-ordered, so ids made the same day share
//! their first digits; the last eight are random, and are the *short form* shown beside each
//! message and payment. An id argument may be any unique prefix of the full id or of its short
//! form, in either case; an ambiguous one is refused with the candidates named.

use std::str::FromStr;

/// Digits in the short form of an id.
pub const SHORT_ID_DIGITS: usize = 8;

/// The short form of an id: its last eight digits (the whole id if it is shorter).
pub fn short<S: AsRef<str> + ?Sized>(id: &S) -> &str {
    let id = id.as_ref();
    &id[id.len().saturating_sub(SHORT_ID_DIGITS)..]
}

/// Why an id argument names no single id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{0:?} is not an id: ids are hexadecimal digits (0-9, a-f), e.g. the short form shown by `chit inbox`")]
    NotHex(String),
    #[error("no {what} matching {given:?} in this wallet (`chit inbox` fetches what is new)")]
    Unknown { given: String, what: &'static str },
    #[error("{given:?} matches {count} {what}s ({examples}): type more of the id")]
    Ambiguous {
        given: String,
        what: &'static str,
        count: usize,
        examples: String,
    },
}

/// The one id among `known` that `given` names. A full 32-digit id is taken as it is even if
/// unknown here (the node will say whether it exists); `what` names the kind for errors.
pub fn resolve<T>(
    given: &str,
    known: impl IntoIterator<Item = T>,
    what: &'static str,
) -> Result<T, IdError>
where
    T: AsRef<str> + FromStr + Ord + Copy,
{
    let wanted = given.trim().to_ascii_lowercase();
    if wanted.is_empty() || !wanted.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(IdError::NotHex(given.to_owned()));
    }
    let mut matches: Vec<T> = known
        .into_iter()
        .filter(|id| {
            let id = id.as_ref().to_ascii_lowercase();
            id.starts_with(&wanted) || short(&id).starts_with(&wanted)
        })
        .collect();
    matches.sort_unstable();
    matches.dedup();
    match matches.as_slice() {
        [one] => Ok(*one),
        [] if wanted.len() == 32 => wanted
            .parse()
            .map_err(|_| IdError::NotHex(given.to_owned())),
        [] => Err(IdError::Unknown {
            given: given.to_owned(),
            what,
        }),
        many => Err(IdError::Ambiguous {
            given: given.to_owned(),
            what,
            count: many.len(),
            examples: many
                .iter()
                .take(4)
                .map(|id| short(id).to_owned())
                .collect::<Vec<_>>()
                .join(", ")
                + if many.len() > 4 { ", …" } else { "" },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chit_proto::MessageId;

    fn id(text: &str) -> MessageId {
        text.parse().unwrap()
    }

    const A: &str = "0190a1b2c3d4000000000000deadbeef";
    const B: &str = "0190a1b2c3d4000000000000cafef00d";
    const C: &str = "0190a1b2c3d5000000000000deadbee0";

    #[test]
    fn a_unique_prefix_of_the_id_or_of_its_short_form_names_it() {
        let known = [id(A), id(B), id(C)];
        assert_eq!(short(A), "deadbeef");
        assert_eq!(resolve("cafe", known, "payment"), Ok(id(B)));
        assert_eq!(resolve("CAFEF00D", known, "payment"), Ok(id(B)));
        assert_eq!(resolve("0190a1b2c3d5", known, "payment"), Ok(id(C)));
        assert_eq!(resolve(A, known, "payment"), Ok(id(A)));
        assert_eq!(resolve("deadbeef", known, "payment"), Ok(id(A)));
    }

    #[test]
    fn ambiguous_unknown_and_malformed_ids_are_refused_clearly() {
        let known = [id(A), id(B), id(C)];
        let e = resolve("dead", known, "payment").unwrap_err();
        assert!(matches!(e, IdError::Ambiguous { count: 2, .. }), "{e}");
        assert!(e.to_string().contains("deadbeef, deadbee0"), "{e}");
        assert!(matches!(
            resolve("0190", known, "payment"),
            Err(IdError::Ambiguous { count: 3, .. })
        ));
        assert!(matches!(
            resolve("ffff", known, "payment"),
            Err(IdError::Unknown { .. })
        ));
        assert!(matches!(
            resolve("xyz", known, "payment"),
            Err(IdError::NotHex(_))
        ));
        assert!(matches!(
            resolve("", known, "payment"),
            Err(IdError::NotHex(_))
        ));
        // A whole id passes through: the node knows more than the wallet.
        let other = "e".repeat(32);
        assert_eq!(resolve(&other, known, "payment"), Ok(id(&other)));
        // What is not an id at all is said so, not sent.
        assert!(matches!(
            resolve(&"0".repeat(32), known, "payment"),
            Err(IdError::NotHex(_))
        ));
    }
}
