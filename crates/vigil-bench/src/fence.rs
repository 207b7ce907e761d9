//! `bench/fence`: how long a power-off takes through each fencing driver, against the lab's
//! power devices (`lab/lab power up`: libvirt domains behind sushy-tools' Redfish and
//! virtualbmc's IPMI). Each driver powers one lab host off `VIGIL_BENCH_FENCES` times (default
//! 20), each time from on, and the time from the call to the device reading `Off` is kept;
//! powering back on is not timed.
//!
//! The devices are declared as an operator would, in `[fencing]` TOML, and built by
//! `vigil_fence::config`: the bench measures the code path the engine's fence step takes.
//! Figures go to stdout and to `bench/results/fence-<time>.txt`; the last line printed is
//! `fence/redfish-p99-s = X`.

use anyhow::{bail, Context, Result};
use std::time::{Duration, Instant};
use vigil_fence::config::FencingConfig;
use vigil_fence::{Fencer, PowerState};
use vigil_lab::PowerLab;

const TIMEOUT: Duration = Duration::from_secs(60);

#[tokio::main]
async fn main() -> Result<()> {
    let rounds: usize = match std::env::var("VIGIL_BENCH_FENCES") {
        Ok(v) => v.parse().context("VIGIL_BENCH_FENCES is a number")?,
        Err(_) => 20,
    };
    let lab = PowerLab::status().context("reading the power lab's status")?;
    if !lab.ready {
        bail!("the power lab is not running: lab/lab power up");
    }
    let host = lab.hosts.first().context("the power lab has no host")?;
    let config: FencingConfig =
        toml::from_str(&devices(&lab, &host.name)?).context("the bench's [fencing] devices")?;
    config.check().context("the bench's [fencing] devices")?;

    let mut report = format!(
        "bench/fence {} — {rounds} power-offs of {} per driver, each from on, until the \
         device reads Off\n\
         driver                         median s   p99 s   max s\n",
        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ"),
        host.name
    );
    let mut redfish_p99 = None;
    for (name, device) in &config.devices {
        let fencer = device
            .build(name)
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("building {name}"))?;
        eprintln!("== {name}");
        let result = measure(fencer.as_ref(), &host.name, rounds).await;
        // Whatever happened, the host is left on for the next driver and the next user.
        PowerLab::power_on(&host.name)?;
        match result {
            Ok(mut times) => {
                times.sort();
                let (median, p99) = (quantile(&times, 0.5), quantile(&times, 0.99));
                let max = times.last().copied().unwrap_or_default();
                report += &format!(
                    "{name:<30} {:>8.3} {:>7.3} {:>7.3}\n",
                    median.as_secs_f64(),
                    p99.as_secs_f64(),
                    max.as_secs_f64()
                );
                if name == "redfish" {
                    redfish_p99 = Some(p99);
                }
            }
            Err(e) => report += &format!("{name:<30} failed: {e:#}\n"),
        }
    }
    report += "pacemaker                      not measured: the lab runs no Pacemaker cluster\n";
    vigil_bench::publish("fence", &report)?;
    let p99 = redfish_p99.context("no Redfish figure")?;
    println!("fence/redfish-p99-s = {:.3}", p99.as_secs_f64());
    Ok(())
}

/// The devices measured, by driver: Vigil's own Redfish and IPMI clients, and the same two
/// BMCs through Debian's fence-agents.
fn devices(lab: &PowerLab, host: &str) -> Result<String> {
    let r = &lab.redfish;
    let url = reqwest::Url::parse(&r.url).context("the Redfish URL")?;
    let ipmi_port = lab.host(host).context("the host's IPMI port")?.ipmi_port;
    let system = &lab.host(host).context("the host")?.redfish_system_id;
    Ok(format!(
        r#"[devices.redfish]
driver = "redfish"
url = "{url}"
system_id = "{system}"
username = "{user}"
password_file = "{rpw}"
ca_file = "{ca}"

[devices.ipmi]
driver = "ipmi"
address = "{ipmi}"
port = {ipmi_port}
username = "{iuser}"
password_file = "{ipw}"

[devices.fence_redfish]
driver = "fence-agents"
agent = "fence_redfish"
password_file = "{rpw}"
options = {{ ip = "{rhost}", ipport = "{rport}", ssl = "1", ssl_insecure = "1", username = "{user}", systems_uri = "/redfish/v1/Systems/{system}" }}

[devices.fence_ipmilan]
driver = "fence-agents"
agent = "fence_ipmilan"
password_file = "{ipw}"
options = {{ ip = "{ipmi}", ipport = "{ipmi_port}", username = "{iuser}", lanplus = "1" }}
"#,
        url = r.url,
        user = r.username,
        rpw = r.password_file.display(),
        ca = r.ca_file.display(),
        rhost = url.host_str().unwrap_or_default(),
        rport = url.port_or_known_default().unwrap_or(443),
        ipmi = lab.ipmi.address,
        iuser = lab.ipmi.username,
        ipw = lab.ipmi.password_file.display(),
    ))
}

/// `rounds` timed power-offs, each after an untimed power-on.
async fn measure(device: &dyn Fencer, host: &str, rounds: usize) -> Result<Vec<Duration>> {
    let mut times = Vec::with_capacity(rounds);
    for i in 0..rounds {
        let on = device.on(host, TIMEOUT).await?;
        if on != PowerState::On {
            bail!("round {i}: powering on left the host {on}");
        }
        let started = Instant::now();
        let off = device.off(host, None, TIMEOUT).await?;
        let took = started.elapsed();
        if off != PowerState::Off {
            bail!("round {i}: the device reads {off} after powering off");
        }
        eprintln!("   {i:>2}: {:.3} s", took.as_secs_f64());
        times.push(took);
    }
    Ok(times)
}

/// The nearest-rank quantile of sorted `times`.
fn quantile(times: &[Duration], q: f64) -> Duration {
    if times.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * times.len() as f64).ceil() as usize;
    times[rank.clamp(1, times.len()) - 1]
}
