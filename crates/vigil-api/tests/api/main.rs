//! The API's wire behaviour, request by request, on every backend the machine has.

mod bodies;
mod hostile;
mod json_schema;
mod notifications;
mod openapi;
mod outage;
mod routing;
mod segments;
mod support;
mod ui;
