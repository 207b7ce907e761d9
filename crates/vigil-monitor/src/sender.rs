//! The sender's side: the Masakari client as the outbox dispatcher's [`Sink`].

use vigil_client::Client;
use vigil_domain::ErrorChain;
use vigil_outbox::{Answer, Event, Sink};

/// Delivers reports through the typed Masakari client; what came back, whatever it was, is
/// read as the dispatcher's [`Answer`] (the dispatcher decides what it means).
pub struct ApiSink(pub Client);

impl Sink for ApiSink {
    async fn send(&self, event: &Event) -> Answer {
        match self.0.create_notification(event).await {
            Ok(_) => Answer::Status {
                code: 202,
                body: String::new(),
            },
            Err(e) => match e.answered() {
                Some((code, body)) => Answer::Status {
                    code,
                    body: body.to_owned(),
                },
                None => Answer::NoAnswer {
                    error: ErrorChain(&e).to_string(),
                },
            },
        }
    }
}
