//! A real headless Chromium (Debian's `chromium`) driven over the DevTools protocol, for the
//! status page's tests: the page's DOM read with JavaScript, screenshots kept as test output,
//! and every console error, uncaught exception and failed load collected.

use chromiumoxide::browser::{Browser, BrowserConfig};
use chromiumoxide::cdp::browser_protocol::log::{EventEntryAdded, LogEntryLevel};
use chromiumoxide::cdp::js_protocol::runtime::{
    ConsoleApiCalledType, EventConsoleApiCalled, EventExceptionThrown,
};
use chromiumoxide::handler::viewport::Viewport;
use chromiumoxide::page::ScreenshotParams;
use chromiumoxide::Page;
use futures::StreamExt;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

const CHROMIUM: &str = "/usr/bin/chromium";

/// Whether Chromium can run here; `false` (said loudly) when it is missing, unless
/// VIGIL_REQUIRE_CHROMIUM=1 (scripts/test sets it), which makes that a failure.
pub fn chromium_or_skip(test: &str) -> bool {
    if Path::new(CHROMIUM).exists() {
        return true;
    }
    let why = format!("{CHROMIUM} is missing (Debian's chromium package; .ci/run installs it)");
    if std::env::var("VIGIL_REQUIRE_CHROMIUM").as_deref() == Ok("1") {
        panic!("{test}: {why}, and VIGIL_REQUIRE_CHROMIUM=1");
    }
    eprintln!("\n*** SKIPPED {test}: {why} ***\n");
    false
}

/// One browser with one page; killed when dropped.
pub struct Chromium {
    browser: Browser,
    handler: JoinHandle<()>,
    pub page: Page,
    problems: Arc<Mutex<Vec<String>>>,
    listeners: Vec<JoinHandle<()>>,
    _profile: tempfile::TempDir,
}

impl Chromium {
    /// Starts Chromium headless and opens a blank page that reports its console errors.
    pub async fn start() -> anyhow::Result<Chromium> {
        let profile = tempfile::tempdir()?;
        let config = BrowserConfig::builder()
            .chrome_executable(CHROMIUM)
            // Tests run as root, where Chromium's sandbox cannot start.
            .no_sandbox()
            .user_data_dir(profile.path())
            .viewport(Viewport {
                width: 1280,
                height: 900,
                ..Viewport::default()
            })
            .window_size(1280, 900)
            .launch_timeout(Duration::from_secs(60))
            .build()
            .map_err(anyhow::Error::msg)?;
        let (browser, mut events) = Browser::launch(config).await?;
        let handler = tokio::spawn(async move {
            while let Some(event) = events.next().await {
                if event.is_err() {
                    break;
                }
            }
        });
        let page = browser.new_page("about:blank").await?;
        page.enable_log().await?;
        page.enable_runtime().await?;
        let problems = Arc::new(Mutex::new(Vec::new()));
        let mut listeners = Vec::new();
        let mut console = page.event_listener::<EventConsoleApiCalled>().await?;
        let seen = problems.clone();
        listeners.push(tokio::spawn(async move {
            while let Some(e) = console.next().await {
                if matches!(
                    e.r#type,
                    ConsoleApiCalledType::Error | ConsoleApiCalledType::Assert
                ) {
                    let args: Vec<String> = e
                        .args
                        .iter()
                        .map(|a| a.value.as_ref().map_or("?".to_owned(), Value::to_string))
                        .collect();
                    seen.lock()
                        .unwrap()
                        .push(format!("console.error: {}", args.join(" ")));
                }
            }
        }));
        let mut thrown = page.event_listener::<EventExceptionThrown>().await?;
        let seen = problems.clone();
        listeners.push(tokio::spawn(async move {
            while let Some(e) = thrown.next().await {
                let d = &e.exception_details;
                let what = d
                    .exception
                    .as_ref()
                    .and_then(|x| x.description.clone())
                    .unwrap_or_else(|| d.text.clone());
                seen.lock().unwrap().push(format!("exception: {what}"));
            }
        }));
        let mut log = page.event_listener::<EventEntryAdded>().await?;
        let seen = problems.clone();
        listeners.push(tokio::spawn(async move {
            while let Some(e) = log.next().await {
                if e.entry.level == LogEntryLevel::Error {
                    let url = e.entry.url.clone().unwrap_or_default();
                    seen.lock()
                        .unwrap()
                        .push(format!("log: {} {url}", e.entry.text));
                }
            }
        }));
        Ok(Chromium {
            browser,
            handler,
            page,
            problems,
            listeners,
            _profile: profile,
        })
    }

    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.page.goto(url).await?;
        Ok(())
    }

    /// The value of a JavaScript expression, as JSON.
    pub async fn eval(&self, expression: &str) -> anyhow::Result<Value> {
        Ok(self.page.evaluate(expression).await?.into_value()?)
    }

    /// Evaluates `expression` until `accept` takes its value, for at most `within`.
    pub async fn wait_for(
        &self,
        what: &str,
        expression: &str,
        within: Duration,
        accept: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<Value> {
        let deadline = Instant::now() + within;
        loop {
            let value = self.eval(expression).await?;
            if accept(&value) {
                return Ok(value);
            }
            if Instant::now() > deadline {
                anyhow::bail!("the page did not show {what} within {within:?}; last: {value}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// A full-page PNG in the target directory's `ui-screenshots`, kept as test output; its
    /// path is printed.
    pub async fn screenshot(&self, name: &str) -> anyhow::Result<PathBuf> {
        let dir = screenshot_dir()?;
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{name}.png"));
        let params = ScreenshotParams::builder().full_page(true).build();
        self.page.save_screenshot(params, &path).await?;
        eprintln!("screenshot: {}", path.display());
        Ok(path)
    }

    /// The console errors, exceptions and failed loads seen so far.
    pub fn problems(&self) -> Vec<String> {
        self.problems.lock().unwrap().clone()
    }

    pub async fn close(mut self) -> anyhow::Result<()> {
        self.browser.close().await?;
        self.browser.wait().await?;
        Ok(())
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        for l in &self.listeners {
            l.abort();
        }
        self.handler.abort();
    }
}

/// `<target dir>/ui-screenshots`: the test binary is `<target dir>/<profile>/deps/<name>`.
fn screenshot_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return Ok(PathBuf::from(dir).join("ui-screenshots"));
    }
    let exe = std::env::current_exe()?;
    let target = exe
        .ancestors()
        .nth(3)
        .ok_or_else(|| anyhow::anyhow!("no target directory above {}", exe.display()))?;
    Ok(target.join("ui-screenshots"))
}
