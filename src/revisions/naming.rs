//! Glance-style revision names: `<release>_expand<NN>` / `<release>_contract<NN>`, a pair
//! sharing its number (`rocky_expand02` / `rocky_contract02`).

use super::RevisionSet;
use super::author_error::{AuthorError, invalid};
use crate::snapshot::{self as snap, Branch};

pub(super) fn check_name(name: &str) -> Result<(), AuthorError> {
    if snap::is_revision_name(name) {
        Ok(())
    } else {
        Err(invalid(
            format!("invalid revision name `{name}`"),
            Some("use letters, digits and underscores, at most 32 of them (e.g. `2025_1`)"),
        ))
    }
}

/// The names of the pair: `<release>_expand<NN>` and `<release>_contract<NN>`.
pub(super) struct Names {
    pub release: String,
    pub number: String,
    pub expand: String,
    pub contract: String,
}

impl Names {
    /// The pair for `name` (a release, or a full name fixing the number), on `branch` if given.
    pub fn choose(
        set: &RevisionSet,
        name: &str,
        branch: Option<Branch>,
    ) -> Result<Names, AuthorError> {
        let (release, fixed) = match split_name(name) {
            Some((release, named, number)) => {
                if branch.is_some_and(|b| b != named) {
                    return Err(invalid(
                        format!(
                            "`{}` names a {} revision but --branch says {}",
                            name,
                            named.as_str(),
                            branch.map_or("", Branch::as_str)
                        ),
                        Some("give the release alone (e.g. `2025_1`) or a name on that branch"),
                    ));
                }
                (release, Some(number))
            }
            None => (name.to_string(), None),
        };
        let pair = |n: &str| {
            (
                format!("{release}_expand{n}"),
                format!("{release}_contract{n}"),
            )
        };
        let number = match fixed {
            Some(n) => n,
            None => (1..100)
                .map(|i| format!("{i:02}"))
                .find(|n| {
                    let (e, c) = pair(n);
                    !set.contains(&e) && !set.contains(&c)
                })
                .ok_or_else(|| invalid(format!("release `{release}` has 99 revisions"), None))?,
        };
        let (expand, contract) = pair(&number);
        for n in [&expand, &contract] {
            check_name(n)?;
        }
        Ok(Names {
            release,
            number,
            expand,
            contract,
        })
    }
}

/// `2025_1_expand02` → (`2025_1`, expand, `02`).
pub(super) fn split_name(name: &str) -> Option<(String, Branch, String)> {
    for b in [Branch::Expand, Branch::Contract] {
        let tag = format!("_{}", b.as_str());
        if let Some(i) = name.rfind(&tag) {
            let number = &name[i + tag.len()..];
            if !number.is_empty() && number.chars().all(|c| c.is_ascii_digit()) && i > 0 {
                return Some((name[..i].to_string(), b, number.to_string()));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_into_release_branch_and_number() {
        assert_eq!(
            split_name("2025_1_expand02"),
            Some(("2025_1".into(), Branch::Expand, "02".into()))
        );
        assert_eq!(
            split_name("rocky_contract01"),
            Some(("rocky".into(), Branch::Contract, "01".into()))
        );
        assert_eq!(split_name("2025_1"), None);
        assert_eq!(split_name("_expand01"), None);
    }
}
