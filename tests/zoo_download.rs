//! Zoo downloads against a real HTTP/1.1 server on 127.0.0.1 written by hand here: full
//! downloads, Range resume, truncated bodies, wrong size/hash, 404, stalls hitting the
//! timeout, mirror fallback, a full disk, offline mode. Nothing here touches the internet.

use probegan::zoo::{
    self, registry::normalize_sha256, DownloadOptions, Origin, Registry, ZooEntry, ZooOptions,
};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How the server answers one path.
#[derive(Clone)]
enum Route {
    /// The bytes, honouring `Range: bytes=N-` with 206.
    Serve(Vec<u8>),
    /// The bytes, always 200 and in full (a server without range support).
    ServeIgnoringRange(Vec<u8>),
    /// Announce the full length but close after `cut` bytes.
    Truncate(Vec<u8>, usize),
    /// Headers, then silence for this long before the body.
    Stall(Vec<u8>, Duration),
    NotFound,
}

#[derive(Clone, Debug)]
struct Seen {
    path: String,
    range: Option<String>,
}

struct Server {
    base: String,
    routes: Arc<Mutex<HashMap<String, Route>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let routes: Arc<Mutex<HashMap<String, Route>>> = Arc::default();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let (r, s) = (routes.clone(), seen.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (r, s) = (r.clone(), s.clone());
                std::thread::spawn(move || {
                    let _ = handle(stream, &r, &s);
                });
            }
        });
        Server { base, routes, seen }
    }
    fn route(&self, path: &str, route: Route) -> String {
        self.routes.lock().unwrap().insert(path.to_string(), route);
        format!("{}{}", self.base, path)
    }
    fn requests(&self, path: &str) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.path == path)
            .cloned()
            .collect()
    }
}

fn handle(
    mut stream: TcpStream,
    routes: &Mutex<HashMap<String, Route>>,
    seen: &Mutex<Vec<Seen>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut first = String::new();
    reader.read_line(&mut first)?;
    let path = first.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut range = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.trim().eq_ignore_ascii_case("range") {
                range = Some(v.trim().to_string());
            }
        }
    }
    seen.lock().unwrap().push(Seen {
        path: path.clone(),
        range: range.clone(),
    });
    let route = routes
        .lock()
        .unwrap()
        .get(&path)
        .cloned()
        .unwrap_or(Route::NotFound);
    let head = |status: &str, len: usize, extra: &str| {
        format!("HTTP/1.1 {status}\r\nContent-Length: {len}\r\nConnection: close\r\n{extra}\r\n")
    };
    match route {
        Route::NotFound => {
            stream.write_all(head("404 Not Found", 9, "").as_bytes())?;
            stream.write_all(b"not found")?;
        }
        Route::Serve(data) => {
            let start = range
                .as_deref()
                .and_then(|r| r.strip_prefix("bytes="))
                .and_then(|r| r.strip_suffix('-'))
                .and_then(|n| n.parse::<usize>().ok());
            match start {
                Some(s) if s >= data.len() => {
                    let extra = format!("Content-Range: bytes */{}\r\n", data.len());
                    stream.write_all(head("416 Range Not Satisfiable", 0, &extra).as_bytes())?;
                }
                Some(s) => {
                    let extra = format!(
                        "Content-Range: bytes {s}-{}/{}\r\n",
                        data.len() - 1,
                        data.len()
                    );
                    stream.write_all(
                        head("206 Partial Content", data.len() - s, &extra).as_bytes(),
                    )?;
                    stream.write_all(&data[s..])?;
                }
                None => {
                    stream.write_all(head("200 OK", data.len(), "").as_bytes())?;
                    stream.write_all(&data)?;
                }
            }
        }
        Route::ServeIgnoringRange(data) => {
            stream.write_all(head("200 OK", data.len(), "").as_bytes())?;
            stream.write_all(&data)?;
        }
        Route::Truncate(data, cut) => {
            stream.write_all(head("200 OK", data.len(), "").as_bytes())?;
            stream.write_all(&data[..cut])?;
            stream.flush()?;
            stream.shutdown(std::net::Shutdown::Both)?;
        }
        Route::Stall(data, wait) => {
            stream.write_all(head("200 OK", data.len(), "").as_bytes())?;
            stream.flush()?;
            std::thread::sleep(wait);
            stream.write_all(&data)?;
        }
    }
    stream.flush()
}

/// Deterministic, non-repeating test payload.
fn payload(n: usize) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

fn sha(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn options(dir: &Path) -> ZooOptions {
    ZooOptions {
        cache_dir: dir.join("cache"),
        config_dir: dir.join("config"),
        offline: false,
        download: DownloadOptions {
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_millis(400),
            progress: false,
        },
    }
}

fn entry(name: &str, urls: Vec<String>, data: &[u8]) -> ZooEntry {
    ZooEntry {
        name: name.into(),
        description: String::new(),
        urls,
        sha256: sha(data),
        size: Some(data.len() as u64),
        license: "test".into(),
        modality: "image".into(),
        adapter: None,
        hash_source: None,
    }
}

fn fetch(e: &ZooEntry, opts: &ZooOptions) -> anyhow::Result<zoo::Fetched> {
    zoo::fetch(e, Origin::User, &opts.zoo_root(), opts, false)
}

fn part_of(e: &ZooEntry, opts: &ZooOptions) -> std::path::PathBuf {
    zoo::download::partial_path(&zoo::model_path(e, &opts.zoo_root()).unwrap())
}

#[test]
fn downloads_verifies_and_then_uses_the_cache() {
    let server = Server::start();
    let data = payload(300_000);
    let url = server.route("/m.onnx", Route::Serve(data.clone()));
    let tmp = tempfile::tempdir().unwrap();
    let opts = options(tmp.path());
    let e = entry("m", vec![url], &data);

    let got = fetch(&e, &opts).unwrap();
    assert!(got.downloaded);
    assert_eq!(std::fs::read(&got.model).unwrap(), data);
    assert!(got.model.starts_with(opts.zoo_root()));
    assert!(!part_of(&e, &opts).exists(), "partial file left behind");

    let again = fetch(&e, &opts).unwrap();
    assert!(!again.downloaded);
    assert_eq!(
        server.requests("/m.onnx").len(),
        1,
        "a cached model was downloaded again"
    );
}

#[test]
fn resumes_a_partial_download_with_a_range_request() {
    let server = Server::start();
    let data = payload(200_000);
    let url = server.route("/r.onnx", Route::Serve(data.clone()));
    let tmp = tempfile::tempdir().unwrap();
    let opts = options(tmp.path());
    let e = entry("r", vec![url], &data);
    let part = part_of(&e, &opts);
    std::fs::create_dir_all(part.parent().unwrap()).unwrap();
    std::fs::write(&part, &data[..75_000]).unwrap();

    let got = fetch(&e, &opts).unwrap();
    assert_eq!(std::fs::read(&got.model).unwrap(), data);
    let reqs = server.requests("/r.onnx");
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].range.as_deref(), Some("bytes=75000-"));
}

#[test]
fn restarts_when_the_server_ignores_range() {
    let server = Server::start();
    let data = payload(50_000);
    let url = server.route("/n.onnx", Route::ServeIgnoringRange(data.clone()));
    let tmp = tempfile::tempdir().unwrap();
    let opts = options(tmp.path());
    let e = entry("n", vec![url], &data);
    let part = part_of(&e, &opts);
    std::fs::create_dir_all(part.parent().unwrap()).unwrap();
    std::fs::write(&part, &data[..10_000]).unwrap();

    let got = fetch(&e, &opts).unwrap();
    assert_eq!(
        std::fs::read(&got.model).unwrap(),
        data,
        "appended a full body to the partial file"
    );
}

#[test]
fn truncated_response_keeps_the_partial_file_and_the_next_run_resumes() {
    let server = Server::start();
    let data = payload(120_000);
    let url = server.route("/t.onnx", Route::Truncate(data.clone(), 40_000));
    let tmp = tempfile::tempdir().unwrap();
    let opts = options(tmp.path());
    let e = entry("t", vec![url], &data);

    let err = format!("{:#}", fetch(&e, &opts).unwrap_err());
    assert!(err.contains("40000 of 120000"), "{err}");
    assert!(err.contains("resume"), "{err}");
    assert!(
        !zoo::model_path(&e, &opts.zoo_root()).unwrap().exists(),
        "truncated file became visible"
    );
    assert_eq!(std::fs::metadata(part_of(&e, &opts)).unwrap().len(), 40_000);

    server.route("/t.onnx", Route::Serve(data.clone()));
    let got = fetch(&e, &opts).unwrap();
    assert_eq!(std::fs::read(&got.model).unwrap(), data);
    assert_eq!(
        server.requests("/t.onnx").last().unwrap().range.as_deref(),
        Some("bytes=40000-")
    );
}

#[test]
fn wrong_hash_is_refused_and_discarded() {
    let server = Server::start();
    let data = payload(10_000);
    let url = server.route("/h.onnx", Route::Serve(data.clone()));
    let tmp = tempfile::tempdir().unwrap();
    let opts = options(tmp.path());
    let mut e = entry("h", vec![url], &data);
    e.sha256 = normalize_sha256(&"0".repeat(64)).unwrap();

    let err = format!("{:#}", fetch(&e, &opts).unwrap_err());
    assert!(
        err.contains("sha256 mismatch") && err.contains(&sha(&data)),
        "{err}"
    );
    assert!(!zoo::model_path(&e, &opts.zoo_root()).unwrap().exists());
    assert!(
        !part_of(&e, &opts).exists(),
        "a file with the wrong hash was kept for resuming"
    );
}

#[test]
fn wrong_size_is_refused_before_downloading() {
    let server = Server::start();
    let data = payload(10_000);
    let url = server.route("/s.onnx", Route::Serve(data.clone()));
    let tmp = tempfile::tempdir().unwrap();
    let opts = options(tmp.path());
    let mut e = entry("s", vec![url], &data);
    e.size = Some(12_345);

    let err = format!("{:#}", fetch(&e, &opts).unwrap_err());
    assert!(
        err.contains("wrong size") && err.contains("10000") && err.contains("12345"),
        "{err}"
    );
    assert!(!zoo::model_path(&e, &opts.zoo_root()).unwrap().exists());
}

#[test]
fn http_404_names_status_and_url() {
    let server = Server::start();
    let url = format!("{}/missing.onnx", server.base);
    let tmp = tempfile::tempdir().unwrap();
    let opts = options(tmp.path());
    let e = entry("x", vec![url.clone()], b"whatever");

    let err = format!("{:#}", fetch(&e, &opts).unwrap_err());
    assert!(err.contains("404") && err.contains(&url), "{err}");
}

#[test]
fn stalled_server_hits_the_read_timeout() {
    let server = Server::start();
    let data = payload(1000);
    let url = server.route(
        "/slow.onnx",
        Route::Stall(data.clone(), Duration::from_secs(10)),
    );
    let tmp = tempfile::tempdir().unwrap();
    let opts = options(tmp.path());
    let e = entry("slow", vec![url], &data);

    let start = Instant::now();
    let err = format!("{:#}", fetch(&e, &opts).unwrap_err());
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "timeout took {:?}",
        start.elapsed()
    );
    assert!(err.contains("timed out"), "{err}");
}

#[test]
fn falls_back_to_the_next_mirror() {
    let server = Server::start();
    let data = payload(5000);
    let good = server.route("/good.onnx", Route::Serve(data.clone()));
    let bad = format!("{}/gone.onnx", server.base);
    let tmp = tempfile::tempdir().unwrap();
    let opts = options(tmp.path());
    let e = entry("mirror", vec![bad, good], &data);

    let got = fetch(&e, &opts).unwrap();
    assert_eq!(std::fs::read(&got.model).unwrap(), data);
    assert_eq!(server.requests("/gone.onnx").len(), 1);
}

#[test]
fn every_mirror_failing_lists_each_error() {
    let server = Server::start();
    let a = format!("{}/a.onnx", server.base);
    let b = format!("{}/b.onnx", server.base);
    let tmp = tempfile::tempdir().unwrap();
    let opts = options(tmp.path());
    let e = entry("both", vec![a.clone(), b.clone()], b"x");
    let err = format!("{:#}", fetch(&e, &opts).unwrap_err());
    assert!(
        err.contains(&a) && err.contains(&b) && err.contains("every mirror"),
        "{err}"
    );
}

#[cfg(target_os = "linux")]
#[test]
fn full_disk_is_reported_as_such() {
    let server = Server::start();
    let data = payload(100_000);
    let url = server.route("/full.onnx", Route::Serve(data.clone()));
    let tmp = tempfile::tempdir().unwrap();
    let opts = options(tmp.path());
    let e = entry("full", vec![url], &data);
    // Every write to /dev/full fails with ENOSPC: the partial file is made a link to it.
    let part = part_of(&e, &opts);
    std::fs::create_dir_all(part.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink("/dev/full", &part).unwrap();

    let err = format!("{:#}", fetch(&e, &opts).unwrap_err());
    assert!(err.contains("disk full"), "{err}");
    assert!(!zoo::model_path(&e, &opts.zoo_root()).unwrap().exists());
}

#[test]
fn offline_mode_never_touches_the_network() {
    let server = Server::start();
    let data = payload(3000);
    let url = server.route("/o.onnx", Route::Serve(data.clone()));
    let tmp = tempfile::tempdir().unwrap();
    let mut opts = options(tmp.path());
    opts.offline = true;
    let e = entry("o", vec![url], &data);

    let err = format!("{:#}", fetch(&e, &opts).unwrap_err());
    assert!(
        err.contains("offline") && err.contains("probegan zoo fetch o"),
        "{err}"
    );
    assert!(server.requests("/o.onnx").is_empty());

    opts.offline = false;
    fetch(&e, &opts).unwrap();
    opts.offline = true;
    let got = fetch(&e, &opts).unwrap();
    assert!(!got.downloaded);
    assert_eq!(server.requests("/o.onnx").len(), 1);
}

#[test]
fn a_damaged_cached_file_is_fetched_again_when_verified() {
    let server = Server::start();
    let data = payload(4000);
    let url = server.route("/d.onnx", Route::Serve(data.clone()));
    let tmp = tempfile::tempdir().unwrap();
    let opts = options(tmp.path());
    let e = entry("d", vec![url], &data);
    let got = fetch(&e, &opts).unwrap();
    let mut bad = data.clone();
    bad[100] ^= 0xff;
    std::fs::write(&got.model, &bad).unwrap();

    let again = zoo::fetch(&e, Origin::User, &opts.zoo_root(), &opts, true).unwrap();
    assert!(again.downloaded);
    assert_eq!(std::fs::read(&again.model).unwrap(), data);
}

#[test]
fn resolve_model_arg_fetches_zoo_names_from_the_user_registry() {
    let server = Server::start();
    let data = payload(2000);
    let url = server.route("/u.onnx", Route::Serve(data.clone()));
    let tmp = tempfile::tempdir().unwrap();
    let opts = options(tmp.path());
    let adapter = tmp.path().join("u.toml");
    std::fs::write(
        &adapter,
        "[input]\nsize = [28, 28]\n[classes]\nnames = [\"a\", \"b\"]\n",
    )
    .unwrap();
    let mut e = entry("user-model", vec![url], &data);
    e.adapter = Some(adapter.display().to_string());
    zoo::registry::add_user_entry(&opts.config_dir, e.clone()).unwrap();

    let resolved = zoo::resolve_model_arg_with("user-model", &opts).unwrap();
    assert_eq!(std::fs::read(&resolved.path).unwrap(), data);
    assert_eq!(resolved.adapter.as_deref(), Some(adapter.as_path()));

    // An existing path wins over the registry and gets no adapter.
    let direct = zoo::resolve_model_arg_with(resolved.path.to_str().unwrap(), &opts).unwrap();
    assert_eq!(direct.path, resolved.path);
    assert!(direct.adapter.is_none());

    let err = format!(
        "{:#}",
        zoo::resolve_model_arg_with("no-such-model", &opts).unwrap_err()
    );
    assert!(
        err.contains("user-model") && err.contains("resnet50-v2"),
        "{err}"
    );
    let err = format!(
        "{:#}",
        zoo::resolve_model_arg_with("dir/missing.onnx", &opts).unwrap_err()
    );
    assert!(err.contains("does not exist"), "{err}");

    let dup = zoo::registry::add_user_entry(&opts.config_dir, e).unwrap_err();
    assert!(format!("{dup:#}").contains("already"), "{dup:#}");
    let builtin_clash = entry("vgg16", vec!["https://example.invalid/x".into()], b"x");
    assert!(zoo::registry::add_user_entry(&opts.config_dir, builtin_clash).is_err());
}

#[test]
fn registry_names_that_escape_the_cache_are_rejected() {
    for name in ["../evil", "a/b", "/etc/passwd", "..", "a\\b", ".hidden"] {
        let text = format!(
            "[[model]]\nname = {name:?}\nurls = [\"https://example.invalid/x\"]\nsha256 = \"{}\"\n",
            "ab".repeat(32)
        );
        let err = Registry::from_toml_str(&text, "user.toml", Origin::User).unwrap_err();
        assert!(format!("{err:#}").contains("user.toml"), "{name}: {err:#}");
        let tmp = tempfile::tempdir().unwrap();
        let opts = options(tmp.path());
        let mut e = entry("ok", vec!["https://example.invalid/x".into()], b"x");
        e.name = name.to_string();
        assert!(
            zoo::registry::add_user_entry(&opts.config_dir, e.clone()).is_err(),
            "{name}"
        );
        assert!(
            zoo::fetch(&e, Origin::User, &opts.zoo_root(), &opts, false).is_err(),
            "{name}"
        );
        assert!(!tmp.path().join("evil").exists() && !tmp.path().join("cache/evil").exists());
    }
}

#[test]
fn builtin_entries_fetch_their_adapter_and_labels_beside_the_model() {
    // A built-in entry served locally: same adapter handling as the real download.
    let server = Server::start();
    let data = payload(1000);
    let url = server.route("/sq.onnx", Route::Serve(data.clone()));
    let tmp = tempfile::tempdir().unwrap();
    let opts = options(tmp.path());
    let reg = Registry::builtin().unwrap();
    let (real, origin) = reg.require("squeezenet1.1").unwrap();
    assert_eq!(origin, Origin::Builtin);
    let mut e = real.clone();
    e.urls = vec![url];
    e.sha256 = sha(&data);
    e.size = Some(data.len() as u64);

    let got = zoo::fetch(&e, Origin::Builtin, &opts.zoo_root(), &opts, false).unwrap();
    let adapter_path = got.adapter.unwrap();
    let text = std::fs::read_to_string(&adapter_path).unwrap();
    assert!(
        text.contains("labels_file = \"imagenet_labels.txt\""),
        "{text}"
    );
    let labels = adapter_path.with_file_name("imagenet_labels.txt");
    assert_eq!(
        std::fs::read_to_string(labels).unwrap().lines().count(),
        1000
    );
    let adapter = probegan::adapter::Adapter::load(&adapter_path).unwrap();
    assert_eq!(adapter.class_names().len(), 1000);
    assert_eq!(adapter.class_names()[285], "Egyptian cat");
}

#[test]
fn concurrent_fetches_of_one_model_download_it_once() {
    let server = Server::start();
    let data = payload(500_000);
    // A short stall keeps the first download in flight while the second one starts.
    let url = server.route(
        "/c.onnx",
        Route::Stall(data.clone(), Duration::from_millis(250)),
    );
    let tmp = tempfile::tempdir().unwrap();
    let opts = options(tmp.path());
    let e = entry("c", vec![url], &data);
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let (e, opts) = (e.clone(), opts.clone());
            std::thread::spawn(move || fetch(&e, &opts).map(|f| f.model))
        })
        .collect();
    for h in handles {
        let model = h.join().unwrap().unwrap();
        assert_eq!(std::fs::read(model).unwrap(), data);
    }
    assert_eq!(
        server.requests("/c.onnx").len(),
        1,
        "both threads downloaded"
    );
}
