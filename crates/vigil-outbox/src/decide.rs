//! What an answer of the API means for the report that was sent: a pure decision, tested by a
//! table.

use serde::Serialize;

/// What the target answered to one report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Answer {
    /// An HTTP status, with the body that came with it.
    Status { code: u16, body: String },
    /// No answer: the connection failed or timed out, TLS failed, Keystone could not give a
    /// token. Nothing says the report was refused.
    NoAnswer { error: String },
}

impl std::fmt::Display for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Answer::Status { code, body } if body.is_empty() => write!(f, "{code}"),
            Answer::Status { code, body } => write!(f, "{code}: {body}"),
            Answer::NoAnswer { error } => write!(f, "no answer: {error}"),
        }
    }
}

/// What to do with the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted (2xx): acknowledge it.
    Delivered,
    /// 409: the API has it already (sent again after a crash, or by another monitor) or ignores
    /// it on purpose (the host is on maintenance). Delivered too: acknowledge it.
    Duplicate,
    /// Try again after a pause: the API, or the way to it, may get better.
    Retry,
    /// Refused for good: to the dead-letter file with the body.
    DeadLetter,
}

/// The outcome of `answer`. Any 4xx but 409 is a refusal that sending again will not change
/// (a bad report, an unknown host, a policy refusal), except 408 and 429, which ask for
/// exactly that. 5xx, no answer, and the statuses an API never sends for this request (1xx,
/// 3xx: a wrong address or a proxy, which an operator can fix) are retried.
pub fn decide(answer: &Answer) -> Outcome {
    match answer {
        Answer::Status { code, .. } => match code {
            200..=299 => Outcome::Delivered,
            409 => Outcome::Duplicate,
            408 | 429 => Outcome::Retry,
            400..=499 => Outcome::DeadLetter,
            _ => Outcome::Retry,
        },
        Answer::NoAnswer { .. } => Outcome::Retry,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_outcomes() {
        use Outcome::*;
        let status = |code| Answer::Status {
            code,
            body: String::new(),
        };
        let cases = [
            (status(202), Delivered),
            (status(200), Delivered),
            (status(201), Delivered),
            (status(409), Duplicate),
            (status(400), DeadLetter),
            (status(401), DeadLetter),
            (status(403), DeadLetter),
            (status(404), DeadLetter),
            (status(413), DeadLetter),
            (status(415), DeadLetter),
            (status(408), Retry),
            (status(429), Retry),
            (status(500), Retry),
            (status(502), Retry),
            (status(503), Retry),
            (status(504), Retry),
            (status(300), Retry),
            (status(302), Retry),
            (status(101), Retry),
            (
                Answer::NoAnswer {
                    error: "connection refused".into(),
                },
                Retry,
            ),
        ];
        for (answer, outcome) in cases {
            assert_eq!(decide(&answer), outcome, "{answer}");
        }
    }

    #[test]
    fn answers_read_as_one_line() {
        let refused = Answer::Status {
            code: 400,
            body: r#"{"badRequest": {"code": 400, "message": "Host with name x could not be found."}}"#.into(),
        };
        assert_eq!(
            refused.to_string(),
            r#"400: {"badRequest": {"code": 400, "message": "Host with name x could not be found."}}"#
        );
        assert_eq!(
            Answer::NoAnswer {
                error: "connection refused".into()
            }
            .to_string(),
            "no answer: connection refused"
        );
    }
}
