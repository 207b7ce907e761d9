//! The two small languages of fencing configuration: URL/address templates where `{host}` is the
//! only placeholder, and host-name globs (`*`, `?`) that bind devices to hosts.

/// A template that is not `text` with `{host}` placeholders.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unknown placeholder {{{0}}} in {1:?}: only {{host}} is allowed")]
    Placeholder(String, String),
    #[error("unbalanced brace in {0:?}")]
    Brace(String),
}

/// Checks `template` and substitutes `host` for every `{host}`.
pub fn expand(template: &str, host: &str) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(template.len() + host.len());
    let mut rest = template;
    while let Some(open) = rest.find(['{', '}']) {
        if rest.as_bytes()[open] == b'}' {
            return Err(TemplateError::Brace(template.to_owned()));
        }
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| TemplateError::Brace(template.to_owned()))?;
        let name = &after[..close];
        if name != "host" {
            return Err(TemplateError::Placeholder(
                name.to_owned(),
                template.to_owned(),
            ));
        }
        out.push_str(host);
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Whether `name` matches `pattern`, where `*` is any run of characters and `?` any one.
pub fn glob(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni) = (0, 0);
    // Where the last `*` was and how much of the name it has swallowed: backtrack there.
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        // A `*` is a wildcard even where the name has a `*` too (found by fuzzing: `*` did not
        // match `*x`, its star spent as a literal), so it is tried first.
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_only_host() {
        let table = [
            (
                "https://{host}-bmc.example.com",
                Ok("https://c1-bmc.example.com"),
            ),
            ("{host}", Ok("c1")),
            ("10.0.0.1", Ok("10.0.0.1")),
            ("{host}.{host}", Ok("c1.c1")),
            ("https://{hots}", Err("placeholder")),
            ("https://{}", Err("placeholder")),
            ("https://{host", Err("brace")),
            ("https://host}", Err("brace")),
        ];
        for (template, want) in table {
            let got = expand(template, "c1");
            match (want, got) {
                (Ok(w), Ok(g)) => assert_eq!(g, w),
                (Err("placeholder"), Err(TemplateError::Placeholder(..))) => {}
                (Err("brace"), Err(TemplateError::Brace(_))) => {}
                (want, got) => panic!("{template}: wanted {want:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn globs_host_names() {
        let table = [
            ("compute*", "compute1", true),
            ("compute*", "compute", true),
            ("compute*", "ctl1", false),
            ("c?", "c1", true),
            ("c?", "c12", false),
            ("*-rack2-*", "c1-rack2-a", true),
            ("*", "", true),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "aXbYcd", false),
            ("exact", "exact", true),
            ("*", "*b", true),
            ("a*", "a*", true),
            ("*c", "*bc", true),
        ];
        for (pattern, name, want) in table {
            assert_eq!(glob(pattern, name), want, "{pattern} ~ {name}");
        }
    }
}
