//! The failed-host queue: per host, `yes` (fenced, to be handed to the recovery service),
//! `<owner>@<unix time>` (an alerter is handing it over), `no` (handed over). The same values
//! as NovaEvacuate/fence_compute keep in Pacemaker's attribute `evacuate`, so a site can switch
//! agent by agent. The transitions are decided here, without I/O.

use std::fmt;

/// How long a claim holds: an alerter that died mid-delivery leaves its claim, which another
/// may take after this many seconds.
pub const CLAIM_SECS: u64 = 60;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    /// Fenced; not yet handed to the recovery service.
    Failed,
    /// An alerter (`owner`) is delivering it, since `since` (Unix seconds).
    Claimed { owner: String, since: u64 },
    /// Accepted by the recovery service.
    Delivered,
}

impl Entry {
    /// The attribute's value; `None` for a value no agent writes (left alone, and logged).
    pub fn parse(value: &str) -> Option<Entry> {
        match value {
            "yes" => Some(Entry::Failed),
            "no" => Some(Entry::Delivered),
            v => {
                let (owner, since) = v.rsplit_once('@')?;
                let since = since.parse().ok()?;
                (!owner.is_empty()).then(|| Entry::Claimed {
                    owner: owner.to_owned(),
                    since,
                })
            }
        }
    }

    /// Whether `owner` may claim the entry at `now`: a failed host, or a claim gone stale
    /// (or its own, taken again after a restart).
    pub fn claimable_by(&self, owner: &str, now: u64) -> bool {
        match self {
            Entry::Failed => true,
            Entry::Claimed { owner: o, since } => {
                o == owner || now.saturating_sub(*since) > CLAIM_SECS
            }
            Entry::Delivered => false,
        }
    }

    /// Whether the host may be unfenced as far as the queue knows: handed over, or absent.
    pub fn lets_unfence(entry: Option<&Entry>) -> bool {
        matches!(entry, None | Some(Entry::Delivered))
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Entry::Failed => f.write_str("yes"),
            Entry::Claimed { owner, since } => write!(f, "{owner}@{since}"),
            Entry::Delivered => f.write_str("no"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claimed(owner: &str, since: u64) -> Entry {
        Entry::Claimed {
            owner: owner.into(),
            since,
        }
    }

    #[test]
    fn values_read_and_write_as_the_attribute_holds_them() {
        let table = [
            ("yes", Some(Entry::Failed)),
            ("no", Some(Entry::Delivered)),
            ("ctl1@1700000000", Some(claimed("ctl1", 1_700_000_000))),
            ("a@b@5", Some(claimed("a@b", 5))),
            ("@5", None),
            ("ctl1@", None),
            ("ctl1@soon", None),
            ("", None),
            ("YES", None),
        ];
        for (value, want) in table {
            let got = Entry::parse(value);
            assert_eq!(got, want, "{value:?}");
            if let Some(e) = got {
                assert_eq!(e.to_string(), value);
            }
        }
    }

    #[test]
    fn who_may_claim_and_when_a_host_may_be_unfenced() {
        let now = 1_000;
        let table = [
            (Entry::Failed, "a", true),
            (claimed("b", now - 10), "a", false),
            (claimed("b", now - CLAIM_SECS), "a", false),
            (claimed("b", now - CLAIM_SECS - 1), "a", true),
            (claimed("a", now), "a", true),
            // A clock that went back is no reason to steal.
            (claimed("b", now + 30), "a", false),
            (Entry::Delivered, "a", false),
        ];
        for (entry, owner, want) in table {
            assert_eq!(entry.claimable_by(owner, now), want, "{entry} by {owner}");
        }
        assert!(Entry::lets_unfence(None));
        assert!(Entry::lets_unfence(Some(&Entry::Delivered)));
        assert!(!Entry::lets_unfence(Some(&Entry::Failed)));
        assert!(!Entry::lets_unfence(Some(&claimed("a", now))));
    }
}
