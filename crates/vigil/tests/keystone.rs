//! `auth_strategy = "keystone"` against the lab's real Keystone: a valid admin token passes,
//! no token and a bogus token get 401, for the API and the status
//! page's data alike; with Keystone cut off (a proxy), cached tokens pass and new ones get 503.
//! Runs only with VIGIL_LAB=1.

mod support;

use vigil_lab::Lab;

#[tokio::test]
async fn keystone_tokens_are_validated() -> anyhow::Result<()> {
    if !vigil_lab::enabled_or_skip("keystone_tokens_are_validated") {
        return Ok(());
    }
    let lab = Lab::up().await?;
    let c = lab.env().credentials.clone();
    let dir = tempfile::tempdir()?;
    let vigil = support::api_under_keystone(&c, dir.path());
    let http = reqwest::Client::new();
    // An admin token of the lab's own, not the one Vigil holds.
    let token = vigil_openstack::Session::new(c.clone())?
        .auth_token()
        .await?;
    let url = format!("{}/v1/segments", vigil.url());
    let ok = http.get(&url).header("X-Auth-Token", &token).send().await?;
    assert_eq!(ok.status(), 200);
    // Cached: a second call answers the same without asking Keystone again.
    let again = http.get(&url).header("X-Auth-Token", &token).send().await?;
    assert_eq!(again.status(), 200);
    refused_without_a_valid_token(&http, &url).await?;
    // The status page's data is the API's, behind the same token and policy; its shell,
    // which carries none, is public.
    let state = format!("{}/ui/state.json", vigil.url());
    refused_without_a_valid_token(&http, &state).await?;
    let ok = http
        .get(&state)
        .header("X-Auth-Token", &token)
        .send()
        .await?;
    assert_eq!(ok.status(), 200);
    let data: serde_json::Value = ok.json().await?;
    assert!(data["segments"].is_array(), "{data}");
    let shell = http.get(format!("{}/ui/", vigil.url())).send().await?;
    assert_eq!(shell.status(), 200);
    // The version document stays public.
    let root = http.get(vigil.url()).send().await?;
    assert_eq!(root.status(), 200);
    Ok(())
}

/// Keystone cut off from Vigil alone (a proxy in front of its `auth_url`): a token validated
/// before the cut passes from the cache, a new one gets 503 with Masakari's fault body — not
/// 401, the token may well be valid — and once Keystone is back new tokens pass again.
#[tokio::test]
async fn keystone_down_is_503_and_cached_tokens_pass() -> anyhow::Result<()> {
    if !vigil_lab::enabled_or_skip("keystone_down_is_503_and_cached_tokens_pass") {
        return Ok(());
    }
    let lab = Lab::up().await?;
    let c = lab.env().credentials.clone();
    let keystone = reqwest::Url::parse(&c.auth_url)?;
    let upstream = keystone
        .socket_addrs(|| None)?
        .into_iter()
        .next()
        .expect("Keystone's address");
    let proxy = vigil_lab::TcpProxy::start(upstream).await?;
    let mut through = keystone.clone();
    through
        .set_port(Some(proxy.addr().port()))
        .map_err(|()| anyhow::anyhow!("setting the proxy's port"))?;
    let vigil_creds = vigil_openstack::Credentials {
        auth_url: through.to_string(),
        ..c.clone()
    };
    let dir = tempfile::tempdir()?;
    let vigil = support::api_under_keystone(&vigil_creds, dir.path());
    let http = reqwest::Client::new();
    let url = format!("{}/v1/segments", vigil.url());
    // Users' tokens come from the lab's Keystone directly, which stays up for them.
    let fresh_token = || async {
        vigil_openstack::Session::new(c.clone())?
            .auth_token()
            .await
            .map_err(anyhow::Error::from)
    };
    let cached = fresh_token().await?;
    let ok = http
        .get(&url)
        .header("X-Auth-Token", &cached)
        .send()
        .await?;
    assert_eq!(ok.status(), 200);

    proxy.cut();
    let still = http
        .get(&url)
        .header("X-Auth-Token", &cached)
        .send()
        .await?;
    assert_eq!(
        still.status(),
        200,
        "a cached token refused while Keystone is down"
    );
    let new = fresh_token().await?;
    let started = std::time::Instant::now();
    let refused = http.get(&url).header("X-Auth-Token", &new).send().await?;
    assert_eq!(refused.status(), 503);
    let body: serde_json::Value = refused.json().await?;
    assert_eq!(body["serviceUnavailable"]["code"], 503, "{body}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "503 only after {:?}",
        started.elapsed()
    );

    // The proxy listens again a moment after it is told to: until then Keystone still looks
    // down, and Vigil rightly answers 503.
    proxy.restore();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let status = http
            .get(&url)
            .header("X-Auth-Token", &new)
            .send()
            .await?
            .status();
        if status == 200 {
            break;
        }
        assert_eq!(status, 503, "Keystone coming back");
        assert!(
            std::time::Instant::now() < deadline,
            "Keystone is back, and the new token still gets 503"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    Ok(())
}

/// `url` answers 401 with Masakari's fault body without a token, and 401 to a made-up one.
async fn refused_without_a_valid_token(http: &reqwest::Client, url: &str) -> anyhow::Result<()> {
    let none = http.get(url).send().await?;
    assert_eq!(none.status(), 401, "{url}");
    let body: serde_json::Value = none.json().await?;
    assert_eq!(body["unauthorized"]["code"], 401, "{url}");
    let bogus = http
        .get(url)
        .header("X-Auth-Token", "gAAAAAnot-a-token")
        .send()
        .await?;
    assert_eq!(bogus.status(), 401, "{url}");
    Ok(())
}
