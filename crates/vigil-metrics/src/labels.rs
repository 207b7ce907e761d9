//! The label sets of the families, and the closed sets of outcomes they take, so that every
//! series has a bounded number of label values.

use prometheus_client::encoding::EncodeLabelSet;
use vigil_domain::{NotificationStatus, NotificationType};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct NotificationLabels {
    r#type: &'static str,
    status: &'static str,
}

impl NotificationLabels {
    pub(crate) fn new(t: NotificationType, s: NotificationStatus) -> Self {
        NotificationLabels {
            r#type: t.as_str(),
            status: s.as_str(),
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct FlowLabels {
    pub(crate) flow: &'static str,
    pub(crate) outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct StepLabels {
    pub(crate) flow: &'static str,
    /// Built-in steps have Masakari's task names; operator steps their configured names.
    pub(crate) step: String,
    pub(crate) outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct OutcomeLabels {
    outcome: &'static str,
}

impl OutcomeLabels {
    pub(crate) fn new(outcome: &'static str) -> Self {
        OutcomeLabels { outcome }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ServerLabels {
    pub(crate) flow: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ApiLabels {
    method: &'static str,
    route: &'static str,
    status: &'static str,
}

impl ApiLabels {
    /// Methods outside HTTP's usual set are one value, so a client cannot make new series.
    pub(crate) fn new(method: &str, route: &'static str, status: u16) -> Self {
        const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
        ApiLabels {
            method: METHODS
                .into_iter()
                .find(|m| *m == method)
                .unwrap_or("other"),
            route,
            status: match status {
                100..=199 => "1xx",
                200..=299 => "2xx",
                300..=399 => "3xx",
                400..=499 => "4xx",
                _ => "5xx",
            },
        }
    }
}

macro_rules! outcome {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// The label value.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }
    };
}

outcome!(
    /// How a recovery flow ended in this engine.
    FlowOutcome {
        Finished => "finished",
        Ignored => "ignored",
        /// Failed this attempt: the notification is retried or ends `failed`.
        Failed => "failed",
        /// Another engine took the notification over.
        LeaseLost => "lease_lost",
    }
);

outcome!(
    /// How one step ended.
    StepOutcome {
        Success => "success",
        /// It ended the flow early (nothing to do, or the report needs no action).
        Stopped => "stopped",
        Failure => "failure",
    }
);

outcome!(
    /// How fencing a failed host ended.
    FenceOutcome {
        /// A power device confirmed the host off.
        Off => "off",
        /// No device is bound and the segment trusts the monitor's report.
        TrustedMonitor => "trusted_monitor",
        Failed => "failed",
    }
);

outcome!(
    /// How the evacuation of one server ended.
    EvacuationOutcome {
        Succeeded => "succeeded",
        /// The server was deleted meanwhile.
        Gone => "gone",
        Failed => "failed",
    }
);
