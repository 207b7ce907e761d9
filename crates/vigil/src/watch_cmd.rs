//! `vigil watch`: follows recoveries live through the Masakari API (µv 1.1 progress details,
//! µv 1.3 vmoves), one progress bar per failed host on a terminal, plain lines otherwise, and
//! exits with the outcome: 0 finished, 1 failed/ignored, 2 bad input (an `error` is retried by
//! the engine, so it is followed on).

mod progress;

use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use progress::{exit_code, Snapshot};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant};
use vigil_client::{Client, ClientError};
use vigil_domain::{NotificationStatus, NotificationType};
use vigil_monitor::cli::ApiArgs;
use vigil_wire::NotificationBody;

/// Exit codes.
const FAILED: u8 = 1;
const BAD_INPUT: u8 = 2;

#[derive(Args)]
pub struct WatchArgs {
    /// The notifications to follow (their uuids); default: the newest one that is new or
    /// running.
    #[arg(value_name = "NOTIFICATION")]
    notifications: Vec<String>,
    #[command(flatten)]
    api: ApiArgs,
    /// Seconds between two looks at the API.
    #[arg(long, value_name = "SECS", default_value = "1", value_parser = vigil_monitor::cli::secs)]
    interval: Duration,
}

/// Why watching could not start or go on; `code` is the exit code it ends with.
#[derive(Debug, thiserror::Error)]
enum WatchError {
    #[error("setting up the API client")]
    Client(#[source] ClientError),
    #[error("no notification {0}")]
    Unknown(String),
    #[error("no notification is new or running; name one to follow it")]
    NothingInFlight,
    #[error("reading notification {id}")]
    Read {
        id: String,
        #[source]
        source: ClientError,
    },
    #[error("listing the notifications in flight")]
    List(#[source] ClientError),
}

impl WatchError {
    fn code(&self) -> u8 {
        match self {
            WatchError::Client(_) | WatchError::Unknown(_) | WatchError::NothingInFlight => {
                BAD_INPUT
            }
            WatchError::Read { .. } | WatchError::List(_) => FAILED,
        }
    }
}

/// One notification followed: its host, its bar (on a terminal), what was last seen.
struct Followed {
    id: String,
    host: String,
    kind: NotificationType,
    bar: Option<ProgressBar>,
    last: Option<Snapshot>,
    outcome: Option<u8>,
}

/// Runs the command; returns the process's exit code.
pub async fn run(args: WatchArgs) -> u8 {
    match watch(args).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("vigil watch: {}", crate::error_chain(&e));
            e.code()
        }
    }
}

async fn watch(args: WatchArgs) -> Result<u8, WatchError> {
    let client = args.api.client().map_err(WatchError::Client)?;
    let ids = match args.notifications.is_empty() {
        false => args.notifications.clone(),
        true => vec![newest_in_flight(&client).await?],
    };
    let names = host_names(&client).await;
    let bars = std::io::stdout()
        .is_terminal()
        .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stdout()));
    let mut followed = Vec::new();
    for id in ids {
        let n = notification(&client, &id).await?;
        let host = names
            .get(&n.source_host_uuid.to_string())
            .cloned()
            .unwrap_or_else(|| n.source_host_uuid.to_string());
        let event = n
            .payload
            .get("event")
            .and_then(|e| e.as_str())
            .unwrap_or("");
        say(
            &bars,
            &format!(
                "following {id}: {} {event} of {host}, {}",
                n.notification_type, n.status
            ),
        );
        let bar = bars.as_ref().map(|m| m.add(new_bar(&host)));
        followed.push(Followed {
            id,
            host,
            kind: n.notification_type,
            bar,
            last: None,
            outcome: None,
        });
    }
    let started = Instant::now();
    let mut failing: Option<String> = None;
    while followed.iter().any(|f| f.outcome.is_none()) {
        for f in followed.iter_mut().filter(|f| f.outcome.is_none()) {
            match look(&client, f).await {
                Ok(now) => {
                    failing = None;
                    show(&bars, f, &now, started);
                    f.outcome = exit_code(now.status);
                    f.last = Some(now);
                }
                // A look that fails is tried again at the next interval: the API may be
                // restarting. Said once, not at every interval.
                Err(e) => {
                    let text = crate::error_chain(&e);
                    if failing.as_ref() != Some(&text) {
                        eprintln!("vigil watch: {text}; trying again");
                        failing = Some(text);
                    }
                }
            }
        }
        if followed.iter().any(|f| f.outcome.is_none()) {
            tokio::time::sleep(args.interval).await;
        }
    }
    Ok(followed.iter().filter_map(|f| f.outcome).max().unwrap_or(0))
}

/// The notification and, for a host failure, its vmoves, as one snapshot.
async fn look(client: &Client, f: &Followed) -> Result<Snapshot, WatchError> {
    let n = notification(client, &f.id).await?;
    let mut vmoves = if f.kind == NotificationType::ComputeHost {
        client
            .vmoves(&f.id)
            .await
            .map_err(|source| WatchError::Read {
                id: f.id.clone(),
                source,
            })?
    } else {
        Vec::new()
    };
    // In the order the engine recorded them (the API lists the newest first).
    vmoves.sort_by_key(|v| v.id);
    Ok(Snapshot::new(&n, &vmoves))
}

fn show(bars: &Option<MultiProgress>, f: &Followed, now: &Snapshot, started: Instant) {
    for line in now.changes(f.last.as_ref()) {
        say(bars, &format!("{}: {line}", f.host));
    }
    if let Some(bar) = &f.bar {
        bar.set_length(now.total);
        bar.set_position(now.done);
        let doing = now.step.clone().unwrap_or_else(|| now.status.to_string());
        bar.set_message(format!("{} · {doing}", now.unit));
    }
    if exit_code(now.status).is_some() {
        let mut line = format!(
            "{}: notification {} {}, {} (watched for {:.1} s)",
            f.host,
            f.id,
            now.status,
            now.count(),
            started.elapsed().as_secs_f64(),
        );
        if let Some(m) = now.message.as_deref().filter(|m| !m.is_empty()) {
            line.push_str(&format!(" ({m})"));
        }
        if let Some(bar) = &f.bar {
            bar.finish_with_message(now.status.to_string());
        }
        say(bars, &line);
    }
}

/// A line to stdout, above the bars when there are some.
fn say(bars: &Option<MultiProgress>, line: &str) {
    match bars {
        Some(m) => {
            let _ = m.println(line);
        }
        None => println!("{line}"),
    }
}

fn new_bar(host: &str) -> ProgressBar {
    let bar = ProgressBar::new(0);
    if let Ok(style) =
        ProgressStyle::with_template("{prefix:>14.bold} [{bar:30}] {pos}/{len} {msg}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(host.to_owned());
    bar
}

async fn notification(client: &Client, id: &str) -> Result<NotificationBody, WatchError> {
    client.notification(id).await.map_err(|source| {
        if source.status() == Some(404) {
            WatchError::Unknown(id.to_owned())
        } else {
            WatchError::Read {
                id: id.to_owned(),
                source,
            }
        }
    })
}

/// The newest notification that is new or running.
async fn newest_in_flight(client: &Client) -> Result<String, WatchError> {
    let mut found = Vec::new();
    for status in [NotificationStatus::Running, NotificationStatus::New] {
        let listed = client
            .list_notifications(&[("status", status.as_str())])
            .await
            .map_err(WatchError::List)?;
        found.extend(listed);
    }
    found
        .into_iter()
        .max_by_key(|n| n.lifecycle.created_at)
        .map(|n| n.notification_uuid.to_string())
        .ok_or(WatchError::NothingInFlight)
}

/// Host uuids to names, to label the bars; empty when the API does not tell (the uuid is
/// shown then).
async fn host_names(client: &Client) -> HashMap<String, String> {
    let mut names = HashMap::new();
    let Ok(segments) = client.list_segments().await else {
        return names;
    };
    for s in segments {
        if let Ok(hosts) = client.list_hosts(&s.uuid.to_string(), &[]).await {
            names.extend(hosts.into_iter().map(|h| (h.uuid.to_string(), h.name)));
        }
    }
    names
}
