//! A small W3C WebDriver client over HTTP (reqwest), driving Debian's chromium through
//! chromedriver. Nothing is downloaded: both binaries must be installed (`.ci/run` installs them).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// The installed browser and driver, if any.
pub fn find_binaries() -> Option<(String, String)> {
    let which = |names: &[&str]| {
        names.iter().find_map(|n| {
            let p = std::path::Path::new(n);
            if p.is_absolute() {
                return p.exists().then(|| n.to_string());
            }
            std::env::var_os("PATH")?
                .to_str()?
                .split(':')
                .map(|d| std::path::Path::new(d).join(n))
                .find(|p| p.exists())
                .map(|p| p.display().to_string())
        })
    };
    let driver = which(&["chromedriver", "/usr/bin/chromedriver"])?;
    let browser = which(&["chromium", "/usr/bin/chromium", "chromium-browser", "google-chrome"])?;
    Some((browser, driver))
}

pub struct Driver {
    child: Child,
    base: String,
    http: reqwest::Client,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    pub async fn start(driver: &str) -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let d = Driver { child, base: format!("http://127.0.0.1:{port}"), http: reqwest::Client::new() };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = d.http.get(format!("{}/status", d.base)).send().await
                && let Ok(v) = r.json::<Value>().await
                && v["value"]["ready"] == true
            {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not become ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        d
    }

    pub async fn session(&self, browser: &str, width: u32, height: u32) -> Session {
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": browser,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         format!("--window-size={width},{height}"), "--no-first-run", "--disable-extensions"]
            }
        }}});
        let r: Value =
            self.http.post(format!("{}/session", self.base)).json(&caps).send().await.unwrap().json().await.unwrap();
        let id = r["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("new session failed: {r}")).to_string();
        Session { base: format!("{}/session/{id}", self.base), http: self.http.clone() }
    }
}

pub struct Session {
    base: String,
    http: reqwest::Client,
}

#[derive(Clone, Debug)]
pub struct El(String);

impl Session {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{}", self.base, path);
        let mut req = self.http.request(method.clone(), &url);
        if let Some(b) = body {
            req = req.json(&b);
        } else if method == reqwest::Method::POST {
            req = req.json(&json!({}));
        }
        let res = req.send().await.unwrap_or_else(|e| panic!("webdriver {url}: {e}"));
        let v: Value = res.json().await.unwrap_or(Value::Null);
        v["value"].clone()
    }

    async fn try_call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value, String> {
        let v = self.call(method, path, body).await;
        match v.get("error") {
            Some(e) => Err(format!("{e}: {}", v["message"].as_str().unwrap_or(""))),
            None => Ok(v),
        }
    }

    pub async fn goto(&self, url: &str) {
        self.try_call(reqwest::Method::POST, "/url", Some(json!({"url": url}))).await.expect("navigate");
    }

    pub async fn current_url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None).await.as_str().unwrap_or("").to_string()
    }

    pub async fn try_find(&self, css: &str) -> Option<El> {
        let v = self
            .try_call(reqwest::Method::POST, "/element", Some(json!({"using": "css selector", "value": css})))
            .await
            .ok()?;
        v[ELEMENT_KEY].as_str().map(|s| El(s.to_string()))
    }

    #[allow(dead_code)]
    pub async fn find_all(&self, css: &str) -> Vec<El> {
        let v = self
            .try_call(reqwest::Method::POST, "/elements", Some(json!({"using": "css selector", "value": css})))
            .await
            .unwrap_or(Value::Null);
        v.as_array()
            .map(|a| a.iter().filter_map(|e| e[ELEMENT_KEY].as_str().map(|s| El(s.to_string()))).collect())
            .unwrap_or_default()
    }

    /// Waits (up to `secs`) for an element matching `css`.
    pub async fn wait(&self, css: &str, secs: u64) -> El {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(e) = self.try_find(css).await {
                return e;
            }
            if Instant::now() > deadline {
                let url = self.current_url().await;
                let body =
                    self.script("return document.body ? document.body.innerText.slice(0, 2000) : ''", json!([])).await;
                panic!("no element {css} after {secs} s on {url}; page text: {body}");
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// Waits until `js` (a function body returning a value) returns something truthy; returns it.
    pub async fn wait_js(&self, what: &str, js: &str, secs: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let v = self.script(js, json!([])).await;
            let truthy = !(v.is_null() || v == json!(false) || v == json!("") || v == json!(0));
            if truthy {
                return v;
            }
            if Instant::now() > deadline {
                let url = self.current_url().await;
                panic!("timed out waiting for {what} on {url} (last value {v})");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub async fn click(&self, e: &El) {
        self.try_call(reqwest::Method::POST, &format!("/element/{}/click", e.0), None).await.expect("click");
    }

    pub async fn clear(&self, e: &El) {
        self.try_call(reqwest::Method::POST, &format!("/element/{}/clear", e.0), None).await.expect("clear");
    }

    pub async fn type_text(&self, e: &El, text: &str) {
        self.try_call(reqwest::Method::POST, &format!("/element/{}/value", e.0), Some(json!({"text": text})))
            .await
            .expect("send keys");
    }

    pub async fn text(&self, e: &El) -> String {
        self.call(reqwest::Method::GET, &format!("/element/{}/text", e.0), None).await.as_str().unwrap_or("").into()
    }

    #[allow(dead_code)]
    pub async fn attr(&self, e: &El, name: &str) -> Option<String> {
        self.call(reqwest::Method::GET, &format!("/element/{}/attribute/{name}", e.0), None)
            .await
            .as_str()
            .map(str::to_string)
    }

    pub async fn css(&self, e: &El, prop: &str) -> String {
        self.call(reqwest::Method::GET, &format!("/element/{}/css/{prop}", e.0), None)
            .await
            .as_str()
            .unwrap_or("")
            .into()
    }

    /// Runs `js` as a function body with `args`; elements can be passed with [`El::arg`].
    pub async fn script(&self, js: &str, args: Value) -> Value {
        self.call(reqwest::Method::POST, "/execute/sync", Some(json!({"script": js, "args": args}))).await
    }

    pub async fn screenshot(&self, path: &std::path::Path) {
        use base64::Engine;
        let v = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD.decode(v.as_str().unwrap_or("")).expect("png");
        std::fs::write(path, png).expect("write screenshot");
    }

    pub async fn set_size(&self, width: u32, height: u32) {
        self.try_call(reqwest::Method::POST, "/window/rect", Some(json!({"width": width, "height": height})))
            .await
            .expect("resize");
    }

    /// Opens a new tab and returns its handle (the current tab stays current).
    pub async fn new_tab(&self) -> String {
        let v = self.try_call(reqwest::Method::POST, "/window/new", Some(json!({"type": "tab"}))).await.expect("tab");
        v["handle"].as_str().unwrap().to_string()
    }

    pub async fn window(&self) -> String {
        self.call(reqwest::Method::GET, "/window", None).await.as_str().unwrap_or("").into()
    }

    pub async fn switch_to(&self, handle: &str) {
        self.try_call(reqwest::Method::POST, "/window", Some(json!({"handle": handle}))).await.expect("switch");
    }

    pub async fn quit(&self) {
        let _ = self.http.delete(&self.base).send().await;
    }
}

impl El {
    pub fn arg(&self) -> Value {
        json!({ ELEMENT_KEY: self.0 })
    }
}
